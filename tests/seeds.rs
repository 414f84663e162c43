//! The seed set-ups of `config/`, end to end: each test loads the file,
//! swaps its addresses for test upstreams, starts tern and checks what the
//! page describes.

mod common;
mod static_site;

use common::routing::*;
use common::tls_client::*;
use common::*;
use std::time::Duration;

/// A Kitto stand-in on the address `localhost` resolves to, redirecting
/// every request to `http://localhost:PORT/hellokitto/login`, as Kitto
/// names itself.
fn kitto_on_localhost() -> RecordingUpstream {
    use std::net::ToSocketAddrs;
    let local = ("localhost", 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .expect("localhost resolves");
    let listener = std::net::TcpListener::bind(local).expect("bind on localhost");
    RecordingUpstream::with_listener(listener, move |c| {
        while c.read_request().is_some() {
            let port = c.conn.stream.local_addr().expect("addr").port();
            let location = format!("http://localhost:{port}/hellokitto/login");
            if !c.respond(302, &[("Location", location.as_str())], b"") {
                return;
            }
        }
    })
}

/// Seed 000 (Kitto, full proxy): /hellokitto goes to Kitto with its path,
/// and a redirect naming localhost:2601 comes back naming tern's host.
#[test]
fn seed_000_kitto_full_proxy_passes_the_path_and_rewrites_redirects() {
    let kitto = kitto_on_localhost();
    let port = kitto.addr.port();
    let config = seed_config(
        "seed-000-kitto-full.toml",
        &[("localhost:2601", format!("localhost:{port}"))],
    );
    let tern = Tern::start(&config);
    let r = fetch(
        tern.addr(),
        &get_with("www.example.com", "/hellokitto/home?x=1", &[]),
    );
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location").as_deref(),
        Some("http://www.example.com/hellokitto/login")
    );
    assert_eq!(kitto.requests()[0].head.target(), "/hellokitto/home?x=1");
    let other = fetch(tern.addr(), &get_with("www.example.com", "/other", &[]));
    assert_eq!(other.status, 404);
    assert_eq!(kitto.request_count(), 1);
}

/// Seed 000 (Kitto, mixed mode): /hellokitto/app goes to Kitto, and
/// /hellokitto/res/ is served from the directory by tern (Apache's Alias):
/// Kitto never sees those requests.
#[test]
fn seed_000_kitto_mixed_serves_resources_itself_and_proxies_the_app() {
    let kitto = named("kitto");
    let resources = TempDir::new("kitto-res");
    resources.write("ext/ext-all.js", b"Ext.define('App');");
    let config = seed_config(
        "seed-000-kitto-mixed.toml",
        &[
            ("localhost:2601", kitto.addr.to_string()),
            (
                "/srv/hellokitto/Home/Resources",
                resources.path.display().to_string(),
            ),
        ],
    );
    let tern = Tern::start(&config);
    let js = fetch(
        tern.addr(),
        &get_with("app.example", "/hellokitto/res/ext/ext-all.js", &[]),
    );
    assert_eq!(js.status, 200);
    assert_eq!(js.body_str(), "Ext.define('App');");
    assert!(js
        .header("content-type")
        .is_some_and(|t| t.contains("javascript")));
    let app = fetch(
        tern.addr(),
        &get_with("app.example", "/hellokitto/app/home", &[]),
    );
    assert_eq!(app.header("x-upstream").as_deref(), Some("kitto"));
    assert_eq!(
        kitto.request_count(),
        1,
        "only the app request reached Kitto"
    );
    assert_eq!(kitto.requests()[0].head.target(), "/hellokitto/app/home");
}

