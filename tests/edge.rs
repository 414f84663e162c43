//! Holding at the edge (issue 9, items 5 and 9-12): one tern per address,
//! server limits that hold for the process, a connection cap and descriptor
//! exhaustion, contained panics, and reloads that don't pile up.

mod admin_support;
mod common;

use admin_support::*;
use common::traffic::*;
use common::*;
use std::net::SocketAddr;
use std::time::Duration;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// --- item 5: one tern per address ------------------------------------------

#[test]
fn a_second_tern_on_the_same_address_is_refused() {
    let app = says("first");
    let port = free_port();
    let mut cfg = Cfg::new(app.addr);
    cfg.binds = vec![format!("127.0.0.1:{port}")];
    let mut first = cfg.start();
    let second = Tern::try_start(&cfg.render());
    let Err(why) = second else {
        panic!("a second tern started on 127.0.0.1:{port} beside the first");
    };
    assert!(
        why.contains("Address already in use") && why.contains(&format!("127.0.0.1:{port}")),
        "the refusal should name the address and say it is in use:\n{why}"
    );
    assert!(first.is_running(), "the first tern must keep running");
    for _ in 0..4 {
        assert_eq!(fetch(first.addr(), "/").as_deref(), Ok("first"));
    }
}

#[test]
fn two_listeners_on_one_address_fail_the_check() {
    let port = free_port();
    let config = format!(
        "[[listener]]\nname = \"a\"\nbind = \"127.0.0.1:{port}\"\n\n\
         [[listener]]\nname = \"b\"\nbind = [\"127.0.0.2:1\", \"0.0.0.0:{port}\"]\n\n\
         [[route]]\nbackend = \"app\"\n\n[backend.app]\nservers = [\"127.0.0.1:9\"]\n"
    );
    let file = TempFile::new("two.toml", &config);
    let out = run_tern(&["--check", "--config", &file.path_str()]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "--check accepted two listeners on one port: {err}"
    );
    assert!(
        err.contains("listener[1].bind[1]") && err.contains("already in use"),
        "the error should name the key and say the address is in use: {err}"
    );
}

// --- item 11: a panic stays small ------------------------------------------

/// Debug builds panic in the connection task of a request whose request
/// line contains `TERN_DEBUG_PANIC` (see src/contain.rs). Each test
/// runs in its own process under nextest; the text is unique anyway.
fn with_panic_env(name: &str, text: &str) {
    std::env::set_var(name, text);
}

#[test]
fn a_panic_in_a_connection_closes_it_and_the_worker_keeps_serving() {
    with_panic_env("TERN_DEBUG_PANIC", "/inject-a-panic");
    let app = says("fine");
    let tern = start_with_admin(&Cfg::new(app.addr).workers(1));
    // A keep-alive neighbour on the same worker, mid-conversation.
    let mut neighbour = tern.connect();
    neighbour.set_read_timeout(Duration::from_secs(5));
    assert_eq!(neighbour.roundtrip(&get("/a")).body_str(), "fine");
    for round in 1..=3 {
        let (bytes, _) = raw_request(
            tern.addr(),
            b"GET /inject-a-panic HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        assert!(
            bytes.is_empty(),
            "the panicking request got an answer: {}",
            show(&bytes)
        );
        assert_eq!(
            fetch(tern.addr(), "/after").as_deref(),
            Ok("fine"),
            "the worker stopped serving after panic {round}"
        );
        assert_eq!(neighbour.roundtrip(&get("/b")).body_str(), "fine");
    }
    assert_eq!(wait_metric(&tern, "tern_panics_total", 3.0), Some(3.0));
    assert!(
        wait_lines(
            &tern,
            "GET /inject-a-panic HTTP/1.1",
            3,
            Duration::from_secs(5)
        ),
        "each panic should be logged with its request line: {:#?}",
        tern.stderr()
    );
    assert!(tern
        .stderr()
        .iter()
        .any(|l| l.contains("injected by TERN_DEBUG_PANIC") && l.contains("127.0.0.1")));
}

