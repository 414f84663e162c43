//! Config errors and defaults of routes and backends.

use super::*;
use crate::discovery::{Query, Target};
use crate::route::Action;
use crate::upstream::balance::Balance;
use std::net::SocketAddr;

fn error_of(text: &str) -> ConfigError {
    from_str(text, "tern.toml").expect_err("config should be refused")
}

const BASE: &str = r#"
[[listener]]
name = "web"
bind = "127.0.0.1:8080"
[backend.app]
servers = ["127.0.0.1:9000"]
"#;

fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[test]
fn a_full_routing_config_is_accepted() {
    let plan = from_str(
        &with(
            r#"
[[route]]
name = "pubsub"
path_prefix = "/subscriptions/channel/"
host_domain = "notes.olivepeak.com"
header = [{ name = "X-A", equals = "1" }, { name = "X-B" }]
query = ["wtd", "a=b"]
method = ["GET", "POST"]
source = ["127.0.0.0/8", "::1"]
listener = ["web"]
backend_up = "pool"
not = { path_prefix = "/admin" }
backend = "pool"
upstream_prefix = "/"
upstream_host = "internal"
request_headers = { set = { X-Env = "prod" }, remove = ["X-Debug"] }
response_headers = { add = { X-Via = "tern" } }
cookie_domain = { "10.0.0.1" = "example.com" }
[[route]]
path_regex = "^(/.*)$"
upstream_path = "$1"
backend = "app"
[[route]]
redirect = { scheme = "https", status = 301 }
[[route]]
respond = { status = 503, headers = { Retry-After = "60" }, body = "down" }
[backend.pool]
balance = "least_conn"
retries = 1
redispatch = false
servers = [{ address = "127.0.0.1:9001", weight = 2, max_connections = 10, route = "node1" }, { address = "127.0.0.1:9002", backup = true }]
sticky = { cookie = "BALANCEID", mode = "route" }
health_check = { path = "/health", interval = "500ms", timeout = "200ms", rise = 1, fall = 2, status = [200] }
passive = { failures = 2, down_for = "5s" }
timeouts = { queue = "1s" }
"#,
        ),
        "tern.toml",
    )
    .expect("valid");
    assert_eq!(plan.routes.len(), 4);
    assert_eq!(plan.routes[0].all.len(), 10);
    assert_eq!(plan.routes[0].none.len(), 1);
    assert!(matches!(plan.routes[2].action, Action::Redirect(_)));
    let pool = &plan.backends[1];
    assert_eq!(pool.balance, Balance::LeastConn);
    assert_eq!(pool.servers[0].route, "node1");
    assert_eq!(pool.servers[1].route, "s2");
    assert!(pool.servers[1].backup);
    assert_eq!(plan.health.probes.len(), 2);
}

#[test]
fn defaults_keep_the_simple_case_plain() {
    let plan = from_str(&with("[[route]]\nbackend = \"app\"\n"), "tern.toml").expect("valid");
    let app = &plan.backends[0];
    assert_eq!(app.balance, Balance::RoundRobin);
    assert_eq!((app.retries, app.redispatch), (3, true));
    assert!(app.sticky.is_none() && app.passive.is_none());
    assert!(plan.health.probes.is_empty());
    let Action::Proxy(proxy) = &plan.routes[0].action else {
        panic!("a proxy route");
    };
    assert!(!proxy.edits_request() && !proxy.edits_response());
}

#[test]
fn unknown_backends_are_named() {
    let err = error_of(&with(
        "[[route]]\nbackend_up = \"ghost\"\nbackend = \"app\"\n",
    ));
    assert_eq!(err.key, "route[0].backend_up");
    assert!(err.message.contains("no backend named \"ghost\""), "{err}");
}