/// Seed 001 (nginx, Kalgan) whole: plain HTTP only redirects to https with
/// the request URI; over TLS, /static/ is served by tern (no listing) and
/// the rest reaches Kalgan as HTTP with Host passed through and
/// X-Forwarded-Proto: https.
#[test]
fn seed_001_kalgan_https_with_redirect_static_files_and_proxy() {
    let kalgan = named("kalgan");
    let cert = make_cert("mywebsite", &["mywebsite.com"]);
    let assets = TempDir::new("kalgan-static");
    assets.write("css/site.css", b"body{}");
    let config = seed_config(
        "seed-001-nginx-kalgan.toml",
        &[
            ("127.0.0.1:7878", kalgan.addr.to_string()),
            ("/etc/tern/mywebsite.com.crt", cert.cert_file.path_str()),
            ("/etc/tern/mywebsite.com.key", cert.key_file.path_str()),
            (
                "/path/to/my/project/static",
                assets.path.display().to_string(),
            ),
        ],
    );
    let tern = Tern::start(&config);
    let r = fetch(
        listener(&tern, "web"),
        &get_with("mywebsite.com", "/page?a=1", &[]),
    );
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://mywebsite.com/page?a=1")
    );

    let client = client_config(&[&cert]);
    let mut tls = connect_tls(listener(&tern, "websecure"), &client, "mywebsite.com");
    let (head, body) = tls_roundtrip(
        &mut tls,
        &get_with("mywebsite.com", "/static/css/site.css", &[]),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"body{}");
    let (head, _) = tls_roundtrip(&mut tls, &get_with("mywebsite.com", "/static/css/", &[]));
    assert!(
        head.starts_with("HTTP/1.1 403"),
        "no directory listing: {head}"
    );
    let (head, _) = tls_roundtrip(&mut tls, &get_with("mywebsite.com", "/page", &[]));
    assert_eq!(head_value(&head, "x-upstream").as_deref(), Some("kalgan"));

    assert_eq!(kalgan.request_count(), 1, "static files never reach Kalgan");
    let seen = &kalgan.requests()[0];
    assert_eq!(seen.head.header("host").as_deref(), Some("mywebsite.com"));
    assert_eq!(
        seen.head.header("x-forwarded-proto").as_deref(),
        Some("https")
    );
}

fn wt_config(one: &RecordingUpstream, two: &RecordingUpstream) -> String {
    let fast = "interval = \"100ms\", timeout = \"200ms\", rise = 2, fall = 2";
    seed_config(
        "seed-002-haproxy-wt.toml",
        &[
            ("127.0.0.1:9090", one.addr.to_string()),
            ("127.0.0.1:9091", two.addr.to_string()),
            (
                "interval = \"2s\", timeout = \"1s\", rise = 2, fall = 3",
                fast.to_string(),
            ),
        ],
    )
}

/// Seed 002 (HAProxy, Wt): wtd=wt1 goes to server 1 while it is up, other
/// requests are balanced; when server 1 stops, its URLs fall through to the
/// balancer and reach server 2; when it comes back, affinity returns.
#[test]
fn seed_002_wt_url_affinity_with_failover_and_recovery() {
    let one = named("wt1");
    let two = named("wt2");
    let tern = Tern::start(&wt_config(&one, &two));
    let addr = tern.addr();
    for _ in 0..4 {
        assert_eq!(who(addr, &get_with("h", "/app?wtd=wt1abc", &[])), "wt1");
        assert_eq!(who(addr, &get_with("h", "/app?wtd=wt2abc", &[])), "wt2");
    }
    let mut fresh: Vec<String> = (0..4)
        .map(|_| who(addr, &get_with("h", "/app", &[])))
        .collect();
    fresh.sort();
    assert_eq!(
        fresh,
        ["wt1", "wt1", "wt2", "wt2"],
        "round robin for new sessions"
    );

    let one_addr = one.addr;
    drop(one);
    assert!(
        wait_log(
            &tern,
            &[&one_addr.to_string(), "is down"],
            Duration::from_secs(5)
        ),
        "no down log: {:?}",
        tern.stderr()
    );
    for _ in 0..4 {
        assert_eq!(who(addr, &get_with("h", "/app?wtd=wt1abc", &[])), "wt2");
    }

    let _back = named_on("wt1-again", rebind(one_addr));
    assert!(
        wait_log(
            &tern,
            &[&one_addr.to_string(), "is up"],
            Duration::from_secs(5)
        ),
        "no up log: {:?}",
        tern.stderr()
    );
    assert_eq!(
        who(addr, &get_with("h", "/app?wtd=wt1abc", &[])),
        "wt1-again"
    );
}

