//! The `tls.acme` table of a listener, and its checks: everything `--check`
//! can know without contacting the CA.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;

use crate::one_or_many::OneOrMany;

/// Let's Encrypt's production directory, the default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
const DEFAULT_STORAGE: &str = "/var/lib/tern/acme";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeSection {
    /// The names the certificate covers; the first is its main name.
    pub domains: Vec<String>,
    /// `mailto:` addresses the CA may write to about the account.
    pub contact: Option<OneOrMany>,
    /// The CA's directory URL; default Let's Encrypt production.
    pub directory: Option<String>,
    /// A PEM root to trust for the directory's own HTTPS (instead of the
    /// system's roots): a private CA's, or Pebble's.
    pub directory_ca: Option<String>,
    /// Where the account key and the certificates are kept.
    pub storage: Option<String>,
    /// Default: HTTP-01 when the config has a plain listener, else
    /// TLS-ALPN-01.
    pub challenge: Option<ChallengeKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ChallengeKind {
    #[serde(rename = "http-01")]
    Http01,
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

impl ChallengeKind {
    pub fn name(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// A checked `tls.acme` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Lower case, in the order written.
    pub domains: Vec<String>,
    pub contact: Vec<String>,
    pub directory: String,
    pub directory_ca: Option<PathBuf>,
    pub storage: PathBuf,
    pub challenge: ChallengeKind,
}

type Problem = (String, String);

/// Where the config can answer each challenge: the CA validates HTTP-01 on
/// port 80 and TLS-ALPN-01 on port 443 (a port forward may stand between).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sites {
    /// A listener without TLS (HTTP-01 is answered on any of them).
    pub plain: bool,
    /// One of them binds port 80.
    pub plain_on_80: bool,
    /// The listener holding this `acme` table binds port 443.
    pub tls_on_443: bool,
}

impl Sites {
    /// The challenge when none is set: the one whose port the config
    /// binds, HTTP-01 first (as certbot); with neither bound (behind a port
    /// forward), HTTP-01 where a plain listener exists.
    fn default_challenge(self) -> ChallengeKind {
        if self.plain_on_80 {
            ChallengeKind::Http01
        } else if self.tls_on_443 {
            ChallengeKind::TlsAlpn01
        } else if self.plain {
            ChallengeKind::Http01
        } else {
            ChallengeKind::TlsAlpn01
        }
    }
}

/// Checks `section` (at `at`, e.g. `listener[1].tls.acme`) for a listener
/// with these challenge `sites`.
pub fn check(at: &str, section: &AcmeSection, sites: Sites) -> Result<Spec, Problem> {
    let key = |name: &str| format!("{at}.{name}");
    let domains = check_domains(section).map_err(|m| (key("domains"), m))?;
    let contact = section
        .contact
        .as_ref()
        .map_or(Vec::new(), OneOrMany::to_vec);
    if let Some(bad) = contact.iter().find(|c| !c.starts_with("mailto:")) {
        return Err((
            key("contact"),
            format!("{bad:?} is not a \"mailto:\" address"),
        ));
    }
    let directory = section.directory.as_deref().unwrap_or(LETS_ENCRYPT);
    if !directory.starts_with("https://") || directory.len() <= "https://".len() {
        return Err((
            key("directory"),
            format!("{directory:?} is not an https:// URL"),
        ));
    }
    let directory_ca = section.directory_ca.as_deref().map(PathBuf::from);
    if let Some(path) = &directory_ca {
        check_root(path).map_err(|m| (key("directory_ca"), m))?;
    }
    let storage = PathBuf::from(section.storage.as_deref().unwrap_or(DEFAULT_STORAGE));
    check_storage(&storage).map_err(|m| (key("storage"), m))?;
    let challenge = match section.challenge {
        Some(ChallengeKind::Http01) if !sites.plain => return Err((
            key("challenge"),
            "http-01 is answered on a listener without tls, and there is none (use tls-alpn-01)"
                .into(),
        )),
        Some(kind) => kind,
        None => sites.default_challenge(),
    };
    Ok(Spec {
        domains,
        contact,
        directory: directory.to_owned(),
        directory_ca,
        storage,
        challenge,
    })
}

fn check_domains(section: &AcmeSection) -> Result<Vec<String>, String> {
    if section.domains.is_empty() {
        return Err("needs at least one domain name".into());
    }
    let mut domains: Vec<String> = Vec::new();
    for name in &section.domains {
        let name = canonical(name);
        if name.starts_with("*.") {
            return Err(format!(
                "{name:?}: wildcard names need the DNS-01 challenge, which tern does not answer"
            ));
        }
        if name.parse::<IpAddr>().is_ok() || !is_dns_name(&name) {
            return Err(format!("{name:?} is not a domain name"));
        }
        if domains.contains(&name) {
            return Err(format!("{name:?} is listed twice"));
        }
        domains.push(name);
    }
    Ok(domains)
}

/// Lower case, without the root's trailing dot: the CA refuses an order
/// for `site.test.`, and SNI never carries the dot.
fn canonical(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.strip_suffix('.') {
        Some(bare) => bare.to_owned(),
        None => name,
    }
}

/// Letters, digits and inner hyphens, in labels of 1 to 63 characters.
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn check_root(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let pem = crate::operator_file::read(path)
        .map_err(|e| format!("{shown}: cannot read certificates: {e}"))?;
    let mut certs = CertificateDer::pem_slice_iter(&pem);
    match certs.next() {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(format!("{shown}: malformed PEM: {e}")),
        None => Err(format!("{shown}: no certificate in the file")),
    }
}

/// The directory may not exist yet (tern creates it, owner-only), but
/// its parent must, and it must not be a file. tern must be able to write
/// there: a certificate it cannot store would be ordered again at every
/// start, into the CA's duplicate-certificate limit.
fn check_storage(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("is empty".into());
    }
    if path.exists() {
        return match path.is_dir() {
            true => check_writable(path),
            false => Err(format!("{} is not a directory", path.display())),
        };
    }
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() && !parent.is_dir() => {
            Err(format!("the directory {} does not exist", parent.display()))
        }
        Some(parent) if !parent.as_os_str().is_empty() => check_writable(parent),
        _ => check_writable(Path::new(".")),
    }
}

