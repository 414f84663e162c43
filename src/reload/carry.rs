//! What a reload carries from the running plan to the new one, matched by
//! server address: admin states (drain/maint), and the numbering that moves
//! pooled connections. Health needs no carrying: plans share it by address
//! (`upstream::health`).

use crate::config::{Plan, Server};
use crate::upstream::server_state::ServerStates;

/// Every server of a plan with its backend's name.
fn servers(plan: &Plan) -> impl Iterator<Item = (&str, &Server)> {
    plan.backends
        .iter()
        .flat_map(|b| b.servers.iter().map(move |s| (b.name.as_str(), s)))
}

/// The old plan's server at the same address, preferring one in a backend
/// of the same name.
fn counterpart<'a>(old: &'a Plan, backend: &str, server: &Server) -> Option<&'a Server> {
    let same_address = || servers(old).filter(|(_, s)| s.address == server.address);
    same_address()
        .find(|(b, _)| *b == backend)
        .or_else(|| same_address().next())
        .map(|(_, s)| s)
}

/// Per old server id: the new id of a server at the same address. Pooled
/// connections go by address: one to 10.0.0.1:80 serves any backend.
pub fn server_ids(old: &Plan, new: &Plan) -> Vec<Option<usize>> {
    let mut ids = vec![None; old.server_count];
    for (backend, server) in servers(new) {
        if let Some(before) = counterpart(old, backend, server) {
            if let Some(slot) = ids.get_mut(before.id) {
                slot.get_or_insert(server.id);
            }
        }
    }
    ids
}

/// Admin states for the new plan: a server drained or in maintenance stays
/// so if the same backend still has it at the same address.
pub fn server_states(old: &Plan, states: &ServerStates, new: &Plan) -> ServerStates {
    let next = ServerStates::new(new.server_count);
    for (backend, server) in servers(new) {
        let before = servers(old).find(|(b, s)| *b == backend && s.address == server.address);
        if let Some((_, before)) = before {
            next.carry(server.id, states, before.id);
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::server_state::AdminState;

    fn plan(backends: &str) -> Plan {
        let text =
            format!("[[listener]]\nbind = \"127.0.0.1:0\"\n[[route]]\nbackend = \"a\"\n{backends}");
        crate::config::from_str(&text, "t").expect("plan")
    }

    #[test]
    fn server_ids_follow_addresses() {
        let old = plan("[backend.a]\nservers = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n");
        let new = plan("[backend.a]\nservers = [\"127.0.0.1:3\", \"127.0.0.1:2\"]\n");
        assert_eq!(server_ids(&old, &new), vec![None, Some(1)]);
    }

    #[test]
    fn admin_states_carry_over_by_address() {
        let old = plan("[backend.a]\nservers = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n");
        let new = plan("[backend.a]\nservers = [\"127.0.0.1:2\", \"127.0.0.1:5\"]\n");
        let old_states = ServerStates::new(2);
        old_states.set(1, AdminState::Drain);
        let states = server_states(&old, &old_states, &new);
        assert_eq!(states.get(0), AdminState::Drain);
        assert_eq!(states.get(1), AdminState::Ready);
    }
}