/// Seed 003 (Apache balancer): BALANCEID=balancer.nodeN pins requests to
/// the member with route nodeN; a pinned member that is down is
/// redispatched; redirects and cookie domains naming the members are
/// rewritten.
#[test]
fn seed_003_sticky_routes_redispatch_and_reverse_rewriting() {
    let node = |name: &'static str| {
        RecordingUpstream::start(move |c| {
            while let Some(req) = c.read_request() {
                let me = c.conn.stream.local_addr().expect("addr");
                let ok = if req.head.target() == "/login" {
                    let location = format!("http://{me}/welcome");
                    let cookie = "JSESSIONID=1; Domain=192.168.1.101; Path=/";
                    c.respond(
                        302,
                        &[
                            ("Location", &location),
                            ("Set-Cookie", cookie),
                            ("X-Upstream", name),
                        ],
                        b"",
                    )
                } else {
                    c.respond(200, &[("X-Upstream", name)], name.as_bytes())
                };
                if !ok {
                    return;
                }
            }
        })
    };
    let one = node("node1");
    let two = node("node2");
    let config = seed_config(
        "seed-003-apache-balancer.toml",
        &[
            ("192.168.1.101:8080", one.addr.to_string()),
            ("192.168.1.102:8080", two.addr.to_string()),
        ],
    );
    let tern = Tern::start(&config);
    let addr = tern.addr();
    let pinned = |route: &str| {
        get_with(
            "localhost",
            "/foo",
            &[&format!("Cookie: x=1; BALANCEID=balancer.{route}")],
        )
    };
    for _ in 0..5 {
        assert_eq!(who(addr, &pinned("node2")), "node2");
        assert_eq!(who(addr, &pinned("node1")), "node1");
    }
    assert_eq!(two.requests()[0].head.target(), "/foo");

    let r = fetch(addr, &get_with("localhost:8080", "/login", &[]));
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location").as_deref(),
        Some("http://localhost:8080/welcome")
    );
    assert_eq!(
        r.header("set-cookie").as_deref(),
        Some("JSESSIONID=1; Domain=localhost; Path=/")
    );

    drop(two);
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..3 {
        assert_eq!(
            who(addr, &pinned("node2")),
            "node1",
            "a down sticky target is redispatched"
        );
    }
}

