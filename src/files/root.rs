//! A static route's root directory: held open, and followed when the path
//! comes to name another directory.
//!
//! Files are opened relative to a descriptor of the root (`open.rs`), so
//! the root must be held open. But deploys replace roots: a symlink
//! switched to a new release (`current -> releases/N`), or the directory
//! removed and made again. nginx resolves the path on every request and
//! serves the new tree at once; a descriptor held from load would go on
//! serving the old one — or 404s once it is deleted — until a reload.
//!
//! So the configured path (symlinks kept) is looked at again at most once
//! a second, by whichever worker comes first: a `stat` that follows it,
//! compared with the held directory's device and inode. When they differ
//! the new directory is opened and swapped in; requests already opening a
//! file finish with the old one (the lock is held only across the
//! `openat2` call). A path that stops resolving keeps the last directory
//! (its files may still be there) and is logged once until it resolves
//! again. A root on or holding a network filesystem (`mounts.rs`) is
//! looked at by a file thread (`pool.rs`) instead, one look at a time: its
//! `stat` can hang with the server, and a worker that waited for it would
//! stop serving everything, the proxied traffic included.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::pool::{self, Refused};

/// How often the configured path is looked at again.
const LOOK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Root {
    /// What a look reads and changes; shared with the file thread that
    /// looks at a network root's path.
    looked: Arc<Looked>,
    /// Since when `next_look_ms` counts.
    born: Instant,
    /// When (ms after `born`) the path is next looked at.
    next_look_ms: AtomicU64,
}

#[derive(Debug)]
struct Looked {
    /// The root as configured, made absolute, symlinks kept: what is looked
    /// at again.
    path: PathBuf,
    /// The directory served now.
    held: RwLock<HeldDir>,
    /// The path failed to resolve at the last look (logged once).
    unresolved: AtomicBool,
    /// A file thread is looking at the path (a network root's).
    looking: AtomicBool,
}

#[derive(Debug)]
struct HeldDir {
    /// `O_PATH` descriptor: files are opened beneath it. Shared with the
    /// file threads opening beneath it (`held_fd`).
    fd: Arc<OwnedFd>,
    /// Symlinks resolved: what served files must lie under.
    canonical: PathBuf,
    /// Device and inode, to tell whether the path still names it.
    id: (u64, u64),
    /// On or holding a network or FUSE filesystem (`mounts.rs`).
    remote: bool,
}

impl Root {
    /// Opens the directory `path` names; the error is for a config message.
    pub fn open(path: &str) -> Result<Root, String> {
        let absolute = std::path::absolute(path).map_err(|err| format!("{path:?}: {err}"))?;
        let held = HeldDir::open(&absolute).map_err(|err| format!("{path:?}: {err}"))?;
        let looked = Looked {
            path: absolute,
            held: RwLock::new(held),
            unresolved: AtomicBool::new(false),
            looking: AtomicBool::new(false),
        };
        Ok(Root {
            looked: Arc::new(looked),
            born: Instant::now(),
            next_look_ms: AtomicU64::new(LOOK_EVERY.as_millis() as u64),
        })
    }

    /// Runs `open` with the served directory's descriptor and canonical
    /// path, after looking at the configured path if it is time to.
    pub fn with<R>(&self, open: impl FnOnce(BorrowedFd<'_>, &Path) -> R) -> R {
        self.look_if_due();
        let held = self.looked.held();
        open(held.fd.as_fd(), &held.canonical)
    }

    /// The directory served now, for a file thread to open beneath (a
    /// deploy that swaps another in leaves it to the opens under way).
    pub fn held_fd(&self) -> Arc<OwnedFd> {
        Arc::clone(&self.looked.held().fd)
    }

    /// Whether the directory served now is on, or holds, a network or FUSE
    /// filesystem.
    pub fn is_remote(&self) -> bool {
        self.looked.held().remote
    }

    /// The directory served now, symlinks resolved.
    pub fn canonical(&self) -> PathBuf {
        self.looked.held().canonical.clone()
    }

    /// One worker a second wins the exchange and looks; the rest go on.
    fn look_if_due(&self) {
        let now_ms = self.born.elapsed().as_millis() as u64;
        let due = self.next_look_ms.load(Ordering::Relaxed);
        if now_ms < due {
            return;
        }
        let next = now_ms + LOOK_EVERY.as_millis() as u64;
        if self
            .next_look_ms
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            match self.is_remote() {
                true => self.look_on_a_file_thread(),
                false => self.looked.look(),
            }
        }
    }

