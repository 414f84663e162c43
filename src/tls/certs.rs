//! Loading a certificate chain and its key, refusing what would only fail
//! later: unreadable or empty files, malformed PEM, a key that doesn't
//! match. Errors name the file. An expired or not-yet-valid certificate is
//! loaded, with a warning: nginx and HAProxy load one too, and refusing it
//! stopped tern from starting and, once a served certificate expired,
//! refused every reload while the running process went on serving it.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use x509_parser::prelude::{ASN1Time, FromDer, X509Certificate};

use super::CertPaths;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertError {
    /// The file (or setting) the problem is in.
    pub file: String,
    pub message: String,
}

impl CertError {
    pub fn new(file: &str, message: impl Into<String>) -> Self {
        CertError {
            file: file.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// A certificate ready to serve, with the DNS names it is valid for.
pub struct LoadedCert {
    pub key: Arc<CertifiedKey>,
    /// Lower-case names from subjectAltName (or the CN when there are none);
    /// wildcards keep their `*.` prefix.
    pub names: Vec<String>,
    /// Why it is worth a warning when it is not valid now (expired, or not
    /// yet valid), naming the file and its dates.
    pub validity_warning: Option<String>,
}

pub fn load_certified_key(
    paths: &CertPaths,
    provider: &CryptoProvider,
) -> Result<LoadedCert, CertError> {
    let chain = load_chain(paths.cert)?;
    let pem = crate::operator_file::read(paths.key)
        .map_err(|err| CertError::new(paths.key, format!("cannot read the key: {err}")))?;
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|err| CertError::new(paths.key, format!("no usable private key: {err}")))?;
    let (names, validity_warning) = read_end_entity(paths.cert, &chain[0])?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|err| {
        CertError::new(
            paths.key,
            format!("key does not fit the certificate {}: {err}", paths.cert),
        )
    })?;
    Ok(LoadedCert {
        key: Arc::new(certified),
        names,
        validity_warning,
    })
}

fn load_chain(path: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let pem = crate::operator_file::read(path)
        .map_err(|err| CertError::new(path, format!("cannot read certificates: {err}")))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| CertError::new(path, format!("malformed PEM: {err}")))?;
    if chain.is_empty() {
        return Err(CertError::new(path, "no certificate in the file"));
    }
    Ok(chain)
}

/// The names the certificate covers, and a warning when it is not valid
/// now.
fn read_end_entity(
    path: &str,
    der: &CertificateDer,
) -> Result<(Vec<String>, Option<String>), CertError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|err| CertError::new(path, format!("not an X.509 certificate: {err}")))?;
    let warning = validity_warning(&cert).map(|why| format!("{path}: {why}"));
    Ok((dns_names(&cert), warning))
}

/// `None` while the certificate is valid; else what is wrong with its
/// dates, in the terms `openssl x509 -dates` uses. A warning, not an
/// error: a client that checks dates refuses the certificate whether tern
/// loads it or not, and a refusal here only stopped starts and reloads.
fn validity_warning(cert: &X509Certificate) -> Option<String> {
    let validity = cert.validity();
    if validity.is_valid() {
        return None;
    }
    let state = match validity.not_after < ASN1Time::now() {
        true => "has expired",
        false => "is not valid yet",
    };
    Some(format!(
        "the certificate {state} (notBefore {}, notAfter {}): served all the same, as nginx \
         and HAProxy do, but clients that check dates refuse it",
        validity.not_before, validity.not_after
    ))
}

/// The names from subjectAltName, else the CN (as older certificates
/// carry them).
fn dns_names(cert: &X509Certificate) -> Vec<String> {
    let from_san = crate::acme::dns_names(cert);
    if !from_san.is_empty() {
        return from_san;
    }
    cert.subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .map(str::to_ascii_lowercase)
        .collect()
}
