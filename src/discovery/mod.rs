//! DNS service discovery: backend servers given by name (`"app:8080"`, A
//! and AAAA) or by SRV name (`{ srv = "_http._tcp.app" }`, ports and
//! weights from the records). Names are looked up when the config is
//! loaded, then again on the discovery thread (`thread.rs`), never on a
//! worker. The answers live in one process-wide table; a plan is built
//! from the config and that table, so a change in DNS is applied like a
//! reload of the same file (`reload::apply`): pools and health carry over
//! for addresses that stay, connections to the ones that go drain.

pub mod hosts;
pub mod resolvers;
pub mod thread;
pub mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

/// How long one resolver gets to answer one question.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// The shortest interval between lookups of a name, whatever its TTL.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A name to look up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Query {
    /// A and AAAA records; the port comes from the config.
    Host(String),
    /// SRV records, then the addresses of their targets.
    Srv(String),
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::Host(name) => write!(f, "{name}"),
            Query::Srv(name) => write!(f, "SRV {name}"),
        }
    }
}

/// One address a name resolved to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// Port 0 for a `Host` query (the config gives it).
    pub addr: SocketAddr,
    /// SRV weight and priority (0 for a `Host` query).
    pub weight: u16,
    pub priority: u16,
    /// The name the address belongs to (the SRV target, or the name asked).
    pub host: String,
}

impl Target {
    pub fn at(addr: SocketAddr, host: &str) -> Target {
        Target {
            addr,
            weight: 0,
            priority: 0,
            host: host.trim_end_matches('.').to_owned(),
        }
    }
}

/// What the names of a plan need: which names, how often, asked where.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wanted {
    pub resolvers: Vec<SocketAddr>,
    /// Each name once, with the shortest `resolve_every` of the backends
    /// that use it.
    pub queries: Vec<(Query, Duration)>,
    /// Where each name is written (`backend.app.servers[0].address`), for
    /// warnings about a name that has not resolved.
    pub keys: Vec<(Query, String)>,
}

impl Wanted {
    pub fn add(&mut self, query: Query, every: Duration, key: String) {
        match self.queries.iter_mut().find(|(q, _)| *q == query) {
            Some((_, interval)) => *interval = (*interval).min(every),
            None => self.queries.push((query.clone(), every)),
        }
        self.keys.push((query, key));
    }
}

/// The answers in force: a name is here once it has resolved, and keeps
/// its last good set (with that answer's TTL) while lookups fail.
static ANSWERS: Mutex<BTreeMap<Query, (Vec<Target>, u32)>> = Mutex::new(BTreeMap::new());
/// Failed lookups per name since start, for /metrics.
static FAILURES: Mutex<BTreeMap<Query, u64>> = Mutex::new(BTreeMap::new());

/// The addresses `query` resolved to last, sorted; `None` if it never did.
pub fn answer(query: &Query) -> Option<Vec<Target>> {
    Some(ANSWERS.lock().ok()?.get(query)?.0.clone())
}

/// The TTL of the answer in force.
pub fn ttl(query: &Query) -> Option<u32> {
    Some(ANSWERS.lock().ok()?.get(query)?.1)
}

/// Records a good answer; true if its addresses differ from the ones in
/// force.
pub fn store(query: &Query, found: wire::Found) -> bool {
    let mut targets = found.targets;
    targets.sort();
    targets.dedup();
    let Ok(mut answers) = ANSWERS.lock() else {
        return false;
    };
    let changed = answers.get(query).map(|(t, _)| t) != Some(&targets);
    answers.insert(query.clone(), (targets, found.ttl));
    changed
}

pub fn count_failure(query: &Query) {
    if let Ok(mut failures) = FAILURES.lock() {
        *failures.entry(query.clone()).or_default() += 1;
    }
}

/// Failed lookups by name, for /metrics.
pub fn failures() -> Vec<(String, u64)> {
    FAILURES
        .lock()
        .map(|f| f.iter().map(|(q, n)| (q.to_string(), *n)).collect())
        .unwrap_or_default()
}

/// Looks up, once and now, each wanted name that has no answer yet (at
/// start, on `--check` and on a reload that adds names). Returns the
/// failures as (config key, reason), for the caller to warn about.
pub fn resolve_missing(wanted: &Wanted) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (query, _) in &wanted.queries {
        if answer(query).is_some() {
            continue;
        }
        let why = match wire::lookup(query, &wanted.resolvers, QUERY_TIMEOUT) {
            Ok(found) => {
                store(query, found);
                continue;
            }
            Err(why) => why,
        };
        count_failure(query);
        let keys = wanted.keys.iter().filter(|(q, _)| q == query);
        problems.extend(keys.map(|(_, key)| (key.clone(), why.clone())));
    }
    problems
}

/// The warning printed for a name that did not resolve.
pub fn unresolved_warning(key: &str, why: &str) -> String {
    format!("{key}: did not resolve ({why}); its backend has no server from it until it does (503)")
}
