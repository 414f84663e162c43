//! Which cipher suite a client gets.
//!
//! rustls takes either the client's order of cipher suites or, with
//! `ignore_client_order`, the server's. tern does as Go's crypto/tls:
//! AES-128-GCM first, since AES instructions make it the cheapest suite on
//! both ends (OpenSSL clients — curl, wrk, Python — list AES-256 first, and
//! its SHA-384 key schedule costs each handshake more), unless the client
//! lists ChaCha20 before AES (a client without AES instructions says so:
//! BoringSSL does this on such phones) or this machine has no AES
//! instructions; those get the client's order.
//!
//! rustls fixes the order per `ServerConfig`, so a listener has two,
//! alike but for the order, and the client's hello picks one
//! (`proxy::handshake` reads it with rustls's `Acceptor`).

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, ServerConfig};

/// A TLS listener's configurations: one per cipher suite order.
pub struct ServerTls {
    aes_first: Arc<ServerConfig>,
    client_order: Arc<ServerConfig>,
}

impl ServerTls {
    /// `build` makes a configuration from a provider; it is called twice.
    /// The ticket keys and the session cache are shared: one listener, one
    /// of each. (rustls resumes a session only with the suite it was made
    /// with, so a client resumes on the configuration it first got.)
    pub fn new<E>(
        provider: CryptoProvider,
        build: impl Fn(CryptoProvider) -> Result<ServerConfig, E>,
    ) -> Result<Self, E> {
        let client_order = build(provider.clone())?;
        let mut aes_first = build(aes_128_first(provider))?;
        aes_first.ignore_client_order = true;
        aes_first.ticketer = client_order.ticketer.clone();
        aes_first.session_storage = client_order.session_storage.clone();
        Ok(ServerTls {
            aes_first: Arc::new(aes_first),
            client_order: Arc::new(client_order),
        })
    }

    /// The configuration for a client offering `suites`, in its order.
    pub fn for_client(&self, suites: &[CipherSuite]) -> &Arc<ServerConfig> {
        match has_aes_instructions() && !prefers_chacha(suites) {
            true => &self.aes_first,
            false => &self.client_order,
        }
    }
}

/// The provider's suites with the AES-128-GCM ones first, the rest in the
/// provider's order.
fn aes_128_first(mut provider: CryptoProvider) -> CryptoProvider {
    provider
        .cipher_suites
        .sort_by_key(|suite| !is_aes_128_gcm(suite.suite()));
    provider
}

fn is_aes_128_gcm(suite: CipherSuite) -> bool {
    matches!(
        suite,
        CipherSuite::TLS13_AES_128_GCM_SHA256
            | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    )
}

/// The client lists a ChaCha20 suite before any AES-GCM one.
fn prefers_chacha(suites: &[CipherSuite]) -> bool {
    let first_aead = suites.iter().find_map(|suite| match *suite {
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => Some(true),
        CipherSuite::TLS13_AES_128_GCM_SHA256
        | CipherSuite::TLS13_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Some(false),
        _ => None,
    });
    first_aead.unwrap_or(false)
}

#[cfg(target_arch = "x86_64")]
fn has_aes_instructions() -> bool {
    std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
}

#[cfg(target_arch = "aarch64")]
fn has_aes_instructions() -> bool {
    std::arch::is_aarch64_feature_detected!("aes")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn has_aes_instructions() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use CipherSuite::*;

    #[test]
    fn a_client_listing_chacha_before_aes_prefers_chacha() {
        assert!(prefers_chacha(&[
            TLS13_CHACHA20_POLY1305_SHA256,
            TLS13_AES_128_GCM_SHA256
        ]));
        // GREASE and suites of neither family say nothing.
        let grease = CipherSuite::from(0x0a0a);
        assert!(prefers_chacha(&[
            grease,
            TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
            TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ]));
    }

    #[test]
    fn a_client_listing_aes_first_or_neither_does_not() {
        assert!(!prefers_chacha(&[
            TLS13_AES_256_GCM_SHA384,
            TLS13_CHACHA20_POLY1305_SHA256,
            TLS13_AES_128_GCM_SHA256,
        ]));
        assert!(!prefers_chacha(&[TLS_EMPTY_RENEGOTIATION_INFO_SCSV]));
        assert!(!prefers_chacha(&[]));
    }

    #[test]
    fn aes_128_goes_first_and_the_rest_keep_their_order() {
        let provider = aes_128_first(rustls::crypto::ring::default_provider());
        let order: Vec<CipherSuite> = provider.cipher_suites.iter().map(|s| s.suite()).collect();
        let default: Vec<CipherSuite> = rustls::crypto::ring::default_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .filter(|s| !is_aes_128_gcm(*s))
            .collect();
        assert_eq!(order[0], TLS13_AES_128_GCM_SHA256);
        let firsts = order.iter().take_while(|s| is_aes_128_gcm(**s)).count();
        assert_eq!(firsts, 3, "{order:?}");
        assert_eq!(order[firsts..], default[..]);
    }
}
