//! Configuration reload: SIGHUP (and `tern --reload`, `POST /reload`)
//! switches routes, backends and listeners without dropping anything; an
//! invalid file keeps the old configuration and says why; pooled upstream
//! connections to unchanged servers survive; and under load with held
//! long-polls and WebSockets, ten reloads in a row fail nothing.

mod common;

use common::traffic::*;
use common::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Server timeouts long enough for held long-polls.
const SERVER: &str = "[server]\nworkers = 2\nshutdown_grace = \"5s\"\n\
[server.timeouts]\nclient_idle = \"60s\"\nclient = \"60s\"\nserver = \"60s\"\ntunnel = \"60s\"\n";

/// `web` on an ephemeral port, plus `extra` on `extra_port` if given; `/v`
/// to backend `app` on `app`; `/poll` and `/ws` to their backends.
fn config(app: SocketAddr, extra_port: Option<u16>, poll: SocketAddr, ws: SocketAddr) -> String {
    let mut text = format!("{SERVER}\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n");
    if let Some(port) = extra_port {
        text += &format!("\n[[listener]]\nname = \"extra\"\nbind = \"127.0.0.1:{port}\"\n");
    }
    text += &format!(
        "\n[[route]]\nname = \"poll\"\npath_prefix = \"/poll\"\nbackend = \"poll\"\n\
         \n[[route]]\nname = \"ws\"\npath_prefix = \"/ws\"\nbackend = \"ws\"\n\
         \n[[route]]\nname = \"v\"\npath_prefix = \"/\"\nbackend = \"app\"\n\
         \n[backend.app]\nservers = [\"{app}\"]\n\
         \n[backend.poll]\nservers = [\"{poll}\"]\n\
         \n[backend.ws]\nservers = [\"{ws}\"]\n"
    );
    text
}

/// Rewrites tern's config file and sends SIGHUP; waits for the outcome
/// line number `nth` (counting from 1) containing `outcome`.
fn reload_with(tern: &Tern, text: &str, outcome: &str, nth: usize) {
    std::fs::write(tern.config_path(), text).expect("rewrite config");
    tern.signal("HUP");
    assert!(
        wait_lines(tern, outcome, nth, Duration::from_secs(10)),
        "no {outcome:?} line #{nth}; stderr:\n{}",
        tern.stderr().join("\n")
    );
}

fn refused(addr: SocketAddr) -> bool {
    match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        Err(_) => true,
        // A socket shut down may still complete a handshake it had queued;
        // it must not be served.
        Ok(stream) => {
            let mut conn = Conn::new(stream, None);
            conn.set_read_timeout(Duration::from_secs(2));
            conn.try_send(&get("/v")).is_err() || conn.read_response().is_err()
        }
    }
}

#[test]
fn a_valid_reload_switches_routes_for_new_and_kept_connections() {
    let (a, b) = (says("A"), says("B"));
    let (poll, ws) = (LongPolls::start(), ws_echo());
    let tern = Tern::start(&config(a.addr, None, poll.upstream.addr, ws.addr));
    let mut kept = tern.connect();
    assert_eq!(kept.roundtrip(&get("/v")).body_str(), "A");
    reload_with(
        &tern,
        &config(b.addr, None, poll.upstream.addr, ws.addr),
        "reloaded:",
        1,
    );
    assert_eq!(fetch(tern.addr(), "/v"), Ok("B".into()), "a new connection");
    assert_eq!(
        kept.roundtrip(&get("/v")).body_str(),
        "B",
        "the next request of a connection opened before the reload"
    );
}

#[test]
fn an_invalid_reload_keeps_the_old_config_and_logs_why() {
    let (a, b) = (says("A"), says("B"));
    let (poll, ws) = (LongPolls::start(), ws_echo());
    let tern = Tern::start(&config(a.addr, None, poll.upstream.addr, ws.addr));
    let broken = config(b.addr, None, poll.upstream.addr, ws.addr)
        .replace(&format!("servers = [\"{}\"]", b.addr), "servers = []");
    reload_with(&tern, &broken, "reload refused", 1);
    let line = tern
        .stderr()
        .into_iter()
        .find(|l| l.contains("reload refused"))
        .unwrap_or_default();
    let file = tern.config_path().display().to_string();
    assert!(line.contains(&file), "names the file: {line}");
    assert!(
        line.contains("backend.app.servers"),
        "names the key: {line}"
    );
    assert!(
        line.contains("needs at least one server"),
        "says why: {line}"
    );
    assert_eq!(
        fetch(tern.addr(), "/v"),
        Ok("A".into()),
        "old routes still serve"
    );
}

