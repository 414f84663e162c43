//! Limits that outlive a reload: a reloaded config gets the same table (and
//! counters) for a route or listener that kept its name and its settings,
//! so a reload neither forgives a client nor resets /metrics. Only live
//! limits are found; the list holds weak references.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::conns::{ConnLimit, ConnSettings};
use super::rate::{RateLimit, RateSettings};

type Kept<T> = Mutex<Vec<(String, Weak<T>)>>;

static RATES: Kept<RateLimit> = Mutex::new(Vec::new());
static CONNS: Kept<ConnLimit> = Mutex::new(Vec::new());

/// The rate limit of route `name`, reused if one with these settings lives.
pub fn rate_limit(name: &str, settings: RateSettings) -> Arc<RateLimit> {
    find_or_make(
        &RATES,
        name,
        |l| l.settings == settings,
        || RateLimit::new(settings),
    )
}

/// The connection limit of listener `name`, reused likewise.
pub fn conn_limit(name: &str, settings: ConnSettings) -> Arc<ConnLimit> {
    find_or_make(
        &CONNS,
        name,
        |l| l.settings == settings,
        || ConnLimit::new(settings),
    )
}

fn find_or_make<T>(
    kept: &Kept<T>,
    name: &str,
    same: impl Fn(&T) -> bool,
    make: impl FnOnce() -> T,
) -> Arc<T> {
    let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
    kept.retain(|(_, weak)| weak.strong_count() > 0);
    let found = kept
        .iter()
        .filter(|(kept_name, _)| kept_name == name)
        .filter_map(|(_, weak)| weak.upgrade())
        .find(|limit| same(limit));
    found.unwrap_or_else(|| {
        let made = Arc::new(make());
        kept.push((name.to_owned(), Arc::downgrade(&made)));
        made
    })
}
