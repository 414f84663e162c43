//! DNS service discovery against a real DNS server (dnsmasq, started by
//! each test on a loopback port): names and SRV records become servers,
//! a change in DNS is picked up without a reload (new requests go to the
//! new address, a request in flight on the removed one finishes), a failed
//! lookup keeps the last good set and is logged once, a name that never
//! resolved is a warning for `--check` and a 503 until it resolves.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::dns::Dnsmasq;
use common::routing::*;
use common::*;

const WAIT: Duration = Duration::from_secs(15);

/// Two listeners on the same free port of 127.0.0.2 and 127.0.0.3 (an A
/// record carries no port: the config gives one for every address).
fn same_port_pair() -> (TcpListener, TcpListener) {
    for _ in 0..20 {
        let first = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
        let port = first.local_addr().expect("addr").port();
        if let Ok(second) = TcpListener::bind(("127.0.0.3", port)) {
            return (first, second);
        }
    }
    panic!("no port free on both 127.0.0.2 and 127.0.0.3");
}

/// An upstream named `name` that holds `/poll` until `open` is set.
fn holding(name: &'static str, listener: TcpListener, open: Arc<AtomicBool>) -> RecordingUpstream {
    RecordingUpstream::with_listener(listener, move |c| {
        while let Some(req) = c.read_request() {
            if req.head.target().starts_with("/poll") {
                wait_until(Duration::from_secs(30), || open.load(Ordering::SeqCst));
            }
            let body = format!("{name} {}", req.head.target());
            if !c.respond(200, &[("X-Upstream", name)], body.as_bytes()) {
                return;
            }
        }
    })
}

fn config(dns: &Dnsmasq, servers: &str) -> String {
    config_every(dns, servers, "1s")
}

fn config_every(dns: &Dnsmasq, servers: &str, every: &str) -> String {
    format!(
        "[server]\nworkers = 1\nresolvers = [\"{}\"]\n\n[[listener]]\nbind = \"127.0.0.1:0\"\n\n\
         [[route]]\nbackend = \"app\"\n\n[backend.app]\nservers = [{servers}]\nresolve_every = \"{every}\"\n\n\
         [admin]\nbind = \"127.0.0.1:0\"\n",
        dns.addr
    )
}

fn metric(tern: &Tern, series: &str) -> Option<String> {
    let r = fetch(tern.admin_addr(), &get_with("localhost", "/metrics", &[]));
    let text = r.body_str();
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_owned)
}

#[test]
fn a_changed_address_is_picked_up_without_a_reload_and_the_old_one_drains() {
    let (old_listener, new_listener) = same_port_pair();
    let port = old_listener.local_addr().unwrap().port();
    let open = Arc::new(AtomicBool::new(false));
    let _old = holding("old", old_listener, open.clone());
    let _new = holding("new", new_listener, open.clone());
    let dns = Dnsmasq::start("127.0.0.2 app.test\n", &[]);
    // Looked up again every 60 s, but dnsmasq's TTL of 1 s wins.
    let servers = format!("\"app.test:{port}\"");
    let tern = Tern::start(&config_every(&dns, &servers, "60s"));
    assert_eq!(who(tern.addr(), &get("/")), "old");
    assert_eq!(
        metric(&tern, "tern_backend_resolved_addresses{backend=\"app\"}").as_deref(),
        Some("1")
    );
    // A request in flight on the address about to go.
    let mut poll = Conn::connect(tern.addr());
    poll.send(&get("/poll"));
    assert!(
        wait_until(WAIT, || _old.request_count() >= 2),
        "poll reached old"
    );

    dns.set_hosts("127.0.0.3 app.test\n");
    let change = format!("DNS: backend app: added 127.0.0.3:{port}, removed 127.0.0.2:{port}");
    assert!(wait_log(&tern, &[&change], WAIT), "{:#?}", tern.stderr());
    for _ in 0..5 {
        assert_eq!(who(tern.addr(), &get("/")), "new");
    }
    // Drained, not cut: the request in flight finishes on the old server.
    open.store(true, Ordering::SeqCst);
    poll.set_read_timeout(Duration::from_secs(10));
    let answer = poll
        .read_response()
        .expect("the request in flight is answered");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body_str(), "old /poll");
    assert!(!tern.has_said("reloaded"));
}

#[test]
fn a_failed_lookup_keeps_the_last_addresses_and_is_logged_once() {
    let up = named("only");
    let port = up.addr.port();
    let dns = Dnsmasq::start("127.0.0.1 app.test\n", &[]);
    let tern = Tern::start(&config(&dns, &format!("\"app.test:{port}\"")));
    assert_eq!(who(tern.addr(), &get("/")), "only");

    dns.set_hosts("");
    let series = "tern_dns_lookup_failures_total{name=\"app.test\"}";
    let failed = wait_until(WAIT, || {
        metric(&tern, series).and_then(|n| n.parse::<u64>().ok()) >= Some(3)
    });
    assert!(failed, "three failed lookups counted: {:#?}", tern.stderr());
    assert_eq!(who(tern.addr(), &get("/")), "only");
    let logged = |needle: &str| tern.stderr().iter().filter(|l| l.contains(needle)).count();
    assert_eq!(
        logged("DNS: lookup of app.test failed"),
        1,
        "{:#?}",
        tern.stderr()
    );

    dns.set_hosts("127.0.0.1 app.test\n");
    assert!(wait_log(&tern, &["DNS: app.test resolves again"], WAIT));
    assert_eq!(logged("DNS: lookup of app.test failed"), 1);
}

