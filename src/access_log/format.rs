//! The two line formats: Apache/nginx "combined" with tern's fields
//! appended, and one JSON object per line.

use std::io::Write;

use serde::Serialize;

use super::{Done, Entry};
use crate::config::Plan;

/// `127.0.0.1 - - [21/Nov/2026:20:56:25 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8"`
/// then `route= backend= server= upstream_time= request_time=` (seconds).
pub fn combined(out: &mut Vec<u8>, entry: &Entry, done: &Done, plan: &Plan) {
    let names = Names::of(done, plan);
    // Writing into a Vec cannot fail.
    let _ = writeln!(
        out,
        "{} - - [{}] \"{}\" {} {} \"{}\" \"{}\" route={} backend={} server={} upstream_time={} request_time={:.3}",
        entry.client,
        crate::log::clf_time(entry.time),
        Quoted(&entry.request_line),
        done.status,
        done.bytes,
        Quoted(entry.referer.as_deref().unwrap_or("-")),
        Quoted(entry.user_agent.as_deref().unwrap_or("-")),
        names.route.unwrap_or("-"),
        names.backend.unwrap_or("-"),
        names.server.as_deref().unwrap_or("-"),
        done.upstream_us.map_or("-".to_string(), |us| format!("{:.3}", seconds(us))),
        seconds(done.total_us),
    );
}

#[derive(Serialize)]
struct JsonLine<'a> {
    time: String,
    client: String,
    request: &'a str,
    status: u16,
    bytes: u64,
    referer: Option<&'a str>,
    user_agent: Option<&'a str>,
    route: Option<&'a str>,
    backend: Option<&'a str>,
    server: Option<String>,
    upstream_time: Option<f64>,
    request_time: f64,
}

pub fn json(out: &mut Vec<u8>, entry: &Entry, done: &Done, plan: &Plan) {
    let names = Names::of(done, plan);
    let line = JsonLine {
        time: crate::log::rfc3339(entry.time),
        client: entry.client.to_string(),
        request: &entry.request_line,
        status: done.status,
        bytes: done.bytes,
        referer: entry.referer.as_deref(),
        user_agent: entry.user_agent.as_deref(),
        route: names.route,
        backend: names.backend,
        server: names.server,
        upstream_time: done.upstream_us.map(seconds),
        request_time: seconds(done.total_us),
    };
    if serde_json::to_writer(&mut *out, &line).is_ok() {
        out.push(b'\n');
    }
}

struct Names<'p> {
    route: Option<&'p str>,
    backend: Option<&'p str>,
    server: Option<String>,
}

impl<'p> Names<'p> {
    fn of(done: &Done, plan: &'p Plan) -> Self {
        let backend = done.backend.and_then(|b| plan.backends.get(b));
        Names {
            route: done
                .route
                .and_then(|r| plan.routes.get(r))
                .map(|r| r.name.as_str()),
            backend: backend.map(|b| b.name.as_str()),
            server: done
                .server
                .and_then(|id| {
                    plan.backends
                        .iter()
                        .flat_map(|b| &b.servers)
                        .find(|s| s.id == id)
                })
                .map(|s| s.address.to_string()),
        }
    }
}

fn seconds(us: u64) -> f64 {
    us as f64 / 1_000_000.0
}

/// Escapes `"` and `\` (and anything not printable) as nginx does: `\x22`,
/// each byte of the character's UTF-8. The Unicode line and paragraph
/// separators too (U+2028, U+2029): a line reader splitting on them
/// (Python's `splitlines`, JavaScript) would read one line as two.
struct Quoted<'a>(&'a str);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            if c == '"' || c == '\\' || c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                for byte in c.encode_utf8(&mut [0; 4]).bytes() {
                    write!(f, "\\x{byte:02X}")?;
                }
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Quoted;

    #[test]
    fn quotes_controls_and_line_separators_are_escaped_byte_by_byte() {
        let quoted = Quoted("a\"b\\c\nd\u{85}e\u{2028}f\u{2029}gé").to_string();
        assert_eq!(
            quoted,
            "a\\x22b\\x5Cc\\x0Ad\\xC2\\x85e\\xE2\\x80\\xA8f\\xE2\\x80\\xA9gé"
        );
        assert_eq!(quoted.lines().count(), 1);
    }
}
