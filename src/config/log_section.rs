//! `[log]`: where the access log and the error log go, and in which form.
//!
//! ```toml
//! [log]
//! access = "off"            # "off" | "stdout" | "/var/log/tern/access.log"
//! format = "combined"       # "combined" (Apache/nginx) | "json"
//! error = "stderr"          # "stderr" | "/var/log/tern/error.log"
//! level = "info"            # "error" | "warn" | "info" | "debug"
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use super::plan::PlanError;
use crate::log::Level;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    pub access: String,
    pub format: String,
    pub error: String,
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            access: "off".into(),
            format: "combined".into(),
            error: "stderr".into(),
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessTarget {
    Off,
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessFormat {
    Combined,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogPlan {
    pub access: AccessTarget,
    pub format: AccessFormat,
    /// `None`: stderr.
    pub error: Option<PathBuf>,
    pub level: Level,
}

pub fn build_log(section: &LogSection) -> Result<LogPlan, PlanError> {
    let access = match section.access.as_str() {
        "off" => AccessTarget::Off,
        "stdout" => AccessTarget::Stdout,
        path => AccessTarget::File(writable_file("log.access", path)?),
    };
    let format = match section.format.as_str() {
        "combined" => AccessFormat::Combined,
        "json" => AccessFormat::Json,
        other => {
            return Err((
                "log.format".into(),
                format!("{other:?} is not \"combined\" or \"json\""),
            ))
        }
    };
    let error = match section.error.as_str() {
        "stderr" => None,
        path => Some(writable_file("log.error", path)?),
    };
    let level = match section.level.as_str() {
        "error" => Level::Error,
        "warn" => Level::Warn,
        "info" => Level::Info,
        "debug" => Level::Debug,
        other => {
            return Err((
                "log.level".into(),
                format!("{other:?} is not one of error, warn, info, debug"),
            ))
        }
    };
    Ok(LogPlan {
        access,
        format,
        error,
        level,
    })
}

/// An absolute path whose file can be opened for appending (created if
/// missing), so a bad path is refused at start rather than lost at run time.
fn writable_file(key: &str, path: &str) -> Result<PathBuf, PlanError> {
    let path = PathBuf::from(path);
    if !path.is_absolute() {
        return Err((
            key.into(),
            format!("{path:?} must be an absolute path, \"off\", \"stdout\" or \"stderr\""),
        ));
    }
    crate::log::open_append(&path)
        .map_err(|err| (key.into(), format!("cannot open {}: {err}", path.display())))?;
    Ok(path)
}
