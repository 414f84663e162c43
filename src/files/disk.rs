//! Reading a static file's bytes without the worker waiting on the disk.
//!
//! A worker that calls `pread` or `sendfile` for bytes the page cache
//! doesn't hold sleeps until the disk delivers them, and every connection
//! it holds waits with it (nginx does the same unless `aio threads` is
//! configured). So a read is first tried with `preadv2(RWF_NOWAIT)`, which
//! takes what the cache holds and never waits; what it can't take is read
//! through the ring, where the kernel waits for the disk while the worker
//! goes on (io_uring waits on the page, or hands the read to one of its own
//! threads on filesystems that can't). Those reads are counted
//! (`tern_static_disk_reads_total`).
//!
//! `sendfile` has no such flag, so before each piece `in_cache` asks
//! `cachestat(2)` (Linux 6.5) whether all of its pages are cached; when not,
//! the caller copies the rest through a buffer with `read_at`. A kernel
//! without `cachestat` gets the blocking `sendfile` of before (found once,
//! not asked again). A filesystem that can't read without waiting (FUSE,
//! some network filesystems: EOPNOTSUPP) has every read go through the ring.
//! The epoll driver's file reads are plain `pread`s: they block as before.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use monoio::buf::{IoBufMut, SliceMut};

/// Reads that waited for the disk through the ring, since start.
static DISK_READS: AtomicU64 = AtomicU64::new(0);
/// Set once the kernel turned out to have no `cachestat`.
static NO_CACHESTAT: AtomicBool = AtomicBool::new(false);

/// `cachestat`'s number: the same on every architecture (new system calls
/// share one table since 5.1); the libc crate doesn't name it for glibc.
const SYS_CACHESTAT: libc::c_long = 451;
const PAGE: u64 = 4096;

/// Static file reads that had to wait for the disk (through the ring).
pub fn disk_reads() -> u64 {
    DISK_READS.load(Relaxed)
}

/// Reads at most `want` bytes at `offset` into `buf` after the bytes it
/// holds (growing it if it must); returns how many were read, 0 at the end
/// of the file.
pub async fn read_at(
    file: &File,
    mut buf: Vec<u8>,
    offset: u64,
    want: usize,
) -> (io::Result<usize>, Vec<u8>) {
    buf.reserve(want);
    match read_cached(file, &mut buf, offset, want) {
        Some(read) => (read, buf),
        None => {
            DISK_READS.fetch_add(1, Relaxed);
            read_through_ring(file, buf, offset, want).await
        }
    }
}

/// Reads exactly `len` bytes at `offset` after the bytes `buf` holds;
/// `UnexpectedEof` if the file ends first.
pub async fn read_exact_at(
    file: &File,
    mut buf: Vec<u8>,
    mut offset: u64,
    len: usize,
) -> (io::Result<()>, Vec<u8>) {
    buf.reserve(len);
    let end = buf.len() + len;
    while buf.len() < end {
        let want = end - buf.len();
        let (read, back) = read_at(file, buf, offset, want).await;
        buf = back;
        match read {
            Ok(0) => return (Err(io::ErrorKind::UnexpectedEof.into()), buf),
            Ok(n) => offset += n as u64,
            Err(err) => return (Err(err), buf),
        }
    }
    (Ok(()), buf)
}

/// Whether every page of `len` bytes at `offset` is in the page cache
/// (true where the kernel can't tell: the old behaviour).
pub fn in_cache(file: &File, offset: u64, len: usize) -> bool {
    if len == 0 || NO_CACHESTAT.load(Relaxed) {
        return true;
    }
    let range = CachestatRange {
        off: offset,
        len: len as u64,
    };
    let mut stat = Cachestat::default();
    // SAFETY: both structs are the kernel's layout and live for the call;
    // the descriptor is open.
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const CachestatRange,
            &mut stat as *mut Cachestat,
            0,
        )
    };
    if rc != 0 {
        if io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
            NO_CACHESTAT.store(true, Relaxed);
        }
        return true;
    }
    let pages = (offset + len as u64 - 1) / PAGE - offset / PAGE + 1;
    stat.nr_cache >= pages
}

/// `struct cachestat_range`.
#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

/// `struct cachestat`.
#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// What the page cache holds at `offset`, read without waiting: None when
/// it holds nothing there (the read must wait for the disk), or when the
/// filesystem can't read without waiting (FUSE, for one: EOPNOTSUPP).
fn read_cached(
    file: &File,
    buf: &mut Vec<u8>,
    offset: u64,
    want: usize,
) -> Option<io::Result<usize>> {
    let Ok(at) = libc::off_t::try_from(offset) else {
        return Some(Err(io::ErrorKind::InvalidInput.into()));
    };
    loop {
        let spare = &mut buf.spare_capacity_mut()[..want];
        let iov = libc::iovec {
            iov_base: spare.as_mut_ptr().cast(),
            iov_len: spare.len(),
        };
        // SAFETY: the iovec points at `want` bytes of `buf`'s spare
        // capacity, which nothing else touches during the call.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, at, libc::RWF_NOWAIT) };
        if n >= 0 {
            let read = n as usize;
            // SAFETY: the kernel wrote `read` bytes right after `len`.
            unsafe { buf.set_len(buf.len() + read) };
            return Some(Ok(read));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN | libc::EOPNOTSUPP) => return None,
            Some(libc::EINTR) => {}
            _ => return Some(Err(err)),
        }
    }
}

/// Reads through the ring, on a duplicate of the descriptor (monoio's file
/// owns and closes its own). Without a descriptor to spare, reads in place.
async fn read_through_ring(
    file: &File,
    buf: Vec<u8>,
    offset: u64,
    want: usize,
) -> (io::Result<usize>, Vec<u8>) {
    let ring_file = match file.try_clone().and_then(monoio::fs::File::from_std) {
        Ok(ring_file) => ring_file,
        Err(_) => return read_in_place(file, buf, offset, want),
    };
    let from = buf.len();
    let target: SliceMut<Vec<u8>> = buf.slice_mut(from..from + want);
    let (read, target) = ring_file.read_at(target, offset).await;
    (read, target.into_inner())
}

/// A blocking read: what every read was before.
fn read_in_place(
    file: &File,
    mut buf: Vec<u8>,
    offset: u64,
    want: usize,
) -> (io::Result<usize>, Vec<u8>) {
    use std::os::unix::fs::FileExt;
    let from = buf.len();
    buf.resize(from + want, 0);
    let read = file.read_at(&mut buf[from..], offset);
    buf.truncate(from + *read.as_ref().unwrap_or(&0));
    (read, buf)
}
