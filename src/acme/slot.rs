//! The certificate a listener serves for a set of ACME domains, replaced
//! in place by the ACME thread. A read lock per handshake (uncontended but
//! for the rare swap) is cheap next to the handshake itself.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use rustls::sign::CertifiedKey;

#[derive(Debug)]
pub struct CertSlot {
    key: RwLock<Arc<CertifiedKey>>,
    /// Valid certificates from before (another domain set's, when the
    /// domains changed), served for the names they cover while this slot
    /// has only the temporary certificate: adding a name must not take the
    /// working ones down until the new order succeeds. Emptied by `replace`.
    interim: RwLock<Vec<Interim>>,
    /// Unix seconds the current certificate became valid and expires; 0
    /// for the temporary self-signed one (no real certificate yet).
    not_before: AtomicI64,
    not_after: AtomicI64,
}

/// An older certificate still served for some of the names.
#[derive(Debug, Clone)]
pub struct Interim {
    pub key: Arc<CertifiedKey>,
    /// The names it covers (lower case).
    pub names: Vec<String>,
    /// Unix seconds it expires: not served after.
    pub not_after: i64,
}

/// Renew when fewer than this many seconds remain (30 days)...
const RENEW_BEFORE: i64 = 30 * 86_400;

impl CertSlot {
    /// `validity`: (not before, not after) in Unix seconds, `(0, 0)` for
    /// a temporary certificate.
    pub fn new(key: Arc<CertifiedKey>, validity: (i64, i64)) -> Self {
        CertSlot {
            key: RwLock::new(key),
            interim: RwLock::new(Vec::new()),
            not_before: AtomicI64::new(validity.0),
            not_after: AtomicI64::new(validity.1),
        }
    }

    /// The certificate to hand to this handshake.
    pub fn current(&self) -> Arc<CertifiedKey> {
        // A writer that panicked left a whole Arc behind: still usable.
        match self.key.read() {
            Ok(key) => key.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A temporary slot that serves `interim` for the names they cover.
    pub fn temporary(key: Arc<CertifiedKey>, interim: Vec<Interim>) -> Self {
        let slot = CertSlot::new(key, (0, 0));
        slot.set_interim(interim);
        slot
    }

    /// The certificate for a handshake asking for `name` (SNI): the
    /// current one, unless that is the temporary one and an older, still
    /// valid certificate covers the name.
    pub fn for_name(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        if let (None, Some(name)) = (self.not_after(), name) {
            let now = super::registry::now();
            let interim = self.interim.read().unwrap_or_else(|p| p.into_inner());
            let found = interim
                .iter()
                .find(|i| i.not_after > now && super::certs::covers(&i.names, name));
            if let Some(found) = found {
                return found.key.clone();
            }
        }
        self.current()
    }

    fn set_interim(&self, interim: Vec<Interim>) {
        *self.interim.write().unwrap_or_else(|p| p.into_inner()) = interim;
    }

    /// The older certificates served meanwhile (none once issued).
    pub fn interim(&self) -> Vec<Interim> {
        self.interim
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Swaps in a new certificate; handshakes under way keep the old one.
    pub fn replace(&self, key: Arc<CertifiedKey>, validity: (i64, i64)) {
        match self.key.write() {
            Ok(mut slot) => *slot = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
        self.set_interim(Vec::new());
        self.not_before.store(validity.0, Ordering::Relaxed);
        self.not_after.store(validity.1, Ordering::Relaxed);
    }

    /// A new slot serving what this one serves now.
    pub fn copy(&self) -> CertSlot {
        let validity = (
            self.not_before.load(Ordering::Relaxed),
            self.not_after.load(Ordering::Relaxed),
        );
        let slot = CertSlot::new(self.current(), validity);
        slot.set_interim(self.interim());
        slot
    }

    /// Unix seconds the served certificate expires; `None` while the
    /// temporary self-signed one is served.
    pub fn not_after(&self) -> Option<i64> {
        Some(self.not_after.load(Ordering::Relaxed)).filter(|&t| t != 0)
    }
}

/// When a certificate valid over `validity` (Unix seconds) is renewed:
/// 30 days before it expires, or after 2/3 of its lifetime if that is
/// sooner (short-lived certificates).
pub fn renew_at((not_before, not_after): (i64, i64)) -> i64 {
    let lifetime = (not_after - not_before).max(0);
    not_after - RENEW_BEFORE.min(lifetime / 3)
}

impl CertSlot {
    /// Unix seconds the served certificate is due for renewal; 0 (at
    /// once) for the temporary one.
    pub fn renew_at(&self) -> i64 {
        match self.not_after() {
            Some(not_after) => renew_at((self.not_before.load(Ordering::Relaxed), not_after)),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::renew_at;

    #[test]
    fn renewal_is_30_days_before_expiry_or_at_two_thirds() {
        let day = 86_400;
        assert_eq!(renew_at((0, 90 * day)), 60 * day);
        assert_eq!(renew_at((0, 365 * day)), 335 * day);
        assert_eq!(renew_at((1000, 1030)), 1020);
    }
}
