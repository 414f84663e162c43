//! What one request's answer had opened off the worker, kept across the
//! rounds of answering it.
//!
//! `answer` runs synchronously. When a lookup would need the disk
//! (`open.rs`), it stops and names the file here (`missing`); the async side
//! has a file thread open it (`open_missing`) and answers again, the
//! file now found here. A directory listing on such a root is rendered
//! by a file thread the same way (`missing_listing`, `listing`). A request names at most three files (the path, a
//! directory's index, a `.gz` beside either), so few rounds end it; past
//! `WAITING_ROUNDS` the worker opens in place, so a name that keeps falling
//! out of the cache can't make a request go round for ever.

use std::fs::File;
use std::sync::Arc;

use super::deny::Deny;
use super::open::OpenFile;
use super::site::StaticSite;

/// Rounds after which the worker opens in place, waiting if it must.
const WAITING_ROUNDS: u8 = 4;

#[derive(Default)]
pub struct Opened {
    /// Each name a file thread looked up, and what it found.
    found: Vec<(Vec<u8>, Result<OpenFile, Deny>)>,
    /// The directory listing a file thread rendered.
    listed: Option<Result<Vec<u8>, Deny>>,
    /// What the last round stopped at.
    missing: Option<Missing>,
    rounds: u8,
}

enum Missing {
    /// A name to open beneath the root.
    Name(Vec<u8>),
    /// The listing of an open directory, shown as the path.
    Listing(Arc<File>, Vec<u8>),
}

impl Opened {
    /// For a caller that may wait for the disk (the fuzzing harness): every
    /// file is opened in place.
    pub fn in_place() -> Opened {
        Opened {
            rounds: WAITING_ROUNDS,
            ..Opened::default()
        }
    }

    /// What a file thread found for `rel`, if one looked it up: a file
    /// (its own descriptor: each round's answer keeps what it takes) or why
    /// not.
    pub fn get(&self, rel: &[u8]) -> Option<Result<OpenFile, Deny>> {
        let (_, found) = self.found.iter().find(|(name, _)| name == rel)?;
        Some(match found {
            Ok((file, meta)) => match file.try_clone() {
                Ok(file) => Ok((file, meta.clone())),
                Err(_) => Err(Deny::NotFound),
            },
            Err(deny) => Err(*deny),
        })
    }

    /// Notes that `rel`'s lookup needs the disk.
    pub fn missing(&mut self, rel: &[u8]) {
        self.missing = Some(Missing::Name(rel.to_vec()));
    }

    /// The listing a file thread rendered, if one did.
    pub fn listing(&mut self) -> Option<Result<Vec<u8>, Deny>> {
        self.listed.take()
    }

    /// Notes that the directory `dir`'s listing, shown as `shown_path`, is
    /// to be rendered on a file thread.
    pub fn missing_listing(&mut self, dir: File, shown_path: &[u8]) {
        self.missing = Some(Missing::Listing(Arc::new(dir), shown_path.to_vec()));
    }

    /// Whether this request has gone round enough that the worker opens in
    /// place.
    pub fn may_wait(&self) -> bool {
        self.rounds >= WAITING_ROUNDS
    }
}

/// Opens the file (or lists the directory) the last round stopped at on a
/// file thread, the worker going on with its other connections meanwhile.
pub async fn open_missing(site: &StaticSite, opened: &mut Opened) {
    opened.rounds += 1;
    match opened.missing.take() {
        Some(Missing::Name(rel)) => {
            let found = super::opener::open(site, &rel).await;
            opened.found.push((rel, found));
        }
        Some(Missing::Listing(dir, shown_path)) => {
            opened.listed = Some(super::opener::list(dir, &shown_path).await);
        }
        None => {}
    }
}
