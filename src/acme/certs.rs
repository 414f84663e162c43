//! The certificates tern makes itself with rcgen: the temporary
//! self-signed one served while the first order runs, the TLS-ALPN-01
//! challenge certificate, and the key and CSR of an order. Also turning
//! what the CA sent into a `CertifiedKey`.

use std::sync::Arc;

use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// A certificate chain and key from the CA (or storage), ready to serve.
pub struct Issued {
    pub key: Arc<CertifiedKey>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// The DNS names the certificate covers (lower case), to tell which
    /// names an older certificate can still serve.
    pub names: Vec<String>,
}

/// Served for `domains` until the CA has issued the real certificate.
pub fn self_signed(domains: &[String]) -> Result<Arc<CertifiedKey>, String> {
    let mut params = CertificateParams::new(domains.to_vec()).map_err(|e| e.to_string())?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tern temporary certificate");
    sign_self(params)
}

/// RFC 8737: a certificate for `domain` carrying the key authorization's
/// SHA-256 digest in the acmeIdentifier extension.
pub fn tls_alpn01(domain: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let mut params = CertificateParams::new(vec![domain.to_owned()]).map_err(|e| e.to_string())?;
    params.distinguished_name = DistinguishedName::new();
    params
        .custom_extensions
        .push(CustomExtension::new_acme_identifier(digest));
    sign_self(params)
}

fn sign_self(params: CertificateParams) -> Result<Arc<CertifiedKey>, String> {
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    // Not `CertifiedKey::from_der`: its key check parses the certificate
    // with webpki, which refuses the critical acmeIdentifier extension.
    let signer = provider()
        .key_provider
        .load_private_key(private)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signer,
    )))
}

/// A fresh key (PEM) and the DER CSR for `domains`.
pub fn key_and_csr(domains: &[String]) -> Result<(String, Vec<u8>), String> {
    let mut params = CertificateParams::new(domains.to_vec()).map_err(|e| e.to_string())?;
    params.distinguished_name = DistinguishedName::new();
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let csr = params.serialize_request(&key).map_err(|e| e.to_string())?;
    Ok((key.serialize_pem(), csr.der().to_vec()))
}

/// Parses a PEM chain (leaf first) and its PEM key.
pub fn issued(chain_pem: &str, key_pem: &str) -> Result<Issued, String> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("malformed certificate PEM: {e}"))?;
    let leaf = chain.first().ok_or("no certificate in the chain")?;
    let (_, cert) =
        X509Certificate::from_der(leaf).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let validity = cert.validity();
    let (not_before, not_after) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    let names = dns_names(&cert);
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("no usable private key: {e}"))?;
    let certified = CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| format!("the key does not fit the certificate: {e}"))?;
    Ok(Issued {
        key: Arc::new(certified),
        not_before,
        not_after,
        names,
    })
}

/// The certificate's DNS subject alternative names, lower case; none when
/// the extension is missing or malformed (then it covers nothing). Also
/// what `tls` reads a configured certificate's names from.
pub fn dns_names(cert: &X509Certificate) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Whether a certificate for `names` is valid for `name` (exact, or a
/// one-label wildcard as browsers match).
pub fn covers(names: &[String], name: &str) -> bool {
    let parent = name.split_once('.').map(|(_, parent)| parent);
    names.iter().any(|n| {
        n.eq_ignore_ascii_case(name)
            || n.strip_prefix("*.")
                .is_some_and(|p| parent.is_some_and(|parent| p.eq_ignore_ascii_case(parent)))
    })
}

fn provider() -> rustls::crypto::CryptoProvider {
    ring::default_provider()
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn covers_matches_exact_names_and_one_label_wildcards() {
        let names = vec!["site.test".to_owned(), "*.app.test".to_owned()];
        assert!(covers(&names, "SITE.test"));
        assert!(covers(&names, "a.app.test"));
        assert!(!covers(&names, "a.b.app.test"));
        assert!(!covers(&names, "app.test"));
        assert!(!covers(&names, "new.test"));
    }
}
