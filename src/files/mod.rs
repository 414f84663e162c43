//! Static files (Apache's Alias, nginx's location + alias): a route with
//! `static = { root = ... }` serves the files under `root`, the route's
//! path prefix stripped from the request path.
//!
//! The work is split in two. `answer` runs synchronously while the request
//! head is parsed: it resolves the path safely beneath the root (`decode`,
//! `open`, `find`; `root` holds the root open and follows it when a deploy
//! replaces it), evaluates conditional and range requests and picks a
//! precompressed variant, and writes the response head (`Reply`;
//! `content_type` remembers the types of recent extensions). `send`
//! is the only async part: it writes the head and streams the file
//! (`sendfile`, or `copy` on TLS connections), or compresses them on the
//! way (`compressed`, a route's `compress`). Its reads (`disk`) leave a
//! file the page cache doesn't hold to the ring to wait for, not the
//! worker. Nor does opening: a name the kernel's caches don't hold (its
//! `RESOLVE_CACHED` says so, `open`) is opened by a file thread
//! (`opener`) and the request answered again with it (`opened`) — unless
//! the root is on a local disk that has been quick (`lookups`, `mounts`):
//! then on the worker, as nginx does, timed. The file threads (`pool`)
//! also look at a network root's path again (`root`). A root is opened
//! within a bound (`root_wait`): a network filesystem that is gone must not
//! hold the main thread, which opens it.

mod answer;
mod compressed;
mod conditional;
mod content_type;
mod copy;
mod date;
pub(crate) mod decode;
mod deny;
mod disk;
mod find;
mod gzip;
mod head;
mod listing;
mod lookups;
mod mounts;
mod open;
mod opened;
mod opener;
mod pool;
mod range;
mod reply;
mod root;
mod root_wait;
mod send;
mod send_error;
mod sendfile;
mod site;

pub use answer::{answer, Answer};
pub use disk::disk_reads;
pub use opened::{open_missing, Opened};
pub use opener::slow_opens;
pub use reply::Reply;
pub use send::send;
pub use site::{SiteSettings, StaticSite};
