//! The `storage` directory: the account's credentials per CA directory and
//! each certificate with its key, owner-only (0700 directories, 0600
//! files), written to a temporary file and renamed so that a crash never
//! leaves half a file. Names are derived with a hash that is stable across
//! builds, so a restart or a new binary finds what the old one stored.
//!
//! ```text
//! storage/account-<hash of directory URL>.json
//! storage/<first domain>-<hash of the domain set>/cert.pem, key.pem,
//!     directory (the URL of the CA that issued it)
//! ```

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::config::Spec;

/// The files of one certificate.
pub struct CertFiles {
    pub dir: PathBuf,
}

impl CertFiles {
    pub fn of(spec: &Spec) -> Self {
        let mut sorted = spec.domains.clone();
        sorted.sort();
        let name = format!(
            "{}-{:016x}",
            spec.domains[0],
            fnv1a(sorted.join(",").as_bytes())
        );
        CertFiles {
            dir: spec.storage.join(name),
        }
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    /// The stored chain and key, when both are there.
    pub fn load(&self) -> Option<(String, String)> {
        let cert = fs::read_to_string(self.cert()).ok()?;
        let key = fs::read_to_string(self.key()).ok()?;
        Some((cert, key))
    }

    /// The directory URL of the CA that issued the stored certificate.
    fn directory_file(&self) -> PathBuf {
        self.dir.join("directory")
    }

    /// Whether the stored certificate was issued from `directory`. The
    /// path is keyed by the domains only, so a certificate from staging
    /// would otherwise be served (and not ordered again until renewal)
    /// after `directory` switched to production. One stored before the
    /// record existed is nobody's: ordered again, once.
    pub fn issued_by(&self, directory: &str) -> bool {
        fs::read_to_string(self.directory_file()).is_ok_and(|stored| stored.trim() == directory)
    }

    /// Whether the stored certificate was issued by a CA other than
    /// `directory` (false when unknown: stored before the record existed).
    pub fn issued_by_another(&self, directory: &str) -> bool {
        fs::read_to_string(self.directory_file()).is_ok_and(|stored| stored.trim() != directory)
    }

    /// Stores a new chain and key (key first: a chain without its key is
    /// never left behind as the newer file), then the CA's directory URL
    /// (last: a crash before it leaves a certificate that is ordered again).
    pub fn save(&self, storage: &Path, chain: &str, key: &str, directory: &str) -> io::Result<()> {
        private_dir(storage)?;
        private_dir(&self.dir)?;
        write_private(&self.key(), key.as_bytes())?;
        write_private(&self.cert(), chain.as_bytes())?;
        write_private(&self.directory_file(), directory.as_bytes())
    }
}

/// The account's credentials (JSON) for the CA at `directory`.
pub fn account_file(storage: &Path, directory: &str) -> PathBuf {
    storage.join(format!("account-{:016x}.json", fnv1a(directory.as_bytes())))
}

/// Creates `dir` (and missing parents) owner-only, and narrows an existing
/// one to the owner.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Writes `bytes` to `path` (mode 0600) through a temporary file.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    // An older file may have been created with wider permissions.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, path)
}

/// FNV-1a, 64 bits: stable across Rust versions, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_name_hash_does_not_change() {
        // Stored names depend on it: a change would reorder every certificate.
        assert_eq!(super::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
