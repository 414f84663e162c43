//! Reading a static file's bytes without the worker waiting on the disk.
//!
//! A worker that calls `pread` or `sendfile` for bytes the page cache
//! doesn't hold sleeps until the disk delivers them, and every connection
//! it holds waits with it (nginx does the same unless `aio threads` is
//! configured). So a read is first tried with `preadv2(RWF_NOWAIT)`, which
//! takes what the cache holds and never waits; what it can't take is read
//! through the ring, where the kernel waits for the disk while the worker
//! goes on (io_uring waits on the page, or hands the read to one of its own
//! threads on filesystems that can't), on one duplicate of the descriptor
//! per `Reader` (per response). Those reads are counted
//! (`tern_static_disk_reads_total`).
//!
//! `sendfile` has no such flag, so before each piece `in_cache` asks
//! `cachestat(2)` (Linux 6.5) whether all of its pages are cached; when not,
//! the caller copies the rest through a buffer with a `Reader`. A kernel
//! without `cachestat`, or a seccomp filter that forbids it, gets the
//! blocking `sendfile` of before (found once, not asked again). A
//! filesystem that can't read without waiting (FUSE, some network
//! filesystems: EOPNOTSUPP) has every read go through the ring. The epoll
//! driver's file reads are plain `pread`s: there a file thread reads instead
//! (`opener::on_file_thread`); its `sendfile` of uncached bytes is avoided
//! the same way as io_uring's.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use monoio::buf::{IoBufMut, SliceMut};

/// Reads that waited for the disk through the ring, since start.
static DISK_READS: AtomicU64 = AtomicU64::new(0);
/// Set once `cachestat` turned out to be missing or forbidden.
static NO_CACHESTAT: AtomicBool = AtomicBool::new(false);

/// `cachestat`'s number: the same on every architecture (new system calls
/// share one table since 5.1); the libc crate doesn't name it for glibc.
const SYS_CACHESTAT: libc::c_long = 451;

/// Static file reads that had to wait for the disk (through the ring).
pub fn disk_reads() -> u64 {
    DISK_READS.load(Relaxed)
}

/// Reads one file: from the page cache at once, else through the ring, on
/// a duplicate of the descriptor made at the first read that needs it and
/// kept for the rest (monoio's file owns and closes its own).
pub struct Reader<'f> {
    file: &'f File,
    ring_file: Option<monoio::fs::File>,
    /// The epoll driver's: a duplicate a file thread reads from.
    thread_file: Option<Arc<File>>,
}

