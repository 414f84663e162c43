//! Zero-downtime binary upgrade (`tern --upgrade`): under a client loop of
//! keep-alive and new connections, a second tern takes the listening
//! sockets over from the running one through `upgrade_socket`; no request
//! fails, the old process exits 0, the new one serves and owns the pid file;
//! a new one that fails, early or late, leaves the old one serving.
//! (tests/upgrade.rs is about WebSocket upgrades.)

mod common;

use common::traffic::*;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The new process, killed on drop.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tern --upgrade --config PATH`; returns once it printed its
/// started line, or panics with what it printed.
fn start_upgrade(config: &std::path::Path) -> Spawned {
    let mut child = Command::new(bin())
        .args(["--upgrade", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the new tern");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, seen) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let spawned = Spawned(child);
    let mut printed = Vec::new();
    while let Ok(line) = seen.recv_timeout(Duration::from_secs(10)) {
        if line.contains(" started:") {
            return spawned;
        }
        printed.push(line);
    }
    panic!("the new tern did not start:\n{}", printed.join("\n"));
}

#[test]
fn an_upgrade_under_load_fails_no_request_and_the_old_process_exits_0() {
    let up = says("ok");
    let socket = TempFile::new("upgrade.sock", "");
    let pid_file = TempFile::new("tern.pid", "");
    let text = Cfg::new(up.addr).render().replacen(
        "[server]\n",
        &format!(
            "[server]\nupgrade_socket = \"{}\"\npid_file = \"{}\"\n",
            socket.path_str(),
            pid_file.path_str()
        ),
        1,
    );
    let mut old = Tern::start(&text);
    let addr = old.addr();
    let load = Load::start(addr, "/", &["ok"], 8);
    thread::sleep(Duration::from_millis(700));
    let mut new = start_upgrade(old.config_path());
    let exit = old.wait_exit(Duration::from_secs(10));
    thread::sleep(Duration::from_millis(700));
    let tally = load.stop();
    eprintln!("load: {tally:?}");
    assert_eq!(
        exit.map(|status| status.code()),
        Some(Some(0)),
        "the old process did not exit 0 within 10 s"
    );
    assert_eq!(tally.failed, 0, "failed requests: {:?}", tally.failures);
    assert!(
        tally.ok > 100,
        "too little load to mean anything: {}",
        tally.ok
    );
    assert!(
        new.0.try_wait().ok().flatten().is_none(),
        "the new process exited"
    );
    assert_eq!(fetch(addr, "/"), Ok("ok".into()), "the new process serves");
    let recorded = std::fs::read_to_string(&pid_file.path).unwrap_or_default();
    assert_eq!(recorded.trim(), new.0.id().to_string(), "pid file");
}

#[test]
fn upgrade_without_a_running_tern_says_so() {
    let socket = TempFile::new("nobody.sock", "");
    let text = Cfg::new(dead_addr()).render().replacen(
        "[server]\n",
        &format!("[server]\nupgrade_socket = \"{}\"\n", socket.path_str()),
        1,
    );
    let config = TempFile::new("tern.toml", &text);
    let out = run_tern(&["--upgrade", "--config", &config.path_str()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach the running tern"), "{stderr}");
}

/// A new process that fails after it took the sockets (its pid file can't
/// be written: here a directory) must leave the old one serving, as one
/// that fails earlier does: it told the old one it was ready before that,
/// and nothing served after.
#[test]
fn an_upgrade_that_fails_late_leaves_the_old_process_serving() {
    let up = says("ok");
    let socket = TempFile::new("upgrade.sock", "");
    let pid_file = TempFile::new("tern.pid", "");
    let server = |pid_file: &str| {
        format!(
            "[server]\nupgrade_socket = \"{}\"\npid_file = \"{pid_file}\"\n",
            socket.path_str()
        )
    };
    let text = Cfg::new(up.addr).render();
    let old = Tern::start(&text.replacen("[server]\n", &server(&pid_file.path_str()), 1));
    let addr = old.addr();
    let dir = TempDir::new("upgrade-pid-dir");
    let bad = TempFile::new(
        "bad.toml",
        &text.replacen(
            "[server]\n",
            &server(&dir.join("").display().to_string()),
            1,
        ),
    );
    let out = run_tern(&["--upgrade", "--config", &bad.path_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("cannot write the pid file"), "{stderr}");
    assert_eq!(fetch(addr, "/"), Ok("ok".into()), "the old process serves");
    thread::sleep(Duration::from_millis(500));
    assert_eq!(fetch(addr, "/"), Ok("ok".into()), "and goes on serving");
}

/// The `pid` in the admin endpoint's `/status` at `admin`.
fn status_pid(admin: std::net::SocketAddr) -> Option<u32> {
    let request = format!("GET /status HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
    let (answer, _) = raw_request(admin, request.as_bytes());
    let text = String::from_utf8_lossy(&answer);
    let body = text.split_once("\r\n\r\n")?.1;
    let status: serde_json::Value = serde_json::from_str(body).ok()?;
    status["pid"].as_u64().map(|pid| pid as u32)
}

/// The admin endpoint goes over with the listeners: the new process starts
/// though the old one holds `[admin] bind`, and once the old one has its
/// `ready`, every scrape reaches the new one while the old one still drains
/// a long-poll.
#[test]
fn an_upgrade_hands_the_admin_endpoint_over() {
    let polls = LongPolls::start();
    let socket = TempFile::new("upgrade.sock", "");
    let text = Cfg::new(polls.upstream.addr)
        .grace("30s")
        .render()
        .replacen(
            "[server]\n",
            &format!("[server]\nupgrade_socket = \"{}\"\n", socket.path_str()),
            1,
        );
    let mut old = Tern::start(&format!("{text}\n[admin]\nbind = \"127.0.0.1:0\"\n"));
    let admin = old.admin_addr();
    assert_eq!(status_pid(admin), Some(old.pid()));
    let mut held = open_long_polls(old.addr(), 1);
    assert!(wait_until(Duration::from_secs(5), || polls.held() == 1));
    let mut new = start_upgrade(old.config_path());
    assert!(
        wait_until(Duration::from_secs(5), || old
            .has_said("this one stops accepting")),
        "the old process was not told the new one is ready"
    );
    for scrape in 0..30 {
        assert_eq!(status_pid(admin), Some(new.0.id()), "scrape {scrape}");
    }
    assert!(old.is_running(), "the old process should still drain");
    polls.release();
    assert_eq!(finish_long_polls(&mut held), 0, "the long-poll was lost");
    let exit = old.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.map(|status| status.code()), Some(Some(0)));
    assert_eq!(status_pid(admin), Some(new.0.id()), "after the old exited");
    assert!(
        new.0.try_wait().ok().flatten().is_none(),
        "the new process exited"
    );
}
