//! `/`: the status page for people. Plain HTML and CSS, no script; it
//! reloads itself every 2 s. Drain / enable buttons are forms that post to
//! the admin URLs (which answer a form with a redirect back here).

use std::fmt::Write;

use super::http::encode_segment;
use super::status::{BackendStatus, Classes, Percentiles, ServerStatus, Status};

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}\
table{border-collapse:collapse;margin-bottom:.5em}\
th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}\
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}\
.up{color:#07702b;font-weight:bold}.drain{color:#a35a00;font-weight:bold}\
.maint{color:#a00;font-weight:bold}.down{color:#fff;background:#c0392b;font-weight:bold}\
.muted{color:#777}\
.tiles{display:flex;gap:1em;flex-wrap:wrap}\
.tile{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;min-width:8em}\
.tile b{display:block;font-size:1.5em}form{display:inline;margin:0}\
button{font-size:12px}";

pub fn render(status: &Status) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"2\"><title>tern status</title>\
         <style>{STYLE}</style></head><body>"
    );
    summary(&mut out, status);
    for backend in &status.backends {
        backend_section(&mut out, backend);
    }
    listeners(&mut out, status);
    certificates(&mut out, status);
    workers(&mut out, status);
    out.push_str(
        "<p class=\"muted\">JSON: <a href=\"/status\">/status</a> · \
         Prometheus: <a href=\"/metrics\">/metrics</a></p></body></html>",
    );
    out
}

fn summary(out: &mut String, status: &Status) {
    let t = &status.totals;
    let _ = write!(
        out,
        "<h1>tern {}</h1><p class=\"muted\">up {} · {} of {} workers reporting</p>\
         <div class=\"tiles\">",
        status.version,
        uptime(status.uptime_seconds),
        status.workers_reporting,
        status.workers
    );
    let tiles = [
        ("requests/s", format!("{:.1}", t.requests_per_second)),
        ("requests", count(&t.requests, "total")),
        ("over HTTP/2", count(&t.requests_http2, "total")),
        ("connections active", t.connections.active.to_string()),
        ("connections idle", t.connections.idle.to_string()),
        ("waiting on upstream", t.upstream_waiting.to_string()),
        ("long-polls", t.long_polls.to_string()),
        ("tunnels open", t.tunnels_open.to_string()),
    ];
    for (label, value) in tiles {
        let _ = write!(out, "<div class=\"tile\">{label}<b>{value}</b></div>");
    }
    out.push_str("</div>");
}

fn backend_section(out: &mut String, backend: &BackendStatus) {
    let name = escape(&backend.name);
    let _ = write!(
        out,
        "<h2>backend {name}</h2><p>{:.1} requests/s · {} requests: {}</p>",
        backend.requests_per_second,
        count(&backend.requests, "total"),
        class_summary(&backend.requests)
    );
    latency_table(out, backend);
    out.push_str(
        "<table><tr><th>server</th><th>state</th><th>2xx</th><th>4xx</th><th>5xx</th>\
         <th>connects</th><th>reuses</th><th>connect failures</th><th>pooled idle</th>\
         <th>changes</th><th></th></tr>",
    );
    for server in &backend.servers {
        server_row(out, &encode_segment(&backend.name), server);
    }
    out.push_str("</table>");
}

fn latency_table(out: &mut String, backend: &BackendStatus) {
    out.push_str(
        "<table><tr><th>latency (ms)</th><th>count</th><th>p50</th><th>p90</th>\
         <th>p99</th><th>p99.9</th><th>max</th></tr>",
    );
    let rows = [
        ("total", &backend.latency_ms.total),
        ("upstream", &backend.latency_ms.upstream),
    ];
    for (label, p) in rows {
        latency_row(out, label, p);
    }
    out.push_str("</table>");
}

fn latency_row(out: &mut String, label: &str, p: &Percentiles) {
    let _ = write!(
        out,
        "<tr><td>{label}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td>\
         <td>{:.2}</td><td>{:.2}</td></tr>",
        p.count, p.p50, p.p90, p.p99, p.p999, p.max
    );
}

fn server_row(out: &mut String, backend: &str, s: &ServerStatus) {
    let action = if s.admin_state == "ready" {
        "drain"
    } else {
        "enable"
    };
    let _ = write!(
        out,
        "<tr><td>{}</td><td class=\"{state}\">{state}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td><form method=\"post\" action=\"/servers/{backend}/{}/{action}\">\
         <button>{action}</button></form></td></tr>",
        escape(&s.address),
        count(&s.requests, "2xx"),
        count(&s.requests, "4xx"),
        count(&s.requests, "5xx"),
        s.connects,
        s.reuses,
        s.connect_failures,
        s.pooled_idle,
        s.state_transitions,
        s.index,
        state = s.state,
    );
}

fn listeners(out: &mut String, status: &Status) {
    out.push_str(
        "<h2>listeners</h2><table><tr><th>listener</th><th>requests</th><th>by class</th>\
         <th>accept queue</th></tr>",
    );
    for l in &status.listeners {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&l.name),
            count(&l.requests, "total"),
            class_summary(&l.requests),
            l.accept_queue
        );
    }
    out.push_str("</table>");
}

/// ACME certificates, when there are any.
fn certificates(out: &mut String, status: &Status) {
    if status.certificates.is_empty() {
        return;
    }
    out.push_str(
        "<h2>certificates</h2><table><tr><th>domains</th><th>expires in</th>\
         <th>failed orders</th><th>last error</th></tr>",
    );
    for c in &status.certificates {
        let expires = match c.expires_in {
            Some(seconds) => uptime(seconds.max(0) as u64),
            None => "not issued yet (temporary certificate)".into(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.domains),
            expires,
            c.failed_orders,
            escape(c.last_error.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</table>");
}

fn workers(out: &mut String, status: &Status) {
    out.push_str(
        "<h2>workers</h2><table><tr><th>worker</th><th>accepted</th><th>active</th>\
         <th>idle</th><th>waiting on upstream</th><th>long-polls</th><th>tunnels</th>\
         <th>accept queue</th></tr>",
    );
    for w in &status.per_worker {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            w.id,
            w.connections.accepted,
            w.connections.active,
            w.connections.idle,
            w.upstream_waiting,
            w.long_polls,
            w.tunnels_open,
            w.accept_queue
        );
    }
    out.push_str("</table>");
}

fn count(classes: &Classes, key: &str) -> String {
    classes.get(key).copied().unwrap_or(0).to_string()
}

/// `2xx 10 · 5xx 1`: the classes that occurred.
fn class_summary(classes: &Classes) -> String {
    let parts: Vec<String> = classes
        .iter()
        .filter(|(name, n)| **name != "total" && **n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(" · ")
    }
}

fn uptime(seconds: u64) -> String {
    format!(
        "{}h {:02}m {:02}s",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

pub use crate::html::escape;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_is_escaped() {
        assert_eq!(escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }

    #[test]
    fn class_summary_lists_only_what_happened() {
        let mut classes = Classes::new();
        classes.insert("2xx", 5);
        classes.insert("5xx", 0);
        classes.insert("total", 5);
        assert_eq!(class_summary(&classes), "2xx 5");
    }
}
