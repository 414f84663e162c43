//! The admin endpoint (issue 6): each metric changes when the thing it
//! counts happens, /status is JSON with the backends and servers, servers
//! are drained and enabled at run time, and the endpoint stays private
//! unless configured otherwise.

mod admin_support;
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use admin_support::*;
use common::*;

const CLOSE_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

#[test]
fn requests_total_2xx_goes_from_0_to_3_after_3_requests() {
    let up = RecordingUpstream::echo();
    let tern = start_with_admin(&Cfg::new(up.addr));
    let series = "tern_requests_total{listener=\"web\",class=\"2xx\"}";
    assert_eq!(metric(&scrape(&tern), series), Some(0.0));
    let mut client = tern.connect();
    for path in ["/1", "/2", "/3"] {
        assert_eq!(client.roundtrip(&get(path)).status, 200);
    }
    assert_eq!(wait_metric(&tern, series, 3.0), Some(3.0));
    let text = scrape(&tern);
    let server = format!("backend=\"app\",server=\"{}\"", up.addr);
    assert_eq!(
        metric(
            &text,
            "tern_backend_requests_total{backend=\"app\",class=\"2xx\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        metric(
            &text,
            &format!("tern_server_requests_total{{{server},class=\"2xx\"}}")
        ),
        Some(3.0)
    );
    assert_eq!(
        metric(
            &text,
            "tern_route_requests_total{route=\"route0\",class=\"2xx\"}"
        ),
        Some(3.0)
    );
}

