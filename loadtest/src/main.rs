//! `tern-loadtest`: a demo origin and a connection-scale load generator
//! for the tern proxy. See README.md for the subcommands.

mod args;
mod buf;
mod chunked;
mod clock;
mod gate;
mod http;
mod httpclient;
mod longpoll;
mod net;
mod origin;
mod procstat;
mod report;
mod rng;
mod runtime;
mod tally;
mod websocket;
mod wsframe;

use std::process::ExitCode;

const USAGE: &str = "usage:
  tern-loadtest origin --listen ADDR [--workers N] [--body-size BYTES]
  tern-loadtest longpoll --target ADDR --connections N [--ramp PER_SEC] [--channel NAME]
      [--path-prefix /poll/] [--publish ADDR] [--settle SECS] [--proxy-pid PID[,PID...]]
      [--sources K] [--processes P] [--max-seconds S] [--json]
  tern-loadtest websocket --target ADDR --connections N [--rate MSGS_PER_SEC] [--duration SECS]
      [--size BYTES] [--path /ws] [--ramp PER_SEC] [--sources K] [--max-seconds S] [--json]
  tern-loadtest rss --pid PID[,PID...]";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match cmd.as_str() {
        "origin" => origin::run(rest).map(|()| ExitCode::SUCCESS),
        "longpoll" => longpoll::run(rest),
        "__longpoll-worker" => longpoll::run_worker(rest).map(|()| ExitCode::SUCCESS),
        "websocket" => websocket::run(rest),
        "rss" => rss(rest).map(|()| ExitCode::SUCCESS),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown subcommand `{other}`")),
    };
    result.unwrap_or_else(|e| {
        eprintln!("tern-loadtest {cmd}: {e}");
        ExitCode::from(2)
    })
}

/// `rss --pid A,B`: summed VmRSS in KiB, for scripts.
fn rss(args: &[String]) -> Result<(), String> {
    let flags = args::Flags::parse(args, &[], &["pid"])?;
    let pids = args::parse_pids(&flags.required::<String>("pid")?)?;
    println!("{}", procstat::sum_vmrss_kib(&pids)?);
    Ok(())
}
