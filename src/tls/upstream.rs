//! TLS to backends (`tls = true` on a backend): verified against the
//! system's roots, or only against `tls_ca`, with SNI.

use std::sync::Arc;

use rustls::crypto::ring;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};

/// A client config trusting `ca_file`'s certificates, or the system's roots.
pub fn client_config(ca_file: Option<&str>) -> Result<Arc<ClientConfig>, String> {
    let roots = match ca_file {
        Some(path) => crate::operator_file::ca_roots(std::path::Path::new(path))?,
        None => system_roots()?,
    };
    let provider = Arc::new(ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(
            "no system root certificates found (install ca-certificates, or set tls_ca)".into(),
        );
    }
    Ok(roots)
}

/// The name to send as SNI and verify: `configured`, else the host part
/// of the server as written (a name or an IP address).
pub fn server_name(configured: Option<&str>, label: &str) -> Result<ServerName<'static>, String> {
    let host = match configured {
        Some(name) => name,
        None => host_of(label),
    };
    ServerName::try_from(host.to_owned())
        .map_err(|err| format!("{host:?} is not a server name: {err}"))
}

/// "api.example:443" → "api.example"; "[::1]:443" → "::1".
fn host_of(label: &str) -> &str {
    let host = label.rsplit_once(':').map_or(label, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_label_or_the_setting() {
        let name =
            |configured, label| server_name(configured, label).map(|n| n.to_str().into_owned());
        assert_eq!(name(None, "api.example:443").as_deref(), Ok("api.example"));
        assert_eq!(name(None, "127.0.0.1:8443").as_deref(), Ok("127.0.0.1"));
        assert_eq!(name(None, "[::1]:8443").as_deref(), Ok("::1"));
        assert_eq!(
            name(Some("internal.test"), "10.0.0.1:443").as_deref(),
            Ok("internal.test")
        );
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let err = client_config(Some("/nonexistent/ca.pem")).expect_err("refused");
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
