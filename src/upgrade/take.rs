//! The new process's side of an upgrade: receive the listening sockets from
//! the running tern, and tell it when this process serves on them.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::{fds, Message, READY};
use crate::listen::table::Entry;

/// How long the running process gets to send its sockets.
const RECEIVE_WAIT: Duration = Duration::from_secs(10);

/// A connection to the running process, holding what it sent.
pub struct Handover {
    stream: UnixStream,
    pub entries: Vec<Entry>,
    /// The admin endpoint's socket, by its configured address.
    pub admin: Option<(SocketAddr, TcpListener)>,
}

/// Connects to the running tern at `path` and takes its sockets.
pub fn connect(path: &Path) -> Result<Handover, String> {
    let stream = UnixStream::connect(path).map_err(|err| {
        format!(
            "cannot reach the running tern at {} (upgrade_socket): {err}",
            path.display()
        )
    })?;
    let _ = stream.set_read_timeout(Some(RECEIVE_WAIT));
    let mut entries: Vec<Entry> = Vec::new();
    let mut admin = None;
    loop {
        let (text, sockets) = fds::recv(&stream)
            .map_err(|err| format!("receiving the sockets from the running tern: {err}"))?;
        if text.is_empty() {
            return Err("the running tern closed the upgrade socket early".into());
        }
        let message: Message = serde_json::from_slice(&text)
            .map_err(|err| format!("unexpected message from the running tern: {err}"))?;
        let (name, configured, addr) = match message {
            Message::End => break,
            Message::Admin { configured } => {
                admin = sockets
                    .into_iter()
                    .next()
                    .map(|socket| (configured, TcpListener::from(socket)));
                continue;
            }
            Message::Listener {
                name,
                configured,
                addr,
            } => (name, configured, addr),
        };
        let sockets = sockets.into_iter().map(TcpListener::from);
        match entries
            .iter_mut()
            .find(|e| e.addr == addr && e.name == name)
        {
            Some(entry) => entry.sockets.extend(sockets),
            None => entries.push(Entry {
                name,
                configured,
                addr,
                sockets: sockets.collect(),
            }),
        }
    }
    Ok(Handover {
        stream,
        entries,
        admin,
    })
}

impl Handover {
    /// Tells the running process this one serves: it stops accepting.
    pub fn ready(mut self) -> Result<(), String> {
        self.stream
            .write_all(READY)
            .map_err(|err| format!("cannot tell the running tern we are ready: {err}"))
    }
}
