//! Strict `Transfer-Encoding: chunked` decoding (RFC 9112 §7.1).
//!
//! The decoder is a push state machine: feed it whatever bytes arrived, it
//! says how many it used. That keeps it independent of sockets, so the same
//! code reads request bodies in the origin and response bodies in clients,
//! and it can be unit-tested byte by byte. "Strict" means bare LF, missing
//! digits or absurd sizes are errors, because a load test that quietly
//! accepts a broken proxy's framing proves nothing.

#[derive(Debug, PartialEq, Eq)]
pub struct ChunkedError(pub &'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size; `digits` seen so far.
    Size {
        size: u64,
        digits: u8,
    },
    /// Skipping a chunk extension (`;name=value`) up to CR.
    Ext {
        size: u64,
    },
    /// Saw CR after the size line, expecting LF.
    SizeLf {
        size: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

/// Trailers are allowed but bounded: nobody legitimately sends 64 KiB of them.
const MAX_TRAILER_BYTES: usize = 64 * 1024;

pub struct ChunkedDecoder {
    state: State,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            trailer_bytes: 0,
        }
    }
}

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes a prefix of `input`, passing body bytes to `sink`.
    /// Returns how many bytes were consumed; stops right after the body ends,
    /// so anything after it (a pipelined request) stays with the caller.
    pub fn decode(
        &mut self,
        input: &[u8],
        sink: &mut impl FnMut(&[u8]),
    ) -> Result<usize, ChunkedError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if let State::Data { left } = self.state {
                let n = (left as usize).min(input.len() - i);
                sink(&input[i..i + n]);
                i += n;
                self.state = if left == n as u64 {
                    State::DataCr
                } else {
                    State::Data {
                        left: left - n as u64,
                    }
                };
                continue;
            }
            self.state = self.step(input[i])?;
            i += 1;
        }
        Ok(i)
    }

    /// Advances the non-data states by one byte.
    fn step(&mut self, b: u8) -> Result<State, ChunkedError> {
        Ok(match self.state {
            State::Size { size, digits } => match (b, hex(b)) {
                (_, Some(d)) if digits < 15 => State::Size {
                    size: size << 4 | d,
                    digits: digits + 1,
                },
                (_, Some(_)) => return Err(ChunkedError("chunk size too large")),
                _ if digits == 0 => return Err(ChunkedError("missing chunk size")),
                (b';', _) => State::Ext { size },
                (b'\r', _) => State::SizeLf { size },
                _ => return Err(ChunkedError("bad byte in chunk size")),
            },
            State::Ext { size } => match b {
                b'\r' => State::SizeLf { size },
                b'\n' => return Err(ChunkedError("bare LF in chunk extension")),
                _ => State::Ext { size },
            },
            State::SizeLf { size } => match (b, size) {
                (b'\n', 0) => State::TrailerStart,
                (b'\n', left) => State::Data { left },
                _ => return Err(ChunkedError("expected LF after chunk size")),
            },
            State::DataCr => expect(b, b'\r', State::DataLf, "expected CR after chunk")?,
            State::DataLf => expect(
                b,
                b'\n',
                State::Size { size: 0, digits: 0 },
                "expected LF after chunk",
            )?,
            State::TrailerStart => match b {
                b'\r' => State::FinalLf,
                _ => self.trailer_byte(b)?,
            },
            State::TrailerLine => self.trailer_byte(b)?,
            State::TrailerLf => expect(b, b'\n', State::TrailerStart, "expected LF in trailer")?,
            State::FinalLf => expect(b, b'\n', State::Done, "expected LF at end of body")?,
            State::Data { .. } | State::Done => unreachable!("handled by decode"),
        })
    }

    fn trailer_byte(&mut self, b: u8) -> Result<State, ChunkedError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(ChunkedError("trailers too large"));
        }
        match b {
            b'\r' => Ok(State::TrailerLf),
            b'\n' => Err(ChunkedError("bare LF in trailer")),
            _ => Ok(State::TrailerLine),
        }
    }
}

fn expect(b: u8, want: u8, next: State, msg: &'static str) -> Result<State, ChunkedError> {
    if b == want {
        Ok(next)
    } else {
        Err(ChunkedError(msg))
    }
}

fn hex(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

/// Appends the size line that starts a chunk of `len` bytes.
pub fn chunk_header(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(format!("{len:x}\r\n").as_bytes());
}

/// The terminating zero-length chunk with no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes.
    fn decode_in_steps(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), ChunkedError> {
        let mut d = ChunkedDecoder::default();
        let mut body = Vec::new();
        let mut used = 0;
        for piece in input.chunks(step) {
            let n = d.decode(piece, &mut |b| body.extend_from_slice(b))?;
            used += n;
            if d.is_done() {
                break;
            }
            assert_eq!(n, piece.len(), "a partial body consumes all input");
        }
        assert!(d.is_done(), "body did not end");
        Ok((body, used))
    }

    #[test]
    fn decodes_simple_body_at_any_split() {
        let input = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nGET / HTTP/1.1";
        for step in 1..input.len() {
            let (body, used) = decode_in_steps(input, step).unwrap();
            assert_eq!(body, b"hello world");
            assert_eq!(&input[used..], b"GET / HTTP/1.1");
        }
    }

    #[test]
    fn accepts_trailers_and_uppercase_hex() {
        let (body, _) = decode_in_steps(b"A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", 3).unwrap();
        assert_eq!(body, b"0123456789");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b"\r\n"[..],
            b"5\nhello\r\n0\r\n\r\n",
            b"zz\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"0\r\n\r\r",
            b"0\r\nX: y\n",
            b"10000000000000000\r\n",
            b" 5\r\n",
        ] {
            let mut d = ChunkedDecoder::default();
            assert!(d.decode(bad, &mut |_| {}).is_err(), "{:?}", bad);
        }
    }

    #[test]
    fn header_matches_decoder() {
        let mut out = Vec::new();
        chunk_header(&mut out, 4096);
        out.extend_from_slice(&[b'x'; 4096]);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(LAST_CHUNK);
        let (body, used) = decode_in_steps(&out, 1000).unwrap();
        assert_eq!(body.len(), 4096);
        assert_eq!(used, out.len());
    }
}
