//! Applying a DNS change: the plan is rebuilt from the configuration in
//! force with the new answers and applied like a reload, so servers that
//! stay keep their pooled connections and health, and the ones that go
//! are drained (requests in flight finish on the old generation).

use super::{apply, Running};
use crate::config::{Backend, Plan};

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
/// whose servers changed, their weights or priorities (SRV records: a
/// server's weight, and whether it is a backup) included.
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
        let reweighed = reweighed(before, backend);
        if !reweighed.is_empty() {
            parts.push(format!("weight or priority changed for {reweighed}"));
        }
        if !parts.is_empty() {
            out.push(format!("backend {}: {}", backend.name, parts.join(", ")));
        }
    }
    out
}

/// The servers of `now` at an address `before` had too, whose weight or
/// backup standing changed.
fn reweighed(before: Option<&Backend>, now: &Backend) -> String {
    let Some(before) = before else {
        return String::new();
    };
    now.servers
        .iter()
        .filter(|server| {
            let old = before.servers.iter().find(|s| s.address == server.address);
            old.is_some_and(|old| old.weight != server.weight || old.backup != server.backup)
        })
        .map(|server| server.address.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(servers: &str) -> Plan {
        let text = format!(
            "[[listener]]\nbind = \"127.0.0.1:0\"\n[[route]]\nbackend = \"app\"\n\
             [backend.app]\nservers = [{servers}]\n"
        );
        crate::config::from_str(&text, "t").expect("plan")
    }

    /// An SRV answer whose priorities or weights changed, its addresses
    /// the same, was not applied: the servers must be re-read.
    #[test]
    fn a_change_of_weight_or_backup_alone_is_a_change() {
        let a = "{ address = \"127.0.0.1:81\", weight = 1 }";
        let b = "{ address = \"127.0.0.1:82\", weight = 1 }";
        let before = plan(&format!("{a}, {b}"));
        assert!(changes(&before, &before).is_empty());
        let heavier = plan(&format!("{a}, {}", b.replace("weight = 1", "weight = 5")));
        let said = changes(&before, &heavier);
        assert_eq!(
            said,
            ["backend app: weight or priority changed for 127.0.0.1:82"]
        );
        let backup = plan(&format!(
            "{a}, {}",
            b.replace("weight = 1", "weight = 1, backup = true")
        ));
        assert_eq!(changes(&before, &backup).len(), 1);
    }
}
