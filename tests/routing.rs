//! Routing and load balancing through the real binary: every action,
//! conditions, rewrites, health transitions, retries and redispatch,
//! max_connections queueing and sticky sessions across two tern nodes.

mod common;

use common::routing::*;
use common::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A config with one worker (so per-worker state is exact), short
/// timeouts, one listener, and `body` (routes and backends).
fn config(body: &str) -> String {
    format!(
        "[server]\nworkers = 1\n[server.timeouts]\nconnect = \"1s\"\nserver = \"5s\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n{body}"
    )
}

/// Routes see the path in canonical form: every spelling of `/admin` a
/// client can send (merged slashes, dot segments, escaped letters or
/// slashes) meets the rule written for `/admin`, a path that climbs above
/// the root or carries a fragment is a 400, and a rewritten prefix starts
/// from the canonical path, so `..` can't climb out of `upstream_prefix`.
/// The target goes upstream as the client sent it unless rewritten.
#[test]
fn routes_match_the_path_in_canonical_form_whatever_its_spelling() {
    let app = named("app");
    let tern = Tern::start(&config(&format!(
        "[[route]]\npath_prefix = \"/admin\"\nrespond = {{ status = 403 }}\n\
         [[route]]\npath_regex = \"^/internal(/|$)\"\nrespond = {{ status = 403 }}\n\
         [[route]]\npath_prefix = \"/api\"\nupstream_prefix = \"/inner/api\"\nbackend = \"app\"\n\
         [[route]]\npath_prefix = \"/raw\"\nbackend = \"app\"\n\
         [[route]]\npath_prefix = \"/\"\nrespond = {{ status = 404 }}\n\
         [backend.app]\nservers = [\"{}\"]\n",
        app.addr
    )));
    let status = |target: &str| {
        let req = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
        fetch(tern.addr(), req.as_bytes()).status
    };
    for target in [
        "/admin/users",
        "//admin/users",
        "/./admin/users",
        "/x/../admin/users",
        "/%61dmin/users",
        "/%2e/admin",
        "/admin%2fusers",
        "http://h//admin",
        "//internal/x",
        "/%69nternal/x",
        "/a/../internal/x",
        "/admin;/users",
        "/admin;jsessionid=1",
    ] {
        assert_eq!(status(target), 403, "{target}");
    }
    for target in ["/x/../../admin", "/%2e%2e/admin", "/admin#x", "/bad%zz"] {
        assert_eq!(status(target), 400, "{target}");
    }
    assert_eq!(status("/api/../secret"), 404);
    assert_eq!(status("/api/%2e%2e/secret"), 404);
    assert_eq!(status("/api/x/../y?q=1"), 200);
    assert_eq!(status("/api//v%31/./z"), 200);
    assert_eq!(status("/plain/%7Euser"), 404);
    assert_eq!(status("/administrator"), 404);
    assert_eq!(status("/raw//x/%7ey"), 200);
    assert_eq!(status("/api;v=1/z"), 200);
    let targets: Vec<String> = app
        .requests()
        .iter()
        .map(|r| r.head.target().to_owned())
        .collect();
    let want = [
        "/inner/api/y?q=1",
        "/inner/api/v1/z",
        "/raw//x/%7ey",
        "/inner/api;v=1/z",
    ];
    assert_eq!(targets, want);
}

