use std::process::ExitCode;

use tern::cli::{self, Command, USAGE};
use tern::{config, server};

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
        Command::Version => println!("tern {}", server::VERSION),
        Command::Check(path) => match config::load(&path) {
            Ok(_) => println!("tern: {} is valid", path.display()),
            Err(err) => {
                eprintln!("tern: {err}");
                return ExitCode::FAILURE;
            }
        },
        Command::Run(path) => {
            let plan = match config::load(&path) {
                Ok(plan) => plan,
                Err(err) => {
                    eprintln!("tern: {err}");
                    return ExitCode::FAILURE;
                }
            };
            if let Err(problem) = server::run(plan) {
                eprintln!("tern: {problem}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
