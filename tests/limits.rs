//! Client limits: `rate_limit` on routes (429 with Retry-After, counted per
//! route in /metrics and in the access log), `max_connections_per_client`
//! on listeners, both held for the whole process across its workers,
//! IPv6 clients keyed by /64, and the keys checked and reloadable.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;

const ADMIN: &str = "\n[admin]\nbind = \"127.0.0.1:0\"\n";

fn metric_line<'m>(metrics: &'m str, series: &str) -> Option<&'m str> {
    metrics.lines().find(|l| l.starts_with(series))
}

/// A request on a connection of its own (so the requests spread over the
/// workers); the response.
fn fresh_get(addr: SocketAddr, path: &str) -> Response {
    Conn::connect(addr).roundtrip(&get(path))
}

fn config(upstream: SocketAddr, rate_limit: &str, extra_log: &str) -> String {
    format!(
        "[server]\nworkers = 2\n{extra_log}\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[route]]\nname = \"limited\"\npath_prefix = \"/limited\"\nbackend = \"app\"\nrate_limit = {rate_limit}\n\
         [[route]]\nname = \"free\"\npath_prefix = \"/\"\nbackend = \"app\"\n\
         [backend.app]\nservers = [\"{upstream}\"]\n{ADMIN}"
    )
}

#[test]
fn a_rate_limit_lets_exactly_one_plus_burst_through_over_all_workers() {
    let up = RecordingUpstream::echo();
    let dir = TempDir::new("limits");
    let log = dir.join("access.log");
    let tern = Tern::start(&config(
        up.addr,
        "{ requests = 1, per = \"1h\", burst = 2 }",
        &format!("[log]\naccess = \"{}\"\n", log.display()),
    ));
    let mut passed = 0;
    let mut refused = 0;
    for _ in 0..12 {
        let r = fresh_get(tern.addr(), "/limited/x");
        match r.status {
            200 => passed += 1,
            429 => {
                refused += 1;
                let wait: u64 = r
                    .header("retry-after")
                    .and_then(|v| v.parse().ok())
                    .expect("Retry-After in seconds");
                assert!((3590..=3600).contains(&wait), "Retry-After {wait}");
                assert_eq!(r.body_str(), "Too Many Requests\n");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((passed, refused), (3, 9));
    assert_eq!(up.request_count(), 3);
    // A route without a limit is not limited.
    for _ in 0..5 {
        assert_eq!(fresh_get(tern.addr(), "/other").status, 200);
    }
    let m = tern.metrics();
    assert_eq!(
        metric_line(&m, "tern_rate_limited_total{route=\"limited\"}"),
        Some("tern_rate_limited_total{route=\"limited\"} 9"),
        "{m}"
    );
    assert!(metric_line(&m, "tern_rate_limited_total{route=\"free\"}").is_none());
    let logged = |n: usize| {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines()
            .filter(|l| {
                l.contains("\"GET /limited/x HTTP/1.1\" 429 ") && l.contains("route=limited")
            })
            .count()
            >= n
    };
    assert!(
        wait_until(Duration::from_secs(5), || logged(9)),
        "access log"
    );
}

#[test]
fn a_head_request_over_the_limit_gets_a_429_head_and_the_connection_goes_on() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&config(up.addr, "{ requests = 1, per = \"1h\" }", ""));
    let mut c = tern.connect();
    assert_eq!(c.roundtrip(&get("/limited")).status, 200);
    let r = c.roundtrip(b"HEAD /limited HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 429);
    assert!(r.body.is_empty());
    // Kept alive: the next request on the same connection is answered.
    assert_eq!(c.roundtrip(&get("/limited")).status, 429);
    assert_eq!(c.roundtrip(&get("/free")).status, 200);
}

#[test]
fn a_reload_keeps_the_state_of_an_unchanged_limit_and_applies_a_changed_one() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&config(up.addr, "{ requests = 1, per = \"1h\" }", ""));
    assert_eq!(fresh_get(tern.addr(), "/limited").status, 200);
    assert_eq!(fresh_get(tern.addr(), "/limited").status, 429);
    let reload = |text: String| {
        std::fs::write(tern.config_path(), text).expect("write");
        let post = b"POST /reload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n";
        let (answer, _) = raw_request(tern.admin_addr(), post);
        assert!(contains(&answer, b"\"reloaded\":true"), "{}", show(&answer));
    };
    // The same settings: the client is not forgiven, the count goes on.
    reload(config(up.addr, "{ requests = 1, per = \"1h\" }", "") + "\n");
    assert_eq!(fresh_get(tern.addr(), "/limited").status, 429);
    let m = tern.metrics();
    assert_eq!(
        metric_line(&m, "tern_rate_limited_total{route=\"limited\"}"),
        Some("tern_rate_limited_total{route=\"limited\"} 2"),
        "{m}"
    );
    // New settings apply at once.
    reload(config(
        up.addr,
        "{ requests = 1, per = \"1h\", burst = 3 }",
        "",
    ));
    for _ in 0..4 {
        assert_eq!(fresh_get(tern.addr(), "/limited").status, 200);
    }
    assert_eq!(fresh_get(tern.addr(), "/limited").status, 429);
}