#[test]
fn respond_answers_without_touching_an_upstream() {
    let app = named("app");
    let tern = Tern::start(&config(&format!(
        "[[route]]\npath_prefix = \"/health\"\n\
         respond = {{ status = 200, headers = {{ Content-Type = \"text/plain\" }}, body = \"ok\\n\" }}\n\
         [[route]]\nbackend = \"app\"\n[backend.app]\nservers = [\"{}\"]\n",
        app.addr
    )));
    let mut c = tern.connect();
    let r = c.roundtrip(&get("/health"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok\n"));
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    // The connection stays usable, and HEAD gets the length but no body.
    let head = c.roundtrip(b"HEAD /health HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(head.header("content-length").as_deref(), Some("3"));
    assert!(head.body.is_empty());
    assert_eq!(who(tern.addr(), &get("/other")), "app");
    assert!(app.requests().iter().all(|r| r.head.target() == "/other"));
}

#[test]
fn an_http10_keep_alive_client_keeps_its_connection_through_tern_s_own_answers() {
    let tern = Tern::start(&config(
        "[[route]]\npath_prefix = \"/health\"\nrespond = { status = 200, body = \"ok\\n\" }\n\
         [[route]]\npath_prefix = \"/old\"\nredirect = { path = \"/new\", status = 301 }\n",
    ));
    let mut c = tern.connect();
    for (target, status) in [
        ("/health", 200),
        ("/old", 301),
        ("/elsewhere", 404),
        ("/health", 200),
    ] {
        let req = format!("GET {target} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c.roundtrip(req.as_bytes());
        assert_eq!(r.status, status, "{target}");
        assert_eq!(
            r.header("connection").as_deref(),
            Some("keep-alive"),
            "{target}"
        );
    }
    // Without keep-alive, an HTTP/1.0 client is told close, and the
    // connection ends.
    let r = c.roundtrip(b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(c.expect_close(Duration::from_secs(5)).is_ok());
}

#[test]
fn no_route_gets_404_or_the_configured_answer() {
    let tern = Tern::start(&config(
        "[[route]]\npath_prefix = \"/only\"\nrespond = { status = 204 }\n",
    ));
    let r = fetch(tern.addr(), &get("/elsewhere"));
    assert_eq!((r.status, r.body_str().as_str()), (404, "Not Found\n"));
    let custom = config("[[route]]\npath_prefix = \"/only\"\nrespond = { status = 204 }\n")
        .replace(
            "[server]\n",
            "[server]\nno_route = { status = 421, body = \"unknown site\" }\n",
        );
    let tern = Tern::start(&custom);
    let r = fetch(tern.addr(), &get("/elsewhere"));
    assert_eq!((r.status, r.body_str().as_str()), (421, "unknown site"));
}

#[test]
fn redirect_keeps_host_path_and_query_unless_told() {
    let tern = Tern::start(&config(
        "[[route]]\npath_prefix = \"/old\"\nredirect = { path = \"/new\", status = 308 }\n\
         [[route]]\nredirect = { scheme = \"https\", status = 301 }\n",
    ));
    let r = fetch(tern.addr(), &get_with("site.test:8080", "/old?q=1", &[]));
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location").as_deref(),
        Some("http://site.test:8080/new?q=1")
    );
    let r = fetch(tern.addr(), &get_with("site.test:8080", "/a/b?c", &[]));
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://site.test/a/b?c")
    );
}

#[test]
fn prefix_rewrite_host_override_and_header_edits_reach_the_upstream() {
    let up = RecordingUpstream::start(|c| {
        while let Some(req) = c.read_request() {
            let location = req.head.target().to_string();
            let ok = c.respond(
                200,
                &[
                    ("Location", &location),
                    ("Server", "secret"),
                    ("X-Keep", "1"),
                ],
                b"x",
            );
            if !ok {
                return;
            }
        }
    });
    let tern = Tern::start(&config(&format!(
        "[[route]]\npath_prefix = \"/api\"\nupstream_prefix = \"/v2\"\nupstream_host = \"backend.internal\"\n\
         request_headers = {{ set = {{ X-Env = \"prod\" }}, remove = [\"X-Debug\"] }}\n\
         response_headers = {{ add = {{ X-Served-By = \"tern\" }}, remove = [\"Server\"] }}\n\
         backend = \"app\"\n[backend.app]\nservers = [\"{}\"]\n",
        up.addr
    )));
    let r = fetch(
        tern.addr(),
        &get_with(
            "public.test",
            "/api/users?id=7",
            &["X-Debug: 1", "X-Env: dev"],
        ),
    );
    let seen = &up.requests()[0];
    assert_eq!(seen.head.target(), "/v2/users?id=7");
    assert_eq!(
        seen.head.header("host").as_deref(),
        Some("backend.internal")
    );
    assert_eq!(seen.head.header("x-env").as_deref(), Some("prod"));
    assert!(!seen.head.has("x-debug"));
    assert_eq!(
        seen.head.header("x-forwarded-host").as_deref(),
        Some("public.test")
    );
    // Location under the upstream prefix is mapped back (reverse rewriting
    // is on because the path is rewritten).
    assert_eq!(r.header("location").as_deref(), Some("/api/users?id=7"));
    assert_eq!(r.header("x-served-by").as_deref(), Some("tern"));
    assert!(!r.has("server"));
    assert_eq!(r.header("x-keep").as_deref(), Some("1"));
}

#[test]
fn conditions_on_method_header_query_and_source_pick_the_route() {
    let a = named("a");
    let b = named("b");
    let tern = Tern::start(&config(&format!(
        "[[route]]\nmethod = \"GET\"\nheader = [{{ name = \"X-Beta\", equals = \"on\" }}]\nquery = [\"v=2\"]\n\
         source = [\"127.0.0.0/8\"]\nnot = {{ path_prefix = \"/stable\" }}\nbackend = \"b\"\n\
         [[route]]\nbackend = \"a\"\n[backend.a]\nservers = [\"{}\"]\n[backend.b]\nservers = [\"{}\"]\n",
        a.addr, b.addr
    )));
    let addr = tern.addr();
    assert_eq!(who(addr, &get_with("h", "/x?v=2", &["X-Beta: on"])), "b");
    assert_eq!(who(addr, &get_with("h", "/x?v=2", &["X-Beta: off"])), "a");
    assert_eq!(who(addr, &get_with("h", "/x?v=3", &["X-Beta: on"])), "a");
    assert_eq!(
        who(addr, &get_with("h", "/stable?v=2", &["X-Beta: on"])),
        "a"
    );
    let post = b"POST /x?v=2 HTTP/1.1\r\nHost: h\r\nX-Beta: on\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(who(addr, post), "a");
}

fn backend_of(servers: &[SocketAddr], extra: &str) -> String {
    let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        "[[route]]\nbackend = \"app\"\n[backend.app]\nservers = [{}]\n{extra}\n",
        list.join(", ")
    )
}

#[test]
fn no_live_server_gets_a_quick_503() {
    let dead = dead_addr();
    let tern = Tern::start(&config(&backend_of(
        &[dead],
        "health_check = { interval = \"100ms\", timeout = \"100ms\", fall = 1 }",
    )));
    assert!(
        wait_log(&tern, &["is down"], Duration::from_secs(5)),
        "{:?}",
        tern.stderr()
    );
    let started = Instant::now();
    let r = fetch(tern.addr(), &get("/"));
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (503, "Service Unavailable\n")
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn health_checks_take_a_server_out_and_bring_it_back() {
    let a = named("a");
    let b = named("b");
    let a_addr = a.addr;
    let tern = Tern::start(&config(&backend_of(
        &[a.addr, b.addr],
        "health_check = { path = \"/ping\", interval = \"100ms\", timeout = \"200ms\", rise = 2, fall = 2 }",
    )));
    assert!(
        a.wait_requests(1, Duration::from_secs(2)),
        "no health check seen"
    );
    assert_eq!(a.requests()[0].head.target(), "/ping");
    drop(a);
    assert!(wait_log(
        &tern,
        &[&format!("app/{a_addr} is down")],
        Duration::from_secs(5)
    ));
    for _ in 0..4 {
        assert_eq!(who(tern.addr(), &get("/")), "b");
    }
    let _a = named_on("a", rebind(a_addr));
    assert!(wait_log(
        &tern,
        &[&format!("app/{a_addr} is up")],
        Duration::from_secs(5)
    ));
    let seen: Vec<String> = (0..4).map(|_| who(tern.addr(), &get("/"))).collect();
    assert!(seen.iter().any(|s| s == "a"), "{seen:?}");
}

#[test]
fn failed_connects_are_redispatched_to_another_server() {
    let live = named("live");
    let tern = Tern::start(&config(&backend_of(
        &[dead_addr(), live.addr],
        "retries = 1",
    )));
    for _ in 0..4 {
        assert_eq!(who(tern.addr(), &get("/")), "live");
    }
}

#[test]
fn without_redispatch_the_same_server_is_retried() {
    let live = named("live");
    let tern = Tern::start(&config(&backend_of(
        &[dead_addr(), live.addr],
        "retries = 2\nredispatch = false",
    )));
    let seen: Vec<String> = (0..4).map(|_| who(tern.addr(), &get("/"))).collect();
    assert_eq!(
        seen.iter().filter(|s| *s == "status 502").count(),
        2,
        "{seen:?}"
    );
    assert_eq!(seen.iter().filter(|s| *s == "live").count(), 2, "{seen:?}");
}

/// An idempotent request a server took and closed without answering is
/// retried, and without redispatch on that same server (both servers here
/// hang up: the retry goes where the first attempt went).
#[test]
fn without_redispatch_a_server_that_did_not_answer_is_tried_again() {
    let hang_up = || {
        RecordingUpstream::start(|c| {
            let _ = c.read_request();
        })
    };
    let (a, b) = (hang_up(), hang_up());
    let tern = Tern::start(&config(&backend_of(
        &[a.addr, b.addr],
        "retries = 1\nredispatch = false",
    )));
    let mut before = (0, 0);
    for round in 0..2 {
        assert_eq!(fetch(tern.addr(), &get("/")).status, 502);
        let now = (a.requests().len(), b.requests().len());
        let taken = (now.0 - before.0, now.1 - before.1);
        assert!(
            [(2, 0), (0, 2)].contains(&taken),
            "round {round}: {taken:?}"
        );
        before = now;
    }
}

#[test]
fn passive_checks_mark_a_failing_server_down() {
    let failing = RecordingUpstream::start(|c| {
        while c.read_request().is_some() {
            if !c.respond(500, &[("X-Upstream", "failing")], b"") {
                return;
            }
        }
    });
    let good = named("good");
    let tern = Tern::start(&config(&backend_of(
        &[failing.addr, good.addr],
        "passive = { failures = 1, down_for = \"10s\" }",
    )));
    let seen: Vec<String> = (0..6).map(|_| who(tern.addr(), &get("/"))).collect();
    assert_eq!(
        seen.iter().filter(|s| *s == "failing").count(),
        1,
        "{seen:?}"
    );
    assert!(wait_log(
        &tern,
        &["marked down", "passive"],
        Duration::from_secs(2)
    ));
}

/// An upstream that holds each request for `hold`, and counts how many it
/// held at once at most.
fn slow_upstream(
    hold: Duration,
) -> (
    RecordingUpstream,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (now2, peak2) = (now.clone(), peak.clone());
    let up = RecordingUpstream::start(move |c| {
        while c.read_request().is_some() {
            let current = now2.fetch_add(1, Ordering::SeqCst) + 1;
            peak2.fetch_max(current, Ordering::SeqCst);
            std::thread::sleep(hold);
            now2.fetch_sub(1, Ordering::SeqCst);
            if !c.respond(200, &[], b"done") {
                return;
            }
        }
    });
    (up, peak)
}

#[test]
fn max_connections_queues_requests_then_serves_them() {
    let (up, peak) = slow_upstream(Duration::from_millis(400));
    let list = format!(
        "servers = [{{ address = \"{}\", max_connections = 1 }}]",
        up.addr
    );
    let tern = Tern::start(&config(&format!(
        "[[route]]\nbackend = \"app\"\n[backend.app]\n{list}\ntimeouts = {{ queue = \"5s\" }}\n"
    )));
    let addr = tern.addr();
    let clients: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || fetch(addr, &get("/")).status))
        .collect();
    let statuses: Vec<u16> = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    assert_eq!(statuses, vec![200, 200, 200]);
    assert_eq!(
        peak.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the limit was exceeded"
    );
}

#[test]
fn a_queue_wait_that_runs_out_gets_503() {
    let (up, _peak) = slow_upstream(Duration::from_millis(1500));
    let list = format!(
        "servers = [{{ address = \"{}\", max_connections = 1 }}]",
        up.addr
    );
    let tern = Tern::start(&config(&format!(
        "[[route]]\nbackend = \"app\"\n[backend.app]\n{list}\ntimeouts = {{ queue = \"300ms\" }}\n"
    )));
    let addr = tern.addr();
    let first = std::thread::spawn(move || fetch(addr, &get("/")).status);
    assert!(up.wait_requests(0, Duration::from_secs(1)));
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(fetch(addr, &get("/")).status, 503);
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(first.join().expect("first"), 200);
}

/// An upstream that answers as `named` does after holding each request
/// for the milliseconds its target names (`/hold/MS`), and answers its
/// health checks (`/ping`) 503 once the flag returned is set.
fn holding(
    name: &'static str,
) -> (
    RecordingUpstream,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let down = std::sync::Arc::new(AtomicBool::new(false));
    let flag = down.clone();
    let up = RecordingUpstream::start(move |c| {
        while let Some(req) = c.read_request() {
            let target = req.head.target().to_string();
            if target == "/ping" {
                let status = if flag.load(Ordering::SeqCst) {
                    503
                } else {
                    200
                };
                if !c.respond(status, &[], b"") {
                    return;
                }
                continue;
            }
            let ms = target
                .strip_prefix("/hold/")
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(0);
            std::thread::sleep(Duration::from_millis(ms));
            if !c.respond(200, &[("X-Upstream", name)], name.as_bytes()) {
                return;
            }
        }
    });
    (up, down)
}

/// Sends `GET target` (with `cookie`, when given) on its own thread.
fn in_background(
    addr: SocketAddr,
    target: &'static str,
    cookie: Option<&'static str>,
) -> std::thread::JoinHandle<Response> {
    std::thread::spawn(move || {
        let extra: Vec<String> = cookie.iter().map(|c| format!("Cookie: {c}")).collect();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        fetch(addr, &get_with("h", target, &extra))
    })
}

/// Two servers with `max_connections = 1` each, sticky cookies, a queue,
/// and `second`'s extra keys: a long request holds `a`, a shorter one
/// sticky to `b` holds the other, `between` runs, then two plain requests
/// queue. When `b`'s request ends its slot must not go to a queued
/// request, which `b` may not serve: both wait for `a` and are not pinned
/// to `b`. Returns what the queued requests got.
fn queued_behind(second: &str, health: &str, between: impl FnOnce(&Tern)) -> Vec<Response> {
    let (a, _) = holding("a");
    let (b, b_down) = holding("b");
    let tern = Tern::start(&config(&format!(
        "[[route]]\nbackend = \"app\"\n[backend.app]\n\
         sticky = {{ cookie = \"SRV\", mode = \"insert\" }}\n\
         servers = [{{ address = \"{}\", max_connections = 1, route = \"a\" }}, \
         {{ address = \"{}\", max_connections = 1, route = \"b\", {second} }}]\n\
         timeouts = {{ queue = \"5s\" }}\n{health}\n",
        a.addr, b.addr
    )));
    let addr = tern.addr();
    let long = in_background(addr, "/hold/2500", Some("SRV=a"));
    let short = in_background(addr, "/hold/1000", Some("SRV=b"));
    std::thread::sleep(Duration::from_millis(200));
    b_down.store(true, std::sync::atomic::Ordering::SeqCst);
    between(&tern);
    let queued: Vec<_> = (0..2)
        .map(|_| in_background(addr, "/hold/0", None))
        .collect();
    let queued = queued.into_iter().map(|q| q.join().expect("queued"));
    let queued = queued.collect();
    assert_eq!(
        long.join().expect("long").header("x-upstream").as_deref(),
        Some("a")
    );
    assert_eq!(
        short.join().expect("short").header("x-upstream").as_deref(),
        Some("b")
    );
    queued
}

fn served_by_a(queued: &[Response]) {
    assert_eq!(queued.len(), 2);
    queued.iter().for_each(served_by_a_alone);
}

fn served_by_a_alone(r: &Response) {
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-upstream").as_deref(),
        Some("a"),
        "{:?}",
        r.header("set-cookie")
    );
    assert_eq!(
        r.header("set-cookie")
            .as_deref()
            .map(|c| c.split(';').next()),
        Some(Some("SRV=a"))
    );
}