#[test]
fn srv_records_give_ports_weights_and_backups() {
    let (one, two, three) = (named("one"), named("two"), named("three"));
    let srv = |target: &str, port: u16, priority: u16, weight: u16| {
        format!("--srv-host=_http._tcp.app.test,{target},{port},{priority},{weight}")
    };
    let dns = Dnsmasq::start(
        "127.0.0.1 one.test\n127.0.0.1 two.test\n127.0.0.1 three.test\n",
        &[
            srv("one.test", one.addr.port(), 0, 1),
            srv("two.test", two.addr.port(), 0, 3),
            srv("three.test", three.addr.port(), 1, 1),
        ],
    );
    let tern = Tern::start(&config(&dns, "{ srv = \"_http._tcp.app.test\" }"));
    let mut counts = std::collections::HashMap::new();
    let mut conn = tern.connect();
    for _ in 0..40 {
        let r = conn.roundtrip(&get("/"));
        *counts
            .entry(r.header("x-upstream").unwrap_or_default())
            .or_insert(0) += 1;
    }
    assert_eq!(counts.get("one"), Some(&10), "{counts:?}");
    assert_eq!(counts.get("two"), Some(&30), "{counts:?}");
    assert_eq!(
        counts.get("three"),
        None,
        "priority 1 is a backup: {counts:?}"
    );
    assert_eq!(
        metric(&tern, "tern_backend_resolved_addresses{backend=\"app\"}").as_deref(),
        Some("3")
    );
}

#[test]
fn a_name_that_never_resolved_warns_on_check_and_answers_503_until_it_does() {
    let up = named("late");
    let dns = Dnsmasq::start("", &[]);
    let toml = config(&dns, &format!("\"late.test:{}\"", up.addr.port()));
    let file = TempFile::new("tern.toml", &toml);
    let out = run_tern(&["--check", "--config", &file.path_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning")
            && stderr.contains("backend.app.servers[0].address: did not resolve"),
        "{stderr}"
    );

    let tern = Tern::start(&toml);
    assert_eq!(fetch(tern.addr(), &get("/")).status, 503);
    dns.set_hosts("127.0.0.1 late.test\n");
    assert!(wait_until(WAIT, || who(tern.addr(), &get("/")) == "late"));
}

#[test]
fn a_reload_looks_up_a_new_name() {
    let (a, b) = (named("a"), named("b"));
    let dns = Dnsmasq::start("127.0.0.1 a.test\n127.0.0.1 b.test\n", &[]);
    let tern = Tern::start(&config(&dns, &format!("\"a.test:{}\"", a.addr.port())));
    assert_eq!(who(tern.addr(), &get("/")), "a");
    let next = config(&dns, &format!("\"b.test:{}\"", b.addr.port()));
    std::fs::write(tern.config_path(), next).expect("rewrite config");
    tern.signal("HUP");
    assert!(wait_log(&tern, &["reloaded"], WAIT), "{:#?}", tern.stderr());
    assert_eq!(who(tern.addr(), &get("/")), "b");
}

#[test]
fn discovery_keys_are_checked() {
    let cases = [
        (
            "[backend.app]\nservers = [{ address = \"a.test:1\", srv = \"_x._tcp.a.test\" }]\n",
            "backend.app.servers[0]: has both `address` and `srv`",
        ),
        (
            "[backend.app]\nservers = [{ weight = 2 }]\n",
            "backend.app.servers[0]: needs `address`",
        ),
        (
            "[backend.app]\nservers = [\"127.0.0.1:1\"]\nresolve_every = \"500ms\"\n",
            "backend.app.resolve_every: must be at least 1s",
        ),
        (
            "[backend.app]\nservers = [{ srv = \"bad name!\" }]\n",
            "backend.app.servers[0].srv: \"bad name!\" is not a DNS name",
        ),
        (
            "[backend.app]\nservers = [\"a.test:1\"]\n[server]\nresolvers = [\"dns.example\"]\n",
            "server.resolvers[0]: \"dns.example\" is not an IP address",
        ),
    ];
    for (backend, expected) in cases {
        let toml = format!(
            "[[listener]]\nbind = \"127.0.0.1:0\"\n[[route]]\nbackend = \"app\"\n{backend}"
        );
        let file = TempFile::new("tern.toml", &toml);
        let out = run_tern(&["--check", "--config", &file.path_str()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{toml}");
        assert!(stderr.contains(expected), "want {expected:?} in {stderr}");
    }
}

#[test]
fn an_address_that_stays_keeps_its_pooled_connection_and_one_that_goes_is_closed() {
    let (two_listener, three_listener) = same_port_pair();
    let port = two_listener.local_addr().unwrap().port();
    let two = named_on("two", two_listener);
    let three = named_on("three", three_listener);
    let dns = Dnsmasq::start("127.0.0.2 app.test\n127.0.0.3 app.test\n", &[]);
    let tern = Tern::start(&config(&dns, &format!("\"app.test:{port}\"")));
    let mut seen: Vec<String> = (0..4).map(|_| who(tern.addr(), &get("/"))).collect();
    seen.sort();
    assert_eq!(seen, ["three", "three", "two", "two"]);
    assert_eq!((two.conn_count(), three.conn_count()), (1, 1), "pooled");

    dns.set_hosts("127.0.0.3 app.test\n");
    let change = format!("DNS: backend app: removed 127.0.0.2:{port}");
    assert!(wait_log(&tern, &[&change], WAIT), "{:#?}", tern.stderr());
    for _ in 0..4 {
        assert_eq!(who(tern.addr(), &get("/")), "three");
    }
    assert_eq!(
        three.conn_count(),
        1,
        "the kept address's pooled connection carried over"
    );
    assert!(
        wait_until(WAIT, || two.conn_peer_eof(0)),
        "the idle connection to the removed address is closed"
    );
}