#[test]
fn a_worker_that_dies_anyway_stops_the_process_non_zero() {
    with_panic_env("TERN_DEBUG_WORKER_PANIC", "/kill-the-worker");
    let app = says("fine");
    let mut tern = Cfg::new(app.addr).workers(2).grace("1s").start();
    assert_eq!(fetch(tern.addr(), "/a").as_deref(), Ok("fine"));
    let _ = raw_request_timeout(
        tern.addr(),
        b"GET /kill-the-worker HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    );
    let status = tern.wait_exit(Duration::from_secs(10));
    let Some(status) = status else {
        panic!("tern lived on with a dead worker: {:#?}", tern.stderr());
    };
    assert!(!status.success(), "tern exited 0 after a worker died");
    assert!(
        tern.stderr()
            .iter()
            .any(|l| l.contains("worker") && l.contains("died")),
        "{:#?}",
        tern.stderr()
    );
}

// --- item 12: reloads don't pile up ----------------------------------------

/// A config with an admin endpoint, a long-poll backend on /poll, a
/// WebSocket backend on /ws and everything else to `app`; `extra` is put
/// in `[server]` and `log` in `[log]`.
fn held_config(app: SocketAddr, poll: SocketAddr, ws: SocketAddr, log: &str) -> String {
    format!(
        "[server]\nworkers = 1\nshutdown_grace = \"1s\"\n\
         [server.timeouts]\nclient_idle = \"60s\"\n\
         [log]\n{log}\n\
         [admin]\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[route]]\npath_prefix = \"/poll\"\nbackend = \"poll\"\n\
         [[route]]\npath_prefix = \"/ws\"\nbackend = \"ws\"\n\
         [[route]]\npath_prefix = \"/\"\nbackend = \"app\"\n\
         [backend.app]\nservers = [\"{app}\"]\n\
         [backend.poll]\nservers = [\"{poll}\"]\n\
         [backend.ws]\nservers = [\"{ws}\"]\n"
    )
}

/// Rewrites nothing: the same file reloaded is a new generation all the same.
fn reload(tern: &Tern, nth: usize) {
    tern.signal("HUP");
    assert!(
        wait_lines(tern, "reloaded:", nth, Duration::from_secs(10)),
        "no reload #{nth}: {:#?}",
        tern.stderr()
    );
}

/// A fresh directory for a test's access log, removed when the test ends.
fn log_dir(name: &str) -> TempDir {
    TempDir::new(&format!("edge-{name}"))
}

fn access_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn held_connections_pin_their_own_generation_not_every_later_one() {
    let (app, poll, ws) = (says("app"), LongPolls::start(), ws_echo());
    let tern = Tern::start(&held_config(app.addr, poll.upstream.addr, ws.addr, ""));
    let mut sockets = open_websockets(tern.addr(), "/ws", 4);
    let mut idle = tern.connect();
    idle.set_read_timeout(Duration::from_secs(5));
    assert_eq!(idle.roundtrip(&get("/a")).body_str(), "app");
    assert_eq!(metric(&scrape(&tern), "tern_generations"), Some(1.0));
    for nth in 1..=20 {
        reload(&tern, nth);
    }
    // The first generation (held by the WebSockets and the idle keep-alive)
    // and the current one; not the 19 in between.
    assert_eq!(wait_metric(&tern, "tern_generations", 2.0), Some(2.0));
    assert_eq!(echo_websockets(&mut sockets, "still here"), 0);
    assert_eq!(idle.roundtrip(&get("/b")).body_str(), "app");
    drop(sockets);
    drop(idle);
    assert_eq!(wait_metric(&tern, "tern_generations", 1.0), Some(1.0));
}

#[test]
fn a_line_served_on_an_old_generation_is_written_within_the_flush_interval() {
    let (app, poll, ws) = (says("app"), LongPolls::start(), ws_echo());
    let dir = log_dir("old-generation");
    let path = dir.join("access.log");
    let log = format!("access = \"{}\"", path.display());
    let tern = Tern::start(&held_config(app.addr, poll.upstream.addr, ws.addr, &log));
    let mut polls = open_long_polls(tern.addr(), 1);
    assert!(wait_until(Duration::from_secs(5), || poll.held() == 1));
    reload(&tern, 1);
    poll.release();
    let answer = polls[0].read_response().expect("the long-poll's answer");
    assert_eq!(answer.body_str(), "released");
    // The connection stays open, idle, on the generation it began on.
    assert!(
        wait_until(Duration::from_secs(5), || access_lines(&path)
            .iter()
            .any(|l| l.contains("GET /poll/0 "))),
        "the long-poll's line was not written while its connection is open: {:?}",
        access_lines(&path)
    );
    drop(polls);
}

/// Requests just answered, then `signal` at once: every line is in the file.
fn lines_survive(signal: &str, name: &str) {
    let (app, poll, ws) = (says("app"), LongPolls::start(), ws_echo());
    let dir = log_dir(name);
    let path = dir.join("access.log");
    let log = format!("access = \"{}\"", path.display());
    let mut tern = Tern::start(&held_config(app.addr, poll.upstream.addr, ws.addr, &log));
    // A WebSocket keeps the process in its grace period on SIGTERM.
    let _socket = open_websockets(tern.addr(), "/ws", 1);
    let mut conn = tern.connect();
    conn.set_read_timeout(Duration::from_secs(5));
    for i in 0..20 {
        assert_eq!(conn.roundtrip(&get(&format!("/r{i}"))).body_str(), "app");
    }
    tern.signal(signal);
    assert!(
        tern.wait_exit(Duration::from_secs(10)).is_some(),
        "tern did not exit"
    );
    let lines = access_lines(&path);
    let requests = lines.iter().filter(|l| l.contains("GET /r")).count();
    assert_eq!(requests, 20, "lines lost at SIG{signal}: {lines:#?}");
}

#[test]
fn access_log_lines_are_written_at_sigquit() {
    lines_survive("QUIT", "quit");
}

/// A line written during the grace period on an old generation that a
/// WebSocket still holds when the grace runs out: no tick, no drop writes
/// it, only the flush on exit.
#[test]
fn access_log_lines_are_written_at_sigterm() {
    let (app, poll, ws) = (says("app"), LongPolls::start(), ws_echo());
    let dir = log_dir("term");
    let path = dir.join("access.log");
    let log = format!("access = \"{}\"", path.display());
    let mut tern = Tern::start(&held_config(app.addr, poll.upstream.addr, ws.addr, &log));
    let _socket = open_websockets(tern.addr(), "/ws", 1);
    let mut polls = open_long_polls(tern.addr(), 1);
    assert!(wait_until(Duration::from_secs(5), || poll.held() == 1));
    reload(&tern, 1);
    tern.sigterm();
    assert!(wait_lines(&tern, "stopping", 1, Duration::from_secs(5)));
    poll.release();
    let answer = polls[0].read_response().expect("the long-poll's answer");
    assert_eq!(answer.body_str(), "released");
    assert!(
        tern.wait_exit(Duration::from_secs(10)).is_some(),
        "tern did not exit"
    );
    let lines = access_lines(&path);
    assert!(
        lines.iter().any(|l| l.contains("GET /poll/0 ")),
        "the long-poll's line was lost at SIGTERM: {lines:#?}"
    );
}

// --- item 10: a connection cap, and running out of descriptors -------------

/// Runs the tern binary under `prlimit --nofile=N:N`, by pointing
/// `TERN_TEST_BIN` at a wrapper script (each test is its own process under
/// nextest). The returned file must live as long as the test.
fn with_nofile(limit: u32) -> TempFile {
    use std::os::unix::fs::PermissionsExt;
    let script = TempFile::new(
        "nofile.sh",
        &format!(
            "#!/bin/sh\nexec prlimit --nofile={limit}:{limit} {} \"$@\"\n",
            BIN
        ),
    );
    std::fs::set_permissions(&script.path, std::fs::Permissions::from_mode(0o755))
        .expect("chmod the wrapper");
    std::env::set_var("TERN_TEST_BIN", &script.path);
    script
}

fn with_server_key(cfg: &Cfg, line: &str) -> String {
    cfg.render()
        .replacen("[server]\n", &format!("[server]\n{line}\n"), 1)
}

/// tern with one worker, `max_connections = 2` and an admin endpoint, in
/// front of `upstream`.
fn one_worker_capped_at_two(upstream: std::net::SocketAddr) -> Tern {
    Tern::start(&capped_at_two(&Cfg::new(upstream).workers(1)))
}

/// `cfg` with `max_connections = 2` and an admin endpoint.
fn capped_at_two(cfg: &Cfg) -> String {
    format!(
        "{}\n[admin]\nbind = \"127.0.0.1:0\"\n",
        with_server_key(cfg, "max_connections = 2")
    )
}

/// Beside one busy connection, a new client is served within 5 s in the
/// place of the idle one (`idle` says which); the busy one is returned.
fn served_in_place_of(tern: &Tern, idle: &str) -> Vec<Conn> {
    let busy = busy_connections(tern, 1);
    let mut third = tern.connect();
    third.send(&get("/third"));
    third.set_read_timeout(Duration::from_secs(5));
    let answer = third
        .read_response()
        .unwrap_or_else(|err| panic!("not served in the {idle} one's place: {err:?}"));
    assert_eq!(answer.body_str(), "ok");
    busy
}

#[test]
fn at_the_cap_new_connections_wait_in_the_queue_until_one_ends() {
    let app = says("ok");
    let tern = one_worker_capped_at_two(app.addr);
    assert_eq!(metric(&scrape(&tern), "tern_connections_max"), Some(2.0));
    // Busy: a request begun (idle keep-alives would give way, below).
    let mut held = busy_connections(&tern, 2);
    let mut third = tern.connect();
    third.send(&get("/third"));
    third.set_read_timeout(Duration::from_millis(800));
    assert!(
        third.read_response().is_err(),
        "a third connection was served beyond max_connections = 2"
    );
    assert!(metric(&scrape(&tern), "tern_accept_pauses_total").is_some_and(|n| n >= 1.0));
    drop(held.pop());
    third.set_read_timeout(Duration::from_secs(5));
    let answer = third
        .read_response()
        .expect("served once a connection ended");
    assert_eq!(answer.body_str(), "ok");
    held[0].send(b"Host: x\r\n\r\n");
    assert_eq!(
        held[0]
            .read_response()
            .map(|r| r.body_str())
            .ok()
            .as_deref(),
        Some("ok")
    );
}

/// `count` connections with a request begun (its head unfinished): busy,
/// so they don't give way to new clients at the cap.
fn busy_connections(tern: &Tern, count: usize) -> Vec<Conn> {
    let accepted = "tern_connections_accepted_total{worker=\"0\"}";
    let before = metric(&scrape(tern), accepted).unwrap_or(0.0);
    let held: Vec<Conn> = (0..count)
        .map(|_| {
            let mut conn = tern.connect();
            conn.send(b"GET /held HTTP/1.1\r\n");
            conn
        })
        .collect();
    let want = before + count as f64;
    assert_eq!(wait_metric(tern, accepted, want), Some(want));
    held
}

/// At the cap, idle keep-alive connections are closed to make room for
/// clients waiting to be accepted (as nginx reuses connections when its
/// worker_connections run out), oldest waiting first; busy ones are not.
/// New clients waited for client_idle (60 s) before.
#[test]
fn at_the_cap_idle_keep_alive_connections_give_way_to_waiting_clients() {
    let app = says("ok");
    let tern = one_worker_capped_at_two(app.addr);
    let mut idle = tern.connect();
    assert_eq!(idle.roundtrip(&get("/idle")).body_str(), "ok");
    let mut busy = served_in_place_of(&tern, "idle");
    assert!(
        idle.expect_close(Duration::from_secs(2)).is_ok(),
        "the idle one was closed"
    );
    busy[0].send(b"Host: x\r\n\r\n");
    assert_eq!(
        busy[0]
            .read_response()
            .map(|r| r.body_str())
            .ok()
            .as_deref(),
        Some("ok")
    );
    assert!(tern.has_said("idle keep-alive connections closed to make room"));
}

/// A connection that has sent nothing yet (a browser's spare, a probe)
/// gives way at the cap too, as nginx reuses it: it held its place for
/// the header timeout (10 s) while a client waited in the queue.
#[test]
fn at_the_cap_a_connection_that_sent_nothing_gives_way() {
    let app = says("ok");
    // The header timeout well past the client's wait below.
    let cfg = Cfg::new(app.addr)
        .workers(1)
        .timeout("client_header", "30s");
    let tern = Tern::start(&capped_at_two(&cfg));
    let accepted = "tern_connections_accepted_total{worker=\"0\"}";
    let before = metric(&scrape(&tern), accepted).unwrap_or(0.0);
    let mut silent = tern.connect();
    assert_eq!(
        wait_metric(&tern, accepted, before + 1.0),
        Some(before + 1.0)
    );
    let _busy = served_in_place_of(&tern, "silent");
    let said = silent
        .expect_close(Duration::from_secs(2))
        .expect("the silent connection was closed");
    assert!(said.is_empty(), "closed unanswered: {}", show(&said));
}

/// HTTP/2 connections serving no stream give way at the cap as idle
/// keep-alives do: GOAWAY (NO_ERROR) and the close. They held their place
/// until client_idle before (60 s here).
#[test]
fn at_the_cap_idle_http2_connections_give_way_to_waiting_clients() {
    let app = says("ok");
    let toml = capped_at_two(&Cfg::new(app.addr).workers(1)).replacen(
        "[[listener]]\n",
        "[[listener]]\nhttp2 = true\n",
        1,
    );
    let tern = Tern::start(&toml);
    let mut idle = tern.connect();
    // The preface and an empty SETTINGS; the server's SETTINGS back.
    idle.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0");
    let header = idle.read_exact_n(9).expect("the server's SETTINGS");
    assert_eq!(header[3], 0x4, "a SETTINGS frame first");
    let length =
        usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    idle.read_exact_n(length).expect("its payload");
    // One stream served first (GET / with :authority x, HPACK's static
    // table): idle from its end, not only before any stream.
    idle.send(b"\0\0\x06\x01\x05\0\0\0\x01\x82\x86\x84\x41\x01x");
    std::thread::sleep(Duration::from_millis(300));
    let _busy = served_in_place_of(&tern, "idle HTTP/2");
    let rest = idle
        .expect_close(Duration::from_secs(2))
        .expect("the idle HTTP/2 connection was closed");
    assert!(frame_types(&rest).contains(&0x7), "GOAWAY before the close");
}

/// The type of each whole frame in `bytes`, in order.
fn frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let length =
            usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        types.push(bytes[3]);
        bytes = &bytes[(9 + length).min(bytes.len())..];
    }
    types
}

