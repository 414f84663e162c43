//! The limits an HTTP/2 connection runs under, with their defaults.
//!
//! What they guard against (RFC 9113 §10.5, and the known attacks):
//! - concurrent streams (default 128, as nginx): how many requests one
//!   connection has in flight;
//! - header list size and HPACK table size: what one head and the
//!   decoder's memory may cost (an HPACK bomb decodes to at most the list
//!   size, then the stream is refused);
//! - pending-accept and locally-reset streams: rapid reset
//!   (CVE-2023-44487) — streams the client opens and cancels at once cost
//!   a bounded count before the connection ends with ENHANCE_YOUR_CALM
//!   (those it cancels after tern took them: `tasks`, which also holds the
//!   streams served at once to the concurrent streams);
//! - send buffer per stream: a reader with a zero window holds at most
//!   this much (then the exchange waits, and its upstream with it);
//! - windows: what a client may send ahead of the upstream taking it.
//!
//! CONTINUATION floods (CVE-2024-27316) are bounded by the header list
//! size inside `h2` (and its count of CONTINUATION frames per head): a
//! head that grows past them ends the connection (ENHANCE_YOUR_CALM). So
//! is an HPACK bomb: `h2` stops decoding a head at four times the list
//! size and ends the connection (ENHANCE_YOUR_CALM); between one and four
//! times, the stream is answered 431.
//!
//! Frames of no progress (PING, SETTINGS, WINDOW_UPDATE, PRIORITY, empty
//! DATA, unknown types): `watch` counts them against
//! `no_progress_frames_per_second`; `h2` bounds only empty DATA.

use crate::config::plan::http2::Http2Limits;

/// The HPACK dynamic table the client may make tern keep.
pub const HEADER_TABLE_SIZE: u32 = 4096;
/// Response bytes queued per stream before its writer waits.
pub const SEND_BUFFER: usize = 64 * 1024;
/// Streams reset by the client before tern accepted them.
pub const PENDING_RESET_STREAMS: usize = 20;
/// Streams tern itself reset for errors, before the connection ends.
pub const LOCAL_RESET_STREAMS: usize = 256;
/// Reset streams remembered (for frames that arrive after the reset).
pub const CONCURRENT_RESET_STREAMS: usize = 10;

/// A connection's settings: `limits` from `[server.http2]` (concurrent
/// streams, header list size, windows; defaults in `config::plan::http2`),
/// the rest fixed here.
pub fn builder(limits: &Http2Limits) -> h2::server::Builder {
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(limits.max_header_list_size)
        .header_table_size(HEADER_TABLE_SIZE)
        .initial_window_size(limits.stream_window)
        .initial_connection_window_size(limits.connection_window)
        .max_send_buffer_size(SEND_BUFFER)
        .max_pending_accept_reset_streams(PENDING_RESET_STREAMS)
        .max_local_error_reset_streams(Some(LOCAL_RESET_STREAMS))
        .max_concurrent_reset_streams(CONCURRENT_RESET_STREAMS)
        // RFC 8441: WebSockets over HTTP/2 (extended CONNECT).
        .enable_connect_protocol();
    builder
}