#[test]
fn a_regex_that_does_not_compile_is_refused_on_one_line() {
    let err = error_of(&with(
        "[[route]]\npath_regex = \"^(/.*$\"\nbackend = \"app\"\n",
    ));
    assert_eq!(err.key, "route[0].path_regex");
    assert!(err.message.contains("does not compile"), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
}

#[test]
fn weight_zero_on_every_server_is_refused() {
    let text = BASE.replace(
        "servers = [\"127.0.0.1:9000\"]",
        "servers = [{ address = \"127.0.0.1:9000\", weight = 0 }, { address = \"127.0.0.1:9001\", weight = 0 }]",
    );
    let err = error_of(&format!("{text}[[route]]\nbackend = \"app\"\n"));
    assert_eq!(err.key, "backend.app.servers");
    assert!(err.message.contains("weight 0"), "{err}");
}

#[test]
fn duplicate_route_names_are_refused() {
    let err = error_of(&with(
        "[[route]]\nname = \"a\"\nbackend = \"app\"\n[[route]]\nname = \"a\"\nbackend = \"app\"\n",
    ));
    assert_eq!(err.key, "route[1].name");
    assert!(err.message.contains("already named \"a\""), "{err}");
}

/// `route=""` in the metrics is the requests no route matched: a route
/// named so made every one of its series appear twice.
#[test]
fn an_empty_route_name_is_refused() {
    let err = error_of(&with("[[route]]\nname = \"\"\nbackend = \"app\"\n"));
    assert_eq!(err.key, "route[0].name");
    assert!(err.message.contains("is empty"), "{err}");
}

#[test]
fn conflicting_options_are_refused() {
    let cases = [
        (
            "backend = \"app\"\nrespond = { status = 200 }",
            "route[0]",
            "more than one action",
        ),
        ("path_prefix = \"/\"", "route[0]", "needs an action"),
        (
            "upstream_prefix = \"/x\"\nbackend = \"app\"",
            "route[0].upstream_prefix",
            "needs `path_prefix`",
        ),
        (
            "upstream_path = \"$1\"\nbackend = \"app\"",
            "route[0].upstream_path",
            "needs `path_regex`",
        ),
        (
            "upstream_host = \"h\"\nrespond = { status = 200 }",
            "route[0].upstream_host",
            "only applies to routes with `backend`",
        ),
        (
            "redirect = { status = 200 }",
            "route[0].redirect.status",
            "not one of 301",
        ),
        (
            "respond = { status = 99 }",
            "route[0].respond.status",
            "not a final HTTP status",
        ),
        (
            "header = [{ name = \"a\", equals = \"1\", contains = \"2\" }]\nbackend = \"app\"",
            "route[0].header[0]",
            "not both",
        ),
        (
            "listener = [\"nope\"]\nbackend = \"app\"",
            "route[0].listener[0]",
            "no listener named",
        ),
        (
            "source = [\"10.0.0.0/40\"]\nbackend = \"app\"",
            "route[0].source[0]",
            "invalid address range",
        ),
        (
            "host = \"a.*.com\"\nbackend = \"app\"",
            "route[0].host[0]",
            "invalid host pattern",
        ),
        (
            "request_headers = { set = { Host = \"x\" } }\nbackend = \"app\"",
            "route[0].request_headers",
            "upstream_host",
        ),
    ];
    for (route, key, message) in cases {
        let err = error_of(&with(&format!("[[route]]\n{route}\n")));
        assert_eq!(err.key, key, "{route}: {err}");
        assert!(err.message.contains(message), "{route}: {err}");
    }
}

#[test]
fn backend_mistakes_are_named() {
    let backend = |body: &str| format!("{BASE}[[route]]\nbackend = \"b\"\n[backend.b]\n{body}\n");
    let cases = [
        ("servers = [{ address = \"127.0.0.1:1\", backup = true }]", "backend.b.servers", "backup"),
        (
            "servers = [{ address = \"127.0.0.1:1\", max_connections = 0 }]",
            "backend.b.servers[0].max_connections",
            "at least 1",
        ),
        (
            "servers = [{ address = \"127.0.0.1:1\", route = \"n\" }, { address = \"127.0.0.1:2\", route = \"n\" }]\nsticky = { cookie = \"S\" }",
            "backend.b.servers[1].route",
            "used by two servers",
        ),
        (
            "servers = [\"127.0.0.1:1\", { address = \"127.0.0.1:1\", weight = 2 }]",
            "backend.b.servers[1]",
            "127.0.0.1:1 is servers[0] already; list a server once",
        ),
        ("servers = [\"127.0.0.1:1\"]\nsticky = { cookie = \"a b\" }", "backend.b.sticky.cookie", "not a valid cookie name"),
        ("servers = [\"127.0.0.1:1\"]\nhealth_check = { fall = 0 }", "backend.b.health_check.fall", "at least 1"),
        ("servers = [\"127.0.0.1:1\"]\nhealth_check = { path = \"x\" }", "backend.b.health_check.path", "start with '/'"),
        ("servers = [\"127.0.0.1:1\"]\nbalance = \"fastest\"", "backend.b.balance", "unknown value `fastest`"),
        ("servers = [\"127.0.0.1:1\"]\npassive = { failures = 0 }", "backend.b.passive.failures", "at least 1"),
    ];
    for (body, key, message) in cases {
        let err = error_of(&backend(body));
        assert_eq!(err.key, key, "{body}: {err}");
        assert!(err.message.contains(message), "{body}: {err}");
    }
}

/// A name that resolves to an address the backend lists already adds no
/// second server there (two would double its share and its metric series).
#[test]
fn a_name_resolving_to_a_listed_address_adds_no_second_server() {
    let text = format!(
        "{BASE}[[route]]\nbackend = \"b\"\n[backend.b]\nservers = [\"127.0.0.1:1\", \"twice.test:1\"]\n"
    );
    let answer = |last: u8| Target::at(SocketAddr::from(([127, 0, 0, last], 0)), "twice.test");
    let found = crate::discovery::wire::Found {
        targets: vec![answer(1), answer(2)],
        ttl: 60,
    };
    crate::discovery::store(&Query::Host("twice.test".into()), found);
    let plan = crate::config::from_str(&text, "t").expect("a plan");
    let b = plan.backends.iter().find(|b| b.name == "b").expect("b");
    let servers = &b.servers;
    let at = |addr: &'static str| {
        servers
            .iter()
            .filter(move |s| s.address.to_string() == addr)
    };
    assert_eq!(servers.len(), 2, "{servers:?}");
    assert_eq!(at("127.0.0.1:1").count(), 1, "{servers:?}");
    assert!(
        at("127.0.0.1:1").all(|s| !s.discovered),
        "the written one stays"
    );
}

