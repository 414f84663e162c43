//! Config validation through `tern --check --config FILE`: every refused
//! config exits 1 with a one-line error naming the file and the key path;
//! every accepted variant exits 0.

mod common;

use common::*;

const BASE: &str = r#"
[server]
workers = 2
shutdown_grace = "10s"

[server.limits]
max_head_bytes = 65536
max_request_line_bytes = 8192
max_headers = 100

[server.timeouts]
client_header = "10s"
client_idle = "60s"
client = "60s"
connect = "5s"
server = "60s"
tunnel = "1h"

[server.pool]
max_idle_per_server = 64
idle_timeout = "60s"

[[listener]]
name = "web"
bind = "127.0.0.1:0"

[[route]]
path_prefix = "/"
backend = "app"

[backend.app]
servers = [{ address = "127.0.0.1:9000" }]
timeouts = { connect = "5s", server = "60s" }
"#;

fn check(file: &str, contents: &str) -> (Option<i32>, String) {
    let f = TempFile::new(file, contents);
    let out = run_tern(&["--check", "--config", &f.path_str()]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn accepted(file: &str, contents: &str) {
    let (code, err) = check(file, contents);
    assert_eq!(
        code,
        Some(0),
        "{} should be valid; stderr={}\n{}",
        file,
        err,
        contents
    );
}

/// Must exit 1 with exactly one non-empty stderr line that names the file
/// and contains every string in `mentions`.
fn refused(file: &str, contents: &str, mentions: &[&str]) {
    let (code, err) = check(file, contents);
    assert_eq!(
        code,
        Some(1),
        "{} should be refused with 1; stderr={}",
        file,
        err
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line: {:?}", lines);
    assert!(lines[0].contains(file), "file name missing: {}", lines[0]);
    for m in mentions {
        assert!(lines[0].contains(m), "{:?} missing from: {}", m, lines[0]);
    }
}

fn replace_once(s: &str, from: &str, to: &str) -> String {
    assert!(s.contains(from), "test bug: {:?} not in base", from);
    s.replacen(from, to, 1)
}

#[test]
fn full_example_is_valid() {
    accepted("full.toml", BASE);
}

const MINIMAL: &str = "[[listener]]\nbind = \"127.0.0.1:0\"\n\n[[route]]\nbackend = \"app\"\n\n[backend.app]\nservers = [\"127.0.0.1:9000\"]\n";

#[test]
fn minimal_config_is_valid() {
    accepted("minimal.toml", MINIMAL);
}

#[test]
fn server_as_plain_string_is_valid() {
    let c = replace_once(
        BASE,
        "{ address = \"127.0.0.1:9000\" }",
        "\"127.0.0.1:9000\"",
    );
    accepted("plainserver.toml", &c);
}

#[test]
fn bind_list_is_valid() {
    let c = replace_once(
        BASE,
        "bind = \"127.0.0.1:0\"",
        "bind = [\"127.0.0.1:0\", \"127.0.0.1:0\"]",
    );
    accepted("bindlist.toml", &c);
}

#[test]
fn all_duration_units_are_valid() {
    let c = replace_once(BASE, "client_header = \"10s\"", "client_header = \"500ms\"");
    let c = replace_once(&c, "client = \"60s\"", "client = \"5m\"");
    let c = replace_once(&c, "tunnel = \"1h\"", "tunnel = \"2h\"");
    accepted("units.toml", &c);
}

#[test]
fn unknown_top_level_key() {
    let c = format!("frobnicate = true\n{}", BASE);
    refused("topkey.toml", &c, &["frobnicate"]);
}

#[test]
fn unknown_key_in_timeouts() {
    let c = replace_once(BASE, "tunnel = \"1h\"", "tunnel = \"1h\"\nbogus = \"1s\"");
    refused("timeoutkey.toml", &c, &["bogus", "timeouts"]);
}

#[test]
fn unknown_key_in_backend() {
    let c = replace_once(
        BASE,
        "timeouts = { connect = \"5s\", server = \"60s\" }",
        "timeouts = { connect = \"5s\", server = \"60s\" }\nweight = 3",
    );
    refused("backendkey.toml", &c, &["weight", "backend.app"]);
}

#[test]
fn bad_server_address() {
    let c = replace_once(BASE, "127.0.0.1:9000", "nope:xx");
    refused(
        "badaddr.toml",
        &c,
        &["backend.app.servers[0].address", "nope:xx"],
    );
}

#[test]
fn bad_listener_bind() {
    let c = replace_once(BASE, "bind = \"127.0.0.1:0\"", "bind = \"127.0.0.1\"");
    refused("badbind.toml", &c, &["listener", "bind"]);
}

#[test]
fn bad_duration_in_server_timeouts() {
    let c = replace_once(BASE, "connect = \"5s\"", "connect = \"5 parsecs\"");
    refused("baddur.toml", &c, &["server.timeouts.connect"]);
}

#[test]
fn duration_without_unit_is_refused() {
    let c = replace_once(BASE, "client_idle = \"60s\"", "client_idle = \"60\"");
    refused("nounit.toml", &c, &["server.timeouts.client_idle"]);
}

#[test]
fn bad_duration_in_backend_timeouts() {
    let c = replace_once(
        BASE,
        "timeouts = { connect = \"5s\", server = \"60s\" }",
        "timeouts = { connect = \"5s\", server = \"forever\" }",
    );
    refused("backenddur.toml", &c, &["backend.app.timeouts.server"]);
}

#[test]
fn route_naming_missing_backend() {
    let c = replace_once(BASE, "backend = \"app\"", "backend = \"ghost\"");
    refused("ghost.toml", &c, &["ghost", "route"]);
}

#[test]
fn zero_workers() {
    let c = replace_once(BASE, "workers = 2", "workers = 0");
    refused("zeroworkers.toml", &c, &["workers"]);
}

#[test]
fn more_workers_than_tern_runs() {
    let c = replace_once(BASE, "workers = 2", "workers = 100000");
    refused(
        "manyworkers.toml",
        &c,
        &["server.workers", "100000 is too many: at most 1024"],
    );
    accepted(
        "mostworkers.toml",
        &replace_once(BASE, "workers = 2", "workers = 1024"),
    );
}

#[test]
fn wrong_type_for_limit() {
    let c = replace_once(BASE, "max_headers = 100", "max_headers = \"lots\"");
    refused("limittype.toml", &c, &["server.limits.max_headers"]);
}

#[test]
fn toml_syntax_error() {
    let c = format!("{}\n[server\n", BASE);
    let (code, err) = check("syntax.toml", &c);
    assert_eq!(code, Some(1), "syntax error accepted: {}", err);
    assert!(err.contains("syntax.toml"), "file not named: {}", err);
    // The contract wants a one-line error for every invalid config; the
    // toml crate's syntax messages span lines unless tern flattens them.
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line: {:?}", lines);
}

/// Must be refused mentioning `mentions`, and name no Rust type.
fn refused_plainly(file: &str, contents: &str, mentions: &[&str]) {
    refused(file, contents, mentions);
    let (_, err) = check(file, contents);
    for rust in ["usize", "u64", "u32", "u16", "u8", "i64"] {
        let word = format!("expected {rust}");
        assert!(!err.contains(&word), "a Rust type name leaks: {err}");
    }
    for rust in ["map", "sequence", "struct", "variant", "target type"] {
        assert!(!err.contains(rust), "serde's word {rust:?} leaks: {err}");
    }
}

#[test]
fn numbers_written_wrong_are_described_without_rust_type_names() {
    let quoted = replace_once(BASE, "workers = 2", "workers = \"2\"");
    refused_plainly(
        "workers.toml",
        &quoted,
        &["server.workers", "a whole number"],
    );
    let status = format!("{BASE}\n[[route]]\nrespond = {{ status = 70000 }}\n");
    refused_plainly(
        "status.toml",
        &status,
        &["route[1].respond.status", "65535"],
    );
    let retries = replace_once(BASE, "[backend.app]\n", "[backend.app]\nretries = -1\n");
    refused_plainly(
        "retries.toml",
        &retries,
        &["backend.app.retries", "a whole number"],
    );
}

#[test]
fn an_ipv6_address_needs_brackets_with_a_port_and_a_port_always() {
    let bind = |addr: &str| {
        replace_once(
            BASE,
            "bind = \"127.0.0.1:0\"",
            &format!("bind = \"{addr}\""),
        )
    };
    refused(
        "v6.toml",
        &bind("::1:8080"),
        &["listener[0].bind[0]", "brackets", "\"[::1]:8080\""],
    );
    refused(
        "v6port.toml",
        &bind("2001:db8::1"),
        &["the port is missing", "[2001:db8::1]:PORT"],
    );
    refused("v4port.toml", &bind("127.0.0.1"), &["the port is missing"]);
    let server = |addr: &str| replace_once(BASE, "127.0.0.1:9000", addr);
    refused(
        "v6server.toml",
        &server("::1:9000"),
        &["backend.app.servers[0].address", "brackets"],
    );
    refused(
        "nameport.toml",
        &server("localhost"),
        &["the port is missing"],
    );
    accepted("v6ok.toml", &bind("[::1]:0"));
}

#[test]
fn a_pid_file_or_upgrade_socket_in_a_missing_directory_is_refused() {
    for key in ["pid_file", "upgrade_socket"] {
        let text = replace_once(
            BASE,
            "[server]\n",
            &format!("[server]\n{key} = \"/nonexistent-tern-dir/tern.x\"\n"),
        );
        refused(
            "paths.toml",
            &text,
            &[
                &format!("server.{key}"),
                "/nonexistent-tern-dir does not exist",
            ],
        );
    }
}

#[test]
fn max_body_bytes_is_a_positive_number_of_bytes() {
    let with = |value: &str| {
        replace_once(
            BASE,
            "max_headers = 100",
            &format!("max_headers = 100\nmax_body_bytes = {value}"),
        )
    };
    accepted("bodylimit.toml", &with("10485760"));
    refused(
        "bodyzero.toml",
        &with("0"),
        &["server.limits.max_body_bytes", "at least 1", "leave it out"],
    );
    refused(
        "bodytext.toml",
        &with("\"10m\""),
        &["server.limits.max_body_bytes"],
    );
}

#[test]
fn a_route_s_max_body_bytes_is_a_positive_number_of_bytes() {
    let with = |value: &str| {
        replace_once(
            BASE,
            "backend = \"app\"",
            &format!("backend = \"app\"\nmax_body_bytes = {value}"),
        )
    };
    accepted("routebody.toml", &with("1048576"));
    refused(
        "routebodyzero.toml",
        &with("0"),
        &["route[0].max_body_bytes", "at least 1"],
    );
}

/// `[admin] bind` on a listener's address passed `--check`, then tern
/// stopped at start ("Address already in use"): the check names both.
#[test]
fn the_admin_endpoint_and_a_listener_on_one_address_fail_the_check() {
    let with = |listener: &str, admin: &str| {
        let base = replace_once(
            BASE,
            "bind = \"127.0.0.1:0\"",
            &format!("bind = {listener:?}"),
        );
        format!("{base}\n[admin]\nbind = {admin:?}\n")
    };
    refused(
        "admin_same.toml",
        &with("127.0.0.1:9911", "127.0.0.1:9911"),
        &[
            "admin.bind",
            "[admin] bind 127.0.0.1:9911 is also listener \"web\"'s bind (listener[0].bind)",
            "already in use",
        ],
    );
    refused(
        "admin_wildcard.toml",
        &with("0.0.0.0:9911", "127.0.0.1:9911"),
        &["[admin] bind 127.0.0.1:9911 overlaps listener \"web\"'s bind 0.0.0.0:9911"],
    );
    accepted(
        "admin_own_port.toml",
        &with("127.0.0.1:9911", "127.0.0.1:9912"),
    );
    accepted(
        "admin_other_ip.toml",
        &with("127.0.0.2:9911", "127.0.0.1:9911"),
    );
}

/// Probed mistakes whose messages read as Rust ("number too large to fit
/// in target type" with no key, "expected struct TimeoutsSection",
/// "invalid type: map"): each names its key and says what to write.
#[test]
fn mistakes_are_told_in_toml_s_words() {
    let server = |line: &str| replace_once(BASE, "[server]\n", &format!("[server]\n{line}\n"));
    let app = |servers: &str| {
        replace_once(
            BASE,
            "servers = [{ address = \"127.0.0.1:9000\" }]",
            &format!("servers = [{servers}]"),
        )
    };
    let cases: [(&str, String, &[&str]); 8] = [
        (
            "maxconn.toml",
            server("max_connections = 99999999999999999999"),
            &["server.max_connections: 99999999999999999999 is too large: at most 9223372036854775807"],
        ),
        (
            "backlog.toml",
            server("backlog = 99999999999999999999"),
            &["server.backlog: 99999999999999999999 is too large: at most 4294967295"],
        ),
        (
            "weight.toml",
            app("{ address = \"127.0.0.1:9000\", weight = 99999999999999999999 }"),
            &["backend.app.servers[0].weight", "too large: at most 4294967295"],
        ),
        (
            "timeouts.toml",
            format!("[server]\ntimeouts = \"5s\"\n{MINIMAL}"),
            &["server.timeouts", "expected a table"],
        ),
        (
            "tls.toml",
            replace_once(BASE, "name = \"web\"", "name = \"web\"\ntls = \"yes\""),
            &["listener[0].tls", "expected a table"],
        ),
        (
            "onelistener.toml",
            replace_once(BASE, "[[listener]]", "[listener]"),
            &["listener", "write [[listener]] (a list of tables)"],
        ),
        (
            "oneroute.toml",
            replace_once(BASE, "[[route]]", "[route]"),
            &["route", "write [[route]] (a list of tables)"],
        ),
        (
            "workerstable.toml",
            replace_once(BASE, "workers = 2", "workers = { n = 2 }"),
            &["server.workers", "invalid type: a table, expected a whole number"],
        ),
    ];
    for (file, contents, mentions) in &cases {
        refused_plainly(file, contents, mentions);
    }
}
