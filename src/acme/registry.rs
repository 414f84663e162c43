//! Every ACME certificate the running plans use, keyed by directory,
//! storage and domain set. Plans hold them (`Arc`); the registry holds
//! them weakly, so a certificate a reload dropped stops being renewed,
//! and one a reload kept is found again with its schedule.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use super::certs::{self, Issued};
use super::config::{check, AcmeSection, Sites, Spec};
use super::slot::{CertSlot, Interim};
use super::store::CertFiles;

static REGISTRY: Mutex<Vec<Weak<Managed>>> = Mutex::new(Vec::new());

/// One certificate tern orders and renews.
#[derive(Debug)]
pub struct Managed {
    pub spec: Spec,
    /// What the listeners serve for `spec.domains`.
    pub slot: CertSlot,
    /// Orders that ended in an error (CA down, challenge failed, refused).
    pub failed_orders: AtomicU64,
    /// The last failure's message, until an order succeeds.
    pub last_error: Mutex<Option<String>>,
}

impl Managed {
    fn same(&self, spec: &Spec) -> bool {
        let sorted = |d: &[String]| {
            let mut d = d.to_vec();
            d.sort();
            d
        };
        self.spec.directory == spec.directory
            && self.spec.storage == spec.storage
            && sorted(&self.spec.domains) == sorted(&spec.domains)
    }

    pub fn name(&self) -> String {
        self.spec.domains.join(",")
    }
}

/// Checks a listener's `tls.acme` table and returns its certificate: the
/// one already registered for the same domains, else a new one, loaded
/// from storage or (until the CA issues one) self-signed.
pub fn build(
    at: &str,
    section: &AcmeSection,
    sites: Sites,
) -> Result<Arc<Managed>, (String, String)> {
    let spec = check(at, section, sites)?;
    let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    registry.retain(|weak| weak.strong_count() > 0);
    let running: Vec<Arc<Managed>> = registry.iter().filter_map(Weak::upgrade).collect();
    let found = running.iter().find(|m| m.same(&spec));
    let slot = match found {
        Some(found) if found.spec == spec => return Ok(found.clone()),
        // Same certificate, other settings (contact, challenge, CA file):
        // a new entry, serving what the old one serves.
        Some(found) => found.slot.copy(),
        None => first_certificate(&spec, &running).map_err(|m| (format!("{at}.domains"), m))?,
    };
    let managed = Arc::new(Managed {
        spec,
        slot,
        failed_orders: AtomicU64::new(0),
        last_error: Mutex::new(None),
    });
    registry.push(Arc::downgrade(&managed));
    Ok(managed)
}

/// The stored certificate while it is still valid (even if due for
/// renewal: better than a self-signed one), else a self-signed one, with
/// the valid certificates of other domain sets (`running`, then storage)
/// served meanwhile for the names they cover: a changed `domains` must
/// not replace a working certificate by the temporary one.
fn first_certificate(spec: &Spec, running: &[Arc<Managed>]) -> Result<CertSlot, String> {
    let files = CertFiles::of(spec);
    let ours = files.issued_by(&spec.directory);
    if let Some(issued) = ours.then(|| stored(&files)).flatten() {
        return Ok(CertSlot::new(
            issued.key,
            (issued.not_before, issued.not_after),
        ));
    }
    let temporary = certs::self_signed(&spec.domains)
        .map_err(|e| format!("cannot make a temporary certificate: {e}"))?;
    let mut interim = running_interim(spec, running);
    // Ours was looked at already (and logged if it did not parse).
    let looked_at = ours.then_some(files.dir.as_path());
    interim.extend(stored_interim(spec, looked_at));
    Ok(CertSlot::temporary(temporary, interim))
}

/// The certificate in `files` if it is there, parses and is valid now.
/// One that does not parse is logged: it is replaced by a new order, and
/// the operator should know why a certificate they had is not served.
fn stored(files: &CertFiles) -> Option<Issued> {
    let (chain, key) = files.load()?;
    match certs::issued(&chain, &key) {
        Ok(issued) => Some(issued).filter(|i| i.not_after > now() && i.not_before <= now()),
        Err(e) => {
            crate::log::warn(format_args!(
                "ACME: ignoring the certificate stored in {} and {}: {e}",
                files.cert().display(),
                files.key().display()
            ));
            None
        }
    }
}

/// What the running plans serve, from the same CA and storage, for some
/// of `spec`'s names (a reload that changed the domains).
fn running_interim(spec: &Spec, running: &[Arc<Managed>]) -> Vec<Interim> {
    running
        .iter()
        .filter(|m| m.spec.directory == spec.directory && m.spec.storage == spec.storage)
        .filter_map(|m| {
            let not_after = m.slot.not_after()?;
            let names = m.spec.domains.clone();
            shares_a_name(spec, &names).then(|| Interim {
                key: m.slot.current(),
                names,
                not_after,
            })
        })
        .collect()
}

/// The valid certificates stored for other domain sets (or by an older
/// tern, with no record of their CA), for some of `spec`'s names (a
/// restart after the domains changed); not another CA's.
/// `skip`: a directory already looked at.
fn stored_interim(spec: &Spec, skip: Option<&Path>) -> Vec<Interim> {
    let Ok(entries) = std::fs::read_dir(&spec.storage) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| CertFiles { dir: entry.path() })
        .filter(|files| Some(files.dir.as_path()) != skip && files.dir.is_dir())
        .filter(|files| !files.issued_by_another(&spec.directory))
        .filter_map(|files| stored(&files))
        .filter(|issued| shares_a_name(spec, &issued.names))
        .map(|issued| Interim {
            key: issued.key,
            names: issued.names,
            not_after: issued.not_after,
        })
        .collect()
}

fn shares_a_name(spec: &Spec, names: &[String]) -> bool {
    spec.domains.iter().any(|d| certs::covers(names, d))
}

/// The certificates of the plans still running.
pub(super) fn live() -> Vec<Arc<Managed>> {
    let registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    registry.iter().filter_map(Weak::upgrade).collect()
}

pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What /metrics and the status page show of one certificate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertStatus {
    /// The domains, comma-separated.
    pub domains: String,
    /// Seconds until the served certificate expires; `None` while the
    /// temporary self-signed one is served.
    pub expires_in: Option<i64>,
    pub failed_orders: u64,
    pub last_error: Option<String>,
}

pub fn snapshot() -> Vec<CertStatus> {
    let now = now();
    live()
        .iter()
        .map(|m| CertStatus {
            domains: m.name(),
            expires_in: m.slot.not_after().map(|t| t - now),
            failed_orders: m.failed_orders.load(Ordering::Relaxed),
            last_error: m.last_error.lock().ok().and_then(|e| e.clone()),
        })
        .collect()
}
