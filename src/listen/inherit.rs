//! Listening sockets taken over from the process a binary upgrade replaces
//! (see `crate::upgrade`): matched to the config by configured address,
//! topped up to one per worker, and bound afresh for listeners the old
//! process did not have.

use super::table::{take_configured, Entry, ListenerTable};
use super::{Bound, Listeners};
use crate::config::Plan;

/// Like `bind_all`, but starting from the sockets `inherited`. Inherited
/// sockets the config no longer names close when this returns.
pub fn adopt(plan: &Plan, workers: usize, inherited: Vec<Entry>) -> Result<Listeners, String> {
    let mut inherited: Vec<Option<Entry>> = inherited.into_iter().map(Some).collect();
    let mut per_worker: Vec<Vec<Bound>> = (0..workers).map(|_| Vec::new()).collect();
    let mut entries = Vec::new();
    for (index, listener) in plan.listeners.iter().enumerate() {
        for &configured in &listener.addrs {
            let mut entry = match take_configured(&mut inherited, configured) {
                Some(entry) => entry,
                None => Entry::bind(&listener.name, configured, workers, plan.backlog)?,
            };
            entry.name = listener.name.clone();
            entry.renew_inherited_options()?;
            entry.bind_more(workers, plan.backlog)?;
            for (mine, theirs) in per_worker
                .iter_mut()
                .zip(entry.bounds(workers, index, listener)?)
            {
                mine.extend(theirs);
            }
            entries.push(entry);
        }
    }
    Ok(Listeners {
        per_worker,
        table: ListenerTable::new(entries),
    })
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use socket2::SockRef;

    use super::*;

    #[test]
    fn sockets_taken_over_get_the_options_accepted_connections_inherit() {
        // As an older tern (or any other process) might have bound it.
        let old = TcpListener::bind("127.0.0.1:0").expect("bound");
        let addr = old.local_addr().expect("an address");
        assert!(SockRef::from(&old).quickack().expect("TCP_QUICKACK"));
        let text =
            format!("[[listener]]\nbind = \"{addr}\"\n[[route]]\nrespond = {{ status = 200 }}\n");
        let plan = crate::config::from_str(&text, "t").expect("plan");
        let entry = Entry {
            name: "old".into(),
            configured: addr,
            addr,
            sockets: vec![old],
        };
        let listeners = adopt(&plan, 1, vec![entry]).expect("adopted");
        let socket = &listeners.table.entries[0].sockets[0];
        assert!(SockRef::from(socket).nodelay().expect("TCP_NODELAY"));
        assert!(!SockRef::from(socket).quickack().expect("TCP_QUICKACK"));
    }
}
