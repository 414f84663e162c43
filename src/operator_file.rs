//! Reading a file an operator names: the config itself, certificates,
//! keys and CA bundles. Only a regular file is read, and no more of it
//! than `MAX_BYTES`.
//!
//! A reload reads these on the main thread, and the running tern must
//! outlive a bad one. Named for a certificate, `/dev/zero` was read without
//! end until the process ran out of memory (nginx -t refuses it at once),
//! and a FIFO blocked the main thread, and with it every signal, until
//! something wrote to it. The file is opened non-blocking (opening a FIFO
//! for reading waits for a writer otherwise), then refused unless it is a
//! regular file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The most bytes read from one file: a CA bundle is some 200 KiB, a
/// certificate chain a few KiB, a config less than a megabyte.
pub const MAX_BYTES: u64 = 16 << 20;

/// The CA certificates in the PEM file at `path`, as trust roots (a
/// backend's `tls_ca`, ACME's `directory_ca`); refused when it holds none.
pub fn ca_roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let pem = read(path).map_err(|err| format!("{shown}: cannot read certificates: {err}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|err| format!("{shown}: malformed PEM: {err}"))?;
        roots
            .add(cert)
            .map_err(|err| format!("{shown}: not a usable CA certificate: {err}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{shown}: no certificate in the file"));
    }
    Ok(roots)
}

/// The whole of the regular file at `path`, at most `MAX_BYTES`.
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let size = regular_size(&file)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(MAX_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// `read`, as UTF-8 text.
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// The size of `file`, when it is a regular file no larger than the cap.
fn regular_size(file: &File) -> io::Result<u64> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a device, a FIFO or a directory)",
        ));
    }
    if meta.len() > MAX_BYTES {
        return Err(too_large());
    }
    Ok(meta.len())
}

fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("larger than {} MiB", MAX_BYTES >> 20),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_read_whole() {
        let path = std::env::temp_dir().join(format!("tern-operator-file-{}", std::process::id()));
        std::fs::write(&path, b"-----BEGIN CERTIFICATE-----\n").expect("write");
        let read = read(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(read.expect("read"), b"-----BEGIN CERTIFICATE-----\n");
    }

    #[test]
    fn a_device_a_fifo_and_a_directory_are_refused_at_once() {
        let fifo = std::env::temp_dir().join(format!("tern-operator-fifo-{}", std::process::id()));
        let name = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
        // SAFETY: `name` is a valid NUL-terminated path for the call.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        // Without O_NONBLOCK this open would wait for a writer, for ever.
        let from_fifo = read(&fifo);
        let _ = std::fs::remove_file(&fifo);
        for refused in [read("/dev/zero"), from_fifo, read("/")] {
            let err = refused.expect_err("refused");
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
    }
}
