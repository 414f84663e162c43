//! Zero-downtime binary upgrade. The running tern listens on
//! `[server] upgrade_socket` (a Unix socket). `tern --upgrade --config FILE`
//! (the new binary) connects there and receives every listening socket
//! (SCM_RIGHTS), with its listener's name and addresses, and the admin
//! endpoint's; it starts its workers on them and says `ready`. The old
//! process then stops accepting without shutting the sockets down (they are
//! the new process's now, and whatever waits in their accept queues is
//! accepted there) and drains as on SIGTERM, its admin endpoint no longer
//! answering (a scrape reaches the new process, whose numbers go on).
//! Passing the sockets, rather than overlapping two SO_REUSEPORT groups,
//! means no accept queue is ever closed with connections in it.

pub mod fds;
pub mod serve;
pub mod take;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The text part of each message from the old process to the new one.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Message {
    /// One listener address; its sockets are attached.
    Listener {
        name: String,
        configured: SocketAddr,
        addr: SocketAddr,
    },
    /// The admin endpoint's listening socket (`[admin] bind`), attached.
    Admin { configured: SocketAddr },
    /// Every socket was sent.
    End,
}

/// What the new process answers once its workers run.
pub const READY: &[u8] = b"ready\n";
