//! Command-line arguments.

use std::path::PathBuf;

pub const USAGE: &str = "\
usage: tern --config FILE         run the proxy
       tern --check --config FILE validate FILE and exit (0 valid, 1 invalid)
       tern --help | --version

options:
  -c, --config FILE   the TOML configuration
  -t, --check         only validate the configuration
  -h, --help          this text
  -V, --version       the version";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(PathBuf),
    Check(PathBuf),
    Help,
    Version,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut config = None;
    let mut check = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-t" | "--check" => check = true,
            "-c" | "--config" => {
                let path = args.next().ok_or_else(|| format!("{arg} needs a file"))?;
                config = Some(PathBuf::from(path));
            }
            other => match other.strip_prefix("--config=") {
                Some(path) => config = Some(PathBuf::from(path)),
                None => return Err(format!("unknown argument {other:?}")),
            },
        }
    }
    let config = config.ok_or("no configuration given (--config FILE)")?;
    Ok(if check {
        Command::Check(config)
    } else {
        Command::Run(config)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Command, String> {
        parse(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_each_form() {
        assert_eq!(args(&["-c", "a.toml"]), Ok(Command::Run("a.toml".into())));
        assert_eq!(
            args(&["--config=a.toml"]),
            Ok(Command::Run("a.toml".into()))
        );
        assert_eq!(
            args(&["--check", "--config", "a.toml"]),
            Ok(Command::Check("a.toml".into()))
        );
        assert_eq!(args(&["--version"]), Ok(Command::Version));
        assert_eq!(args(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn refuses_missing_and_unknown_arguments() {
        assert!(args(&[]).is_err());
        assert!(args(&["--config"]).is_err());
        assert!(args(&["--frobnicate"]).is_err());
    }
}
