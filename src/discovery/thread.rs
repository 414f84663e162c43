//! The discovery thread: looks each name up again when its interval (or
//! a shorter TTL, down to 1 s) is over, keeps the last good answer when a
//! lookup fails (logged once per failing spell), and when an answer
//! changes asks the main thread to apply it (through `control`, like a reload: the
//! main thread owns the running plan). Blocking lookups are fine here:
//! this thread serves no request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{count_failure, store, ttl, wire, Query, Wanted, MIN_INTERVAL, QUERY_TIMEOUT};

/// How often the thread looks at the stop flag and for a new plan.
const POLL: Duration = Duration::from_millis(100);

/// When a name is next looked up, and whether its last lookup failed.
struct Watch {
    next: Instant,
    failing: bool,
}

/// Starts the thread; each reload sends the new plan's names.
pub fn spawn(
    wanted: Wanted,
    stop: Arc<AtomicBool>,
) -> std::io::Result<(JoinHandle<()>, Sender<Wanted>)> {
    let (updates, receiver) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("tern-dns".into())
        .spawn(move || run(wanted, receiver, stop))?;
    Ok((handle, updates))
}

fn run(mut wanted: Wanted, updates: Receiver<Wanted>, stop: Arc<AtomicBool>) {
    let mut watches: HashMap<Query, Watch> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        while let Ok(next) = updates.try_recv() {
            wanted = next;
        }
        watches.retain(|query, _| wanted.queries.iter().any(|(q, _)| q == query));
        let mut changed = false;
        for (query, every) in &wanted.queries {
            let watch = watches
                .entry(query.clone())
                .or_insert_with(|| first_watch(query, *every));
            if watch.next <= Instant::now() && !stop.load(Ordering::Relaxed) {
                changed |= look_up(query, *every, watch, &wanted);
            }
        }
        if changed {
            crate::control::ask(crate::control::Request::Discovered);
        }
        std::thread::sleep(POLL);
    }
}

/// A name that resolved at load time is due after its interval (or TTL);
/// one that did not is retried at once (its failure was already reported).
fn first_watch(query: &Query, every: Duration) -> Watch {
    let after = ttl(query).map(|ttl| ttl_interval(every, ttl));
    Watch {
        next: Instant::now() + after.unwrap_or(Duration::ZERO),
        failing: after.is_none(),
    }
}

/// One lookup; true if the answer in force changed.
fn look_up(query: &Query, every: Duration, watch: &mut Watch, wanted: &Wanted) -> bool {
    let (changed, interval) = match wire::lookup(query, &wanted.resolvers, QUERY_TIMEOUT) {
        Ok(found) => {
            if watch.failing {
                crate::log::info(format_args!("DNS: {query} resolves again"));
            }
            watch.failing = false;
            let interval = ttl_interval(every, found.ttl);
            (store(query, found), interval)
        }
        Err(why) => {
            count_failure(query);
            if !watch.failing {
                crate::log::warn(format_args!(
                    "DNS: lookup of {query} failed ({why}); keeping its last addresses until it resolves"
                ));
            }
            watch.failing = true;
            (false, every)
        }
    };
    watch.next = Instant::now() + interval;
    changed
}

/// `resolve_every`, or the answer's TTL if shorter, but at least 1 s.
fn ttl_interval(every: Duration, ttl: u32) -> Duration {
    every
        .min(Duration::from_secs(u64::from(ttl)))
        .max(MIN_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_ttl_wins_down_to_one_second() {
        let ten = Duration::from_secs(10);
        assert_eq!(ttl_interval(ten, 3), Duration::from_secs(3));
        assert_eq!(ttl_interval(ten, 0), MIN_INTERVAL);
        assert_eq!(ttl_interval(ten, 3600), ten);
    }
}
