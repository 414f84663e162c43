//! Command-line arguments.

use std::path::PathBuf;

pub const USAGE: &str = "\
usage: tern --config FILE           run the proxy
       tern --check --config FILE   validate FILE and exit (0 valid, 1 invalid)
       tern --reload --config FILE  validate FILE, then have the running tern
                                    (pid in [server] pid_file) reload it
       tern -s reload|quit|stop --config FILE
                                    as nginx -s: reload, stop gracefully (SIGTERM),
                                    stop at once (SIGQUIT) the running tern
       tern --upgrade --config FILE run, taking the listening sockets over from
                                    the running tern ([server] upgrade_socket)
       tern --help | --version

options:
  -c, --config FILE   the TOML configuration
  -t, --check         only validate the configuration
  -s, --reload        signal the running tern to reload (like nginx -s reload)
  -s quit | -s stop   signal it to stop gracefully | at once (nginx -s quit | stop)
      --upgrade       take over from the running tern (binary upgrade)
  -h, --help          this text
  -V, --version       the version";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(PathBuf),
    Check(PathBuf),
    Reload(PathBuf),
    /// `-s quit` (graceful, SIGTERM) or `-s stop` (at once, SIGQUIT).
    Stop {
        config: PathBuf,
        at_once: bool,
    },
    Upgrade(PathBuf),
    Help,
    Version,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut config = None;
    let mut mode = None;
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-t" | "--check" => set_mode(&mut mode, Mode::Check)?,
            "--reload" => set_mode(&mut mode, Mode::Reload)?,
            // nginx users type `-s reload`; a bare `-s` is `--reload`.
            "-s" => {
                let named = args.next_if(|a| matches!(a.as_str(), "reload" | "quit" | "stop"));
                let wanted = match named.as_deref() {
                    Some("quit") => Mode::Quit,
                    Some("stop") => Mode::Stop,
                    _ => Mode::Reload,
                };
                set_mode(&mut mode, wanted)?;
            }
            "--upgrade" => set_mode(&mut mode, Mode::Upgrade)?,
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
    Ok(match mode {
        Some(Mode::Check) => Command::Check(config),
        Some(Mode::Reload) => Command::Reload(config),
        Some(Mode::Upgrade) => Command::Upgrade(config),
        Some(Mode::Quit) => Command::Stop {
            config,
            at_once: false,
        },
        Some(Mode::Stop) => Command::Stop {
            config,
            at_once: true,
        },
        None => Command::Run(config),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Check,
    Reload,
    Quit,
    Stop,
    Upgrade,
}

fn set_mode(mode: &mut Option<Mode>, wanted: Mode) -> Result<(), String> {
    match *mode {
        Some(other) if other != wanted => {
            Err("--check, --reload, -s and --upgrade exclude each other".into())
        }
        _ => {
            *mode = Some(wanted);
            Ok(())
        }
    }
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
        assert_eq!(
            args(&["--reload", "-c", "a.toml"]),
            Ok(Command::Reload("a.toml".into()))
        );
        assert_eq!(
            args(&["-c", "a.toml", "--upgrade"]),
            Ok(Command::Upgrade("a.toml".into()))
        );
        assert_eq!(
            args(&["-s", "reload", "-c", "a.toml"]),
            Ok(Command::Reload("a.toml".into()))
        );
        assert_eq!(
            args(&["-s", "-c", "a.toml"]),
            Ok(Command::Reload("a.toml".into()))
        );
        let stop = |at_once| {
            Ok(Command::Stop {
                config: "a.toml".into(),
                at_once,
            })
        };
        assert_eq!(args(&["-c", "a.toml", "-s", "quit"]), stop(false));
        assert_eq!(args(&["-s", "stop", "-c", "a.toml"]), stop(true));
        assert_eq!(args(&["--version"]), Ok(Command::Version));
        assert_eq!(args(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn refuses_missing_and_unknown_arguments() {
        assert!(args(&[]).is_err());
        assert!(args(&["--config"]).is_err());
        assert!(args(&["--frobnicate"]).is_err());
        assert!(args(&["--check", "--reload", "-c", "a.toml"]).is_err());
    }
}
