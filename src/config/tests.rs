use super::*;

fn error_of(text: &str) -> ConfigError {
    from_str(text, "tern.toml").expect_err("config should be refused")
}

const MINIMAL: &str = r#"
[[listener]]
bind = "127.0.0.1:8080"
[[route]]
backend = "app"
[backend.app]
servers = ["127.0.0.1:9000"]
"#;

#[test]
fn accepts_the_minimal_config_with_defaults() {
    let plan = from_str(MINIMAL, "tern.toml").expect("valid");
    assert_eq!(plan.listeners[0].addrs[0].port(), 8080);
    assert_eq!(plan.backends[0].servers[0].address.port(), 9000);
    assert_eq!(
        plan.backends[0].timeouts.connect,
        std::time::Duration::from_secs(5)
    );
    assert_eq!(plan.limits.max_headers, 100);
}

#[test]
fn accepts_server_tables_and_backend_timeouts() {
    let text = MINIMAL.replace(
        "servers = [\"127.0.0.1:9000\"]",
        "servers = [{ address = \"127.0.0.1:9000\" }]\ntimeouts = { server = \"5m\" }",
    );
    let plan = from_str(&text, "tern.toml").expect("valid");
    assert_eq!(
        plan.backends[0].timeouts.server,
        std::time::Duration::from_secs(300)
    );
}

#[test]
fn unknown_key_names_its_path() {
    let err = error_of(&format!("{MINIMAL}\n[server]\nworkerz = 2\n"));
    assert_eq!(err.key, "server.workerz");
    assert!(err.message.contains("unknown field `workerz`"), "{err}");
    assert!(
        err.to_string().starts_with("tern.toml: server.workerz: "),
        "{err}"
    );
}

#[test]
fn bad_address_names_the_server() {
    let err = error_of(&MINIMAL.replace("127.0.0.1:9000", "nope:xx"));
    assert_eq!(err.key, "backend.app.servers[0].address");
    assert!(err.message.contains("invalid address \"nope:xx\""), "{err}");
}

#[test]
fn bad_duration_names_the_key() {
    let err = error_of(&format!(
        "{MINIMAL}\n[server.timeouts]\nconnect = \"5 seconds\"\n"
    ));
    assert_eq!(err.key, "server.timeouts.connect");
    assert!(err.message.contains("invalid duration"), "{err}");
}

#[test]
fn missing_backend_is_named() {
    let err = error_of(&MINIMAL.replace("backend = \"app\"", "backend = \"ghost\""));
    assert_eq!(err.key, "route[0].backend");
    assert!(err.message.contains("no backend named \"ghost\""), "{err}");
}

#[test]
fn zero_workers_and_empty_listeners_are_refused() {
    assert_eq!(
        error_of(&format!("[server]\nworkers = 0\n{MINIMAL}")).key,
        "server.workers"
    );
    assert_eq!(error_of("").key, "listener");
}

#[test]
fn one_worker_per_cpu_by_default_up_to_max_workers() {
    use plan::worker_count;
    assert_eq!(worker_count(None, 2), 2);
    assert_eq!(worker_count(None, 0), 1, "no CPU list read: one worker");
    assert_eq!(worker_count(None, 4096), plan::MAX_WORKERS);
    assert_eq!(worker_count(Some(3), 4096), 3, "a configured count stands");
}

/// `--check` took `workers = 100000`; the start then failed on descriptors
/// after hundreds of warnings. More than `MAX_WORKERS` is refused here.
#[test]
fn a_worker_count_past_max_workers_is_refused_with_the_bound() {
    let with = |n: usize| format!("[server]\nworkers = {n}\n{MINIMAL}");
    assert_eq!(plan::MAX_WORKERS, 1024);
    assert!(from_str(&with(1024), "t").is_ok());
    for n in [1025, 100_000] {
        let err = error_of(&with(n));
        assert_eq!(err.key, "server.workers");
        assert!(
            err.message
                .starts_with(&format!("{n} is too many: at most 1024")),
            "{err}"
        );
    }
}

#[test]
fn a_timeout_of_0_for_a_step_of_every_request_is_refused() {
    for key in ["client_header", "client", "connect", "server", "tunnel"] {
        let text = format!("[server.timeouts]\n{key} = \"0s\"\n{MINIMAL}");
        let err = error_of(&text);
        assert_eq!(err.key, format!("server.timeouts.{key}"));
        assert!(err.message.contains("must be more than 0"), "{err}");
    }
    let backend = MINIMAL.replace(
        "[backend.app]\n",
        "[backend.app]\ntimeouts = { server = \"0ms\" }\n",
    );
    assert_eq!(error_of(&backend).key, "backend.app.timeouts.server");
    // No keep-alive wait, and no queueing, are what 0 says there.
    let idle = format!("[server.timeouts]\nclient_idle = \"0s\"\n{MINIMAL}");
    assert!(crate::config::from_str(&idle, "t").is_ok());
}

