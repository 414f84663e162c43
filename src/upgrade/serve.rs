//! The running process's side of an upgrade: a thread accepting on the
//! upgrade socket, sending the listening sockets (the admin endpoint's too)
//! to whoever connects, and, once that process is ready, making this one
//! stop accepting and drain.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{fds, Message, READY};
use crate::listen::table::ListenerTable;

/// How long the new process may take to start its workers.
const READY_WAIT: Duration = Duration::from_secs(30);

/// The bound upgrade socket; its path is removed on drop unless another
/// process bound the path since.
pub struct UpgradeSocket {
    path: PathBuf,
    inode: u64,
}

impl Drop for UpgradeSocket {
    fn drop(&mut self) {
        if std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What this process hands over: the listeners, and the admin endpoint's
/// socket (a duplicate of the admin thread's) by its configured address.
pub struct Sockets {
    pub table: Arc<Mutex<ListenerTable>>,
    pub admin: Option<(SocketAddr, TcpListener)>,
}

/// Binds `path` and starts the thread. `replacing`: this process took over
/// from the one bound there, so its socket is replaced; otherwise a live
/// socket at `path` means another tern runs, and is refused.
pub fn start(
    path: &Path,
    replacing: bool,
    sockets: Sockets,
    handed_over: Arc<AtomicBool>,
) -> Result<UpgradeSocket, String> {
    if !replacing && UnixStream::connect(path).is_ok() {
        return Err(format!(
            "{} is in use by a running tern: start with --upgrade to take over from it",
            path.display()
        ));
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|err| {
        format!(
            "cannot listen on {} (upgrade_socket): {err}",
            path.display()
        )
    })?;
    let inode = std::fs::metadata(path)
        .map_err(|err| format!("{}: {err}", path.display()))?
        .ino();
    std::thread::Builder::new()
        .name("tern-upgrade".into())
        .spawn(move || serve(listener, sockets, handed_over))
        .map_err(|err| format!("cannot start the upgrade thread: {err}"))?;
    Ok(UpgradeSocket {
        path: path.to_owned(),
        inode,
    })
}

fn serve(listener: UnixListener, sockets: Sockets, handed_over: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        match hand_over(&stream, &sockets) {
            Ok(()) => {
                crate::log::info(format_args!(
                    "upgrade: the new process is ready; this one stops accepting and drains"
                ));
                handed_over.store(true, Ordering::Relaxed);
                crate::control::ask(crate::control::Request::Stop);
                return;
            }
            Err(err) => crate::log::warn(format_args!(
                "upgrade: hand-over failed, still serving: {err}"
            )),
        }
    }
}

/// Sends every socket, then waits for the new process's `ready`.
fn hand_over(stream: &UnixStream, sockets: &Sockets) -> Result<(), String> {
    {
        let table = sockets
            .table
            .lock()
            .map_err(|_| "the listener table is poisoned")?;
        for entry in &table.entries {
            let message = Message::Listener {
                name: entry.name.clone(),
                configured: entry.configured,
                addr: entry.addr,
            };
            let raw: Vec<_> = entry.sockets.iter().map(AsRawFd::as_raw_fd).collect();
            for chunk in raw.chunks(fds::MAX_FDS) {
                send(stream, &message, chunk)?;
            }
        }
    }
    if let Some((configured, admin)) = &sockets.admin {
        let message = Message::Admin {
            configured: *configured,
        };
        send(stream, &message, &[admin.as_raw_fd()])?;
    }
    send(stream, &Message::End, &[])?;
    let _ = stream.set_read_timeout(Some(READY_WAIT));
    let mut answer = [0u8; READY.len()];
    (&*stream)
        .read_exact(&mut answer)
        .map_err(|err| format!("no ready from the new process: {err}"))?;
    if answer != READY {
        return Err("the new process answered something else than ready".into());
    }
    Ok(())
}

fn send(stream: &UnixStream, message: &Message, sockets: &[i32]) -> Result<(), String> {
    let text = serde_json::to_vec(message).map_err(|err| err.to_string())?;
    fds::send(stream, &text, sockets).map_err(|err| format!("cannot send the sockets: {err}"))
}
