//! The limits an HTTP/2 connection runs under, with their defaults.
//!
//! What they guard against (RFC 9113 §10.5, and the known attacks):
//! - concurrent streams (128, as nginx and Chromium's expectations): how
//!   many requests one connection has in flight;
//! - header list size and HPACK table size: what one head and the
//!   decoder's memory may cost (an HPACK bomb decodes to at most the list
//!   size, then the stream is refused);
//! - pending-accept and locally-reset streams: rapid reset
//!   (CVE-2023-44487) — streams the client opens and cancels at once cost
//!   a bounded count before the connection ends with ENHANCE_YOUR_CALM;
//! - send buffer per stream: a reader with a zero window holds at most
//!   this much (then the exchange waits, and its upstream with it);
//! - windows: what a client may send ahead of the upstream taking it.
//!
//! CONTINUATION floods (CVE-2024-27316) are bounded by the header list
//! size inside `h2`: a head that grows past it ends the connection.

/// Streams one connection may have open at once.
pub const MAX_CONCURRENT_STREAMS: u32 = 128;
/// Bytes of one decoded header list (names, values, 32 each).
pub const MAX_HEADER_LIST_SIZE: u32 = 64 * 1024;
/// The HPACK dynamic table the client may make tern keep.
pub const HEADER_TABLE_SIZE: u32 = 4096;
/// A stream's receive window: request body bytes the client may send
/// before the upstream has taken them.
pub const STREAM_WINDOW: u32 = 256 * 1024;
/// The connection's receive window (all streams together).
pub const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// Response bytes queued per stream before its writer waits.
pub const SEND_BUFFER: usize = 64 * 1024;
/// Streams reset by the client before tern accepted them.
pub const PENDING_RESET_STREAMS: usize = 20;
/// Streams tern itself reset for errors, before the connection ends.
pub const LOCAL_RESET_STREAMS: usize = 256;
/// Reset streams remembered (for frames that arrive after the reset).
pub const CONCURRENT_RESET_STREAMS: usize = 10;

pub fn builder() -> h2::server::Builder {
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(MAX_HEADER_LIST_SIZE)
        .header_table_size(HEADER_TABLE_SIZE)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_send_buffer_size(SEND_BUFFER)
        .max_pending_accept_reset_streams(PENDING_RESET_STREAMS)
        .max_local_error_reset_streams(Some(LOCAL_RESET_STREAMS))
        .max_concurrent_reset_streams(CONCURRENT_RESET_STREAMS)
        // RFC 8441: WebSockets over HTTP/2 (extended CONNECT).
        .enable_connect_protocol();
    builder
}
