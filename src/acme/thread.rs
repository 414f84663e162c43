//! The ACME control thread: looks at every registered certificate once a
//! second, orders the ones due (no certificate yet, or renewal time), and
//! retries failures with a doubling backoff. It runs a tokio
//! current-thread runtime for instant-acme's HTTP client; nothing here is
//! on the request path, and the workers only ever see the slot swap.
//!
//! Each order is a task of its own on that runtime, at most one per
//! certificate: a CA that hangs holds up its own certificates' orders (each
//! request to it is bounded, `client`), never another certificate's.
//!
//! The thread is not joined at exit: files are written by rename, so
//! stopping it at any point leaves storage consistent.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Once};
use std::time::Duration;

use instant_acme::{Account, AccountCredentials, NewAccount};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::config::Spec;
use super::order::why;
use super::registry::{live, now, Managed};
use super::store::{account_file, private_dir, write_private, CertFiles};
use super::{certs, client, order};

const POLL: Duration = Duration::from_secs(1);
/// The first retry after a failed order, doubling up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// An order that takes longer than this is abandoned (and retried).
const ORDER_LIMIT: Duration = Duration::from_secs(300);
/// Tests only: retry every this many seconds, instead of the doubling
/// backoff (so a test's wait for a CA that came back stays short).
const RETRY_ENV: &str = "TERN_ACME_TEST_RETRY_SECONDS";

static START: Once = Once::new();

/// Starts the thread, once per process, when a plan uses ACME (called at
/// start and after each reload; `--check` never calls it).
pub fn start() {
    if live().is_empty() {
        return;
    }
    START.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("tern-acme".into())
            .spawn(run);
        if let Err(err) = spawned {
            crate::log::error(format_args!("ACME: cannot start its thread: {err}"));
        }
    });
}

/// When a failing certificate is tried again.
struct Retry {
    at: i64,
    backoff: Duration,
}

/// An order under way.
struct Running {
    managed: Arc<Managed>,
    task: JoinHandle<Result<(), String>>,
}

/// The account of each CA (by its file), each behind a lock of its own:
/// two certificates of one CA, ordered side by side, register one account
/// between them, not one each.
#[derive(Default)]
struct Accounts(RefCell<HashMap<PathBuf, Rc<Mutex<Option<Account>>>>>);

impl Accounts {
    fn of(&self, file: &Path) -> Rc<Mutex<Option<Account>>> {
        let mut accounts = self.0.borrow_mut();
        accounts.entry(file.to_owned()).or_default().clone()
    }
}

fn run() {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            crate::log::error(format_args!("ACME: cannot start its runtime: {err}"));
            return;
        }
    };
    let fixed_retry: Option<Duration> = std::env::var(RETRY_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);
    // Local tasks: instant-acme's `Account` and the caches here stay on
    // this one thread.
    tokio::task::LocalSet::new().block_on(&runtime, schedule(fixed_retry));
}