#[test]
fn an_added_listener_accepts_and_a_removed_one_refuses_while_its_connection_finishes() {
    let a = says("A");
    let (poll, ws) = (LongPolls::start(), ws_echo());
    let port = free_port();
    let extra: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let tern = Tern::start(&config(a.addr, None, poll.upstream.addr, ws.addr));
    assert!(refused(extra), "not configured yet");
    reload_with(
        &tern,
        &config(a.addr, Some(port), poll.upstream.addr, ws.addr),
        "reloaded:",
        1,
    );
    assert_eq!(
        fetch(extra, "/v"),
        Ok("A".into()),
        "the added listener serves"
    );
    let mut held = Conn::connect(extra);
    held.send(&get("/poll/held"));
    assert!(wait_until(Duration::from_secs(5), || poll.held() == 1));
    reload_with(
        &tern,
        &config(a.addr, None, poll.upstream.addr, ws.addr),
        "reloaded:",
        2,
    );
    assert!(
        refused(extra),
        "the removed listener refuses new connections"
    );
    poll.release();
    let answer = held.read_response().expect("the held request completes");
    assert_eq!(answer.body_str(), "released");
    assert!(
        held.expect_close(Duration::from_secs(3)).is_ok(),
        "then its connection closes"
    );
    assert_eq!(fetch(tern.addr(), "/v"), Ok("A".into()), "web still serves");
}

#[test]
fn a_pooled_connection_to_an_unchanged_server_is_reused_across_the_reload() {
    let (a, b) = (says("A"), says("B"));
    let (poll, ws) = (LongPolls::start(), ws_echo());
    let one_worker = |text: String| text.replace("workers = 2", "workers = 1");
    let before = one_worker(config(a.addr, None, poll.upstream.addr, ws.addr));
    let tern = Tern::start(&before);
    assert_eq!(fetch(tern.addr(), "/v"), Ok("A".into()));
    assert_eq!(a.conn_count(), 1);
    // Routes and another backend change; `app`'s server does not.
    let after = before
        .replace(&ws.addr.to_string(), &b.addr.to_string())
        .replace("path_prefix = \"/ws\"", "path_prefix = \"/socket\"");
    reload_with(&tern, &after, "reloaded:", 1);
    assert_eq!(fetch(tern.addr(), "/v"), Ok("A".into()));
    assert_eq!(a.conn_count(), 1, "the upstream saw a second connection");
}