fn conn_config(upstream: SocketAddr, max: u32) -> String {
    format!(
        "[server]\nworkers = 2\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         max_connections_per_client = {max}\n\
         [[route]]\nbackend = \"app\"\n\
         [backend.app]\nservers = [\"{upstream}\"]\n{ADMIN}"
    )
}

#[test]
fn max_connections_per_client_closes_the_one_too_many_until_one_ends() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&conn_config(up.addr, 3));
    // Held open, each proven accepted by an answer; spread over the workers.
    let mut held: Vec<Conn> = (0..3).map(|_| tern.connect()).collect();
    for c in held.iter_mut() {
        assert_eq!(c.roundtrip(&get("/")).status, 200);
    }
    for _ in 0..2 {
        let mut extra = tern.connect();
        extra.send(&get("/"));
        let got = extra.expect_close(Duration::from_secs(5));
        assert_eq!(got, Ok(Vec::new()), "closed without an answer");
    }
    assert_eq!(up.request_count(), 3);
    drop(held.pop());
    // tern notices the close on its own time: bounded retries.
    let admitted = wait_until(Duration::from_secs(5), || {
        let mut c = tern.connect();
        c.set_read_timeout(Duration::from_secs(2));
        c.send(&get("/"));
        c.read_response().is_ok_and(|r| r.status == 200)
    });
    assert!(admitted, "a connection is let in once one ended");
    let m = tern.metrics();
    let line =
        metric_line(&m, "tern_connections_limited_total{listener=\"web\"}").expect("counted");
    let refused: u64 = line
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("n");
    assert!(refused >= 2, "{line}");
}

/// IPv6 clients are told apart by the PROXY header a trusted balancer
/// sends, since a test has only ::1 of its own.
fn proxied_get(addr: SocketAddr, client: &str) -> u16 {
    let mut c = Conn::connect(addr);
    c.send(format!("PROXY TCP6 {client} ::1 40000 80\r\n").as_bytes());
    c.roundtrip(&get("/limited")).status
}

fn ipv6_config(upstream: SocketAddr, prefix: &str) -> String {
    format!(
        "[server]\nworkers = 2\n[[listener]]\nbind = \"127.0.0.1:0\"\naccept_proxy = true\n\
         [[route]]\npath_prefix = \"/limited\"\nbackend = \"app\"\n\
         rate_limit = {{ requests = 1, per = \"1h\"{prefix} }}\n\
         [backend.app]\nservers = [\"{upstream}\"]\n"
    )
}

#[test]
fn ipv6_clients_are_limited_per_64_by_default() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&ipv6_config(up.addr, ""));
    assert_eq!(proxied_get(tern.addr(), "2001:db8:1:2::1"), 200);
    assert_eq!(proxied_get(tern.addr(), "2001:db8:1:2:aaaa::7"), 429);
    assert_eq!(proxied_get(tern.addr(), "2001:db8:1:3::1"), 200);
}

#[test]
fn ipv6_prefix_128_tells_every_address_apart() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&ipv6_config(up.addr, ", ipv6_prefix = 128"));
    assert_eq!(proxied_get(tern.addr(), "2001:db8:1:2::1"), 200);
    assert_eq!(proxied_get(tern.addr(), "2001:db8:1:2::2"), 200);
    assert_eq!(proxied_get(tern.addr(), "2001:db8:1:2::1"), 429);
}

fn check(contents: &str) -> (bool, String) {
    let f = TempFile::new("limits.toml", contents);
    let out = run_tern(&["--check", "--config", &f.path_str()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_limit_keys_are_refused_by_check_naming_the_key() {
    let listener = |extra: &str| {
        format!("[[listener]]\nbind = \"127.0.0.1:0\"\n{extra}\n[[route]]\nrespond = {{ status = 200 }}\n")
    };
    let route = |limit: &str| {
        format!("[[listener]]\nbind = \"127.0.0.1:0\"\n[[route]]\nrespond = {{ status = 200 }}\nrate_limit = {limit}\n")
    };
    let cases = [
        (
            route("{ requests = 0, per = \"1s\" }"),
            "route[0].rate_limit.requests",
        ),
        (
            route("{ requests = 5, per = \"0s\" }"),
            "route[0].rate_limit.per",
        ),
        (route("{ requests = 5 }"), "route[0].rate_limit"),
        (
            route("{ requests = 5, per = \"1s\", bursts = 1 }"),
            "route[0].rate_limit",
        ),
        (
            route("{ requests = 5, per = \"1s\", ipv6_prefix = 129 }"),
            "route[0].rate_limit.ipv6_prefix",
        ),
        (
            listener("max_connections_per_client = 0"),
            "listener[0].max_connections_per_client",
        ),
        (listener("ipv6_prefix = 48"), "listener[0].ipv6_prefix"),
        (
            listener("max_connections_per_client = -1"),
            "listener[0].max_connections_per_client",
        ),
    ];
    for (text, key) in &cases {
        let (ok, err) = check(text);
        assert!(!ok, "accepted:\n{text}");
        assert!(err.contains(key), "{key} not named in {err}");
        assert!(err.contains("limits.toml"), "{err}");
    }
    let good = route("{ requests = 100, per = \"1s\", burst = 50, ipv6_prefix = 56 }").replace(
        "[[route]]",
        "max_connections_per_client = 10\nipv6_prefix = 64\n[[route]]",
    );
    let (ok, err) = check(&good);
    assert!(ok, "{err}");
}