#[test]
fn toml_syntax_errors_give_a_line() {
    let err = error_of("[[listener]\nbind = 1");
    assert!(err.message.contains("line 1"), "{err}");
}

/// Each mistake's message says what to write in TOML's words: never a
/// Rust type (`usize`, `map`, `struct TimeoutsSection`), and a number past
/// what TOML holds names its key and the most it may be.
#[test]
fn parse_errors_name_the_key_in_toml_s_words() {
    let server = |line: &str| format!("[server]\n{line}\n{MINIMAL}");
    let weight = MINIMAL.replace(
        "servers = [\"127.0.0.1:9000\"]",
        "servers = [{ address = \"127.0.0.1:9000\", weight = 99999999999999999999 }]",
    );
    let cases = [
        (
            server("max_connections = 99999999999999999999"),
            "server.max_connections",
            "99999999999999999999 is too large: at most 9223372036854775807 (line 2)",
        ),
        (
            server("backlog = 99999999999999999999"),
            "server.backlog",
            "99999999999999999999 is too large: at most 4294967295 (line 2)",
        ),
        (
            server("backlog = -99999999999999999999"),
            "server.backlog",
            "-99999999999999999999 is too small: at least 0",
        ),
        (
            weight,
            "backend.app.servers[0].weight",
            "99999999999999999999 is too large: at most 4294967295",
        ),
        (
            server("timeouts = \"5s\""),
            "server.timeouts",
            "invalid type: string \"5s\", expected a table",
        ),
        (
            MINIMAL.replace(
                "bind = \"127.0.0.1:8080\"",
                "bind = \"127.0.0.1:8080\"\ntls = \"yes\"",
            ),
            "listener[0].tls",
            "expected a table",
        ),
        (
            MINIMAL.replace("[[listener]]", "[listener]"),
            "listener",
            "invalid type: a table, expected a list [...]; write [[listener]] (a list of tables)",
        ),
        (
            MINIMAL.replace("[[route]]", "[route]"),
            "route",
            "write [[route]] (a list of tables)",
        ),
        (
            server("workers = { n = 2 }"),
            "server.workers",
            "invalid type: a table, expected a whole number",
        ),
        (
            server("resolvers = [[1]]"),
            "server.resolvers[0]",
            "invalid type: a list, expected a string",
        ),
        (
            format!("{MINIMAL}balance = 5\n"),
            "backend.app.balance",
            "expected a string",
        ),
    ];
    for (text, key, message) in cases {
        let err = error_of(&text);
        assert_eq!(err.key, key, "{err}");
        assert!(err.message.contains(message), "{err}");
        for rust in [
            "map",
            "sequence",
            "struct",
            "variant",
            "target type",
            "usize",
        ] {
            assert!(!err.message.contains(rust), "{rust:?} in: {err}");
        }
    }
}

/// A number past TOML's range whose key can't be found (another mistake
/// comes first in the file, or the key takes a string) still says it in
/// words.
#[test]
fn a_number_past_toml_s_range_is_described_without_its_key_when_it_must_be() {
    let text = format!("[server]\nworkerz = 1\nbacklog = 99999999999999999999\n{MINIMAL}");
    let err = error_of(&text);
    assert_eq!(err.key, "");
    assert_eq!(
        err.message,
        "99999999999999999999 is too large: TOML's numbers go from \
         -9223372036854775808 to 9223372036854775807 (line 3)"
    );
}

/// HTTP-01 is the default only where a plain listener binds port 80 (or,
/// none binding 80 nor the TLS one 443, behind a port forward).
#[test]
fn acme_sites_name_the_plain_listeners_and_port_80() {
    let sites = |binds: &[(&str, bool)]| {
        let listeners: String = (binds.iter())
            .map(|(bind, tls)| {
                let tls = match tls {
                    true => "tls = { certificates = [{ cert = \"c\", key = \"k\" }] }\n",
                    false => "",
                };
                format!("[[listener]]\nbind = \"{bind}\"\n{tls}")
            })
            .collect();
        let file = parse(&listeners, "t").expect("parses");
        let sites = plan::challenge_sites(&file);
        (sites.plain, sites.plain_on_80)
    };
    assert_eq!(
        sites(&[("0.0.0.0:80", false), ("0.0.0.0:443", true)]),
        (true, true)
    );
    assert_eq!(
        sites(&[("127.0.0.1:8080", false), ("[::]:443", true)]),
        (true, false)
    );
    assert_eq!(sites(&[("[::]:443", true)]), (false, false));
}