#[test]
fn a_request_no_route_matches_counts_as_4xx_without_a_route() {
    let up = RecordingUpstream::echo();
    let tern = start_with_admin(&Cfg::empty().backend("app", &[up.addr]).route("/api", "app"));
    let (raw, _) = raw_request(
        tern.addr(),
        b"GET /other HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&raw), Some(404));
    let series = "tern_route_requests_total{route=\"\",class=\"4xx\"}";
    assert_eq!(wait_metric(&tern, series, 1.0), Some(1.0));
    let text = scrape(&tern);
    assert_eq!(
        metric(&text, "tern_requests_total{listener=\"web\",class=\"4xx\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "tern_backend_requests_total{backend=\"app\",class=\"4xx\"}"
        ),
        Some(0.0)
    );
}

#[test]
fn a_refused_server_counts_as_a_connect_failure_and_a_5xx() {
    let dead = dead_addr();
    let tern = start_with_admin(&Cfg::new(dead));
    let server = format!("backend=\"app\",server=\"{dead}\"");
    let failures = format!("tern_upstream_connect_failures_total{{{server}}}");
    assert_eq!(metric(&scrape(&tern), &failures), Some(0.0));
    let (raw, _) = raw_request(tern.addr(), CLOSE_GET);
    assert_eq!(status_of(&raw), Some(502));
    assert_eq!(wait_metric(&tern, &failures, 1.0), Some(1.0));
    let text = scrape(&tern);
    assert_eq!(
        metric(
            &text,
            "tern_backend_requests_total{backend=\"app\",class=\"5xx\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, &format!("tern_upstream_connects_total{{{server}}}")),
        Some(0.0)
    );
    // The failure is the server's too (the status page's 5xx per server).
    assert_eq!(
        metric(
            &text,
            &format!("tern_server_requests_total{{{server},class=\"5xx\"}}")
        ),
        Some(1.0)
    );
}

#[test]
fn connects_reuses_and_the_idle_pool_are_counted() {
    let up = RecordingUpstream::echo();
    let tern = start_with_admin(&Cfg::new(up.addr).workers(1));
    let mut client = tern.connect();
    for path in ["/a", "/b", "/c"] {
        assert_eq!(client.roundtrip(&get(path)).status, 200);
    }
    let server = format!("backend=\"app\",server=\"{}\"", up.addr);
    let reuses = format!("tern_upstream_reuses_total{{{server}}}");
    assert_eq!(wait_metric(&tern, &reuses, 2.0), Some(2.0));
    let text = scrape(&tern);
    assert_eq!(
        metric(&text, &format!("tern_upstream_connects_total{{{server}}}")),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, &format!("tern_upstream_pool_idle{{{server}}}")),
        Some(1.0)
    );
}

#[test]
fn bytes_in_and_out_grow_by_at_least_the_request_and_response() {
    let up = RecordingUpstream::echo();
    let tern = start_with_admin(&Cfg::new(up.addr));
    let bytes = |text: &str, side: &str, direction: &str| {
        let series = format!("tern_bytes_total{{side=\"{side}\",direction=\"{direction}\"}}");
        metric(text, &series).expect("bytes series")
    };
    let before = scrape(&tern);
    let body = vec![b'x'; 10_000];
    let response = tern.connect().roundtrip(&post("/upload", &body));
    assert_eq!(response.status, 200);
    let mut after = String::new();
    wait_until(Duration::from_secs(5), || {
        after = scrape(&tern);
        bytes(&after, "upstream", "in") - bytes(&before, "upstream", "in") > 10_000.0
    });
    for (side, direction) in [
        ("client", "in"),
        ("client", "out"),
        ("upstream", "in"),
        ("upstream", "out"),
    ] {
        let grown = bytes(&after, side, direction) - bytes(&before, side, direction);
        assert!(grown > 10_000.0, "{side} {direction} grew by {grown}");
    }
}

/// A long-poll: a request waiting on its upstream for a response head for
/// more than about a second (whole seconds, so it shows within 1 to 2 s).
#[test]
fn a_held_request_is_waiting_then_a_long_poll_and_its_connection_active() {
    let echo = RecordingUpstream::echo();
    let silent = RecordingUpstream::silent();
    let cfg = Cfg::empty()
        .workers(1)
        .backend("app", &[echo.addr])
        .backend("slow", &[silent.addr])
        .route("/held", "slow")
        .route("/", "app");
    let tern = start_with_admin(&cfg);
    let mut idle = tern.connect();
    assert_eq!(idle.roundtrip(&get("/")).status, 200);
    let mut held = tern.connect();
    held.send(&get("/held"));
    assert!(silent.wait_conns(1, Duration::from_secs(5)));
    let text = scrape(&tern);
    assert_eq!(
        metric(&text, "tern_upstream_waiting{worker=\"0\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "tern_long_polls{worker=\"0\"}"),
        Some(0.0),
        "not long yet"
    );
    assert_eq!(
        metric(&text, "tern_connections{worker=\"0\",state=\"active\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "tern_connections{worker=\"0\",state=\"idle\"}"),
        Some(1.0)
    );
    assert_eq!(
        wait_metric(&tern, "tern_long_polls{worker=\"0\"}", 1.0),
        Some(1.0)
    );
    // The harness's upstream timeout (5 s) ends the wait with a 504.
    assert_eq!(status_after_upstream_timeout(&mut held), Some(504));
    let text = scrape(&tern);
    assert_eq!(
        metric(&text, "tern_upstream_waiting{worker=\"0\"}"),
        Some(0.0)
    );
    assert_eq!(metric(&text, "tern_long_polls{worker=\"0\"}"), Some(0.0));
}

/// A request whose client is still sending its body is not waiting on its
/// upstream: a slow upload (a slow-POST attack too) showed as long-polls.
/// Once the body is whole, the wait for the answer is counted. A body past
/// one buffer (a smaller one is read whole before the upstream is chosen).
#[test]
fn a_request_still_uploading_is_not_waiting_on_its_upstream() {
    let silent = RecordingUpstream::silent();
    let tern = start_with_admin(&Cfg::new(silent.addr).workers(1));
    let mut upload = tern.connect();
    upload.send(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 30000\r\n\r\nhello");
    assert!(silent.wait_conns(1, Duration::from_secs(5)));
    let active = "tern_connections{worker=\"0\",state=\"active\"}";
    assert_eq!(wait_metric(&tern, active, 1.0), Some(1.0));
    // Past a long-poll's threshold (1 s, rounded to whole seconds).
    thread::sleep(Duration::from_millis(2500));
    let text = scrape(&tern);
    assert_eq!(
        metric(&text, "tern_upstream_waiting{worker=\"0\"}"),
        Some(0.0)
    );
    assert_eq!(metric(&text, "tern_long_polls{worker=\"0\"}"), Some(0.0));
    upload.send(&[b'w'; 29_995]);
    let waiting = "tern_upstream_waiting{worker=\"0\"}";
    assert_eq!(wait_metric(&tern, waiting, 1.0), Some(1.0));
}

/// The status of the response the harness's upstream timeout ends a held
/// request with. The client waits past that timeout (the client's own read
/// timeout equals it and starts later, so it could lose the race to the
/// 504 by a timer tick).
fn status_after_upstream_timeout(held: &mut Conn) -> Option<u16> {
    held.set_read_timeout(Duration::from_secs(15));
    match held.read_response() {
        Ok(response) => Some(response.status),
        Err(e) => panic!("no response to the held request: {e:?}"),
    }
}

fn websocket_upstream() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        if c.read_head().is_none() {
            return;
        }
        c.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        let _ = c.conn.read_to_eof();
    })
}

#[test]
fn an_open_websocket_counts_as_a_tunnel_until_it_closes() {
    let up = websocket_upstream();
    let tern = start_with_admin(&Cfg::new(up.addr).workers(1));
    let mut client = tern.connect();
    client
        .send(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    assert_eq!(
        client.read_head_raw().ok().and_then(|h| status_of(&h)),
        Some(101)
    );
    let open = "tern_tunnels_open{worker=\"0\"}";
    assert_eq!(wait_metric(&tern, open, 1.0), Some(1.0));
    assert_eq!(metric(&scrape(&tern), "tern_tunnels_total"), Some(1.0));
    drop(client);
    assert_eq!(wait_metric(&tern, open, 0.0), Some(0.0));
    let text = scrape(&tern);
    assert_eq!(
        metric(
            &text,
            "tern_backend_requests_total{backend=\"app\",class=\"1xx\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn latency_histograms_place_a_slow_response_in_its_bucket() {
    let up = RecordingUpstream::start(|c| {
        while c.read_request().is_some() {
            thread::sleep(Duration::from_millis(300));
            c.respond(200, &[], b"late");
        }
    });
    let tern = start_with_admin(&Cfg::new(up.addr));
    assert_eq!(tern.connect().roundtrip(&get("/")).status, 200);
    let count = "tern_request_duration_seconds_count{backend=\"app\"}";
    assert_eq!(wait_metric(&tern, count, 1.0), Some(1.0));
    let text = scrape(&tern);
    for family in [
        "tern_request_duration_seconds",
        "tern_upstream_duration_seconds",
    ] {
        let bucket = |le: &str| {
            metric(
                &text,
                &format!("{family}_bucket{{backend=\"app\",le=\"{le}\"}}"),
            )
        };
        assert_eq!(
            bucket("0.25"),
            Some(0.0),
            "{family}: 300 ms is not under 250 ms"
        );
        assert_eq!(bucket("0.5"), Some(1.0), "{family}: 300 ms is under 500 ms");
        assert_eq!(bucket("+Inf"), Some(1.0));
        let sum = metric(&text, &format!("{family}_sum{{backend=\"app\"}}")).unwrap_or(0.0);
        assert!((0.29..0.5).contains(&sum), "{family}_sum = {sum}");
    }
}

#[test]
fn status_json_has_the_backends_servers_and_counts() {
    let (a, b) = (RecordingUpstream::echo(), RecordingUpstream::echo());
    let tern = start_with_admin(&Cfg::servers(&[a.addr, b.addr]));
    assert_eq!(tern.connect().roundtrip(&get("/")).status, 200);
    let mut json = serde_json::Value::Null;
    wait_until(Duration::from_secs(5), || {
        json = status_json(&tern);
        json["totals"]["requests"]["2xx"] == 1
    });
    assert_eq!(json["totals"]["requests"]["2xx"], 1, "{json}");
    assert_eq!(json["workers"], 2);
    assert_eq!(json["workers_reporting"], 2);
    // The build /status names is the one `tern --version` names.
    let version = String::from_utf8_lossy(&run_tern(&["--version"]).stdout).into_owned();
    let commit = json["build_commit"].as_str().expect("build_commit");
    let expected = match commit {
        "" => format!("tern {}", env!("CARGO_PKG_VERSION")),
        commit => format!("tern {} ({commit})", env!("CARGO_PKG_VERSION")),
    };
    assert_eq!(version.trim(), expected, "{json}");
    let backend = &json["backends"][0];
    assert_eq!(backend["name"], "app");
    assert_eq!(backend["requests"]["total"], 1);
    let servers = backend["servers"].as_array().expect("servers array");
    let addresses: Vec<&str> = servers
        .iter()
        .filter_map(|s| s["address"].as_str())
        .collect();
    assert_eq!(addresses, vec![a.addr.to_string(), b.addr.to_string()]);
    assert!(servers.iter().all(|s| s["state"] == "up"));
    assert_eq!(json["listeners"][0]["name"], "web");
    assert_eq!(backend["latency_ms"]["total"]["count"], 1);
}

fn drain(tern: &Tern, server: &str, action: &str) -> serde_json::Value {
    let (status, _, body) =
        admin_request(tern, "POST", &format!("/servers/app/{server}/{action}"), "");
    assert_eq!(status, 200, "{action}: {body}");
    serde_json::from_str(&body).expect("JSON answer")
}

#[test]
fn drain_sends_every_new_request_to_the_other_server_and_enable_restores() {
    let (a, b) = (RecordingUpstream::echo(), RecordingUpstream::echo());
    let tern = start_with_admin(&Cfg::servers(&[a.addr, b.addr]).workers(1));
    let answer = drain(&tern, "0", "drain");
    assert_eq!(answer["state"], "drain");
    assert_eq!(answer["previous"], "ready");
    for i in 0..6 {
        assert_eq!(
            tern.connect().roundtrip(&get(&format!("/d{i}"))).status,
            200
        );
    }
    assert_eq!(
        (a.request_count(), b.request_count()),
        (0, 6),
        "all to the other server"
    );
    let json = status_json(&tern);
    assert_eq!(json["backends"][0]["servers"][0]["state"], "drain");
    drain(&tern, &a.addr.to_string(), "enable");
    for i in 0..4 {
        assert_eq!(
            tern.connect().roundtrip(&get(&format!("/e{i}"))).status,
            200
        );
    }
    assert_eq!(a.request_count(), 2, "round robin includes it again");
    let text = scrape(&tern);
    let transitions = format!(
        "tern_server_state_transitions_total{{backend=\"app\",server=\"{}\"}}",
        a.addr
    );
    assert_eq!(metric(&text, &transitions), Some(2.0));
}

#[test]
fn a_request_in_flight_on_a_drained_server_finishes() {
    let slow = RecordingUpstream::start(|c| {
        while c.read_request().is_some() {
            thread::sleep(Duration::from_millis(500));
            c.respond(200, &[], b"finished");
        }
    });
    let tern = start_with_admin(&Cfg::new(slow.addr).workers(1));
    let mut client = tern.connect();
    client.send(&get("/slow"));
    assert!(slow.wait_requests(1, Duration::from_secs(5)));
    drain(&tern, "0", "drain");
    let response = client.read_response().expect("the response in flight");
    assert_eq!(
        (response.status, response.body_str()),
        (200, "finished".to_string())
    );
    let (raw, _) = raw_request(tern.addr(), CLOSE_GET);
    assert_eq!(
        status_of(&raw),
        Some(503),
        "no server left for new requests"
    );
}

#[test]
fn admin_urls_refuse_unknown_servers_wrong_methods_and_other_origins() {
    let up = RecordingUpstream::echo();
    let tern = start_with_admin(&Cfg::new(up.addr));
    assert_eq!(
        admin_request(&tern, "POST", "/servers/app/5/drain", "").0,
        404
    );
    assert_eq!(
        admin_request(&tern, "POST", "/servers/nope/0/drain", "").0,
        404
    );
    assert_eq!(
        admin_request(&tern, "POST", "/servers/app/0/explode", "").0,
        404
    );
    assert_eq!(
        admin_request(&tern, "GET", "/servers/app/0/drain", "").0,
        405
    );
    let foreign = "Origin: http://evil.example\r\n";
    assert_eq!(
        admin_request(&tern, "POST", "/servers/app/0/drain", foreign).0,
        403
    );
    let rebound = "GET /status HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n";
    let (raw, _) = raw_request(admin_addr(&tern), rebound.as_bytes());
    assert_eq!(status_of(&raw), Some(403));
    assert_eq!(
        status_json(&tern)["backends"][0]["servers"][0]["state"],
        "up"
    );
}

#[test]
fn a_form_post_from_the_page_redirects_back_to_it() {
    let up = RecordingUpstream::echo();
    let tern = start_with_admin(&Cfg::new(up.addr));
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let (status, head, _) = admin_request(&tern, "POST", "/servers/app/0/maint", form);
    assert_eq!(status, 303);
    assert!(
        head.contains("Location: /\r\n") || head.ends_with("Location: /"),
        "{head}"
    );
    assert_eq!(
        status_json(&tern)["backends"][0]["servers"][0]["state"],
        "maint"
    );
}

#[test]
fn admin_on_a_public_address_is_refused_without_allow_public() {
    let up = RecordingUpstream::echo();
    let base = Cfg::new(up.addr).render();
    let public = TempFile::new(
        "tern.toml",
        &format!("{base}\n[admin]\nbind = \"0.0.0.0:0\"\n"),
    );
    let out = run_tern(&["--check", "--config", &public.path_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused");
    assert!(
        stderr.contains("admin.bind") && stderr.contains("allow_public"),
        "{stderr}"
    );
    let allowed = format!("{base}\n[admin]\nbind = \"0.0.0.0:0\"\nallow_public = true\n");
    let allowed = TempFile::new("tern.toml", &allowed);
    let out = run_tern(&["--check", "--config", &allowed.path_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn without_an_admin_section_nothing_else_listens() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    assert!(tern.listeners.iter().all(|(_, name)| name != "admin"));
}

/// A server failing its health checks shows as `down` on /status and as
/// `tern_server_up 0`, while its healthy neighbour stays `up`.
#[test]
fn a_server_failing_health_checks_is_down_on_status_and_metrics() {
    let live = RecordingUpstream::echo();
    let dead = dead_addr();
    let config = format!(
        "{}health_check = {{ interval = \"100ms\", timeout = \"100ms\", fall = 1 }}\n\n[admin]\nbind = \"127.0.0.1:0\"\n",
        Cfg::servers(&[live.addr, dead]).render()
    );
    let tern = Tern::start(&config);
    let state_of = |json: &serde_json::Value, addr: &str| {
        json["backends"][0]["servers"]
            .as_array()
            .and_then(|servers| servers.iter().find(|s| s["address"] == addr))
            .map(|s| s["state"].clone())
    };
    let mut json = serde_json::Value::Null;
    let went_down = wait_until(Duration::from_secs(5), || {
        json = status_json(&tern);
        state_of(&json, &dead.to_string()) == Some("down".into())
    });
    assert!(went_down, "{json}");
    assert_eq!(state_of(&json, &live.addr.to_string()), Some("up".into()));
    let (_, _, metrics) = admin_request(&tern, "GET", "/metrics", "");
    assert!(
        metrics.contains(&format!(
            "tern_server_up{{backend=\"app\",server=\"{dead}\"}} 0"
        )),
        "{metrics}"
    );
    // up -> down is a change of state, on the page, in /status and /metrics.
    let changes = |json: &serde_json::Value, addr: &str| {
        json["backends"][0]["servers"]
            .as_array()
            .and_then(|servers| servers.iter().find(|s| s["address"] == addr))
            .and_then(|s| s["state_transitions"].as_u64())
    };
    assert_eq!(changes(&json, &dead.to_string()), Some(1), "{json}");
    assert_eq!(changes(&json, &live.addr.to_string()), Some(0), "{json}");
    assert!(
        metrics.contains(&format!(
            "tern_server_state_transitions_total{{backend=\"app\",server=\"{dead}\"}} 1"
        )),
        "{metrics}"
    );
    // A down server stands out on the page: its state has a style.
    let (_, _, page) = admin_request(&tern, "GET", "/", "");
    assert!(page.contains("<td class=\"down\">down</td>"), "{page}");
    let style = page.split("</style>").next().unwrap_or_default();
    assert!(style.contains(".down{"), "no style for .down: {style}");
    // Draining and enabling are two more; a reload keeps the state and the
    // count, and is no change itself.
    drain(&tern, "1", "drain");
    drain(&tern, "1", "enable");
    tern.signal("HUP");
    assert!(wait_until(Duration::from_secs(10), || tern.has_said("reloaded:")));
    let json = status_json(&tern);
    assert_eq!(
        state_of(&json, &dead.to_string()),
        Some("down".into()),
        "{json}"
    );
    assert_eq!(changes(&json, &dead.to_string()), Some(3), "{json}");
}

#[test]
fn counters_go_on_across_a_reload_with_requests_in_flight_across_it() {
    let echo = RecordingUpstream::echo();
    let silent = RecordingUpstream::silent();
    let cfg = Cfg::empty()
        .workers(1)
        .backend("app", &[echo.addr])
        .backend("slow", &[silent.addr])
        .route("/held", "slow")
        .route("/", "app");
    let tern = start_with_admin(&cfg);
    for _ in 0..3 {
        let (raw, _) = raw_request(tern.addr(), CLOSE_GET);
        assert_eq!(status_of(&raw), Some(200));
    }
    let ok = "tern_backend_requests_total{backend=\"app\",class=\"2xx\"}";
    let server = format!(
        "tern_server_requests_total{{backend=\"app\",server=\"{}\",class=\"2xx\"}}",
        echo.addr
    );
    let listener = "tern_requests_total{listener=\"web\",class=\"2xx\"}";
    assert_eq!(wait_metric(&tern, ok, 3.0), Some(3.0));
    let mut held = tern.connect();
    held.send(b"GET /held HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert!(silent.wait_conns(1, Duration::from_secs(5)));

    tern.signal("HUP");
    assert!(wait_until(Duration::from_secs(10), || tern.has_said("reloaded:")));
    let text = scrape(&tern);
    for series in [ok, &server, listener] {
        assert_eq!(
            metric(&text, series),
            Some(3.0),
            "{series} after the reload"
        );
    }
    let accepted = metric(&text, "tern_connections_accepted_total{worker=\"0\"}").unwrap_or(0.0);
    assert!(accepted >= 4.0, "accepted connections: {accepted}");

    // The held request ends (the harness's 5 s upstream timeout: 504) in
    // the old generation; it is counted all the same.
    assert_eq!(status_after_upstream_timeout(&mut held), Some(504));
    let late = "tern_backend_requests_total{backend=\"slow\",class=\"5xx\"}";
    assert_eq!(wait_metric(&tern, late, 1.0), Some(1.0));
    assert_eq!(metric(&scrape(&tern), ok), Some(3.0));
}

/// The gauges count what the generations a reload replaced still serve: a
/// request waiting on its upstream since before the reload, and a tunnel
/// opened before it, are still there after it (they read 0 when only the
/// newest generation was counted).
#[test]
fn gauges_count_requests_and_tunnels_begun_before_a_reload() {
    let ws = websocket_upstream();
    let silent = RecordingUpstream::silent();
    let cfg = Cfg::empty()
        .workers(1)
        .backend("ws", &[ws.addr])
        .backend("slow", &[silent.addr])
        .route("/held", "slow")
        .route("/", "ws");
    let tern = start_with_admin(&cfg);
    let mut tunnel = tern.connect();
    tunnel
        .send(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    let switched = tunnel.read_head_raw().ok().and_then(|h| status_of(&h));
    assert_eq!(switched, Some(101));
    let mut held = tern.connect();
    held.send(&get("/held"));
    assert!(silent.wait_conns(1, Duration::from_secs(5)));
    let gauges = [
        ("tern_upstream_waiting{worker=\"0\"}", 1.0),
        ("tern_long_polls{worker=\"0\"}", 1.0),
        ("tern_tunnels_open{worker=\"0\"}", 1.0),
        ("tern_connections{worker=\"0\",state=\"active\"}", 2.0),
    ];
    let (long_polls, _) = gauges[1];
    assert_eq!(wait_metric(&tern, long_polls, 1.0), Some(1.0));

    tern.signal("HUP");
    assert!(wait_until(Duration::from_secs(10), || tern.has_said("reloaded:")));
    let text = scrape(&tern);
    for (series, want) in gauges {
        assert_eq!(
            metric(&text, series),
            Some(want),
            "{series} after the reload"
        );
    }
    drop(tunnel);
    let open = "tern_tunnels_open{worker=\"0\"}";
    assert_eq!(wait_metric(&tern, open, 0.0), Some(0.0));
    assert_eq!(status_after_upstream_timeout(&mut held), Some(504));
    assert_eq!(wait_metric(&tern, long_polls, 0.0), Some(0.0));
}

/// A GET on the admin endpoint, waiting up to 10 s: its status (0 if none)
/// and how long the answer took.
fn timed_admin_get(tern: &Tern, path: &str) -> (u16, Duration) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let started = Instant::now();
    let (raw, _) = raw_request_timeout(admin_addr(tern), req.as_bytes(), Duration::from_secs(10));
    (status_of(&raw).unwrap_or(0), started.elapsed())
}

/// Connects to the admin endpoint and sends `head` (an unfinished one).
fn admin_conn_with(tern: &Tern, head: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(admin_addr(tern)).expect("connect to admin");
    stream.write_all(head).expect("send a partial head");
    stream
}

/// What the admin endpoint finally says to a held connection: its status,
/// or 0 for a close without one; `None` if it says nothing for `wait`.
fn final_word(stream: &mut TcpStream, wait: Duration) -> Option<u16> {
    stream.set_read_timeout(Some(wait)).expect("read timeout");
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => Some(status_of(&raw).unwrap_or(0)),
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => Some(0),
        Err(_) => None,
    }
}

/// A client sending its head a byte at a time (each byte well within any
/// per-read timeout) is cut off by the whole request's deadline, and
/// another client's /metrics is answered meanwhile.
#[test]
fn a_client_trickling_its_head_does_not_keep_metrics_from_others() {
    let up = RecordingUpstream::echo();
    let tern = start_with_admin(&Cfg::new(up.addr));
    let mut trickler = admin_conn_with(&tern, b"G");
    let mut writer = trickler.try_clone().expect("clone");
    let sender = thread::spawn(move || {
        for byte in b"ET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "
            .iter()
            .chain(&[b'a'; 200])
        {
            if writer.write_all(&[*byte]).is_err() {
                return; // cut off: what the endpoint should do
            }
            thread::sleep(Duration::from_millis(250));
        }
    });
    thread::sleep(Duration::from_millis(500));
    let (status, took) = timed_admin_get(&tern, "/metrics");
    assert_eq!(
        status, 200,
        "GET /metrics beside a trickler (after {took:?})"
    );
    assert!(took < Duration::from_secs(10), "answered in {took:?}");
    let word = final_word(&mut trickler, Duration::from_secs(15));
    assert!(
        matches!(word, Some(408 | 0)),
        "the trickler should get 408 or a close, got {word:?}"
    );
    let _ = sender.join();
}

/// Many connections holding unfinished heads take no turn from a /status:
/// connections are served side by side, not one after another.
#[test]
fn partial_heads_held_open_do_not_delay_status() {
    let up = RecordingUpstream::echo();
    let tern = start_with_admin(&Cfg::new(up.addr));
    let held: Vec<_> = (0..50)
        .map(|_| admin_conn_with(&tern, b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n"))
        .collect();
    thread::sleep(Duration::from_millis(200));
    let (status, took) = timed_admin_get(&tern, "/status");
    assert_eq!(
        status, 200,
        "GET /status beside 50 held heads (after {took:?})"
    );
    assert!(took < Duration::from_secs(10), "answered in {took:?}");
    drop(held);
}

/// RFC 9112 §3.2: an HTTP/1.1 request without a Host, or any with two, is
/// a 400 (the guard would otherwise see none, or only the first).
#[test]
fn a_missing_or_doubled_host_is_a_400() {
    let up = RecordingUpstream::echo();
    let tern = start_with_admin(&Cfg::new(up.addr));
    let status = |head: &str| {
        let (raw, _) = raw_request(admin_addr(&tern), head.as_bytes());
        status_of(&raw)
    };
    let cases = [
        ("no Host", "GET /status HTTP/1.1\r\n\r\n", 400),
        (
            "two Hosts",
            "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
            400,
        ),
        (
            "two Hosts, the foreign first",
            "GET /status HTTP/1.1\r\nHost: evil.example\r\nHost: 127.0.0.1\r\n\r\n",
            400,
        ),
        (
            "HTTP/1.0 without a Host",
            "GET /status HTTP/1.0\r\n\r\n",
            200,
        ),
        (
            "one Host",
            "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            200,
        ),
    ];
    for (what, head, want) in cases {
        assert_eq!(status(head), Some(want), "{what}");
    }
}
