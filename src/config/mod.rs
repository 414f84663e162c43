//! Configuration: the TOML schema (`schema`), durations, and the validated
//! runtime form (`plan`). Every error names the file, the key and the problem.

pub mod admin;
mod duration;
pub mod log_section;
pub mod plan;
pub(crate) mod schema;
mod static_files;

use std::fmt;
use std::path::Path;

pub use duration::{parse_duration, Dur};
pub use plan::{
    Backend, ClientTimeouts, Limits, ListenerPlan, Plan, PoolSettings, Server, UpstreamTimeouts,
};
pub use schema::ConfigFile;

/// A configuration problem a person can act on: which file, which key, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads, parses and validates a config file into a [`Plan`].
pub fn load(path: &Path) -> Result<Plan, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
        file: file.clone(),
        key: String::new(),
        message: format!("cannot read the file: {err}"),
    })?;
    from_str(&text, &file)
}

/// Parses and validates config text; `file` is only used in error messages.
pub fn from_str(text: &str, file: &str) -> Result<Plan, ConfigError> {
    let parsed = parse(text, file)?;
    plan::build(&parsed).map_err(|(key, message)| ConfigError {
        file: file.to_owned(),
        key,
        message,
    })
}

pub(crate) fn parse(text: &str, file: &str) -> Result<ConfigFile, ConfigError> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        let line = inner
            .span()
            .map(|span| format!(" (line {})", line_of(text, span.start)))
            .unwrap_or_default();
        ConfigError {
            file: file.to_owned(),
            // serde_path_to_error prints "." for the root.
            key: if key == "." { String::new() } else { key },
            // One line a person can act on: toml's messages may span several.
            message: format!("{}{line}", one_line(inner.message())),
        }
    })
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod routing_tests;
#[cfg(test)]
mod tests;
