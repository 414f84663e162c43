//! Choosing a certificate by the SNI name the client sent: exact names
//! first, then `*.example.com` wildcards (one label, as browsers match), and
//! the first certificate configured for clients that send no name or an
//! unknown one. A name may have one certificate per key type (ECDSA and
//! RSA, as nginx's two `ssl_certificate` lines): the first, in config order,
//! whose key can sign with a scheme the client offered is served, else the
//! first. An ACME certificate is looked up through its slot, so the
//! certificate the ACME thread swapped in is served from the next
//! handshake on; a TLS-ALPN-01 validation gets the challenge certificate.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{SignatureAlgorithm, SignatureScheme};

use super::LoadedCert;
use crate::acme::{self, Managed};

/// A certificate from files (fixed) or from ACME (replaced while running).
#[derive(Debug, Clone)]
enum Source {
    Fixed(Arc<CertifiedKey>),
    /// Held here, so the certificate is renewed while a plan uses it.
    Acme(Arc<Managed>),
}

impl Source {
    /// `name`: the SNI name asked for, which an ACME certificate still
    /// being ordered may answer with an older one that covers it.
    fn key(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        match self {
            Source::Fixed(key) => key.clone(),
            Source::Acme(managed) => managed.slot.for_name(name),
        }
    }
}

/// A certificate as the resolver holds it: where from, its key type, and
/// its place among the certificates added (what a warning names).
#[derive(Debug, Clone)]
struct Entry {
    source: Source,
    /// The key type when added: an ACME renewal keeps it (same key kind).
    algorithm: SignatureAlgorithm,
    ordinal: usize,
}

/// The certificates for one name: at most one per key type, in the order
/// they were added.
#[derive(Debug, Clone, Default)]
struct Choices(Vec<Entry>);

impl Choices {
    /// The entry of `algorithm`'s key type, if the name has one.
    fn of_type(&self, algorithm: SignatureAlgorithm) -> Option<&Entry> {
        self.0.iter().find(|entry| entry.algorithm == algorithm)
    }

    /// Adds `entry` unless the name has a certificate of its key type; the
    /// one it has is returned then (the earlier keeps the name). A
    /// certificate that lists a name twice is there already: nothing.
    fn add(&mut self, entry: &Entry) -> Option<&Entry> {
        let same_type = |held: &Entry| held.algorithm == entry.algorithm;
        let Some(found) = self.0.iter().position(same_type) else {
            self.0.push(entry.clone());
            return None;
        };
        self.0
            .get(found)
            .filter(|held| held.ordinal != entry.ordinal)
    }

    /// The first certificate whose key can sign with one of the schemes
    /// the client offered (rustls has already dropped those no offered
    /// TLS 1.2 suite can use), else the first: a client that offers
    /// nothing usable fails its handshake as it would have anyway. `name`:
    /// the SNI name asked for (see `Source::key`).
    fn pick(&self, offered: &[SignatureScheme], name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let first = self.0.first()?;
        if self.0.len() == 1 {
            return Some(first.source.key(name));
        }
        let usable = self
            .0
            .iter()
            .map(|entry| entry.source.key(name))
            .find(|key| key.key.choose_scheme(offered).is_some());
        usable.or_else(|| Some(first.source.key(name)))
    }
}

/// A name a certificate was not added under: an earlier one of the same
/// key type has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    pub name: String,
    /// The key type both have (`ECDSA`, `RSA`).
    pub algorithm: String,
    /// The earlier certificate's place among those added.
    pub earlier: usize,
}

#[derive(Debug, Default)]
pub struct SniResolver {
    exact: HashMap<String, Choices>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, Choices>,
    /// The first certificate, and those of other key types for its first
    /// name: a client that can't use the first's key still gets one.
    default: Choices,
    /// The first certificate's first name (`None` before one is added, or
    /// when it names nothing).
    default_name: Option<String>,
    /// Certificates added so far.
    added: usize,
    /// The listener answers TLS-ALPN-01 (it has ACME certificates).
    acme: bool,
}

impl SniResolver {
    /// Adds a certificate under each of its names; the first one added is
    /// the default. A name already held by a certificate of the same key
    /// type stays with that one, and is returned.
    pub fn add(&mut self, cert: LoadedCert) -> Vec<Shadowed> {
        let algorithm = cert.key.key.algorithm();
        self.add_source(&cert.names, Source::Fixed(cert.key), algorithm)
    }

    /// Adds an ACME certificate under its configured domains.
    pub fn add_acme(&mut self, managed: Arc<Managed>) -> Vec<Shadowed> {
        let domains = managed.spec.domains.clone();
        let algorithm = managed.slot.current().key.algorithm();
        self.acme = true;
        self.add_source(&domains, Source::Acme(managed), algorithm)
    }

