//! `[server.http2]`: the limits every HTTP/2 connection runs under, checked
//! here and read when a connection starts (so a reload applies to new
//! connections): by `proxy::http2::limits` for `h2`'s settings, and by
//! `proxy::http2::watch` for the frames of no progress.

use super::{err, PlanError};
use crate::config::schema::Http2Section;

/// The largest flow-control window HTTP/2 allows (RFC 9113 §6.9.1).
const MAX_WINDOW: u32 = (1 << 31) - 1;
/// The initial window every peer starts with (RFC 9113 §6.9.2).
const MIN_WINDOW: u32 = 65_535;
/// Frames of no progress a second: below this a browser's opening frames
/// (SETTINGS, its ACK, WINDOW_UPDATE, a few PRIORITY) could trip the limit;
/// above the top one it no longer bounds anything a core can answer.
const NO_PROGRESS_RANGE: std::ops::RangeInclusive<u32> = 20..=1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2Limits {
    /// Streams one connection may have open at once (128, as nginx).
    pub max_concurrent_streams: u32,
    /// Bytes of one decoded header list (names, values, 32 each); a larger
    /// one is answered 431.
    pub max_header_list_size: u32,
    /// A stream's receive window: request body bytes a client may send
    /// before the upstream has taken them.
    pub stream_window: u32,
    /// The connection's receive window (all its streams together).
    pub connection_window: u32,
    /// PING, SETTINGS, WINDOW_UPDATE, PRIORITY, empty DATA and unknown
    /// frames a client may send a second before its connection ends with
    /// ENHANCE_YOUR_CALM (`proxy::http2::watch`).
    pub no_progress_frames_per_second: u32,
}

impl Default for Http2Limits {
    fn default() -> Self {
        Http2Limits {
            max_concurrent_streams: 128,
            max_header_list_size: 64 * 1024,
            stream_window: 256 * 1024,
            connection_window: 1024 * 1024,
            no_progress_frames_per_second: 10_000,
        }
    }
}

pub fn build(section: &Http2Section) -> Result<Http2Limits, PlanError> {
    let defaults = Http2Limits::default();
    let limits = Http2Limits {
        max_concurrent_streams: section
            .max_concurrent_streams
            .unwrap_or(defaults.max_concurrent_streams),
        max_header_list_size: section
            .max_header_list_size
            .unwrap_or(defaults.max_header_list_size),
        stream_window: section.stream_window.unwrap_or(defaults.stream_window),
        connection_window: section
            .connection_window
            .unwrap_or(defaults.connection_window),
        no_progress_frames_per_second: section
            .no_progress_frames_per_second
            .unwrap_or(defaults.no_progress_frames_per_second),
    };
    let key = |name: &str| format!("server.http2.{name}");
    if limits.max_concurrent_streams == 0 {
        return Err(err(
            key("max_concurrent_streams"),
            "must be at least 1 (0 would refuse every request)",
        ));
    }
    if limits.max_header_list_size < 1024 {
        return Err(err(
            key("max_header_list_size"),
            "must be at least 1024 bytes",
        ));
    }
    for (name, window) in [
        ("stream_window", limits.stream_window),
        ("connection_window", limits.connection_window),
    ] {
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) {
            return Err(err(
                key(name),
                format!("must be between {MIN_WINDOW} and {MAX_WINDOW} bytes"),
            ));
        }
    }
    if !NO_PROGRESS_RANGE.contains(&limits.no_progress_frames_per_second) {
        return Err(err(
            key("no_progress_frames_per_second"),
            format!(
                "must be between {} and {} frames a second",
                NO_PROGRESS_RANGE.start(),
                NO_PROGRESS_RANGE.end()
            ),
        ));
    }
    Ok(limits)
}
