//! Command line: --help, --version, --check, -c, and refusing a bad config
//! at start (exit non-zero, one-line error naming the file and the key).

mod common;

use common::*;
use std::time::Duration;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const GOOD: &str = r#"
[server]
workers = 1

[[listener]]
name = "web"
bind = "127.0.0.1:0"

[[route]]
path_prefix = "/"
backend = "app"

[backend.app]
servers = [{ address = "127.0.0.1:9000" }]
"#;

/// What git says HEAD is, when the tests run in a git checkout.
fn head_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| text(&out.stdout).trim().to_string())
}

#[test]
fn version_names_the_commit_the_binary_was_built_from() {
    let out = run_tern(&["--version"]);
    let all = text(&out.stdout);
    match head_commit() {
        // The binary is built in the same cargo run as this test, from the same HEAD.
        Some(head) => assert!(
            all.starts_with(&format!("tern {} ({head}", env!("CARGO_PKG_VERSION"))),
            "expected HEAD {head} in {all:?}"
        ),
        // Built without git (a source tarball): the version alone, no empty brackets.
        None => assert_eq!(all.trim(), format!("tern {}", env!("CARGO_PKG_VERSION"))),
    }
}

#[test]
fn help_prints_usage_and_exits_0() {
    let out = run_tern(&["--help"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "--help exit {:?}: {}",
        out.status,
        all
    );
    assert!(
        all.contains("--config"),
        "usage should mention --config: {}",
        all
    );
    assert!(
        all.contains("--check"),
        "usage should mention --check: {}",
        all
    );
}

#[test]
fn version_prints_name_and_version() {
    let out = run_tern(&["--version"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "--version exit {:?}: {}",
        out.status,
        all
    );
    let expected = format!("tern {}", env!("CARGO_PKG_VERSION"));
    assert!(
        all.contains(&expected),
        "expected {:?} in {:?}",
        expected,
        all
    );
}

#[test]
fn check_good_file_exits_0() {
    let f = TempFile::new("good.toml", GOOD);
    let out = run_tern(&["--check", "--config", &f.path_str()]);
    assert!(
        out.status.success(),
        "--check of a valid file: {:?} stderr={}",
        out.status,
        text(&out.stderr)
    );
}

#[test]
fn check_with_short_flag() {
    let f = TempFile::new("good-short.toml", GOOD);
    let out = run_tern(&["--check", "-c", &f.path_str()]);
    assert!(
        out.status.success(),
        "--check -c FILE: {:?} stderr={}",
        out.status,
        text(&out.stderr)
    );
}

#[test]
fn check_bad_address_exits_1_with_one_line_naming_file_and_key() {
    let bad = GOOD.replace("127.0.0.1:9000", "nope:xx");
    let f = TempFile::new("badaddr.toml", &bad);
    let out = run_tern(&["--check", "--config", &f.path_str()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr={}", err);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected a one-line error, got: {:?}",
        lines
    );
    assert!(lines[0].contains("badaddr.toml"), "file not named: {}", err);
    assert!(
        lines[0].contains("backend.app.servers[0].address"),
        "key path not named: {}",
        err
    );
    assert!(lines[0].contains("nope:xx"), "bad value not shown: {}", err);
}

/// Runs `tern --config FILE` (no --check) on `contents`; it must exit
/// non-zero quickly with a message naming the file and `must_mention`.
fn refuses_at_start(file: &str, contents: &str, must_mention: &[&str]) {
    let f = TempFile::new(file, contents);
    let out = run_tern(&["--config", &f.path_str()]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "tern started with a bad config ({}); stderr={}",
        file,
        err
    );
    assert!(
        err.contains(file),
        "error doesn't name the file {}: {}",
        file,
        err
    );
    for m in must_mention {
        assert!(err.contains(m), "error doesn't mention {:?}: {}", m, err);
    }
}

#[test]
fn start_refuses_unknown_key() {
    let bad = GOOD.replace("workers = 1", "workers = 1\nworkerz = 3");
    refuses_at_start("unknownkey.toml", &bad, &["workerz"]);
}

#[test]
fn start_refuses_bad_duration() {
    let bad = GOOD.replace(
        "workers = 1",
        "workers = 1\n[server.timeouts]\nconnect = \"5 parsecs\"",
    );
    refuses_at_start("baddur.toml", &bad, &["server.timeouts.connect"]);
}

#[test]
fn start_refuses_unknown_backend() {
    let bad = GOOD.replace("backend = \"app\"", "backend = \"nosuchbackend\"");
    refuses_at_start("unknownbackend.toml", &bad, &["nosuchbackend", "route"]);
}

#[test]
fn start_refuses_missing_file() {
    let f = TempFile::new("exists.toml", GOOD);
    let missing = f.path.with_file_name("does-not-exist.toml");
    let out = run_tern(&["--config", &missing.to_string_lossy()]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "started without a config file: {}",
        err
    );
    assert!(
        err.contains("does-not-exist.toml"),
        "file not named: {}",
        err
    );
}

#[test]
fn no_arguments_is_an_error_or_usage() {
    // Without --config there is nothing to run: must not hang or start
    // serving; either usage + exit 0 or an error exit. run_tern bounds it
    // to 10 s and fails if it keeps running.
    let out = run_tern(&[]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.is_empty(), "no output at all without arguments");
}

#[test]
fn unknown_flag_is_refused() {
    let out = run_tern(&["--frobnicate"]);
    assert!(
        !out.status.success(),
        "unknown flag accepted: {}",
        text(&out.stderr)
    );
}

#[test]
fn startup_lines_name_every_bound_address() {
    let up = RecordingUpstream::echo();
    let mut cfg = Cfg::new(up.addr);
    cfg.binds = vec!["127.0.0.1:0".into(), "127.0.0.1:0".into()];
    let tern = cfg.start();
    assert_eq!(tern.listeners.len(), 2, "stderr: {:?}", tern.stderr());
    for (addr, name) in &tern.listeners {
        assert_ne!(addr.port(), 0, "port 0 not resolved: {:?}", tern.stderr());
        assert_eq!(name, "web", "listener name: {:?}", tern.stderr());
        let mut c = Conn::connect(*addr);
        let r = c.roundtrip(&get("/via"));
        assert_eq!(r.body_str(), "/via");
    }
    assert_ne!(tern.listeners[0].0, tern.listeners[1].0);
    let started = tern.said(" started:");
    assert_eq!(started.len(), 1, "{:?}", tern.stderr());
    assert!(
        started[0].contains(env!("CARGO_PKG_VERSION")),
        "{:?}",
        started
    );
}

#[test]
fn listening_is_only_printed_once_tern_is_up() {
    // The admin endpoint's port is taken: the start fails after the
    // listeners were bound, and must not have claimed to be listening.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let config = format!("{GOOD}\n[admin]\nbind = \"127.0.0.1:{port}\"\n");
    let f = TempFile::new("admin-taken.toml", &config);
    let out = run_tern(&["--config", &f.path_str()]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("listening on"), "{err}");
}

/// A tern writing its pid to a file, for `-s`.
fn with_pid_file() -> (Tern, TempFile, String) {
    let pid_file = TempFile::new("tern.pid", "");
    let up = RecordingUpstream::echo();
    let config = GOOD.replace(
        "[server]\n",
        &format!("[server]\npid_file = \"{}\"\n", pid_file.path_str()),
    );
    let config = config.replace("127.0.0.1:9000", &up.addr.to_string());
    let tern = Tern::start(&config);
    let path = tern.config_path().display().to_string();
    (tern, pid_file, path)
}

#[test]
fn dash_s_reload_quit_and_stop_work_as_nginx_users_type_them() {
    let (tern, _pid, config) = with_pid_file();
    let out = run_tern(&["-s", "reload", "-c", &config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        wait_until(Duration::from_secs(10), || tern.has_said("reloaded:")),
        "{:?}",
        tern.stderr()
    );

    for (how, signal) in [("quit", "graceful"), ("stop", "at once")] {
        let (mut tern, pid, config) = with_pid_file();
        let out = run_tern(&["-s", how, "-c", &config]);
        assert!(out.status.success(), "{how}: {}", text(&out.stderr));
        let exit = tern.wait_exit(Duration::from_secs(15));
        assert!(exit.is_some(), "-s {how} ({signal}) did not stop tern");
        // A pid file left behind names a pid the system may give another
        // process, which the next `-s` would signal.
        assert!(!pid.path.exists(), "-s {how} left the pid file behind");
    }
}
