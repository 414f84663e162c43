//! TLS termination: certificates loaded and checked at start (or ordered
//! and renewed by `crate::acme`), chosen by SNI, the cipher suite order
//! (`suites`), and a small rustls driver for tern's own connections
//! (`session`).

mod certs;
mod resolver;
pub mod session;
mod suites;
pub mod upstream;

use std::sync::Arc;

use rustls::crypto::ring;
use rustls::ServerConfig;

pub use certs::{load_certified_key, CertError, LoadedCert};
pub use resolver::SniResolver;
pub use suites::ServerTls;

/// One `{ cert = "...", key = "..." }` of a listener.
pub struct CertPaths<'a> {
    pub cert: &'a str,
    pub key: &'a str,
}

/// Builds a listener's server configs: TLS 1.2 and 1.3, the certificate by
/// SNI (the first one for clients that send no name), ALPN `h2` (with
/// `http2`) and `http/1.1` (and acme-tls/1 with an ACME certificate),
/// session resumption by tickets and by a session cache, and the cipher
/// suite order of `suites`.
pub fn server_config(
    certificates: &[CertPaths],
    acme: Option<Arc<crate::acme::Managed>>,
    http2: bool,
) -> Result<Arc<ServerTls>, CertError> {
    let provider = ring::default_provider();
    let mut resolver = SniResolver::default();
    for paths in certificates {
        resolver.add(load_certified_key(paths, &provider)?);
    }
    let mut alpn_protocols = match http2 {
        true => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        false => vec![b"http/1.1".to_vec()],
    };
    if let Some(managed) = acme {
        alpn_protocols.push(crate::acme::ACME_TLS_ALPN.to_vec());
        resolver.add_acme(managed);
    }
    let resolver = Arc::new(resolver);
    let build = |provider| -> Result<ServerConfig, CertError> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| CertError::new("tls", err.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = alpn_protocols.clone();
        config.ticketer =
            ring::Ticketer::new().map_err(|err| CertError::new("tls", err.to_string()))?;
        // One TLS 1.3 ticket per connection, not rustls's (and OpenSSL's)
        // two: each is sealed here and parsed and stored by the client, on
        // every full handshake, and a client reconnecting one connection
        // after another resumes with the last it got (Go sends one too).
        config.send_tls13_tickets = 1;
        Ok(config)
    };
    Ok(Arc::new(ServerTls::new(provider, build)?))
}
