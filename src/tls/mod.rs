//! TLS termination: certificates loaded and checked at start (or ordered
//! and renewed by `crate::acme`), chosen by SNI and by the key types the
//! client can verify (`resolver`), the cipher suite order (`suites`), and a
//! small rustls driver for tern's own connections (`session`).

mod certs;
mod resolver;
pub mod session;
mod suites;
pub mod upstream;

use std::sync::Arc;

use rustls::crypto::ring;
use rustls::ServerConfig;

pub use certs::{load_certified_key, CertError, LoadedCert};
pub use resolver::{Shadowed, SniResolver};
pub use suites::ServerTls;

/// One `{ cert = "...", key = "..." }` of a listener.
pub struct CertPaths<'a> {
    pub cert: &'a str,
    pub key: &'a str,
}

/// Something about a listener's certificates that does not stop it
/// loading but that its operator should hear of (at start, on a reload, in
/// `--check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertWarning {
    /// Under the listener's `tls`: `certificates[1]`, `acme`.
    pub key: String,
    pub message: String,
}

/// Builds a listener's server configs: TLS 1.2 and 1.3, the certificate by
/// SNI (the first one for clients that send no name) and by the client's
/// signature schemes, ALPN `h2` (with `http2`) and `http/1.1` (and
/// acme-tls/1 with an ACME certificate), session resumption by tickets and
/// by a session cache, and the cipher suite order of `suites`. Also what
/// is worth a warning about the certificates.
pub fn server_config(
    certificates: &[CertPaths],
    acme: Option<Arc<crate::acme::Managed>>,
    http2: bool,
) -> Result<(Arc<ServerTls>, Vec<CertWarning>), CertError> {
    let provider = ring::default_provider();
    let mut resolver = SniResolver::default();
    let mut warnings = add_files(&mut resolver, certificates, &provider)?;
    let mut alpn_protocols = match http2 {
        true => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        false => vec![b"http/1.1".to_vec()],
    };
    if let Some(managed) = acme {
        alpn_protocols.push(crate::acme::ACME_TLS_ALPN.to_vec());
        let shadowed = resolver.add_acme(managed);
        warnings.extend(shadowed_warnings("acme", "", &shadowed, certificates));
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
    Ok((Arc::new(ServerTls::new(provider, build)?), warnings))
}

/// Loads each `{ cert, key }` and adds it to `resolver`; returns what is
/// worth a warning about them: dates, names another already has.
fn add_files(
    resolver: &mut SniResolver,
    certificates: &[CertPaths],
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Vec<CertWarning>, CertError> {
    let mut warnings = Vec::new();
    for (index, paths) in certificates.iter().enumerate() {
        let loaded = load_certified_key(paths, provider)?;
        let key = format!("certificates[{index}]");
        let dates = loaded.validity_warning.clone().map(|message| CertWarning {
            key: key.clone(),
            message,
        });
        warnings.extend(dates);
        let shadowed = resolver.add(loaded);
        let file = format!("{}: ", paths.cert);
        warnings.extend(shadowed_warnings(&key, &file, &shadowed, certificates));
    }
    Ok(warnings)
}

/// One warning per earlier certificate that keeps names from the one at
/// `key` (`file` names its file, or is empty): two certificates of one key
/// type for a name are one too many, and the later is not served for it.
/// A warning, not a refusal: nginx keeps the first of two `server` blocks
/// claiming a name with a warning too, and a certificate overlapping
/// another (a new one added before the old is removed) must not stop a
/// reload.
fn shadowed_warnings(
    key: &str,
    file: &str,
    shadowed: &[Shadowed],
    certificates: &[CertPaths],
) -> Vec<CertWarning> {
    let mut earlier: Vec<usize> = shadowed.iter().map(|s| s.earlier).collect();
    earlier.sort_unstable();
    earlier.dedup();
    let warning = |ordinal: usize| {
        let kept: Vec<&Shadowed> = shadowed.iter().filter(|s| s.earlier == ordinal).collect();
        let other = match certificates.get(ordinal) {
            Some(paths) => format!("certificates[{ordinal}] ({})", paths.cert),
            None => "the acme certificate".to_owned(),
        };
        CertWarning {
            key: key.to_owned(),
            message: format!("{file}{}", kept_by(&kept, &other)),
        }
    };
    earlier.into_iter().map(warning).collect()
}

/// `"a.example", "b.example" already have an ECDSA certificate, OTHER,
/// which is served for them; this one is not (...)`.
fn kept_by(kept: &[&Shadowed], other: &str) -> String {
    let names: Vec<String> = kept.iter().map(|s| format!("{:?}", s.name)).collect();
    let algorithm = kept.first().map_or("", |s| s.algorithm.as_str());
    let (has, it) = match names.len() {
        1 => ("has", "it"),
        _ => ("have", "them"),
    };
    format!(
        "{} already {has} an {algorithm} certificate, {other}, which is served for {it}; \
         this one is not (one certificate per key type and name)",
        names.join(", ")
    )
}