#[test]
fn tern_reload_signals_the_pid_file_and_refuses_an_invalid_file() {
    let (a, b) = (says("A"), says("B"));
    let (poll, ws) = (LongPolls::start(), ws_echo());
    let pid_file = TempFile::new("tern.pid", "");
    let with_pid = |app| {
        config(app, None, poll.upstream.addr, ws.addr).replacen(
            "[server]\n",
            &format!("[server]\npid_file = \"{}\"\n", pid_file.path_str()),
            1,
        )
    };
    let tern = Tern::start(&with_pid(a.addr));
    let recorded = std::fs::read_to_string(&pid_file.path).unwrap_or_default();
    assert_eq!(recorded.trim(), tern.pid().to_string());
    let config_path = tern.config_path().display().to_string();
    std::fs::write(tern.config_path(), "[[listener]]\nbind = 5\n").expect("write");
    let out = run_tern(&["--reload", "--config", &config_path]);
    assert!(!out.status.success(), "an invalid file is refused at once");
    assert!(String::from_utf8_lossy(&out.stderr).contains("listener[0].bind"));
    std::fs::write(tern.config_path(), with_pid(b.addr)).expect("write");
    let out = run_tern(&["--reload", "--config", &config_path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_lines(&tern, "reloaded:", 1, Duration::from_secs(10)));
    assert_eq!(fetch(tern.addr(), "/v"), Ok("B".into()));
}

#[test]
fn post_reload_on_the_admin_endpoint_answers_with_the_outcome() {
    let (a, b) = (says("A"), says("B"));
    let (poll, ws) = (LongPolls::start(), ws_echo());
    let admin = "\n[admin]\nbind = \"127.0.0.1:0\"\n";
    let tern = Tern::start(&(config(a.addr, None, poll.upstream.addr, ws.addr) + admin));
    let admin_addr = tern.admin_addr();
    std::fs::write(
        tern.config_path(),
        config(b.addr, None, poll.upstream.addr, ws.addr) + admin,
    )
    .expect("write");
    let post = b"POST /reload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n";
    let (answer, _) = raw_request(admin_addr, post);
    assert_eq!(status_of(&answer), Some(200), "{}", show(&answer));
    assert!(contains(&answer, b"\"reloaded\":true"), "{}", show(&answer));
    assert_eq!(fetch(tern.addr(), "/v"), Ok("B".into()));
    std::fs::write(tern.config_path(), "nonsense = \n").expect("write");
    let (answer, _) = raw_request(admin_addr, post);
    assert_eq!(status_of(&answer), Some(422), "{}", show(&answer));
    assert_eq!(fetch(tern.addr(), "/v"), Ok("B".into()));
}

#[test]
fn ten_reloads_under_load_fail_nothing_and_drop_no_long_poll_or_websocket() {
    let (a, b) = (says("A"), says("B"));
    let (poll, ws) = (LongPolls::start(), ws_echo());
    let port = free_port();
    let extra: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let config_a = config(a.addr, None, poll.upstream.addr, ws.addr);
    let config_b = config(b.addr, Some(port), poll.upstream.addr, ws.addr);
    let tern = Tern::start(&config_a);
    let mut sockets = open_websockets(tern.addr(), "/ws", 100);
    let mut polls = open_long_polls(tern.addr(), 1000);
    assert!(
        wait_until(Duration::from_secs(20), || poll.held() == 1000),
        "only {} long-polls reached the upstream",
        poll.held()
    );
    let load = Load::start(tern.addr(), "/v", &["A", "B"], 8);
    let started = Instant::now();
    for round in 1..=10 {
        std::thread::sleep(Duration::from_millis(300));
        let (text, body) = if round % 2 == 1 {
            (&config_b, "B")
        } else {
            (&config_a, "A")
        };
        reload_with(&tern, text, "reloaded:", round);
        assert_eq!(fetch(tern.addr(), "/v"), Ok(body.into()), "round {round}");
        if round % 2 == 1 {
            assert_eq!(fetch(extra, "/v"), Ok("B".into()), "round {round}: extra");
        } else {
            assert!(refused(extra), "round {round}: extra still accepts");
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let tally = load.stop();
    eprintln!("load: {tally:?} in {:?}", started.elapsed());
    assert_eq!(tally.failed, 0, "failed requests: {:?}", tally.failures);
    assert_eq!(tally.retried, 0, "keep-alive connections were closed");
    assert!(
        tally.ok > 100,
        "too little load to mean anything: {}",
        tally.ok
    );
    assert_eq!(
        echo_websockets(&mut sockets, "still here"),
        0,
        "websockets dropped"
    );
    poll.release();
    assert_eq!(finish_long_polls(&mut polls), 0, "long-polls dropped");
}

#[test]
fn the_reload_line_says_only_what_changed() {
    let (a, poll, ws) = (says("A"), LongPolls::start(), ws_echo());
    let text = config(a.addr, None, poll.upstream.addr, ws.addr);
    let tern = Tern::start(&text);
    reload_with(&tern, &text, "reloaded:", 1);
    let line = |nth: usize| {
        tern.stderr()
            .into_iter()
            .filter(|l| l.contains("reloaded:"))
            .nth(nth)
            .unwrap_or_default()
    };
    assert!(
        line(0).ends_with("reloaded: 1 listener, 3 routes, 3 backends, 3 servers"),
        "{}",
        line(0)
    );
    let fewer = text.replacen(
        "\n[[route]]\nname = \"ws\"\npath_prefix = \"/ws\"\nbackend = \"ws\"\n",
        "",
        1,
    );
    reload_with(&tern, &fewer, "reloaded:", 2);
    assert!(line(1).contains(", 2 routes (was 3), "), "{}", line(1));
    assert!(!line(1).contains("added"), "{}", line(1));
}

/// tern's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("tern's status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// A connection held across reloads (a WebSocket here) keeps the generation
/// it began on alive, but not every generation since. Found by the soak:
/// each generation linked its successor, so one old tunnel kept the whole
/// chain, and memory grew with every reload for as long as it stayed open.
#[test]
fn a_tunnel_held_across_many_reloads_keeps_no_chain_of_generations() {
    let ws = ws_echo();
    let tern = Cfg::new(ws.addr).workers(1).start();
    let mut sockets = open_websockets(tern.addr(), "/ws", 1);
    let reload = |nth: usize| {
        tern.signal("HUP");
        assert!(
            wait_lines(&tern, "reloaded:", nth, Duration::from_secs(10)),
            "reload {nth} not done"
        );
    };
    // The first reloads warm the allocator up.
    for nth in 1..=10 {
        reload(nth);
    }
    let before = rss_kib(tern.pid());
    for nth in 11..=110 {
        reload(nth);
    }
    let grown = rss_kib(tern.pid()).saturating_sub(before);
    eprintln!("RSS grew by {grown} KiB over 100 reloads");
    assert!(grown < 2 * 1024, "RSS grew by {grown} KiB over 100 reloads");
    assert_eq!(echo_websockets(&mut sockets, "still open"), 0);
}

/// The pid file is written once, at start: a reload that names another
/// says so, else `tern -s` with the new config looks in a file never
/// written.
#[test]
fn a_reload_that_moves_the_pid_file_says_it_takes_effect_on_restart() {
    let up = says("A");
    let (first, second) = (TempFile::new("a.pid", ""), TempFile::new("b.pid", ""));
    let text = |pid: &TempFile| {
        Cfg::new(up.addr).render().replacen(
            "[server]\n",
            &format!("[server]\npid_file = \"{}\"\n", pid.path_str()),
            1,
        )
    };
    let tern = Tern::start(&text(&first));
    reload_with(&tern, &text(&second), "reloaded:", 1);
    assert!(
        tern.has_said("server.pid_file changed; it takes effect on restart or upgrade"),
        "{:?}",
        tern.stderr()
    );
}
