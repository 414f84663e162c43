//! The bodies of the fuzz targets in `fuzz/`, one function per target.
//!
//! They live in the library so that `cargo fuzz` (coverage-guided, nightly)
//! and the ordinary test suite (`tests/fuzz_corpus.rs`, which replays the
//! committed seed corpus and every crash ever found) run the same code. Each
//! takes raw bytes from outside, feeds them to the parser the way the proxy
//! does, and asserts the invariants that must hold for any input: no panic,
//! and output tern forwards is itself clean (it parses back to the same
//! meaning). Not part of tern's API.

mod chunked;
mod config;
mod cookie;
mod h2_watch;
mod host;
mod plan;
mod request_head;
mod response_head;
mod static_path;

pub use chunked::chunked;
pub use config::config;
pub use cookie::cookie;
pub use h2_watch::h2_watch;
pub use host::host;
pub use request_head::request_head;
pub use response_head::response_head;
pub use static_path::static_path;

/// A target's body: raw input in, a panic for a broken invariant.
pub type Target = fn(&[u8]);

/// Every target by its name in `fuzz/` (binary, corpus and regressions
/// directories are named after it).
pub const TARGETS: &[(&str, Target)] = &[
    ("request_head", request_head),
    ("response_head", response_head),
    ("chunked", chunked),
    ("config", config),
    ("static_path", static_path),
    ("host", host),
    ("cookie", cookie),
    ("h2_watch", h2_watch),
];

/// `out`, a head tern wrote, is exactly one complete head with clean line
/// endings.
fn assert_one_clean_head(out: &[u8]) {
    let scanned = crate::http::scan::HeadScanner::default().scan(out);
    let whole = crate::http::scan::Scan::Complete {
        head_len: out.len(),
    };
    assert_eq!(scanned, whole, "{}", String::from_utf8_lossy(out));
}
