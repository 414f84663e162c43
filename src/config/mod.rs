//! Configuration: the TOML schema (`schema`), durations, and the validated
//! runtime form (`plan`). Every error names the file, the key and the problem.

pub mod admin;
mod compress;
mod describe;
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

/// Reads, parses and validates a config file into a [`Plan`], with the
/// DNS answers already known (names not yet resolved give no servers).
pub fn load(path: &Path) -> Result<Plan, ConfigError> {
    Source::read(path)?.plan()
}

/// A config file read and parsed. The running process keeps it so that a
/// DNS change is applied to the configuration in force, not to whatever
/// the file holds now.
pub struct Source {
    file: String,
    parsed: ConfigFile,
}

impl Source {
    pub fn read(path: &Path) -> Result<Source, ConfigError> {
        let file = path.display().to_string();
        let text = crate::operator_file::read_to_string(path).map_err(|err| ConfigError {
            file: file.clone(),
            key: String::new(),
            message: format!("cannot read the file: {err}"),
        })?;
        let parsed = parse(&text, &file)?;
        Ok(Source { file, parsed })
    }

    /// The plan, with the DNS answers in force now.
    pub fn plan(&self) -> Result<Plan, ConfigError> {
        plan::build(&self.parsed).map_err(|(key, message)| ConfigError {
            file: self.file.clone(),
            key,
            message,
        })
    }

    /// `plan`'s warnings as lines, each naming this file and the key, as
    /// an error would.
    fn plan_warnings(&self, plan: &Plan) -> Vec<String> {
        let line = |(key, message): &plan::PlanWarning| {
            let located = ConfigError {
                file: self.file.clone(),
                key: key.clone(),
                message: message.clone(),
            };
            located.to_string()
        };
        plan.warnings.iter().map(line).collect()
    }
}

/// Reads `path` and looks up (once, now) the names it uses that have no
/// answer yet; the plan has a server for each address found. Also returns
/// the plan's warnings (`Plan::warnings`), and one for each name that did
/// not resolve: tern runs, with no server from that name until it
/// resolves.
pub fn load_resolved(path: &Path) -> Result<(Source, Plan, Vec<String>), ConfigError> {
    let source = Source::read(path)?;
    let first = source.plan()?;
    if first.discovery.queries.is_empty() {
        let warnings = source.plan_warnings(&first);
        return Ok((source, first, warnings));
    }
    let problems = crate::discovery::resolve_missing(&first.discovery);
    let plan = source.plan()?;
    let mut warnings = source.plan_warnings(&plan);
    warnings.extend(problems.iter().map(|(key, why)| {
        format!(
            "{}: {}",
            source.file,
            crate::discovery::unresolved_warning(key, why)
        )
    }));
    Ok((source, plan, warnings))
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
        let described = describe::describe(err, text);
        ConfigError {
            file: file.to_owned(),
            key: described.key,
            message: described.message,
        }
    })
}

#[cfg(test)]
mod routing_tests;
#[cfg(test)]
mod tests;