#[test]
fn one_address_checked_two_ways_is_refused() {
    let text = format!(
        "{BASE}[[route]]\nbackend = \"a\"\n[backend.a]\nservers = [\"127.0.0.1:1\"]\nhealth_check = {{ path = \"/a\" }}\n\
         [backend.b]\nservers = [\"127.0.0.1:1\"]\nhealth_check = {{ path = \"/b\" }}\n"
    );
    let err = error_of(&text);
    assert_eq!(err.key, "backend.b.health_check");
    assert!(err.message.contains("checks must agree"), "{err}");
}

#[test]
fn servers_sharing_an_address_share_a_health_slot() {
    let text = format!(
        "{BASE}[[route]]\nbackend = \"lb\"\n[backend.lb]\nservers = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n\
         [backend.one]\nservers = [\"127.0.0.1:1\"]\nhealth_check = {{ path = \"/\" }}\n"
    );
    let plan = from_str(&text, "tern.toml").expect("valid");
    let slot = |backend: &str, pos: usize| {
        let b = plan
            .backends
            .iter()
            .find(|b| b.name == backend)
            .expect("backend");
        b.servers[pos].health
    };
    assert_eq!(slot("lb", 0), slot("one", 0));
    assert_ne!(slot("lb", 1), slot("one", 0));
    assert_eq!(plan.health.probes.len(), 1);
}

#[test]
fn no_route_answer_is_configurable() {
    let plan = from_str(
        &format!("[server]\nno_route = {{ status = 421, body = \"wrong host\" }}\n{BASE}"),
        "tern.toml",
    )
    .expect("valid");
    let response = String::from_utf8(
        plan.no_route
            .response(false, crate::http::Persist::KeepAlive),
    )
    .expect("utf-8");
    assert!(response.starts_with("HTTP/1.1 421 "), "{response}");
    assert!(response.ends_with("\r\n\r\nwrong host"), "{response}");
}
