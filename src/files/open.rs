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
//! The worker must not wait for a disk to look a name up (nginx's worker
//! does, even with `aio threads`). So the worker's `openat2` carries
//! `RESOLVE_CACHED` (Linux 5.12): the kernel opens the file only if every
//! name on the way is in its caches, else says EAGAIN without touching the
//! disk. Such a name is looked up on the worker after all where that is
//! quick (a local disk that has been: `lookups.rs`), else opened by one of
//! the file threads (`opener.rs`) while the worker serves its other
//! connections, and the request answered again with it (`opened.rs`). Its
//! `fstat` then comes from the inode in memory. A kernel without the flag
//! (EINVAL, found once) opens in place, blocking, as before.

use std::ffi::{CStr, CString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::deny::Deny;
use super::lookups::SLOW_LOOKUP;
use super::opened::Opened;
use super::site::StaticSite;

/// Set once `openat2` turned out to be unavailable, so it isn't tried again.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);
/// Set once the kernel refused `RESOLVE_CACHED` (before 5.12).
static NO_RESOLVE_CACHED: AtomicBool = AtomicBool::new(false);

/// A file opened, with what `fstat` said of it.
pub type OpenFile = (File, Metadata);

/// Opens `rel` (as produced by `decode::relative_path`; empty for the root
/// itself) read-only, and `fstat`s it. `O_NONBLOCK` so that a FIFO in the
/// tree can't block the worker; it changes nothing for regular files and
/// directories. A file whose lookup would need the disk is not opened:
/// `Deny::Uncached`, its name left in `opened` for a file thread (unless
/// `opened` says this request has waited enough: then in place).
pub fn open_beneath(site: &StaticSite, rel: &[u8], opened: &mut Opened) -> Result<OpenFile, Deny> {
    if let Some(found) = opened.get(rel) {
        return found;
    }
    let c_rel = c_path(rel).map_err(|_| Deny::Forbidden("NUL"))?;
    let cached_only = !opened.may_wait();
    let result = site.root.with(|root_fd, root| {
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            match openat2_beneath(root_fd, &c_rel, cached_only) {
                Err(err) if matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                result => return result,
            }
        }
        open_checked(root, rel)
    });
    let result = match result {
        Err(err) if err.raw_os_error() == Some(libc::EAGAIN) => {
            if site.lookups.hand_off(site.root.is_remote()) {
                opened.missing(rel);
                return Err(Deny::Uncached);
            }
            look_up_here(site, &c_rel)
        }
        result => result,
    };
    result.and_then(with_metadata).map_err(deny_of)
}

/// A name the kernel's caches don't hold, on a local disk that has been
/// quick: looked up on the worker, timed (`lookups.rs`).
fn look_up_here(site: &StaticSite, rel: &CStr) -> io::Result<File> {
    let slept_before = times_slept();
    let started = Instant::now();
    let result = site
        .root
        .with(|root_fd, _| openat2_beneath(root_fd, rel, false));
    let took = started.elapsed();
    // Whether it slept matters only for a slow one: asked only then.
    let slept = took > SLOW_LOOKUP && times_slept() != slept_before;
    site.lookups.took(took, slept);
    result
}

/// How many times this thread has slept (voluntary context switches): a
/// lookup that waited for the disk slept; one the scheduler merely
/// interrupted did not.
fn times_slept() -> i64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes only the struct it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return 0;
    }
    usage.ru_nvcsw
}

/// Opens `rel` beneath `root_fd`, waiting for the disk if it must: a file
/// thread's work.
pub fn open_waiting(root_fd: BorrowedFd<'_>, rel: &CStr) -> Result<OpenFile, Deny> {
    openat2_beneath(root_fd, rel, false)
        .and_then(with_metadata)
        .map_err(deny_of)
}

/// `rel` as a C string; "." for the root itself.
pub fn c_path(rel: &[u8]) -> Result<CString, std::ffi::NulError> {
    CString::new(if rel.is_empty() { b"." as &[u8] } else { rel })
}

fn with_metadata(file: File) -> io::Result<OpenFile> {
    let meta = file.metadata()?;
    Ok((file, meta))
}

/// `struct open_how` of openat2(2); libc's is non-exhaustive, so it can't
/// be written as a literal.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `cached_only`: `RESOLVE_CACHED`, where the kernel has it; EAGAIN when
/// the lookup would need the disk.
fn openat2_beneath(root_fd: BorrowedFd<'_>, rel: &CStr, cached_only: bool) -> io::Result<File> {
    let cached_only = cached_only && !NO_RESOLVE_CACHED.load(Ordering::Relaxed);
    let resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    let how = OpenHow {
        flags: (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK) as u64,
        mode: 0,
        resolve: if cached_only {
            resolve | libc::RESOLVE_CACHED
        } else {
            resolve
        },
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
        let err = io::Error::last_os_error();
        // A kernel before 5.12 doesn't know the flag: open as before.
        if cached_only && err.raw_os_error() == Some(libc::EINVAL) {
            NO_RESOLVE_CACHED.store(true, Ordering::Relaxed);
            return openat2_beneath(root_fd, rel, false);
        }
        return Err(err);
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
