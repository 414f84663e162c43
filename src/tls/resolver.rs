//! Choosing a certificate by the SNI name the client sent: exact names
//! first, then `*.example.com` wildcards (one label, as browsers match), and
//! the first certificate configured for clients that send no name or an
//! unknown one. An ACME certificate is looked up through its slot, so the
//! certificate the ACME thread swapped in is served from the next
//! handshake on; a TLS-ALPN-01 validation gets the challenge certificate.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

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
    fn key(&self) -> Arc<CertifiedKey> {
        match self {
            Source::Fixed(key) => key.clone(),
            Source::Acme(managed) => managed.slot.current(),
        }
    }
}

#[derive(Debug, Default)]
pub struct SniResolver {
    exact: HashMap<String, Source>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, Source>,
    default: Option<Source>,
    /// The listener answers TLS-ALPN-01 (it has ACME certificates).
    acme: bool,
}

impl SniResolver {
    /// Adds a certificate under each of its names; the first one added is
    /// the default. An earlier certificate keeps a name both claim.
    pub fn add(&mut self, cert: LoadedCert) {
        self.add_source(&cert.names, Source::Fixed(cert.key));
    }

    /// Adds an ACME certificate under its configured domains.
    pub fn add_acme(&mut self, managed: Arc<Managed>) {
        let domains = managed.spec.domains.clone();
        self.add_source(&domains, Source::Acme(managed));
        self.acme = true;
    }

    fn add_source(&mut self, names: &[String], source: Source) {
        for name in names {
            let table = match name.strip_prefix("*.") {
                Some(parent) => self.wildcard.entry(parent.to_owned()),
                None => self.exact.entry(name.clone()),
            };
            table.or_insert_with(|| source.clone());
        }
        self.default.get_or_insert(source);
    }

    pub fn lookup(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = server_name.map(str::to_ascii_lowercase) else {
            return self.default.as_ref().map(Source::key);
        };
        if let Some(source) = self.exact.get(&name) {
            return Some(source.key());
        }
        let parent = name.split_once('.').map(|(_, parent)| parent);
        parent
            .and_then(|parent| self.wildcard.get(parent))
            .or(self.default.as_ref())
            .map(Source::key)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // RFC 8737: a validator offers only acme-tls/1 and gets the
        // challenge certificate (or no handshake at all).
        let validating = client_hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == acme::ACME_TLS_ALPN));
        if self.acme && validating {
            return acme::challenge::alpn_certificate(client_hello.server_name());
        }
        self.lookup(client_hello.server_name())
    }
}
