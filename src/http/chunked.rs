//! A strict, streaming chunked-body decoder that re-frames as it goes
//! (RFC 9112 §7.1).
//!
//! Chunk extensions are validated and dropped, never forwarded: an upstream
//! may parse their bytes differently (a known request-smuggling vector).
//! Trailer fields are validated and dropped too, the same way in both
//! directions (RFC 9110 §6.5.1 lets a recipient discard them). Sizes are hex
//! with an overflow check, and every CR must be followed by LF.

use super::hex_value;

/// Longest chunk-size line (size plus extensions) accepted.
const MAX_SIZE_LINE: usize = 4096;
/// Largest chunk size accepted (1 TiB), from clients and upstreams alike. A
/// size near 2^64 is no real body; relaying it invites the overflow bugs
/// other parsers have had with it (HAProxy answers 502 to it, nginx closes).
pub const MAX_CHUNK_SIZE: u64 = 1 << 40;
/// Largest trailer section accepted.
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    BadSize,
    SizeOverflow,
    BadLineEnding,
    LineTooLong,
    BadExtension,
    BadTrailer,
    /// More data than the decoder's limit (`with_limit`).
    TooLarge,
}

/// What a decoder writes to its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Emit {
    /// The data with clean chunk framing.
    Reframed,
    /// Only the data (for HTTP/1.0 clients, which must not receive chunked).
    Data,
    /// Nothing: the bytes are only checked.
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size { digits: u8 },
    SizeSpace,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerLineStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
    Done,
}

/// Decodes one chunked body, writing a clean re-framed copy to `out`.
#[derive(Debug)]
pub struct ChunkedReframer {
    /// What goes to `out`.
    emit: Emit,
    state: State,
    remaining: u64,
    line_len: usize,
    trailer_len: usize,
    /// Data bytes the body may still carry.
    allowed: u64,
}

impl Default for ChunkedReframer {
    fn default() -> Self {
        ChunkedReframer {
            emit: Emit::Reframed,
            state: State::Size { digits: 0 },
            remaining: 0,
            line_len: 0,
            trailer_len: 0,
            allowed: u64::MAX,
        }
    }
}

impl ChunkedReframer {
    /// A decoder that writes only the body's data, without framing.
    pub fn decode_only() -> Self {
        ChunkedReframer {
            emit: Emit::Data,
            ..ChunkedReframer::default()
        }
    }

    /// A re-framing decoder whose body may carry `max` data bytes at most:
    /// a chunk that would go past them is `ChunkError::TooLarge`, refused
    /// before any of its data is passed on.
    pub fn with_limit(max: u64) -> Self {
        ChunkedReframer {
            allowed: max,
            ..ChunkedReframer::default()
        }
    }

    /// A decoder that passes nothing on: it finds where a body of at most
    /// `max` data bytes ends, and whether it is valid.
    pub fn checker(max: u64) -> Self {
        ChunkedReframer {
            emit: Emit::Nothing,
            ..ChunkedReframer::with_limit(max)
        }
    }

    /// Checks the start of a chunked body without copying it anywhere:
    /// `Ok` when `input` is a valid body or a valid beginning of one,
    /// within `max` data bytes.
    pub fn check_prefix(input: &[u8], max: u64) -> Result<(), ChunkError> {
        let mut checker = ChunkedReframer::checker(max);
        checker.feed(input, &mut Vec::new()).map(|_| ())
    }

