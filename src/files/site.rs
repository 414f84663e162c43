//! A static site: the validated settings of one `static = { ... }` route,
//! with its root held open so every file is opened beneath it.

use super::lookups::Lookups;
use super::root::Root;
use super::root_wait::{open_within, ROOT_WAIT};

#[derive(Debug)]
pub struct StaticSite {
    /// The root directory, held open: files are opened relative to it with
    /// `RESOLVE_BENEATH`, so nothing — `..`, a symlink — leads out of it.
    /// Followed when its path comes to name another directory (a deploy).
    pub root: Root,
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
    /// Whether names the kernel's caches don't hold are looked up on the
    /// worker or by the file threads.
    pub lookups: Lookups,
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
    /// Opens the root. The error says what is wrong with which setting, for
    /// a config error.
    pub fn open(settings: &SiteSettings) -> Result<StaticSite, (&'static str, String)> {
        let root = open_within(settings.root, ROOT_WAIT).map_err(|err| ("root", err))?;
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
            index: (!settings.index.is_empty()).then(|| settings.index.to_owned()),
            listing: settings.listing,
            cache_control: settings.cache_control.map(str::to_owned),
            gzip_static: settings.gzip_static,
            compress: None,
            lookups: Lookups::default(),
        })
    }
}
