//! Run-time administrative state of each server, set from the admin
//! endpoint and read by every worker when it picks a server. The one piece
//! of metrics/admin state shared between threads: a byte per server that
//! workers only load (Relaxed: a change reaching a worker a moment late is
//! harmless), and that only the admin thread stores.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AdminState {
    /// Takes requests.
    Ready = 0,
    /// No new requests; those in flight finish (HAProxy's `drain`). With
    /// sticky sessions, this is where sticky clients would still get in.
    Drain = 1,
    /// No requests at all (HAProxy's `maint`).
    Maint = 2,
}

impl AdminState {
    pub fn name(self) -> &'static str {
        match self {
            AdminState::Ready => "ready",
            AdminState::Drain => "drain",
            AdminState::Maint => "maint",
        }
    }

    pub fn parse(text: &str) -> Option<AdminState> {
        match text {
            "ready" | "enable" => Some(AdminState::Ready),
            "drain" => Some(AdminState::Drain),
            "maint" | "maintenance" => Some(AdminState::Maint),
            _ => None,
        }
    }

    fn from_byte(byte: u8) -> AdminState {
        match byte {
            1 => AdminState::Drain,
            2 => AdminState::Maint,
            _ => AdminState::Ready,
        }
    }
}

/// Indexed by `Server::id`.
pub struct ServerStates {
    states: Box<[AtomicU8]>,
    transitions: Box<[AtomicU64]>,
}

impl ServerStates {
    pub fn new(server_count: usize) -> Self {
        ServerStates {
            states: (0..server_count).map(|_| AtomicU8::new(0)).collect(),
            transitions: (0..server_count).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Whether new requests may go to `server`: on the request path, one
    /// plain load.
    pub fn accepts(&self, server: usize) -> bool {
        self.states
            .get(server)
            .is_none_or(|state| state.load(Ordering::Relaxed) == AdminState::Ready as u8)
    }

    pub fn get(&self, server: usize) -> AdminState {
        self.states.get(server).map_or(AdminState::Ready, |s| {
            AdminState::from_byte(s.load(Ordering::Relaxed))
        })
    }

    /// Sets the state; returns the previous one, or `None` for an unknown
    /// server. A change of state counts as a transition.
    pub fn set(&self, server: usize, state: AdminState) -> Option<AdminState> {
        let slot = self.states.get(server)?;
        let previous = AdminState::from_byte(slot.swap(state as u8, Ordering::Relaxed));
        if previous != state {
            if let Some(count) = self.transitions.get(server) {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        Some(previous)
    }

    /// A reload: `server` goes on from `from`'s `from_server`, state and
    /// count, without that being a transition.
    pub fn carry(&self, server: usize, from: &ServerStates, from_server: usize) {
        if let (Some(state), Some(count)) = (self.states.get(server), self.transitions.get(server))
        {
            state.store(from.get(from_server) as u8, Ordering::Relaxed);
            count.store(from.transitions(from_server), Ordering::Relaxed);
        }
    }

    pub fn transitions(&self, server: usize) -> u64 {
        self.transitions
            .get(server)
            .map_or(0, |count| count.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drained_and_maintained_servers_take_no_requests() {
        let states = ServerStates::new(3);
        assert!(states.accepts(1));
        assert_eq!(states.set(1, AdminState::Drain), Some(AdminState::Ready));
        assert!(!states.accepts(1));
        assert!(states.accepts(0) && states.accepts(2));
        states.set(2, AdminState::Maint);
        assert!(!states.accepts(2));
        states.set(1, AdminState::Ready);
        assert!(states.accepts(1));
    }

    #[test]
    fn only_changes_count_as_transitions() {
        let states = ServerStates::new(1);
        states.set(0, AdminState::Drain);
        states.set(0, AdminState::Drain);
        states.set(0, AdminState::Ready);
        assert_eq!(states.transitions(0), 2);
        assert_eq!(states.set(5, AdminState::Drain), None, "unknown server");
    }
}