/// Seed 004 (HAProxy, Apache + Comet): only /subscriptions/channel/ on
/// notes.olivepeak.com (any label-boundary match, any case) reaches the
/// pub/sub server; everything else goes to Apache; X-Forwarded-For is
/// added; chunked POSTs pass; each backend has its own server timeout.
#[test]
fn seed_004_path_and_host_domain_select_the_comet_backend() {
    let slow = |name: &'static str| {
        RecordingUpstream::start(move |c| {
            while let Some(req) = c.read_request() {
                if req.head.target().ends_with("/slow") {
                    std::thread::sleep(Duration::from_millis(1500));
                }
                if !c.respond(200, &[("X-Upstream", name)], &req.body) {
                    return;
                }
            }
        })
    };
    let apache = slow("apache");
    let twisted = slow("twisted");
    let config = seed_config(
        "seed-004-haproxy-comet.toml",
        &[
            ("127.0.0.1:30100", apache.addr.to_string()),
            ("127.0.0.1:30200", twisted.addr.to_string()),
            ("server = \"30s\"", "server = \"1s\"".to_string()),
        ],
    );
    let tern = Tern::start(&config);
    let addr = tern.addr();
    let sub = "/subscriptions/channel/news";
    assert_eq!(
        who(addr, &get_with("notes.olivepeak.com", sub, &[])),
        "twisted"
    );
    assert_eq!(
        who(addr, &get_with("WWW.Notes.OlivePeak.com:80", sub, &[])),
        "twisted"
    );
    assert_eq!(
        who(
            addr,
            &get_with("notes.olivepeak.com", "/subscriptions/other", &[])
        ),
        "apache"
    );
    assert_eq!(
        who(addr, &get_with("mynotes.olivepeak.com", sub, &[])),
        "apache"
    );
    assert_eq!(who(addr, &get_with("other.com", "/", &[])), "apache");
    let seen = &twisted.requests()[0];
    assert_eq!(
        seen.head.header("x-forwarded-for").as_deref(),
        Some("127.0.0.1")
    );

    let chunked = b"POST /subscriptions/channel/news HTTP/1.1\r\nHost: notes.olivepeak.com\r\n\
        Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let r = fetch(addr, chunked);
    assert_eq!(r.header("x-upstream").as_deref(), Some("twisted"));
    assert_eq!(r.body_str(), "hello world");

    // Apache's 1 s (here) server timeout expires; the pub/sub one does not.
    assert_eq!(
        fetch(addr, &get_with("other.com", "/slow", &[])).status,
        504
    );
    let held = fetch(
        addr,
        &get_with("notes.olivepeak.com", "/subscriptions/channel/slow", &[]),
    );
    assert_eq!(held.header("x-upstream").as_deref(), Some("twisted"));
}

/// The seed files are valid as shipped; the two that name files on the
/// target machine (certificates, a static root) are refused only for
/// those missing files, naming them.
#[test]
fn seed_configs_pass_check_but_for_missing_files() {
    let check = |file: &str| {
        let path = format!("{}/config/{file}", env!("CARGO_MANIFEST_DIR"));
        let out = run_tern(&["--check", "--config", &path]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for file in [
        "seed-000-kitto-full.toml",
        "seed-002-haproxy-wt.toml",
        "seed-003-apache-balancer.toml",
        "seed-004-haproxy-comet.toml",
    ] {
        let (code, err) = check(file);
        assert_eq!(code, Some(0), "{file}: {err}");
    }
    let (code, err) = check("seed-000-kitto-mixed.toml");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("route[1].static.root") && err.contains("/srv/hellokitto"),
        "{err}"
    );
    let (code, err) = check("seed-001-nginx-kalgan.toml");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("listener[0].tls") && err.contains("/etc/tern/mywebsite.com.crt"),
        "{err}"
    );
}

/// A server given by a loopback IP: its redirects naming `localhost` are
/// rewritten too (the application names itself so).
#[test]
fn a_loopback_server_given_by_ip_has_its_localhost_redirects_rewritten() {
    let kitto = kitto_on_localhost();
    let config = seed_config(
        "seed-000-kitto-full.toml",
        &[("localhost:2601", kitto.addr.to_string())],
    );
    assert!(kitto.addr.ip().is_loopback());
    let tern = Tern::start(&config);
    let r = fetch(
        tern.addr(),
        &get_with("www.example.com", "/hellokitto/x", &[]),
    );
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location").as_deref(),
        Some("http://www.example.com/hellokitto/login")
    );
}

/// Every seed binds addresses that exist on any machine (all interfaces or
/// loopback); a page's public address stays in a comment.
#[test]
fn every_seed_binds_an_address_any_machine_has() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/config");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("config/") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines().filter(|l| l.starts_with("bind = ")) {
            let value = line.split('"').nth(1).unwrap_or_default();
            let addr: std::net::SocketAddr = value
                .parse()
                .unwrap_or_else(|_| panic!("{}: {line}", path.display()));
            assert!(
                addr.ip().is_unspecified() || addr.ip().is_loopback(),
                "{} binds {addr}, which only one machine has",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 7, "{seen} bind lines");
}
