//! A static site: the validated settings of one `static = { ... }` route,
//! with its root held open so every file is opened beneath it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct StaticSite {
    /// The canonical root directory (symlinks resolved at load).
    pub root: PathBuf,
    /// `O_PATH` descriptor of `root`: files are opened relative to it with
    /// `RESOLVE_BENEATH`, so nothing — `..`, a symlink — leads out of it.
    root_fd: OwnedFd,
    /// File served for a directory; `None` disables index files.
    pub index: Option<String>,
    /// Generate an HTML listing for a directory without an index file.
    pub listing: bool,
    /// Sent as is on 200, 206 and 304 responses.
    pub cache_control: Option<String>,
    /// Serve `file.gz` beside `file` to clients that accept gzip.
    pub gzip_static: bool,
    /// The route's `compress`: files without a `.gz` chosen are compressed
    /// on the way.
    pub compress: Option<std::sync::Arc<crate::compress::Policy>>,
}

/// The settings a person writes; `StaticSite::open` checks them.
pub struct SiteSettings<'a> {
    pub root: &'a str,
    pub index: &'a str,
    pub listing: bool,
    pub cache_control: Option<&'a str>,
    pub gzip_static: bool,
}

impl StaticSite {
    /// Canonicalizes and opens the root. The error says what is wrong with
    /// which setting, for a config error.
    pub fn open(settings: &SiteSettings) -> Result<StaticSite, (&'static str, String)> {
        let root = std::fs::canonicalize(settings.root)
            .map_err(|err| ("root", format!("{:?}: {err}", settings.root)))?;
        if !root.is_dir() {
            return Err(("root", format!("{:?} is not a directory", settings.root)));
        }
        let root_fd = open_dir_path(&root).map_err(|err| ("root", format!("{root:?}: {err}")))?;
        if settings.index.contains('/') {
            return Err(("index", "must be a file name, without '/'".into()));
        }
        if let Some(value) = settings.cache_control {
            if value.bytes().any(|b| b.is_ascii_control()) || value.trim().is_empty() {
                return Err((
                    "cache_control",
                    "must be a non-empty single-line value".into(),
                ));
            }
        }
        Ok(StaticSite {
            root,
            root_fd,
            index: (!settings.index.is_empty()).then(|| settings.index.to_owned()),
            listing: settings.listing,
            cache_control: settings.cache_control.map(str::to_owned),
            gzip_static: settings.gzip_static,
            compress: None,
        })
    }

    pub fn root_fd(&self) -> BorrowedFd<'_> {
        self.root_fd.as_fd()
    }
}

fn open_dir_path(path: &Path) -> io::Result<OwnedFd> {
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(path)?;
    Ok(OwnedFd::from(dir))
}