    fn add_source(
        &mut self,
        names: &[String],
        source: Source,
        algorithm: SignatureAlgorithm,
    ) -> Vec<Shadowed> {
        let entry = Entry {
            source,
            algorithm,
            ordinal: self.added,
        };
        self.added += 1;
        let mut shadowed = Vec::new();
        for name in names {
            let table = match name.strip_prefix("*.") {
                Some(parent) => self.wildcard.entry(parent.to_owned()),
                None => self.exact.entry(name.clone()),
            };
            if let Some(earlier) = table.or_default().add(&entry) {
                shadowed.push(Shadowed {
                    name: name.clone(),
                    algorithm: format!("{algorithm:?}"),
                    earlier: earlier.ordinal,
                });
            }
        }
        self.add_default(names, &entry);
        shadowed
    }

    /// The first certificate is the default; a later one of another key
    /// type joins it when it covers the first's first name.
    fn add_default(&mut self, names: &[String], entry: &Entry) {
        if self.default.0.is_empty() {
            self.default.0.push(entry.clone());
            self.default_name = names.first().cloned();
            return;
        }
        let covers = |name: &String| names.contains(name);
        if self.default_name.as_ref().is_some_and(covers)
            && self.default.of_type(entry.algorithm).is_none()
        {
            self.default.0.push(entry.clone());
        }
    }

    /// The certificate for `server_name` for a client offering `offered`
    /// signature schemes. The name is lower-cased, and one trailing dot
    /// dropped: `b.example.` is the fully qualified `b.example` (RFC 6066
    /// says send it without the dot, some clients don't), as tern's Host
    /// routing and nginx take it.
    pub fn lookup(
        &self,
        server_name: Option<&str>,
        offered: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let Some(name) = server_name.map(str::to_ascii_lowercase) else {
            return self.default.pick(offered, None);
        };
        let name = name.strip_suffix('.').unwrap_or(&name);
        if let Some(choices) = self.exact.get(name) {
            return choices.pick(offered, Some(name));
        }
        let parent = name.split_once('.').map(|(_, parent)| parent);
        parent
            .and_then(|parent| self.wildcard.get(parent))
            .unwrap_or(&self.default)
            .pick(offered, Some(name))
    }
}

/// Whether a client's ALPN list is a TLS-ALPN-01 validator's: RFC 8737 §3
/// has it offer `acme-tls/1` alone. A client that offers it among others
/// (`http/1.1`, `acme-tls/1`) is an ordinary one and gets the site's
/// certificate; it got the challenge certificate.
fn validates<'a>(offered: Option<impl Iterator<Item = &'a [u8]>>) -> bool {
    offered.is_some_and(|mut offered| {
        offered.next() == Some(acme::ACME_TLS_ALPN) && offered.next().is_none()
    })
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // RFC 8737: a validator gets the challenge certificate (or no
        // handshake at all).
        if self.acme && validates(client_hello.alpn()) {
            return acme::challenge::alpn_certificate(client_hello.server_name());
        }
        self.lookup(client_hello.server_name(), client_hello.signature_schemes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_client_offering_acme_tls_alone_is_a_validator() {
        let offers = |protocols: &[&'static [u8]]| validates(Some(protocols.iter().copied()));
        assert!(offers(&[acme::ACME_TLS_ALPN]));
        assert!(!offers(&[b"http/1.1", acme::ACME_TLS_ALPN]));
        assert!(!offers(&[acme::ACME_TLS_ALPN, b"h2"]));
        assert!(!offers(&[b"h2"]));
        assert!(!offers(&[]));
        assert!(!validates(None::<std::iter::Empty<&[u8]>>));
    }
    use rustls::pki_types::PrivateKeyDer;

    /// An ECDSA P-256 certificate (rcgen's default key) under `names`.
    fn ecdsa(names: &[&str]) -> LoadedCert {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["x.test".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("certificate");
        let der = PrivateKeyDer::try_from(key.serialize_der()).expect("key DER");
        let provider = rustls::crypto::ring::default_provider();
        let certified = CertifiedKey::from_der(vec![cert.der().clone()], der, &provider);
        LoadedCert {
            key: Arc::new(certified.expect("certified key")),
            names: names.iter().map(|name| name.to_string()).collect(),
            validity_warning: None,
        }
    }

    #[test]
    fn a_certificate_listing_a_name_twice_is_not_said_to_shadow_itself() {
        let mut resolver = SniResolver::default();
        assert_eq!(resolver.add(ecdsa(&["a.test", "a.test"])), vec![]);
    }

    #[test]
    fn a_second_certificate_of_one_key_type_is_said_to_lose_only_the_shared_names() {
        let mut resolver = SniResolver::default();
        resolver.add(ecdsa(&["a.test", "*.b.test"]));
        let shadowed = resolver.add(ecdsa(&["c.test", "*.b.test", "a.test"]));
        let names: Vec<&str> = shadowed.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["*.b.test", "a.test"]);
        assert!(shadowed
            .iter()
            .all(|s| s.earlier == 0 && s.algorithm == "ECDSA"));
    }
}
