//! Compression of responses on the way out (route key `compress`, like
//! nginx `gzip on` + `gzip_types`, HAProxy `compression algo/type`).
//!
//! The decision has two halves. When the request is routed, `accept` picks
//! the coding the client takes best (Accept-Encoding with q-values) and
//! `decide::for_request` rules out what must never be compressed (HEAD,
//! Range requests, upgrades, HTTP/1.0 clients). When the response head is known,
//! `decide::for_response` checks the rest (status, an existing
//! Content-Encoding, `no-transform`, the type, a known length under
//! `min_length`). Only then is an encoder made: a response that is not
//! compressed costs no allocation.
//!
//! The body is streamed (`proxy::compress_relay` for proxied responses,
//! `files::compressed` for static ones) through an `Encoder`, a fixed
//! amount of memory per compressing connection (`MEMORY_BOUND`), and
//! flushed whenever tern is about to wait for more input, so a long-poll
//! or an event stream reaches the client event by event instead of
//! waiting for a window to fill.

mod accept;
pub mod decide;
mod encoder;
pub mod head;
mod policy;
mod pool;

pub use accept::choose;
pub use encoder::{Encoder, MEMORY_BOUND, STEP};
pub use policy::{Coding, Encoding, Policy, TypePattern};
pub use pool::{counts as compressor_counts, release_unused as release_unused_compressors};

/// The defaults of `compress = true`, for the config.
pub mod policy_defaults {
    pub use super::policy::{DEFAULT_LEVEL, DEFAULT_MIN_LENGTH, DEFAULT_TYPES};
}

/// What a request on a compressing route allows: `None` from
/// `decide::for_request` when nothing (HEAD, Range, upgrade, HTTP/1.0); else the
/// coding the client takes (`None`: it takes none the route offers, and
/// only `Vary` is added to responses that would have been compressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub coding: Option<Coding>,
}

/// A proxied request's `Ask`, with the route whose policy applies (looked
/// up again for the response: the plan can't change within a request).
/// Small and `Copy`: it sits in every proxied request's future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub route: u32,
    pub ask: Ask,
}
