//! Applying a DNS change: the plan is rebuilt from the configuration in
//! force with the new answers and applied like a reload, so servers that
//! stay keep their pooled connections and health, and the ones that go
//! are drained (requests in flight finish on the old generation).

use super::{apply, Running};
use crate::config::Plan;

/// Rebuilds and applies the plan if a backend's addresses changed.
pub fn apply_answers(running: &mut Running) {
    let plan = match running.source.plan() {
        Ok(plan) => plan,
        Err(err) => {
            crate::log::error(format_args!("DNS: the change cannot be applied: {err}"));
            return;
        }
    };
    let changes = changes(&running.plan, &plan);
    if changes.is_empty() {
        return;
    }
    match apply(running, plan) {
        Ok(_) => crate::log::info(format_args!("DNS: {}", changes.join("; "))),
        Err(why) => crate::log::error(format_args!("DNS: applying the change: {why}")),
    }
}

/// `backend app: added 10.0.0.3:80, removed 10.0.0.2:80`, per backend
/// whose servers changed.
fn changes(old: &Plan, new: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for backend in &new.backends {
        let before = old.backends.iter().find(|b| b.name == backend.name);
        let was: Vec<_> = before
            .map(|b| b.servers.iter().map(|s| s.address).collect())
            .unwrap_or_default();
        let now: Vec<_> = backend.servers.iter().map(|s| s.address).collect();
        let list = |a: &[std::net::SocketAddr], b: &[std::net::SocketAddr]| {
            a.iter()
                .filter(|x| !b.contains(x))
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (added, removed) = (list(&now, &was), list(&was, &now));
        let mut parts = Vec::new();
        if !added.is_empty() {
            parts.push(format!("added {added}"));
        }
        if !removed.is_empty() {
            parts.push(format!("removed {removed}"));
        }
        if !parts.is_empty() {
            out.push(format!("backend {}: {}", backend.name, parts.join(", ")));
        }
    }
    out
}
