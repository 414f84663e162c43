//! The limits' counters in /metrics. They live in the limits (shared by the
//! workers), not in the per-worker stats.

use std::fmt::Write;

use crate::config::Plan;

/// Appends `tern_rate_limited_total{route}` and
/// `tern_connections_limited_total{listener}` for the limited ones.
pub fn render(out: &mut String, plan: &Plan) {
    let _ = writeln!(
        out,
        "# HELP tern_rate_limited_total Requests refused with 429 by the route's rate_limit.\n# TYPE tern_rate_limited_total counter"
    );
    for route in &plan.routes {
        if let Some(limit) = &route.rate_limit {
            let name = escape(&route.name);
            let _ = writeln!(
                out,
                "tern_rate_limited_total{{route=\"{name}\"}} {}",
                limit.refused()
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP tern_connections_limited_total Connections closed by the listener's max_connections_per_client.\n# TYPE tern_connections_limited_total counter"
    );
    for listener in &plan.listeners {
        if let Some(limit) = &listener.conn_limit {
            let name = escape(&listener.name);
            let _ = writeln!(
                out,
                "tern_connections_limited_total{{listener=\"{name}\"}} {}",
                limit.refused()
            );
        }
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
