use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tern::cli::{self, Command, USAGE};
use tern::server::Start;
use tern::{config, control, server};

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(problem) => {
            eprintln!("tern: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => println!("{USAGE}"),
        Command::Version => println!("tern {}", tern::version_and_build()),
        Command::Check(path) => match config::load_resolved(&path) {
            Ok((_, _, warnings)) => {
                for warning in warnings {
                    eprintln!("tern: warning: {warning}");
                }
                println!("tern: {} is valid", path.display());
            }
            Err(err) => {
                eprintln!("tern: {err}");
                return ExitCode::FAILURE;
            }
        },
        Command::Reload(path) => return signal_reload(&path),
        Command::Stop { config, at_once } => return signal_stop(&config, at_once),
        Command::Run(path) => return run(path, Start::Fresh),
        Command::Upgrade(path) => return run(path, Start::Upgrade),
    }
    ExitCode::SUCCESS
}

fn run(path: PathBuf, start: Start) -> ExitCode {
    let (source, plan, warnings) = match config::load_resolved(&path) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("tern: {err}");
            return ExitCode::FAILURE;
        }
    };
    match server::run(path, source, plan, warnings, start) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("tern: {problem}");
            ExitCode::FAILURE
        }
    }
}

/// `tern -s quit` (SIGTERM: graceful) or `-s stop` (SIGQUIT: at once), as
/// nginx's; the process is the one in `[server] pid_file`.
fn signal_stop(path: &Path, at_once: bool) -> ExitCode {
    let (signal, how) = match at_once {
        true => (libc::SIGQUIT, "stop at once"),
        false => (libc::SIGTERM, "stop gracefully"),
    };
    let pid_file = match config::load(path) {
        Ok(plan) => plan.pid_file,
        Err(err) => {
            eprintln!("tern: {err}");
            return ExitCode::FAILURE;
        }
    };
    let Some(pid_file) = pid_file else {
        eprintln!("tern: -s needs [server] pid_file in {}", path.display());
        return ExitCode::FAILURE;
    };
    match control::signal_pid_file(&pid_file, signal) {
        Ok(pid) => {
            println!("tern: asked pid {pid} to {how}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("tern: {problem}");
            ExitCode::FAILURE
        }
    }
}

/// `tern --reload`: refuses an invalid file here, where the person typing
/// sees why; a valid one is reloaded by the running process.
fn signal_reload(path: &Path) -> ExitCode {
    let plan = match config::load(path) {
        Ok(plan) => plan,
        Err(err) => {
            eprintln!("tern: {err}");
            return ExitCode::FAILURE;
        }
    };
    let Some(pid_file) = plan.pid_file else {
        eprintln!(
            "tern: --reload needs [server] pid_file in {}",
            path.display()
        );
        return ExitCode::FAILURE;
    };
    match control::signal_running(&pid_file) {
        Ok(pid) => {
            println!(
                "tern: {} is valid; asked pid {pid} to reload it",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("tern: {problem}");
            ExitCode::FAILURE
        }
    }
}