#[test]
fn a_queued_request_is_not_handed_a_server_of_weight_0() {
    served_by_a(&queued_behind("weight = 0", "", |_| {}));
}

#[test]
fn a_queued_request_is_not_handed_a_backup_while_a_primary_is_live() {
    served_by_a(&queued_behind("backup = true", "", |_| {}));
}

#[test]
fn a_queued_request_is_not_handed_a_server_marked_down() {
    let health =
        "health_check = { path = \"/ping\", interval = \"100ms\", timeout = \"200ms\", fall = 1 }";
    served_by_a(&queued_behind("weight = 1", health, |tern| {
        assert!(
            wait_log(tern, &["is down"], Duration::from_secs(3)),
            "{:?}",
            tern.stderr()
        );
    }));
}

#[test]
fn sticky_insert_cookie_is_honoured_by_a_second_tern_node() {
    let a = named("a");
    let b = named("b");
    let body = format!(
        "[[route]]\nbackend = \"app\"\n[backend.app]\nsticky = {{ cookie = \"SRV\", mode = \"insert\" }}\n\
         servers = [{{ address = \"{}\", route = \"ra\" }}, {{ address = \"{}\", route = \"rb\" }}]\n",
        a.addr, b.addr
    );
    let node1 = Tern::start(&config(&body));
    let node2 = Tern::start(&config(&body));
    let first = fetch(node1.addr(), &get("/"));
    let set = first.header("set-cookie").expect("a sticky cookie");
    let value = set.split(';').next().expect("name=value").to_string();
    let server = first.header("x-upstream").expect("who");
    assert_eq!(value, format!("SRV=r{server}"));
    for _ in 0..5 {
        let r = fetch(
            node2.addr(),
            &get_with("h", "/", &[&format!("Cookie: {value}")]),
        );
        assert_eq!(r.header("x-upstream").as_deref(), Some(server.as_str()));
        assert!(
            !r.has("set-cookie"),
            "a request that names its server gets no new cookie"
        );
    }
}
