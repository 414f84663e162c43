//! The access and error logs: formats, local answers, rotation on SIGUSR1,
//! whole lines under concurrency, bad log settings, and files that take
//! nothing (a FIFO nobody reads) or fail (a full disk).

mod admin_support;
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use admin_support::{metric, scrape, wait_metric};
use common::fifo::Fifo;
use common::*;

/// A fresh directory for a test's log files, removed when the test ends.
fn log_dir(name: &str) -> TempDir {
    TempDir::new(&format!("log-{name}"))
}

fn config(upstream: std::net::SocketAddr, log: &str) -> String {
    format!(
        "[server]\nworkers = 2\n[log]\n{log}\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
         [[route]]\nname = \"api\"\npath_prefix = \"/api\"\nbackend = \"app\"\n\
         [[route]]\nname = \"health\"\npath_prefix = \"/health\"\nrespond = {{ status = 200, body = \"ok\" }}\n\
         [backend.app]\nservers = [\"{upstream}\"]\n"
    )
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    wait_until(Duration::from_secs(5), || lines(path).len() >= n);
    lines(path)
}

#[test]
fn combined_lines_name_the_request_route_backend_server_and_times() {
    let up = RecordingUpstream::echo();
    let dir = log_dir("combined");
    let path = dir.join("access.log");
    let tern = Tern::start(&config(
        up.addr,
        &format!("access = \"{}\"", path.display()),
    ));
    let mut c = tern.connect();
    let r = c.roundtrip(b"GET /api/items?x=1 HTTP/1.1\r\nHost: h\r\nReferer: http://ref.test/\r\nUser-Agent: probe/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    let got = wait_lines(&path, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    let line = &got[0];
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.contains("] \"GET /api/items?x=1 HTTP/1.1\" 200 "),
        "{line}"
    );
    assert!(
        line.contains(" \"http://ref.test/\" \"probe/1.0\" "),
        "{line}"
    );
    assert!(line.contains(" route=api backend=app "), "{line}");
    assert!(line.contains(&format!(" server={} ", up.addr)), "{line}");
    assert!(
        line.contains(" upstream_time=0.") && line.contains(" request_time=0."),
        "{line}"
    );
    // The bytes count the whole response the client got.
    let bytes: u64 = line
        .split("\" 200 ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("bytes");
    assert_eq!(bytes as usize, r.raw.len(), "{line}");
}

#[test]
fn json_lines_parse_and_local_answers_are_logged_too() {
    let up = RecordingUpstream::echo();
    let dir = log_dir("json");
    let path = dir.join("access.log");
    let tern = Tern::start(&config(
        up.addr,
        &format!("access = \"{}\"\nformat = \"json\"", path.display()),
    ));
    let mut c = tern.connect();
    assert_eq!(
        c.roundtrip(b"GET /api/a HTTP/1.1\r\nHost: h\r\n\r\n")
            .status,
        200
    );
    assert_eq!(
        c.roundtrip(b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
            .status,
        200
    );
    assert_eq!(
        c.roundtrip(b"GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n")
            .status,
        404
    );
    let mut bad = tern.connect();
    bad.send(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    let _ = bad.expect_close(Duration::from_secs(5));
    let got = wait_lines(&path, 4);
    let parsed: Vec<serde_json::Value> = got
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let find = |status: u64, request: &str| {
        parsed
            .iter()
            .find(|v| {
                v["status"] == status && v["request"].as_str().is_some_and(|r| r.contains(request))
            })
            .unwrap_or_else(|| panic!("no {status} {request} line in {got:?}"))
    };
    let proxied = find(200, "/api/a");
    assert_eq!(proxied["backend"], "app");
    assert!(proxied["upstream_time"].is_number());
    assert_eq!(find(200, "/health")["route"], "health");
    assert!(find(404, "/nowhere")["backend"].is_null());
    find(400, "GET / HTTP/1.1");
}

#[test]
fn sigusr1_reopens_the_file_for_rotation() {
    let up = RecordingUpstream::echo();
    let dir = log_dir("rotate");
    let path = dir.join("access.log");
    let tern = Tern::start(&config(
        up.addr,
        &format!("access = \"{}\"", path.display()),
    ));
    let mut c = tern.connect();
    c.roundtrip(b"GET /api/before HTTP/1.1\r\nHost: h\r\n\r\n");
    wait_lines(&path, 1);
    let rotated = path.with_extension("log.1");
    std::fs::rename(&path, &rotated).expect("rotate");
    let signal = Command::new("kill")
        .args(["-USR1", &tern.pid().to_string()])
        .status()
        .expect("kill");
    assert!(signal.success());
    // The workers reopen at their next tick; a request before then may
    // still land in the old file, so send until the new file appears.
    let reopened = wait_until(Duration::from_secs(5), || {
        c.roundtrip(b"GET /api/after HTTP/1.1\r\nHost: h\r\n\r\n");
        std::thread::sleep(Duration::from_millis(100));
        lines(&path).iter().any(|l| l.contains("/api/after"))
    });
    assert!(reopened, "no line reached the reopened file");
    assert!(lines(&rotated).iter().any(|l| l.contains("/api/before")));
}

#[test]
fn concurrent_requests_give_whole_lines_one_each() {
    let up = RecordingUpstream::echo();
    let dir = log_dir("whole");
    let path = dir.join("access.log");
    let tern = Tern::start(&config(
        up.addr,
        &format!("access = \"{}\"", path.display()),
    ));
    let addr = tern.addr();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                for i in 0..25 {
                    let req = format!("GET /api/t{t}/r{i} HTTP/1.1\r\nHost: h\r\n\r\n");
                    assert_eq!(c.roundtrip(req.as_bytes()).status, 200);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("client thread");
    }
    let got = wait_lines(&path, 200);
    assert_eq!(got.len(), 200);
    for line in &got {
        assert!(
            line.starts_with("127.0.0.1 - - [") && line.contains(" request_time="),
            "torn line: {line}"
        );
    }
}

#[test]
fn the_error_log_can_go_to_a_file_with_debug_lines() {
    let up = RecordingUpstream::echo();
    let dir = log_dir("errors");
    let path = dir.join("error.log");
    let tern = Tern::start(&config(
        up.addr,
        &format!("error = \"{}\"\nlevel = \"debug\"", path.display()),
    ));
    let mut bad = tern.connect();
    bad.send(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n");
    let _ = bad.expect_close(Duration::from_secs(5));
    let debug_505 = |lines: &[String]| {
        lines
            .iter()
            .any(|l| l.contains("debug") && l.contains("505"))
    };
    wait_until(Duration::from_secs(5), || debug_505(&lines(&path)));
    let got = lines(&path);
    assert!(debug_505(&got), "{got:?}");
}

#[test]
fn sigusr1_reopens_the_error_log_for_the_workers_lines_too() {
    let up = RecordingUpstream::echo();
    let dir = log_dir("errors-rotate");
    let path = dir.join("error.log");
    // One worker: the one whose descriptor for the old file must be made
    // again (a second worker would open the new file at its first line).
    let mut tern = Tern::start(
        &config(
            up.addr,
            &format!("error = \"{}\"\nlevel = \"debug\"", path.display()),
        )
        .replace("workers = 2", "workers = 1"),
    );
    // A refused request: a worker's debug line ("refused a request from
    // ... with 505").
    let refuse = |tern: &Tern| {
        let mut bad = tern.connect();
        bad.send(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n");
        let _ = bad.expect_close(Duration::from_secs(5));
    };
    let refusals = |path: &Path| {
        lines(path)
            .iter()
            .filter(|l| l.contains("with 505"))
            .count()
    };
    refuse(&tern);
    assert!(wait_until(Duration::from_secs(5), || refusals(&path) == 1));
    let rotated = path.with_extension("log.1");
    std::fs::rename(&path, &rotated).expect("rotate");
    tern.signal("USR1");
    let reopened = wait_until(Duration::from_secs(5), || {
        refuse(&tern);
        std::thread::sleep(Duration::from_millis(100));
        refusals(&path) > 0
    });
    assert!(reopened, "no worker line reached the reopened error log");
    // (A refusal sent before tern handled the signal may land there too.)
    assert!(refusals(&rotated) >= 1);
    tern.signal("TERM");
    assert!(tern.wait_exit(Duration::from_secs(10)).is_some());
}

#[test]
fn reloads_and_a_stop_are_not_held_up_by_an_error_log_that_takes_nothing() {
    let up = RecordingUpstream::echo();
    let fifo = stalled_log("error-fifo-stop");
    let mut tern = Tern::start(&config(
        up.addr,
        &format!("error = \"{}\"\nlevel = \"debug\"", fifo.path.display()),
    ));
    // The workers' lines fill the pipe; then the main thread has lines of
    // its own for the file: one per reload (100 are more than the room a
    // full pipe's last page has left), stopping, stopped.
    send_refused_requests(tern.addr());
    for _ in 0..100 {
        tern.signal("HUP");
        std::thread::sleep(Duration::from_millis(10));
    }
    let health = tern
        .connect()
        .roundtrip(b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(health.status, 200);
    tern.signal("TERM");
    let stopped = tern.wait_exit(Duration::from_secs(20)).is_some();
    assert!(stopped, "tern did not stop: {:#?}", tern.stderr());
}

#[test]
fn an_error_log_that_takes_nothing_never_stops_the_workers_nor_the_access_log() {
    let up = RecordingUpstream::echo();
    let mut fifo = stalled_log("error-fifo");
    let dir = log_dir("beside-error-fifo");
    let access = dir.join("access.log");
    let tern = Tern::start(&config(
        up.addr,
        &format!(
            "error = \"{}\"\nlevel = \"debug\"\naccess = \"{}\"",
            fifo.path.display(),
            access.display()
        ),
    ));
    send_refused_requests(tern.addr());
    let mut c = tern.connect();
    c.set_read_timeout(Duration::from_secs(3));
    assert_eq!(
        c.roundtrip(b"GET /api/after HTTP/1.1\r\nHost: h\r\n\r\n")
            .status,
        200
    );
    // The access log, another file, is not held up behind it.
    let after = || lines(&access).iter().any(|l| l.contains("/api/after"));
    assert!(wait_until(Duration::from_secs(5), after));
    let all = fifo.read_until(Duration::from_secs(10), |log| {
        String::from_utf8_lossy(log).matches(" 505").count() >= 2000
    });
    assert!(all, "{} lines read", fifo.text().lines().count());
}

#[test]
fn bad_log_settings_are_refused_naming_the_key() {
    let refused = |log: &str, key: &str| {
        let file = TempFile::new("log.toml", &config(dead_addr(), log));
        let out = run_tern(&["--check", "--config", &file.path_str()]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{log}");
        assert!(err.contains(key), "{log}: {err}");
    };
    refused("access = \"relative.log\"", "log.access");
    refused("access = \"/nonexistent/dir/access.log\"", "log.access");
    refused("format = \"xml\"", "log.format");
    refused("level = \"loud\"", "log.level");
    refused("error = \"/nonexistent/dir/error.log\"", "log.error");
}

/// One worker, no retries: the failures of one server are counted in one
/// place, and each request tries it once.
fn failing_config(dead: std::net::SocketAddr, mute: std::net::SocketAddr, log: &str) -> String {
    format!(
        "[server]\nworkers = 1\n[log]\n{log}\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
         [[route]]\nname = \"api\"\npath_prefix = \"/api\"\nbackend = \"app\"\n\
         [[route]]\nname = \"mute\"\npath_prefix = \"/mute\"\nbackend = \"quiet\"\n\
         [backend.app]\nretries = 0\nservers = [\"{dead}\"]\n\
         [backend.quiet]\nretries = 0\nservers = [\"{mute}\"]\n"
    )
}

/// An upstream that reads the request head and closes without answering.
fn mute_upstream() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        let _ = c.read_head();
    })
}

fn warn_lines(tern: &Tern, about: &str) -> Vec<String> {
    tern.stderr()
        .into_iter()
        .filter(|l| l.contains(" tern warn: upstream failed: ") && l.contains(about))
        .collect()
}

#[test]
fn upstream_failures_are_warned_about_once_per_server_and_period() {
    let (dead, mute) = (dead_addr(), mute_upstream());
    let tern = Tern::start(&failing_config(dead, mute.addr, ""));
    for _ in 0..5 {
        let r = tern
            .connect()
            .roundtrip(b"GET /api/x HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(r.status, 502);
    }
    let r = tern
        .connect()
        .roundtrip(b"GET /mute/x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 502);
    let closed = format!("server={} backend=quiet route=mute: closed", mute.addr);
    wait_until(Duration::from_secs(5), || {
        !warn_lines(&tern, &closed).is_empty()
    });
    let refused = warn_lines(
        &tern,
        &format!("server={dead} backend=app route=api: connect failed"),
    );
    assert_eq!(
        refused.len(),
        1,
        "five refusals, one line: {:?}",
        tern.stderr()
    );
    assert_eq!(
        warn_lines(&tern, &closed).len(),
        1,
        "another server is logged on its own: {:?}",
        tern.stderr()
    );
}

fn logged_bytes(line: &str, status: u16) -> u64 {
    line.split(&format!("\" {status} "))
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no bytes in {line}"))
}

#[test]
fn answers_tern_makes_after_routing_log_their_bytes_and_the_failed_server() {
    let (dead, mute) = (dead_addr(), mute_upstream());
    let dir = log_dir("failures");
    let path = dir.join("access.log");
    let log = format!("access = \"{}\"", path.display());
    let tern = Tern::start(&failing_config(dead, mute.addr, &log));
    let refused = tern
        .connect()
        .roundtrip(b"GET /api/x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(refused.status, 502);
    let got = wait_lines(&path, 1);
    assert_eq!(
        logged_bytes(&got[0], 502),
        refused.raw.len() as u64,
        "{got:?}"
    );
    assert!(got[0].contains(&format!(" server={dead} ")), "{got:?}");

    // A chunked body that goes bad after the head went upstream: 400.
    // (Bad bytes sent with the head are refused before any upstream is
    // contacted, so the bad chunk comes once the upstream has the head.)
    let mut c = tern.connect();
    c.send(b"POST /mute/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(
        mute.wait_conns(1, Duration::from_secs(5)),
        "head went upstream"
    );
    c.send(b"zz\r\n");
    let bad = c.read_response().expect("a 400");
    assert_eq!(bad.status, 400);
    let got = wait_lines(&path, 2);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(logged_bytes(&got[1], 400), bad.raw.len() as u64, "{got:?}");
    assert!(
        got[1].contains(&format!(" server={} ", mute.addr)),
        "{got:?}"
    );
}

#[test]
fn tern_s_own_answers_count_the_100_continue_they_send_first() {
    let dir = log_dir("continue");
    let path = dir.join("access.log");
    dir.write("page.txt", b"a page\n");
    let tern = Tern::start(&format!(
        "[server]\nworkers = 1\n[log]\naccess = \"{}\"\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
         [[route]]\npath_prefix = \"/health\"\nrespond = {{ status = 200, body = \"ok\" }}\n\
         [[route]]\npath_prefix = \"/files\"\nstatic = {{ root = \"{}\" }}\n",
        path.display(),
        dir.path.display()
    ));
    // A respond route, and a POST to a static file (405): each drops the
    // body after a `100 Continue`, which the client got and the log counts.
    for (i, (target, status)) in [("/health", 200), ("/files/page.txt", 405)]
        .into_iter()
        .enumerate()
    {
        let mut c = tern.connect();
        c.send(
            format!(
                "POST {target} HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\
                 Expect: 100-continue\r\n\r\n"
            )
            .as_bytes(),
        );
        let interim = c.read_response().expect("a 100 Continue");
        assert_eq!(interim.status, 100);
        c.send(b"body");
        let answer = c.read_response().expect("the answer");
        assert_eq!(answer.status, status, "{target}");
        let got = wait_lines(&path, i + 1);
        let sent = (interim.raw.len() + answer.raw.len()) as u64;
        assert_eq!(logged_bytes(&got[i], status), sent, "{got:?}");
    }
}

/// A target long enough that 300 lines are several times what a pipe holds.
fn long_target(i: usize) -> String {
    format!("/api/{i:03}/{}", "x".repeat(1000))
}

/// A FIFO to log to, not read until the test says.
fn stalled_log(name: &str) -> Fifo {
    Fifo::new(&format!("log-{name}"))
}

/// 300 requests whose log lines are several times what the pipe holds.
fn fill_the_log(tern: &Tern) {
    let mut c = tern.connect();
    c.set_read_timeout(Duration::from_secs(3));
    for i in 0..300 {
        let req = format!("GET {} HTTP/1.1\r\nHost: h\r\n\r\n", long_target(i));
        assert_eq!(c.roundtrip(req.as_bytes()).status, 200, "request {i}");
    }
}

#[test]
fn a_log_file_that_takes_nothing_never_stops_the_workers() {
    let up = RecordingUpstream::echo();
    let mut fifo = stalled_log("fifo");
    let tern = Tern::start(&config(
        up.addr,
        &format!("access = \"{}\"", fifo.path.display()),
    ));
    fill_the_log(&tern);
    // And on a new connection, with the log's writes still waiting.
    assert_eq!(
        tern.connect()
            .roundtrip(b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
            .status,
        200
    );
    // Read now: every line arrives, whole and in order.
    let complete = fifo.read_until(Duration::from_secs(10), |log| {
        log.iter().filter(|&&b| b == b'\n').count() >= 301
    });
    let text = fifo.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(complete, "{} lines read", lines.len());
    let targets: Vec<String> = (0..300).map(long_target).collect();
    let at: Vec<Option<usize>> = targets
        .iter()
        .map(|target| lines.iter().position(|line| line.contains(target.as_str())))
        .collect();
    assert!(at.iter().all(Option::is_some), "lines missing: {at:?}");
    assert!(
        at.windows(2).all(|pair| pair[0] < pair[1]),
        "out of order: {at:?}"
    );
}

#[test]
fn a_stop_waits_a_few_seconds_for_a_log_file_that_takes_nothing_then_exits() {
    let up = RecordingUpstream::echo();
    let fifo = stalled_log("fifo-stop");
    let mut tern = Tern::start(&config(
        up.addr,
        &format!("access = \"{}\"", fifo.path.display()),
    ));
    fill_the_log(&tern);
    tern.signal("TERM");
    let exit = tern.wait_exit(Duration::from_secs(15));
    assert!(exit.is_some_and(|status| status.success()), "{exit:?}");
    assert!(tern.has_said("lines not written"), "{:?}", tern.stderr());
}

/// A log file that can't be reopened after SIGUSR1 (its directory moved
/// away): serving goes on, and the lines go on to the file open before, as
/// nginx does (they were lost, counted as dropped).
#[test]
fn a_log_that_cannot_be_reopened_goes_on_in_the_file_open_before() {
    let up = RecordingUpstream::echo();
    let dir = TempDir::new("access-gone");
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let path = logs.join("access.log");
    let tern = Tern::start(&format!(
        "{}[admin]\nbind = \"127.0.0.1:0\"\n",
        config(up.addr, &format!("access = \"{}\"", path.display()))
    ));
    let moved = dir.join("logs.moved");
    std::fs::rename(&logs, &moved).expect("mv");
    tern.signal("USR1");
    assert!(
        wait_until(Duration::from_secs(5), || {
            tern.has_said("writing on to the file open before")
        }),
        "{:#?}",
        tern.stderr()
    );
    let mut c = tern.connect();
    for i in 0..20 {
        let req = format!("GET /api/{i} HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(c.roundtrip(req.as_bytes()).status, 200);
    }
    let lines = || {
        let text = std::fs::read_to_string(moved.join("access.log")).unwrap_or_default();
        text.lines().filter(|l| l.contains("GET /api/")).count()
    };
    assert!(
        wait_until(Duration::from_secs(5), || lines() == 20),
        "{}",
        lines()
    );
    let dropped = metric(&scrape(&tern), "tern_log_dropped_lines_total");
    assert_eq!(dropped, Some(0.0));
}

#[test]
fn a_full_disk_is_said_once_not_at_every_write() {
    let up = RecordingUpstream::echo();
    // /dev/full: every write fails with ENOSPC, as on a full disk.
    let tern = Tern::start(&format!(
        "{}[admin]\nbind = \"127.0.0.1:0\"\n",
        config(up.addr, "access = \"/dev/full\"")
    ));
    let mut c = tern.connect();
    // Requests over several of the workers' 50 ms flushes.
    for i in 0..20 {
        let req = format!("GET /api/{i} HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(c.roundtrip(req.as_bytes()).status, 200);
        std::thread::sleep(Duration::from_millis(30));
    }
    wait_until(Duration::from_secs(2), || {
        tern.has_said("access log write failed")
    });
    let said = tern.said("access log write failed");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("No space left on device"), "{said:?}");
    // Their lines are lost, and counted.
    let dropped = wait_metric(&tern, "tern_log_dropped_lines_total", 20.0);
    assert_eq!(dropped, Some(20.0));
}