    /// A network root's `stat` can hang (a server gone): a file thread
    /// looks, one look at a time, while the workers go on. With the file
    /// threads' queue full the look waits for the next second.
    fn look_on_a_file_thread(&self) {
        if self.looked.looking.swap(true, Ordering::Relaxed) {
            return;
        }
        let looked = Arc::clone(&self.looked);
        let look = Box::new(move || {
            looked.look();
            looked.looking.store(false, Ordering::Relaxed);
        });
        match pool::submit(look) {
            Ok(()) => {}
            Err(Refused::QueueFull) => self.looked.looking.store(false, Ordering::Relaxed),
            Err(Refused::NoThread(look)) => look(),
        }
    }
}

impl Looked {
    fn held(&self) -> std::sync::RwLockReadGuard<'_, HeldDir> {
        self.held.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Swaps in the directory the path names now, if it is another one.
    fn look(&self) {
        let named = match std::fs::metadata(&self.path) {
            Ok(meta) => (meta.dev(), meta.ino()),
            Err(err) => return self.note_unresolved(&err),
        };
        let held_id = self.held().id;
        if named == held_id {
            self.unresolved.store(false, Ordering::Relaxed);
            return;
        }
        match HeldDir::open(&self.path) {
            Ok(new) => self.swap_in(new),
            Err(err) => self.note_unresolved(&err),
        }
    }

    fn swap_in(&self, new: HeldDir) {
        self.unresolved.store(false, Ordering::Relaxed);
        let mut held = self.held.write().unwrap_or_else(PoisonError::into_inner);
        crate::log::info(format_args!(
            "static root {:?} now names {:?} (was {:?}): serving from it",
            self.path, new.canonical, held.canonical
        ));
        *held = new;
    }

    fn note_unresolved(&self, err: &io::Error) {
        if !self.unresolved.swap(true, Ordering::Relaxed) {
            crate::log::warn(format_args!(
                "static root {:?}: {err}; keeping the directory it named before until it resolves again",
                self.path
            ));
        }
    }
}

impl HeldDir {
    fn open(path: &Path) -> io::Result<HeldDir> {
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(path)?;
        // The id of what was opened, not of a second lookup that could
        // race with another switch.
        let meta = dir.metadata()?;
        // Its path as the kernel has it, for the same reason; /proc may be
        // missing in a sandbox, then the path is resolved again.
        let canonical = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd()))
            .or_else(|_| std::fs::canonicalize(path))?;
        Ok(HeldDir {
            fd: Arc::new(OwnedFd::from(dir)),
            remote: super::mounts::network_under(&canonical),
            canonical,
            id: (meta.dev(), meta.ino()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `releases/a` and `releases/b` under a fresh directory, `current`
    /// pointing at `a`.
    fn releases(tag: &str) -> PathBuf {
        let base = std::env::temp_dir().join(format!("tern-root-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        for release in ["a", "b"] {
            std::fs::create_dir_all(base.join("releases").join(release)).unwrap();
        }
        std::os::unix::fs::symlink(base.join("releases/a"), base.join("current")).unwrap();
        base
    }

    fn switch(link: &Path, target: &Path) {
        let fresh = link.with_extension("next");
        std::os::unix::fs::symlink(target, &fresh).unwrap();
        std::fs::rename(&fresh, link).unwrap();
    }

    fn root_at(link: &Path) -> Root {
        Root::open(link.to_str().unwrap()).unwrap()
    }

    #[test]
    fn a_look_swaps_in_the_directory_the_path_names_now() {
        let base = releases("swap");
        let root = root_at(&base.join("current"));
        assert!(root.canonical().ends_with("releases/a"));
        switch(&base.join("current"), &base.join("releases/b"));
        assert!(
            root.canonical().ends_with("releases/a"),
            "only a look swaps"
        );
        root.looked.look();
        assert!(root.canonical().ends_with("releases/b"));
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn a_path_that_stops_resolving_keeps_the_directory_it_named() {
        let base = releases("dangling");
        let root = root_at(&base.join("current"));
        std::fs::remove_file(base.join("current")).unwrap();
        root.looked.look();
        assert!(root.canonical().ends_with("releases/a"));
        assert!(root.looked.unresolved.load(Ordering::Relaxed));
        switch(&base.join("current"), &base.join("releases/b"));
        root.looked.look();
        assert!(root.canonical().ends_with("releases/b"));
        assert!(!root.looked.unresolved.load(Ordering::Relaxed));
        std::fs::remove_dir_all(base).unwrap();
    }
}