/// Every second: settles the orders that ended, and starts one for each
/// certificate that is due and has none under way.
async fn schedule(fixed_retry: Option<Duration>) {
    let accounts = Rc::new(Accounts::default());
    // Keyed by address; the maps hold the `Arc`, so the address stays its own.
    let mut retries: HashMap<usize, (Arc<Managed>, Retry)> = HashMap::new();
    let mut running: HashMap<usize, Running> = HashMap::new();
    loop {
        for (key, managed, outcome) in ended(&mut running).await {
            match outcome {
                Ok(()) => {
                    retries.remove(&key);
                }
                Err(message) => {
                    let previous = retries.get(&key).map(|(_, r)| r.backoff);
                    let backoff = fixed_retry.unwrap_or_else(|| next_backoff(previous));
                    failed(&managed, &message, backoff);
                    let at = now() + backoff.as_secs() as i64;
                    retries.insert(key, (managed, Retry { at, backoff }));
                }
            }
        }
        let certificates = live();
        retries.retain(|_, (m, _)| certificates.iter().any(|c| Arc::ptr_eq(c, m)));
        for managed in certificates {
            let key = Arc::as_ptr(&managed) as usize;
            let retry = retries.get(&key).map_or(0, |(_, r)| r.at);
            if running.contains_key(&key) || now() < managed.slot.renew_at().max(retry) {
                continue;
            }
            let task = tokio::task::spawn_local(attempt(managed.clone(), accounts.clone()));
            running.insert(key, Running { managed, task });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Takes the orders that ended out of `running`, with their outcomes.
async fn ended(
    running: &mut HashMap<usize, Running>,
) -> Vec<(usize, Arc<Managed>, Result<(), String>)> {
    let done: Vec<usize> = running
        .iter()
        .filter(|(_, order)| order.task.is_finished())
        .map(|(key, _)| *key)
        .collect();
    let mut outcomes = Vec::with_capacity(done.len());
    for key in done {
        let Some(Running { managed, task }) = running.remove(&key) else {
            continue;
        };
        // A panic (in a crate underneath) fails this order, not the thread
        // and every renewal after it: tokio catches it in the task.
        let outcome = match task.await {
            Ok(outcome) => outcome,
            Err(err) if err.is_panic() => Err("the order panicked (see the log above)".into()),
            Err(err) => Err(format!("the order stopped: {err}")),
        };
        outcomes.push((key, managed, outcome));
    }
    outcomes
}

/// A minute after the first failure, then twice the last wait, up to 6 h.
fn next_backoff(previous: Option<Duration>) -> Duration {
    previous.map_or(FIRST_BACKOFF, |last| (last * 2).min(MAX_BACKOFF))
}

/// One order, bounded in time.
async fn attempt(managed: Arc<Managed>, accounts: Rc<Accounts>) -> Result<(), String> {
    match tokio::time::timeout(ORDER_LIMIT, obtain(&managed, &accounts)).await {
        Ok(outcome) => outcome,
        Err(_) => Err("the order took too long".into()),
    }
}

/// Counts a failed order and logs it, once per distinct problem.
fn failed(managed: &Managed, message: &str, backoff: Duration) {
    managed
        .failed_orders
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut last = managed.last_error.lock().unwrap_or_else(|p| p.into_inner());
    if !same_problem(last.as_deref(), message) {
        crate::log::warn(format_args!(
            "ACME: order for {} failed (retrying in {}s, then less often while it fails): {message}",
            managed.name(),
            backoff.as_secs()
        ));
    }
    *last = Some(message.to_owned());
}

/// Whether `message` says what the last failure said. URL paths are left
/// out: a failed challenge names its URL, with a token new to each order,
/// and the same problem must be logged once, not at every retry.
fn same_problem(last: Option<&str>, message: &str) -> bool {
    last.is_some_and(|last| without_url_paths(last) == without_url_paths(message))
}

/// `message` with the path of each URL in it cut ("http://host:80/…").
fn without_url_paths(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(scheme_end) = rest.find("://") {
        let (before, after) = rest.split_at(scheme_end + 3);
        out.push_str(before);
        let url_end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '>' | ')'))
            .unwrap_or(after.len());
        let authority_end = after[..url_end].find('/').unwrap_or(url_end);
        out.push_str(&after[..authority_end]);
        if authority_end < url_end {
            out.push_str("/…");
        }
        rest = &after[url_end..];
    }
    out.push_str(rest);
    out
}

/// Orders a certificate, stores it and swaps it in.
async fn obtain(managed: &Managed, accounts: &Accounts) -> Result<(), String> {
    let spec = &managed.spec;
    let first = account(managed, accounts).await?;
    let fresh = match order::run(&first, spec).await {
        // Once per order: a CA that forgets every account is not looped on.
        Err(message) if message.starts_with(order::ACCOUNT_GONE) => {
            forget_account(spec, accounts, &first, &message).await;
            let account = account(managed, accounts).await?;
            order::run(&account, spec).await?
        }
        outcome => outcome?,
    };
    let issued = certs::issued(&fresh.chain, &fresh.key)
        .map_err(|e| format!("the CA's certificate is unusable: {e}"))?;
    store_certificate(managed, &fresh.chain, &fresh.key);
    managed
        .slot
        .replace(issued.key, (issued.not_before, issued.not_after));
    *managed.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
    crate::log::info(format_args!(
        "ACME: new certificate for {}, valid until {}",
        managed.name(),
        crate::log::rfc3339(
            std::time::UNIX_EPOCH + Duration::from_secs(issued.not_after.max(0) as u64)
        )
    ));
    Ok(())
}

/// Stores an issued certificate. One that cannot be stored is served all
/// the same (and ordered again only at renewal or restart): throwing it
/// away would order a new one at every retry, into the CA's limit on
/// duplicate certificates (Let's Encrypt: 5 a week).
fn store_certificate(managed: &Managed, chain: &str, key: &str) {
    let spec = &managed.spec;
    let files = CertFiles::of(spec);
    if let Err(e) = files.save(&spec.storage, chain, key, &spec.directory) {
        crate::log::error(format_args!(
            "ACME: cannot store the certificate for {} in {} (serving it anyway; \
             it will be ordered again at the next start): {e}",
            managed.name(),
            files.dir.display()
        ));
    }
}

/// The account for the certificate's CA: cached, else restored from
/// storage, else created (and stored).
async fn account(managed: &Managed, accounts: &Accounts) -> Result<Account, String> {
    let spec = &managed.spec;
    let file = account_file(&spec.storage, &spec.directory);
    let cell = accounts.of(&file);
    // Held until the account is cached: another order of this CA waits
    // for it instead of registering one of its own.
    let mut cached = cell.lock().await;
    if let Some(account) = cached.as_ref() {
        return Ok(account.clone());
    }
    let builder = client::account_builder(spec.directory_ca.as_deref())?;
    let stored = stored_account(&file);
    let account = match stored {
        Some(credentials) => builder
            .from_credentials(credentials)
            .await
            .map_err(|e| why("account", &e))?,
        None => {
            let contact: Vec<&str> = spec.contact.iter().map(String::as_str).collect();
            let new = NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            };
            let (account, credentials) = builder
                .create(&new, spec.directory.clone(), None)
                .await
                .map_err(|e| why("new account", &e))?;
            store_account(&spec.storage, &file, &credentials);
            account
        }
    };
    *cached = Some(account.clone());
    Ok(account)
}