/// More than 128 connections waiting at a tick bring in surge accepts. At
/// the cap they wait for room like the four accepts always posted, so the
/// cap holds, and every queued connection is served once room returns.
#[test]
fn a_deep_listen_queue_at_the_cap_brings_a_surge_that_keeps_the_cap() {
    let app = says("ok");
    let tern = one_worker_capped_at_two(app.addr);
    let held = busy_connections(&tern, 2);
    let mut queued: Vec<Conn> = (0..300)
        .map(|i| {
            let mut conn = tern.connect();
            conn.send(
                format!("GET /q{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            conn
        })
        .collect();
    let surges = "tern_accept_surges_total";
    assert!(
        wait_until(Duration::from_secs(5), || metric(&scrape(&tern), surges)
            .is_some_and(|n| n >= 1.0)),
        "no surge with 300 connections queued"
    );
    let accepted = "tern_connections_accepted_total{worker=\"0\"}";
    assert_eq!(metric(&scrape(&tern), accepted), Some(2.0), "past the cap");
    drop(held);
    for (i, conn) in queued.iter_mut().enumerate() {
        conn.set_read_timeout(Duration::from_secs(10));
        let answer = conn.read_response();
        assert_eq!(
            answer.map(|r| r.body_str()).ok().as_deref(),
            Some("ok"),
            "queued {i}"
        );
    }
    assert_eq!(metric(&scrape(&tern), accepted), Some(302.0));
}

#[test]
fn the_default_cap_keeps_descriptors_for_every_connection_accepted() {
    let _wrapper = with_nofile(200);
    let poll = LongPolls::start();
    let cfg = Cfg::new(poll.upstream.addr).workers(1);
    let tern = start_with_admin(&cfg);
    let cap = metric(&scrape(&tern), "tern_connections_max").expect("the cap") as usize;
    assert!(
        (1..100).contains(&cap),
        "a cap of {cap} with 200 descriptors"
    );
    let mut polls = open_long_polls(tern.addr(), cap + 40);
    assert!(
        wait_until(Duration::from_secs(10), || poll.held() >= cap),
        "only {} of {cap} long-polls reached the upstream",
        poll.held()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(poll.held(), cap, "more connections taken than the cap");
    assert!(
        !tern.has_said("Too many open files"),
        "{:#?}",
        tern.stderr()
    );
    poll.release();
    for (i, conn) in polls.iter_mut().enumerate() {
        conn.set_read_timeout(Duration::from_secs(10));
        let answer = conn.read_response();
        assert!(
            matches!(&answer, Ok(r) if r.body == b"released"),
            "long-poll {i} of {}: {answer:?}",
            cap + 40
        );
        // Closed, so that a queued connection gets its place.
        conn.shutdown_write();
    }
    drop(polls);
}

/// Idle pooled connections to one backend must not make another's
/// requests fail when descriptors run out: long-polls to `app` leave as
/// many idle connections in its pool as the cap allows clients, and as many
/// long-polls to `b` then need a client and an upstream descriptor each,
/// more than the limit has beside the idle ones. Without room made by
/// closing idle connections, a third of them got 502.
#[test]
fn idle_upstream_connections_are_closed_to_make_room_when_descriptors_run_out() {
    let _wrapper = with_nofile(200);
    let (app, b) = (LongPolls::start(), LongPolls::start());
    let cfg = Cfg::empty()
        .workers(1)
        .backend("app", &[app.upstream.addr])
        .backend("b", &[b.upstream.addr])
        .route("/poll/b", "b")
        .route("/", "app");
    let tern = start_with_admin(&cfg);
    let cap = metric(&scrape(&tern), "tern_connections_max").expect("the cap") as usize;
    let count = cap;
    let mut to_app = open_long_polls(tern.addr(), count);
    assert!(wait_until(Duration::from_secs(10), || app.held() == count));
    app.release();
    assert_eq!(finish_long_polls(&mut to_app), 0);
    drop(to_app);
    let idle = format!(
        "tern_upstream_pool_idle{{backend=\"app\",server=\"{}\"}}",
        app.upstream.addr
    );
    assert_eq!(wait_metric(&tern, &idle, count as f64), Some(count as f64));

    let mut to_b: Vec<Conn> = (0..count)
        .map(|i| {
            let mut conn = Conn::connect(tern.addr());
            conn.send(&get(&format!("/poll/b/{i}")));
            conn
        })
        .collect();
    let all_held = wait_until(Duration::from_secs(10), || b.held() == count);
    b.release();
    let failed = finish_long_polls(&mut to_b);
    assert!(
        all_held && failed == 0,
        "{failed} of {count} long-polls failed"
    );
    // Connects failing and succeeding by turns are one episode, not a
    // pair of lines each time.
    let episodes = tern.said("out of file descriptors").len();
    assert_eq!(episodes, 1, "{:#?}", tern.stderr());
}

/// Opens `count` connections that send nothing.
fn flood(addr: SocketAddr, count: usize) -> Vec<std::net::TcpStream> {
    (0..count)
        .filter_map(|_| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .collect()
}

/// tern's open descriptors did not change between two looks 200 ms apart
/// and leave room under its limit of 100 (no connection of the last flood
/// is still being accepted or closed).
fn settled(tern: &Tern) -> bool {
    let open = || {
        std::fs::read_dir(format!("/proc/{}/fd", tern.pid())).map_or(usize::MAX, |fds| fds.count())
    };
    let before = open();
    std::thread::sleep(Duration::from_millis(200));
    before < 60 && open() == before
}

/// 200 workers under a 512-descriptor limit: each worker that found no
/// descriptor for its io_uring fell back to epoll with a warning, some
/// logged "no doorbell", and the start failed only at a later worker
/// ("cannot start a runtime: Too many open files"), some 200 lines in all.
/// Workers start one at a time now, and the first that can't stops the
/// start with one line saying what to change.
#[test]
fn more_workers_than_the_open_files_limit_holds_fail_the_start_in_one_line() {
    let _wrapper = with_nofile(512);
    let config = TempFile::new(
        "workers.toml",
        "[server]\nworkers = 200\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
         [[route]]\nrespond = { status = 200 }\n",
    );
    let out = run_tern(&["--config", &config.path_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let about_descriptors: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("Too many open files") || l.contains("no doorbell"))
        .collect();
    assert_eq!(about_descriptors.len(), 1, "{stderr}");
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("tern: cannot start worker ")
            && last.contains(" of 200: cannot make ")
            && last.contains(
                "the open files limit (512) does not hold 200 workers: lower [server] workers"
            ),
        "{stderr}"
    );
    assert!(!stderr.contains(" started:"), "{stderr}");
}

/// Listening sockets run out first when a worker count meets several
/// addresses (a socket per worker per address, each held twice): the bind
/// failure says what to change too.
#[test]
fn listening_sockets_past_the_open_files_limit_fail_the_start_with_the_hint() {
    let _wrapper = with_nofile(120);
    let config = TempFile::new(
        "sockets.toml",
        "[server]\nworkers = 40\n[[listener]]\n\
         bind = [\"127.0.0.1:0\", \"127.0.0.1:0\", \"127.0.0.1:0\"]\n\
         [[route]]\nrespond = { status = 200 }\n",
    );
    let out = run_tern(&["--config", &config.path_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("tern: cannot listen on 127.0.0.1:0")
            && last.ends_with(
                "Too many open files (os error 24); the open files limit (120) does not hold 40 workers: lower [server] workers (one per CPU serves best) or raise the limit (LimitNOFILE)"
            ),
        "{stderr}"
    );
}

/// The low-limit warning names the cap the limit sets; with
/// `max_connections` configured the cap is the operator's, and "raise the
/// limit to hold more" was wrong advice.
#[test]
fn a_low_open_files_limit_is_warned_of_only_when_it_sets_the_cap() {
    let _wrapper = with_nofile(2000);
    let app = says("ok");
    let cfg = Cfg::new(app.addr).workers(1);
    let derived = Tern::start(&cfg.render());
    assert!(
        derived.has_said("open files limit is 2000: at most "),
        "{:#?}",
        derived.stderr()
    );
    let configured = Tern::start(&with_server_key(&cfg, "max_connections = 100"));
    assert!(
        !configured.has_said("open files limit is"),
        "{:#?}",
        configured.stderr()
    );
}

#[test]
fn running_out_of_descriptors_is_logged_once_per_episode_and_recovers() {
    let _wrapper = with_nofile(100);
    let app = says("ok");
    let cfg = Cfg::new(app.addr).workers(1);
    let tern = Tern::start(&format!(
        "{}\n[admin]\nbind = \"127.0.0.1:0\"\n",
        with_server_key(&cfg, "max_connections = 10000")
    ));
    // A keep-alive connection whose upstream connection is pooled: it is
    // served during the exhaustion.
    let mut early = tern.connect();
    assert_eq!(early.roundtrip(&get("/early")).body_str(), "ok");
    let said = |needle: &str| tern.stderr().iter().filter(|l| l.contains(needle)).count();
    for episode in 1..=2 {
        // Episodes so far. Draining a flood's listen queue can start one
        // of its own (tern accepts the closed connections faster than it
        // closes them), so each episode is counted from here.
        let before = said("out of file descriptors");
        let flooded = flood(tern.addr(), 150);
        assert!(
            wait_lines(
                &tern,
                "out of file descriptors",
                before + 1,
                Duration::from_secs(10)
            ),
            "episode {episode}: {:#?}",
            tern.stderr()
        );
        // Ten retries a second would have logged ten lines by now.
        std::thread::sleep(Duration::from_millis(1000));
        assert_eq!(
            said("out of file descriptors"),
            before + 1,
            "episode {episode}: {:#?}",
            tern.stderr()
        );
        assert_eq!(early.roundtrip(&get("/during")).body_str(), "ok");
        drop(flooded);
        assert!(
            wait_until(Duration::from_secs(10), || fetch(tern.addr(), "/after")
                .as_deref()
                == Ok("ok")),
            "episode {episode}: not serving new connections again"
        );
        // The episode ends at the first accept or connect after a second
        // with none failing: requests go on meanwhile, as traffic would.
        let ended = wait_until(Duration::from_secs(5), || {
            let _ = fetch(tern.addr(), "/after");
            said("file descriptors available again") > before
        });
        assert!(ended, "episode {episode}: {:#?}", tern.stderr());
        // The flood's connections are still being accepted and closed; one
        // closed during the next flood would free a descriptor mid-episode.
        assert!(
            wait_until(Duration::from_secs(10), || settled(&tern)),
            "episode {episode}: the flood's connections were not all closed"
        );
    }
    let episodes = said("out of file descriptors");
    assert!(episodes >= 2, "{:#?}", tern.stderr());
    assert_eq!(
        metric(&scrape(&tern), "tern_descriptor_exhaustion_total"),
        Some(episodes as f64),
        "the metric counts the episodes logged"
    );
}

// --- item 9: a server's max_connections holds for the process --------------

/// An upstream that records the order requests arrive in and the most it
/// had at once; each request is held `hold` (the first one `first_hold`).
struct Counted {
    up: RecordingUpstream,
    peak: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    order: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn counted(first_hold: Duration, hold: Duration) -> Counted {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let order = Arc::new(Mutex::new(Vec::new()));
    let (p, o) = (peak.clone(), order.clone());
    let up = RecordingUpstream::start(move |c| {
        while let Some(req) = c.read_request() {
            let current = now.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(current, Ordering::SeqCst);
            let first = {
                let mut seen = o.lock().unwrap();
                seen.push(req.head.target().to_owned());
                seen.len() == 1
            };
            std::thread::sleep(if first { first_hold } else { hold });
            now.fetch_sub(1, Ordering::SeqCst);
            if !c.respond(200, &[], b"done") {
                return;
            }
        }
    });
    Counted { up, peak, order }
}

fn limited_config(up: SocketAddr, workers: u32) -> String {
    format!(
        "[server]\nworkers = {workers}\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
         [[route]]\nbackend = \"app\"\n[backend.app]\n\
         servers = [{{ address = \"{up}\", max_connections = 1 }}]\n\
         timeouts = {{ queue = \"20s\", server = \"20s\" }}\n"
    )
}

/// A request on a connection of its own, answered or not.
fn one_request(addr: SocketAddr, path: String) -> std::thread::JoinHandle<Result<String, String>> {
    std::thread::spawn(move || fetch(addr, &path))
}

#[test]
fn max_connections_holds_for_the_process_across_workers() {
    let app = counted(Duration::from_millis(100), Duration::from_millis(100));
    let tern = Tern::start(&limited_config(app.up.addr, 2));
    // Sixteen connections: the kernel spreads them over both workers (all
    // on one worker has odds of 2^-15).
    let clients: Vec<_> = (0..16)
        .map(|i| one_request(tern.addr(), format!("/c{i}")))
        .collect();
    for client in clients {
        assert_eq!(client.join().expect("client").as_deref(), Ok("done"));
    }
    assert_eq!(
        app.peak.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the server saw more than max_connections = 1 at once"
    );
}

#[test]
fn queued_requests_are_served_in_arrival_order_whichever_worker_they_are_on() {
    let app = counted(Duration::from_millis(1500), Duration::from_millis(20));
    let tern = Tern::start(&limited_config(app.up.addr, 2));
    let first = one_request(tern.addr(), "/q0".into());
    assert!(app.up.wait_requests(1, Duration::from_secs(5)));
    // The rest queue one after another while the first is held.
    let mut rest = Vec::new();
    for i in 1..=8 {
        std::thread::sleep(Duration::from_millis(100));
        rest.push(one_request(tern.addr(), format!("/q{i}")));
    }
    assert_eq!(first.join().expect("first").as_deref(), Ok("done"));
    for client in rest {
        assert_eq!(client.join().expect("client").as_deref(), Ok("done"));
    }
    let order = app.order.lock().unwrap().clone();
    let sent: Vec<String> = (0..=8).map(|i| format!("/q{i}")).collect();
    assert_eq!(order, sent, "not served in arrival order");
}

#[test]
fn a_queue_wait_that_runs_out_still_gets_503_with_several_workers() {
    let app = counted(Duration::from_millis(3000), Duration::from_millis(10));
    let text = limited_config(app.up.addr, 2).replace("queue = \"20s\"", "queue = \"300ms\"");
    let tern = Tern::start(&text);
    let first = one_request(tern.addr(), "/held".into());
    assert!(app.up.wait_requests(1, Duration::from_secs(5)));
    let refused: Vec<_> = (0..6)
        .map(|i| {
            let addr = tern.addr();
            std::thread::spawn(move || {
                let mut conn = Conn::connect(addr);
                conn.set_read_timeout(Duration::from_secs(10));
                conn.roundtrip(&get(&format!("/w{i}"))).status
            })
        })
        .collect();
    for client in refused {
        assert_eq!(client.join().expect("client"), 503);
    }
    assert_eq!(first.join().expect("first").as_deref(), Ok("done"));
    assert_eq!(
        app.order.lock().unwrap().len(),
        1,
        "a request got past the limit"
    );
}
