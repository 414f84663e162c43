//! What one request's answer had opened off the worker, kept across the
//! rounds of answering it.
//!
//! `answer` runs synchronously. When a lookup would need the disk
//! (`open.rs`), it stops and names the file here (`missing`); the async side
//! has a file thread open it (`open_missing`) and answers again, the
//! file now found here. A request names at most three files (the path, a
//! directory's index, a `.gz` beside either), so few rounds end it; past
//! `WAITING_ROUNDS` the worker opens in place, so a name that keeps falling
//! out of the cache can't make a request go round for ever.

use super::deny::Deny;
use super::open::OpenFile;
use super::site::StaticSite;

/// Rounds after which the worker opens in place, waiting if it must.
const WAITING_ROUNDS: u8 = 4;

#[derive(Default)]
pub struct Opened {
    /// Each name a file thread looked up, and what it found.
    found: Vec<(Vec<u8>, Result<OpenFile, Deny>)>,
    /// The name the last round stopped at.
    missing: Option<Vec<u8>>,
    rounds: u8,
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
        self.missing = Some(rel.to_vec());
    }

    /// Whether this request has gone round enough that the worker opens in
    /// place.
    pub fn may_wait(&self) -> bool {
        self.rounds >= WAITING_ROUNDS
    }
}

/// Opens the file the last round stopped at on a file thread, the worker
/// going on with its other connections meanwhile.
pub async fn open_missing(site: &StaticSite, opened: &mut Opened) {
    opened.rounds += 1;
    if let Some(rel) = opened.missing.take() {
        let found = super::opener::open(site, &rel).await;
        opened.found.push((rel, found));
    }
}