/// Creates and removes a file in `dir`: permissions, read-only mounts and
/// ownership all show, as they would to the ACME thread.
fn check_writable(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(".tern-check-{}", std::process::id()));
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    match created {
        Ok(_) => std::fs::remove_file(&probe)
            .map_err(|e| format!("cannot remove {}: {e}", probe.display())),
        Err(e) => Err(format!("tern cannot write in {}: {e}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_checked() {
        assert!(is_dns_name("example.com"));
        assert!(is_dns_name("www.ex-ample.com."));
        assert!(!is_dns_name("-bad.com"));
        assert!(!is_dns_name("a..b"));
        assert!(!is_dns_name("under_score.com"));
        assert!(!is_dns_name(""));
    }

    fn section(domains: &[&str]) -> AcmeSection {
        AcmeSection {
            domains: domains.iter().map(|d| (*d).to_owned()).collect(),
            contact: None,
            directory: None,
            directory_ca: None,
            storage: None,
            challenge: None,
        }
    }

    /// A plain listener on another port (8080 for health checks, say) no
    /// longer makes HTTP-01 the default where TLS is on 443: the CA would
    /// knock on port 80 and find nothing.
    #[test]
    fn the_default_challenge_is_the_one_whose_port_is_bound() {
        let default = |plain, plain_on_80, tls_on_443| {
            let sites = Sites {
                plain,
                plain_on_80,
                tls_on_443,
            };
            let writable = std::env::temp_dir().display().to_string();
            let section = AcmeSection {
                storage: Some(writable),
                ..section(&["site.test"])
            };
            check("t", &section, sites).map(|spec| spec.challenge)
        };
        use ChallengeKind::*;
        assert_eq!(default(true, true, true), Ok(Http01), "port 80 bound");
        assert_eq!(default(true, false, true), Ok(TlsAlpn01), "443 only");
        assert_eq!(default(true, false, false), Ok(Http01), "a port forward");
        assert_eq!(default(false, false, false), Ok(TlsAlpn01), "no plain");
    }

    #[test]
    fn a_trailing_dot_is_dropped_from_domains() {
        let checked = check_domains(&section(&["Site.Test.", "www.site.test"]));
        assert_eq!(
            checked,
            Ok(vec!["site.test".to_owned(), "www.site.test".to_owned()])
        );
        let twice = check_domains(&section(&["site.test.", "site.test"]));
        assert_eq!(twice, Err("\"site.test\" is listed twice".to_owned()));
        assert!(check_domains(&section(&["."])).is_err());
    }
}