/// Drops the account the CA no longer knows (`gone`), cached and stored,
/// so that a new one is registered: kept, it would fail every order (and
/// renewal) for good.
async fn forget_account(spec: &Spec, accounts: &Accounts, gone: &Account, message: &str) {
    let file = account_file(&spec.storage, &spec.directory);
    let cell = accounts.of(&file);
    let mut cached = cell.lock().await;
    // Another order of this CA, refused too, has dropped it already (and
    // maybe registered the next one): that one stays.
    if cached.as_ref().is_none_or(|held| held.id() != gone.id()) {
        return;
    }
    *cached = None;
    let removed = match std::fs::remove_file(&file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => format!(" (cannot remove it: {e})"),
        _ => String::new(),
    };
    crate::log::warn(format_args!(
        "ACME: dropping the account stored in {}{removed} and registering a new one: {message}",
        file.display()
    ));
}

/// The account credentials stored in `file`, if any. A file that cannot
/// be read or parsed is logged (a new account is created in its place, and
/// the operator should know why).
fn stored_account(file: &std::path::Path) -> Option<AccountCredentials> {
    let parsed = match std::fs::read_to_string(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => Err(e.to_string()),
        Ok(json) => serde_json::from_str::<AccountCredentials>(&json).map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(credentials) => Some(credentials),
        Err(e) => {
            crate::log::warn(format_args!(
                "ACME: ignoring the account stored in {} (creating a new one): {e}",
                file.display()
            ));
            None
        }
    }
}

/// Stores a new account's credentials. One that cannot be stored is
/// still used (it is cached by the caller): creating an account at every
/// retry would run into the CA's account limits.
fn store_account(
    storage: &std::path::Path,
    file: &std::path::Path,
    credentials: &AccountCredentials,
) {
    let written = serde_json::to_string(credentials)
        .map_err(|e| e.to_string())
        .and_then(|json| {
            private_dir(storage)
                .and_then(|()| write_private(file, json.as_bytes()))
                .map_err(|e| e.to_string())
        });
    if let Err(e) = written {
        crate::log::error(format_args!(
            "ACME: cannot store the new account in {} (using it until tern stops): {e}",
            file.display()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_a_minute_up_to_six_hours() {
        let mut waits = vec![next_backoff(None)];
        for _ in 0..12 {
            waits.push(next_backoff(waits.last().copied()));
        }
        let minutes: Vec<u64> = waits.iter().map(|w| w.as_secs() / 60).collect();
        assert_eq!(&minutes[..6], &[1, 2, 4, 8, 16, 32]);
        assert_eq!(*minutes.last().expect("waits"), 360);
    }

    #[test]
    fn a_failure_differing_only_in_its_challenge_url_is_the_same_problem() {
        let failure = |token: &str| {
            format!(
                "validation: API error: Get \"http://site.test:80/.well-known/acme-challenge/{token}\": \
                 connection refused (urn:ietf:params:acme:error:connection)"
            )
        };
        let first = failure("s3oBS78InvNELjdxS18CpQ3_0LxJDtLVJrdXNuiKDZQ");
        let retry = failure("IxpMrGTO8I1Pf7ffeQ4NbSz3Xa52axyler_wZqeCr8o");
        assert!(same_problem(Some(&first), &retry));
        assert!(!same_problem(None, &first));
        // Another host, another problem: logged.
        let elsewhere = first.replace("site.test:80", "www.site.test:80");
        assert!(!same_problem(Some(&first), &elsewhere));
        let refused = first.replace("connection refused", "timeout");
        assert!(!same_problem(Some(&first), &refused));
        assert_eq!(
            without_url_paths("at https://ca.test/acme/authz/123 and https://ca.test"),
            "at https://ca.test/… and https://ca.test"
        );
    }
}
