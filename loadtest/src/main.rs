//! `tern-loadtest`: a demo origin and a connection-scale load generator
//! for the tern proxy. See README.md for the subcommands.

mod args;
mod buf;
mod chunked;
mod clock;
mod forwarder;
mod gate;
mod http;
mod httpclient;
mod longpoll;
mod net;
mod origin;
mod paced;
mod procstat;
mod report;
mod rng;
mod runtime;
mod soak;
mod tally;
mod tlslatency;
mod websocket;
mod wsframe;

use std::process::ExitCode;

const USAGE: &str = "usage:
  tern-loadtest origin --listen ADDR [--workers N] [--body-size BYTES]
  tern-loadtest forwarder --listen ADDR --upstream ADDR [--ring plain|fixed|multishot]
      [--ring-buffers N]
  tern-loadtest longpoll --target ADDR --connections N [--ramp PER_SEC] [--channel NAME]
      [--path-prefix /poll/] [--publish ADDR] [--settle SECS] [--proxy-pid PID[,PID...]]
      [--sources K] [--processes P] [--max-seconds S] [--json]
  tern-loadtest websocket --target ADDR --connections N [--rate MSGS_PER_SEC] [--duration SECS]
      [--size BYTES] [--path /ws] [--ramp PER_SEC] [--sources K] [--max-seconds S] [--json]
  tern-loadtest soak --target ADDR --origin ADDR --tern-pid PID [--seconds S] [--warmup S]
      [--longpolls N] [--websockets N] [--slowloris N] [--abandoners N] [--clients N] [--rate R]
      [--header-timeout S] [--restart-every S] [--reload-every S] [--sample-every S]
      [--origin-pid-file PATH]
  tern-loadtest paced --target ADDR [--rate REQS_PER_SEC] [--seconds S] [--connections N]
      [--threads N] [--path /] [--timeout S] [--json]
  tern-loadtest tls-latency --target ADDR [--rate CONNS_PER_SEC] [--seconds S] [--full]
      [--threads N] [--path /] [--server-name localhost] [--json]
  tern-loadtest port
  tern-loadtest rss --pid PID[,PID...]";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match cmd.as_str() {
        "origin" => origin::run(rest).map(|()| ExitCode::SUCCESS),
        "forwarder" => forwarder::run(rest).map(|()| ExitCode::SUCCESS),
        "longpoll" => longpoll::run(rest),
        "__longpoll-worker" => longpoll::run_worker(rest).map(|()| ExitCode::SUCCESS),
        "websocket" => websocket::run(rest),
        "soak" => soak::run(rest),
        "paced" => paced::run(rest),
        "tls-latency" => tlslatency::run(rest),
        "port" => free_port().map(|()| ExitCode::SUCCESS),
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

/// `port`: a loopback TCP port free right now and outside the kernel's
/// ephemeral range, for scripts that must name ports in a config before
/// starting anything. Outside that range, no outgoing connection can take
/// the port while its server is down (the soak restarts its origin).
fn free_port() -> Result<(), String> {
    let range =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let low: u16 = range
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(32768);
    let span = u64::from(low.saturating_sub(10_000).max(1));
    for _ in 0..200 {
        let port = 10_000 + (rng::random_u64() % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            println!("{port}");
            return Ok(());
        }
    }
    Err(format!("no free port found below {low}"))
}
