//! The configuration the request and response targets route with: one of
//! every kind of condition and edit, so routing, path rewriting, header
//! edits and reverse rewriting all see fuzzed input. Addresses are literal
//! loopback ones: building it needs no name lookups and nothing is dialled.

use crate::config::Plan;

const ROUTING: &str = r#"
[[listener]]
bind = "127.0.0.1:1"

[[route]]
name = "api"
host = ["example.com", "*.example.org"]
path_prefix = "/api/"
upstream_prefix = "/v1/"
upstream_host = "internal.example"
cookie_domain = { "internal.example" = "example.com" }
request_headers = { set = { X-Env = "fuzz" }, add = { X-Added = "1" }, remove = ["Cookie2"] }
response_headers = { set = { X-Frame-Options = "DENY" }, remove = ["Server"] }
backend = "app"

[[route]]
name = "regex"
path_regex = "^/r/([a-z0-9]+)/(.*)$"
upstream_path = "/x/$1/$2"
backend = "app"

[[route]]
name = "shop"
host_domain = "shop.example"
query = ["id", "mode=raw"]
header = [{ name = "X-Env", equals = "prod" }, { name = "Accept", contains = "html" }]
method = ["GET", "POST"]
source = ["127.0.0.0/8", "::1/128"]
not = { url_contains = "admin" }
backend = "sticky"

[[route]]
path_prefix = "/go"
redirect = { scheme = "https", status = 301 }

[[route]]
path_prefix = "/hi"
respond = { status = 200, body = "hi\n" }

[[route]]
backend = "app"

[backend.app]
servers = ["127.0.0.1:9"]

[backend.sticky]
servers = [{ address = "127.0.0.1:9", route = "s1" }, { address = "127.0.0.1:10", route = "s2" }]
sticky = { cookie = "SRV", mode = "insert" }
"#;

thread_local! {
    static PLAN: Plan = crate::config::from_str(ROUTING, "fuzzing plan")
        .unwrap_or_else(|err| panic!("the fuzzing plan is invalid: {err}"));
}

/// Runs `f` with the routing plan (built once per thread).
pub fn with_plan<R>(f: impl FnOnce(&Plan) -> R) -> R {
    PLAN.with(f)
}
