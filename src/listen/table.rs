//! The main thread's record of every listening socket: for each configured
//! address, the address bound and a duplicate of each worker's socket. A
//! reload matches the new config against it (a listener whose address is
//! unchanged keeps its sockets, so nothing queued on them is lost); a
//! binary upgrade sends these sockets to the new process.

use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::ListenerInfo;
use super::{bind_one, set_inherited_options, Bound};
use crate::config::{ListenerPlan, Plan};

pub struct Entry {
    pub name: String,
    /// As written in the config (the port may be 0).
    pub configured: SocketAddr,
    /// As bound.
    pub addr: SocketAddr,
    /// One per worker (more after an upgrade from a process that had more
    /// workers); all in one SO_REUSEPORT group.
    pub sockets: Vec<TcpListener>,
}

impl Entry {
    /// Binds `workers` sockets on `configured` (port 0: the first picks it).
    pub fn bind(
        name: &str,
        configured: SocketAddr,
        workers: usize,
        backlog: u32,
    ) -> Result<Entry, String> {
        let mut entry = Entry {
            name: name.to_owned(),
            configured,
            addr: configured,
            sockets: Vec::new(),
        };
        refuse_if_taken(configured)
            .map_err(|err| format!("cannot listen on {configured} (listener {name}): {err}"))?;
        entry.bind_more(workers, backlog)?;
        Ok(entry)
    }

    /// Adds sockets to the group until there are `count`.
    pub fn bind_more(&mut self, count: usize, backlog: u32) -> Result<(), String> {
        while self.sockets.len() < count {
            let socket = bind_one(self.addr, backlog).map_err(|err| {
                format!(
                    "cannot listen on {} (listener {}): {err}",
                    self.configured, self.name
                )
            })?;
            self.addr = socket.local_addr().map_err(|err| err.to_string())?;
            self.sockets.push(socket);
        }
        Ok(())
    }

    /// Sets again what accepted connections inherit (`set_inherited_options`)
    /// on sockets taken over from an older tern, which may predate an option.
    pub fn renew_inherited_options(&self) -> Result<(), String> {
        for socket in &self.sockets {
            set_inherited_options(SockRef::from(socket)).map_err(|err| {
                format!(
                    "cannot set up the socket of {} (listener {}): {err}",
                    self.addr, self.name
                )
            })?;
        }
        Ok(())
    }

    /// Duplicates of the sockets for the workers: worker `i` gets sockets
    /// `i`, `i + workers`, ...
    pub fn bounds(
        &self,
        workers: usize,
        index: usize,
        listener: &ListenerPlan,
    ) -> Result<Vec<Vec<Bound>>, String> {
        let mut per_worker: Vec<Vec<Bound>> = (0..workers).map(|_| Vec::new()).collect();
        for (i, socket) in self.sockets.iter().enumerate() {
            let copy = socket
                .try_clone()
                .map_err(|err| format!("cannot duplicate the socket of {}: {err}", self.addr))?;
            per_worker[i % workers.max(1)].push(Bound {
                index,
                name: listener.name.clone(),
                addr: self.addr,
                socket: copy,
                tls: listener.tls.clone(),
            });
        }
        Ok(per_worker)
    }
}

pub struct ListenerTable {
    pub entries: Vec<Entry>,
}

/// What a reload does to the listeners.
pub struct Change {
    /// Per worker: sockets of added listeners.
    pub added: Vec<Vec<Bound>>,
    /// Listeners kept, with their place in the new plan.
    pub kept: Vec<ListenerInfo>,
    pub added_names: Vec<(String, SocketAddr)>,
    pub removed_names: Vec<(String, SocketAddr)>,
}

impl ListenerTable {
    pub fn new(entries: Vec<Entry>) -> Self {
        ListenerTable { entries }
    }

    /// Matches `plan`'s listeners with the sockets held (by configured
    /// address), binds the new ones and forgets the removed ones. Nothing
    /// changes if a bind fails.
    pub fn update(&mut self, plan: &Plan, workers: usize) -> Result<Change, String> {
        let mut old: Vec<Option<Entry>> = self.entries.drain(..).map(Some).collect();
        let mut next = Vec::new();
        let mut change = Change {
            added: (0..workers).map(|_| Vec::new()).collect(),
            kept: Vec::new(),
            added_names: Vec::new(),
            removed_names: Vec::new(),
        };
        let result = match_all(plan, workers, &mut old, &mut next, &mut change);
        if let Err(err) = result {
            // Put back what was held; sockets bound just now close.
            let kept = next.into_iter().filter(|(fresh, _)| !fresh).map(|(_, e)| e);
            self.entries = kept.chain(old.into_iter().flatten()).collect();
            return Err(err);
        }
        change.removed_names = old
            .into_iter()
            .flatten()
            .map(|e| (e.name, e.addr))
            .collect();
        self.entries = next.into_iter().map(|(_, e)| e).collect();
        Ok(change)
    }
}

/// Fills `next` with (bound just now?, entry) in plan order.
fn match_all(
    plan: &Plan,
    workers: usize,
    old: &mut [Option<Entry>],
    next: &mut Vec<(bool, Entry)>,
    change: &mut Change,
) -> Result<(), String> {
    for (index, listener) in plan.listeners.iter().enumerate() {
        for &configured in &listener.addrs {
            let held = take_configured(old, configured);
            let fresh = held.is_none();
            let mut entry = match held {
                Some(entry) => entry,
                None => Entry::bind(&listener.name, configured, workers, plan.backlog)?,
            };
            entry.name = listener.name.clone();
            if fresh {
                let bounds = entry.bounds(workers, index, listener)?;
                for (mine, theirs) in change.added.iter_mut().zip(bounds) {
                    mine.extend(theirs);
                }
                change.added_names.push((entry.name.clone(), entry.addr));
            } else {
                change.kept.push(ListenerInfo {
                    addr: entry.addr,
                    index,
                    tls: listener.tls.clone(),
                });
            }
            next.push((fresh, entry));
        }
    }
    Ok(())
}

/// Takes the first entry still in `entries` configured with `configured`.
pub fn take_configured(entries: &mut [Option<Entry>], configured: SocketAddr) -> Option<Entry> {
    entries
        .iter_mut()
        .find(|e| e.as_ref().is_some_and(|e| e.configured == configured))
        .and_then(Option::take)
}

/// SO_REUSEPORT lets any process of the same user join a listening group,
/// so a second tern started on the same address would share its traffic
/// silently. A socket bound *without* SO_REUSEPORT conflicts with any
/// listener on the address, so binding one (and closing it at once, before
/// it listens) tells whether the address is taken: "Address already in
/// use", as nginx and HAProxy say. Port 0 gets a fresh port: nothing to
/// ask. A binary upgrade inherits its sockets and never comes here for
/// them.
fn refuse_if_taken(addr: SocketAddr) -> std::io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // SO_REUSEADDR, as the real sockets: a connection in TIME_WAIT from an
    // earlier run is no reason to refuse.
    probe.set_reuse_address(true)?;
    if addr.is_ipv6() {
        probe.set_only_v6(true)?;
    }
    probe.bind(&addr.into())
}