impl<'f> Reader<'f> {
    pub fn new(file: &'f File) -> Reader<'f> {
        Reader {
            file,
            ring_file: None,
            thread_file: None,
        }
    }

    /// Reads at most `want` bytes at `offset` into `buf` after the bytes it
    /// holds (growing it if it must); returns how many were read, 0 at the
    /// end of the file.
    pub async fn read_at(
        &mut self,
        mut buf: Vec<u8>,
        offset: u64,
        want: usize,
    ) -> (io::Result<usize>, Vec<u8>) {
        buf.reserve(want);
        match read_cached(self.file, &mut buf, offset, want) {
            Some(read) => (read, buf),
            None => {
                DISK_READS.fetch_add(1, Relaxed);
                self.read_through_ring(buf, offset, want).await
            }
        }
    }

    /// Reads exactly `len` bytes at `offset` after the bytes `buf` holds;
    /// `UnexpectedEof` if the file ends first.
    pub async fn read_exact_at(
        &mut self,
        mut buf: Vec<u8>,
        mut offset: u64,
        len: usize,
    ) -> (io::Result<()>, Vec<u8>) {
        let end = buf.len() + len;
        while buf.len() < end {
            let want = end - buf.len();
            let (read, back) = self.read_at(buf, offset, want).await;
            buf = back;
            match read {
                Ok(0) => return (Err(io::ErrorKind::UnexpectedEof.into()), buf),
                Ok(n) => offset += n as u64,
                Err(err) => return (Err(err), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Reads through the ring; without a descriptor to spare for it, in
    /// place.
    async fn read_through_ring(
        &mut self,
        buf: Vec<u8>,
        offset: u64,
        want: usize,
    ) -> (io::Result<usize>, Vec<u8>) {
        if crate::runtime::on_epoll() {
            return self.read_on_a_file_thread(buf, offset, want).await;
        }
        if self.ring_file.is_none() {
            let made = self.file.try_clone().and_then(monoio::fs::File::from_std);
            self.ring_file = made.ok();
        }
        let Some(ring_file) = &self.ring_file else {
            return read_in_place(self.file, buf, offset, want);
        };
        let from = buf.len();
        let target: SliceMut<Vec<u8>> = buf.slice_mut(from..from + want);
        let (read, target) = ring_file.read_at(target, offset).await;
        (read, target.into_inner())
    }

    /// The epoll driver's file reads are plain `pread`s that would stop the
    /// worker: a file thread reads instead (into a buffer of its own, copied
    /// after `buf`'s bytes), on a duplicate of the descriptor kept for the
    /// response; in place when there is none to spare.
    async fn read_on_a_file_thread(
        &mut self,
        buf: Vec<u8>,
        offset: u64,
        want: usize,
    ) -> (io::Result<usize>, Vec<u8>) {
        if self.thread_file.is_none() {
            self.thread_file = self.file.try_clone().ok().map(Arc::new);
        }
        let Some(file) = &self.thread_file else {
            return read_in_place(self.file, buf, offset, want);
        };
        let read = super::opener::on_file_thread(None, || {
            let file = Arc::clone(file);
            move || read_in_place(&file, Vec::new(), offset, want)
        })
        .await;
        match read {
            Ok((Ok(n), bytes)) => {
                let mut buf = buf;
                buf.extend_from_slice(&bytes);
                (Ok(n), buf)
            }
            Ok((Err(err), _)) => (Err(err), buf),
            Err(super::deny::Deny::Busy) => {
                (Err(io::Error::other("the file threads stayed busy")), buf)
            }
            Err(_) => (Err(io::Error::other("the file thread's read ended")), buf),
        }
    }
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
        // ENOSYS: before Linux 6.5; EPERM: a seccomp filter that doesn't
        // know the call (some container runtimes). Neither changes.
        if matches!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOSYS | libc::EPERM)
        ) {
            NO_CACHESTAT.store(true, Relaxed);
        }
        return true;
    }
    let page = page_size();
    let pages = (offset + len as u64 - 1) / page - offset / page + 1;
    stat.nr_cache >= pages
}

/// The size of a page cache page (4 KiB on x86-64, up to 64 KiB on arm64).
fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf reads a constant of the system.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => 4096,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A file of `len` bytes written out to the disk, removed on drop.
    struct Written(std::path::PathBuf, File);

    impl Written {
        fn new(tag: &str, len: usize) -> Written {
            let path = std::env::temp_dir().join(format!("tern-disk-{tag}-{}", std::process::id()));
            let mut file = File::create(&path).expect("create");
            file.write_all(&vec![7u8; len]).expect("write");
            file.sync_all().expect("fsync");
            let reading = File::open(&path).expect("open");
            Written(path, reading)
        }

        fn evict(&self) {
            // SAFETY: an advice call on a descriptor open for its duration.
            let rc =
                unsafe { libc::posix_fadvise(self.1.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            assert_eq!(rc, 0);
        }
    }

    impl Drop for Written {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn a_file_just_written_is_in_the_cache_and_one_evicted_is_not() {
        let written = Written::new("cachestat", 1 << 20);
        assert!(in_cache(&written.1, 0, 1 << 20));
        assert!(in_cache(&written.1, 4095, 2));
        written.evict();
        assert!(!in_cache(&written.1, 0, 1 << 20));
        assert!(!in_cache(&written.1, 512 << 10, 4096));
    }

    #[test]
    fn a_read_without_waiting_takes_what_the_cache_holds_and_leaves_the_rest() {
        let written = Written::new("nowait", 64 << 10);
        let mut buf = b"head".to_vec();
        buf.reserve(64 << 10);
        let read = read_cached(&written.1, &mut buf, 0, 64 << 10);
        assert_eq!(read.map(|r| r.ok()), Some(Some(64 << 10)));
        assert_eq!(&buf[..4], b"head");
        assert!(buf[4..].iter().all(|&b| b == 7) && buf.len() == 4 + (64 << 10));
        written.evict();
        let mut cold = Vec::with_capacity(4096);
        assert!(read_cached(&written.1, &mut cold, 0, 4096).is_none());
        assert!(cold.is_empty());
    }
}
