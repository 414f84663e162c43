//! Opening a file beneath the root.
//!
//! `openat2(RESOLVE_BENEATH)` relative to the root's descriptor makes the
//! kernel refuse any resolution that leaves the root — a `..` that slipped
//! through, or a symlink pointing outside — while symlinks that stay inside
//! keep working. Where `openat2` is missing (Linux < 5.6, some seccomp
//! filters) the path is canonicalized and checked against the root instead,
//! which leaves a window for a symlink swapped in between; the root is the
//! operator's, so that is accepted there.
//!
//! Opening and `fstat` are blocking system calls on the worker, as in nginx
//! without aio: fine for local disks, where they are served from the cache.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::deny::Deny;
use super::site::StaticSite;

/// Set once `openat2` turned out to be unavailable, so it isn't tried again.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `rel` (as produced by `decode::relative_path`; empty for the root
/// itself) read-only. `O_NONBLOCK` so that a FIFO in the tree can't block
/// the worker; it changes nothing for regular files and directories.
pub fn open_beneath(site: &StaticSite, rel: &[u8]) -> Result<File, Deny> {
    let rel = if rel.is_empty() { b"." as &[u8] } else { rel };
    let c_rel = CString::new(rel).map_err(|_| Deny::Forbidden("NUL"))?;
    site.root
        .with(|root_fd, root| {
            if !NO_OPENAT2.load(Ordering::Relaxed) {
                match openat2_beneath(root_fd, &c_rel) {
                    Err(err) if matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                        NO_OPENAT2.store(true, Ordering::Relaxed);
                    }
                    result => return result,
                }
            }
            open_checked(root, rel)
        })
        .map_err(deny_of)
}

/// `struct open_how` of openat2(2); libc's is non-exhaustive, so it can't
/// be written as a literal.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn openat2_beneath(root_fd: BorrowedFd<'_>, rel: &CString) -> io::Result<File> {
    let how = OpenHow {
        flags: (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK) as u64,
        mode: 0,
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `rel` is a valid C string and `how` a valid open_how of the
    // size passed; the kernel reads both during the call only.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root_fd.as_raw_fd(),
            rel.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("descriptor out of range"))?;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// The fallback: resolve every symlink, then insist the result is under root.
fn open_checked(root: &Path, rel: &[u8]) -> io::Result<File> {
    let joined = root.join(std::ffi::OsStr::from_bytes(rel));
    let real = std::fs::canonicalize(joined)?;
    if !real.starts_with(root) {
        return Err(io::Error::from_raw_os_error(libc::EXDEV));
    }
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(real)
}

fn deny_of(err: io::Error) -> Deny {
    match err.raw_os_error() {
        // The resolution would have left the root.
        Some(libc::EXDEV) => Deny::Forbidden("outside the root"),
        Some(libc::EACCES | libc::EPERM) => Deny::Forbidden("permission denied"),
        Some(libc::ELOOP) => Deny::Forbidden("too many symlinks"),
        _ => Deny::NotFound,
    }
}