    fn reframe(&self) -> bool {
        self.emit == Emit::Reframed
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Feeds `input`; returns how many bytes were consumed. Stops right after
    /// the body's last byte, so what follows (a pipelined request) is left.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkError> {
        let mut at = 0;
        while at < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let take =
                    (input.len() - at).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                if self.emit != Emit::Nothing {
                    out.extend_from_slice(&input[at..at + take]);
                }
                at += take;
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.step(input[at], out)?;
            at += 1;
        }
        Ok(at)
    }

    fn step(&mut self, byte: u8, out: &mut Vec<u8>) -> Result<(), ChunkError> {
        self.state = match self.state {
            State::Size { digits } => self.size_byte(byte, digits)?,
            State::SizeSpace => match byte {
                b' ' | b'\t' => self.count_line(State::SizeSpace)?,
                b';' => self.count_line(State::Extension)?,
                _ => return Err(ChunkError::BadExtension),
            },
            State::Extension => match byte {
                b'\r' => State::SizeLf,
                b'\t' | 0x20..=0x7e | 0x80..=0xff => self.count_line(State::Extension)?,
                _ => return Err(ChunkError::BadExtension),
            },
            State::SizeLf => self.end_size_line(byte, out)?,
            State::Data => unreachable!("data is copied in bulk by feed"),
            State::DataCr => expect(byte, b'\r', State::DataLf)?,
            State::DataLf => {
                if self.reframe() {
                    out.extend_from_slice(b"\r\n");
                }
                expect(byte, b'\n', State::Size { digits: 0 })?
            }
            State::TrailerLineStart => match byte {
                b'\r' => State::EndLf,
                b if super::is_tchar(b) => self.count_trailer(State::TrailerName)?,
                _ => return Err(ChunkError::BadTrailer),
            },
            State::TrailerName => match byte {
                b':' => self.count_trailer(State::TrailerValue)?,
                b if super::is_tchar(b) => self.count_trailer(State::TrailerName)?,
                _ => return Err(ChunkError::BadTrailer),
            },
            State::TrailerValue => match byte {
                b'\r' => State::TrailerLf,
                b'\t' | 0x20..=0x7e | 0x80..=0xff => self.count_trailer(State::TrailerValue)?,
                _ => return Err(ChunkError::BadTrailer),
            },
            State::TrailerLf => expect(byte, b'\n', State::TrailerLineStart)?,
            State::EndLf => {
                if self.reframe() {
                    out.extend_from_slice(LAST_CHUNK);
                }
                expect(byte, b'\n', State::Done)?
            }
            State::Done => State::Done,
        };
        Ok(())
    }

    fn size_byte(&mut self, byte: u8, digits: u8) -> Result<State, ChunkError> {
        if let Some(value) = hex_value(byte) {
            if digits >= 16 {
                return Err(ChunkError::SizeOverflow);
            }
            self.remaining = (self.remaining << 4) | u64::from(value);
            if self.remaining > MAX_CHUNK_SIZE {
                return Err(ChunkError::SizeOverflow);
            }
            return self.count_line(State::Size { digits: digits + 1 });
        }
        if digits == 0 {
            return Err(ChunkError::BadSize);
        }
        match byte {
            b'\r' => Ok(State::SizeLf),
            b'\n' => Err(ChunkError::BadLineEnding),
            b';' => self.count_line(State::Extension),
            b' ' | b'\t' => self.count_line(State::SizeSpace),
            _ => Err(ChunkError::BadSize),
        }
    }

    fn end_size_line(&mut self, byte: u8, out: &mut Vec<u8>) -> Result<State, ChunkError> {
        if byte != b'\n' {
            return Err(ChunkError::BadLineEnding);
        }
        self.line_len = 0;
        if self.remaining == 0 {
            return Ok(State::TrailerLineStart);
        }
        if self.remaining > self.allowed {
            return Err(ChunkError::TooLarge);
        }
        self.allowed -= self.remaining;
        if self.reframe() {
            push_hex(out, self.remaining);
            out.extend_from_slice(b"\r\n");
        }
        Ok(State::Data)
    }

    fn count_line(&mut self, next: State) -> Result<State, ChunkError> {
        self.line_len += 1;
        if self.line_len > MAX_SIZE_LINE {
            return Err(ChunkError::LineTooLong);
        }
        Ok(next)
    }

    fn count_trailer(&mut self, next: State) -> Result<State, ChunkError> {
        self.trailer_len += 1;
        if self.trailer_len > MAX_TRAILERS {
            return Err(ChunkError::BadTrailer);
        }
        Ok(next)
    }
}

fn expect(byte: u8, wanted: u8, next: State) -> Result<State, ChunkError> {
    if byte == wanted {
        Ok(next)
    } else {
        Err(ChunkError::BadLineEnding)
    }
}

/// Appends `n` in lower-case hex.
pub fn push_hex(out: &mut Vec<u8>, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let mut at = buf.len();
    let mut rest = n;
    loop {
        at -= 1;
        buf[at] = DIGITS[(rest & 0xf) as usize];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

/// The end of a chunked body without trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
/// The most a chunk's framing adds to its data (`push_chunk`): a size of at
/// most 16 hex digits, its CRLF and the CRLF after the data.
pub const CHUNK_FRAMING_MAX: usize = 16 + 4;

/// Frames `data` as one chunk (for bodies tern itself chunk-encodes).
pub fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    push_hex(out, data.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
