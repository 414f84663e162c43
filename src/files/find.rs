//! From a URL path to what is there under the root: a file, a directory's
//! index file or listing, or the need for a trailing slash.

use std::fs::{File, Metadata};

use super::decode::relative_path;
use super::deny::Deny;
use super::listing;
use super::open::open_beneath;
use super::opened::Opened;
use super::site::StaticSite;

pub enum Found {
    File {
        file: File,
        meta: Metadata,
        /// Its path under the root: the name gives the Content-Type.
        rel: Vec<u8>,
    },
    /// A generated directory listing (HTML).
    Listing(Vec<u8>),
    /// A directory named without its trailing slash: redirect, so that
    /// relative links in its index resolve inside it.
    AddSlash,
}

/// `url_path` is what follows the route's prefix; `shown_path` is the whole
/// request path: whether it ends with '/' (the prefix may hold the slash),
/// and a listing's title. `Deny::Uncached`: a name `opened` holds needs
/// the disk.
pub fn find(
    site: &StaticSite,
    url_path: &[u8],
    shown_path: &[u8],
    opened: &mut Opened,
) -> Result<Found, Deny> {
    let rel = relative_path(url_path)?;
    let trailing_slash = shown_path.ends_with(b"/");
    let (file, meta) = open_beneath(site, &rel, opened)?;
    if meta.is_file() {
        // `a.css/` names a directory that isn't one.
        if trailing_slash {
            return Err(Deny::NotFound);
        }
        return Ok(Found::File { file, meta, rel });
    }
    if !meta.is_dir() {
        return Err(Deny::Forbidden("not a regular file"));
    }
    if !trailing_slash {
        return Ok(Found::AddSlash);
    }
    index_or_listing(site, &file, (rel, shown_path), opened)
}

/// `paths`: the directory's under the root, and as the client named it.
fn index_or_listing(
    site: &StaticSite,
    dir: &File,
    (mut rel, shown_path): (Vec<u8>, &[u8]),
    opened: &mut Opened,
) -> Result<Found, Deny> {
    if let Some(index) = &site.index {
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(index.as_bytes());
        match open_beneath(site, &rel, opened) {
            Ok((file, meta)) if meta.is_file() => return Ok(Found::File { file, meta, rel }),
            Ok(_) => {}
            Err(Deny::NotFound) => {}
            Err(other) => return Err(other),
        }
    }
    if site.listing {
        return listed(site, dir, shown_path, opened).map(Found::Listing);
    }
    Err(Deny::Forbidden("directory without index"))
}

/// The listing of `dir`: rendered here, or (on a root whose lookups go to
/// the file threads, `lookups.rs`: reading a directory there may wait just
/// as long) by a file thread, `Deny::Uncached` until one has.
fn listed(
    site: &StaticSite,
    dir: &File,
    shown_path: &[u8],
    opened: &mut Opened,
) -> Result<Vec<u8>, Deny> {
    if let Some(page) = opened.listing() {
        return page;
    }
    let unreadable = |_| Deny::Forbidden("directory can't be read");
    if site.lookups.hand_off(site.root.is_remote()) && !opened.may_wait() {
        opened.missing_listing(dir.try_clone().map_err(unreadable)?, shown_path);
        return Err(Deny::Uncached);
    }
    listing::render(dir, shown_path).map_err(unreadable)
}
