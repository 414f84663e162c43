//! One response's compressor: gzip (flate2 on zlib-rs) or brotli, writing
//! into its own small output buffer that the caller drains after each
//! step, framed as a chunk or not.
//!
//! Memory: the compressor's state is fixed by the level and window chosen
//! here, not by the response, and the output buffer holds at most one
//! step's output (callers feed at most `STEP` bytes at a time).

use std::io::Write;

use super::policy::{Coding, Encoding};
use super::pool::{self, Gzip};
use crate::http::chunked::push_hex;

/// Input fed to an encoder in one step.
pub const STEP: usize = 16 * 1024;

/// Brotli's window: 2^18 = 256 KiB (its default of 4 MiB would make every
/// compressing connection cost megabytes; nginx's brotli module uses 512 KiB).
const BROTLI_LGWIN: u32 = 18;
/// Brotli's quality stops here: at 4 it already compresses about as well
/// as gzip -9 for less CPU, and from 5 on its match tables grow from 2 to
/// 33 MiB per connection (measured by `tests/compress_memory.rs`).
pub const BROTLI_MAX_QUALITY: u32 = 4;
/// Brotli's internal input buffer.
const BROTLI_BUFFER: usize = 4096;

/// The most a compressing connection holds in its encoder, at any level,
/// measured by `tests/compress_memory.rs` (which fails if it is exceeded):
/// gzip holds 420 KiB at every level; brotli 205 KiB at level 1, about
/// 1 MiB at 2 and 3, 1.4 MiB from 4 on.
/// The relay's buffers come on top: one big I/O buffer (128 KiB) for the
/// output, one normal one (16 KiB) for a chunked body's decoded input.
pub const MEMORY_BOUND: usize = 1536 * 1024;

pub struct Encoder {
    inner: Inner,
    /// Input was written since the last flush (an empty flush would still
    /// cost bytes on the wire).
    dirty: bool,
}

/// Both boxed: their states are large structs (brotli's especially), and
/// an `Encoder` moves between the relay's futures.
enum Inner {
    /// From this worker's pool, and back to it when finished; the level it
    /// was made at.
    Gzip(Gzip, u8),
    Br(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    pub fn new(encoding: Encoding) -> Encoder {
        let inner = match encoding.coding {
            Coding::Gzip => Inner::Gzip(pool::take_gzip(encoding.level), encoding.level),
            Coding::Br => Inner::Br(Box::new(brotli::CompressorWriter::new(
                Vec::with_capacity(STEP + 1024),
                BROTLI_BUFFER,
                u32::from(encoding.level).min(BROTLI_MAX_QUALITY),
                BROTLI_LGWIN,
            ))),
        };
        Encoder {
            inner,
            dirty: false,
        }
    }

    /// Compresses `input`; its output may wait inside the encoder.
    pub fn write(&mut self, input: &[u8]) -> std::io::Result<()> {
        self.dirty |= !input.is_empty();
        match &mut self.inner {
            Inner::Gzip(gz, _) => gz.write_all(input),
            Inner::Br(br) => br.write_all(input),
        }
    }

    /// Pushes out everything written so far, decodable as it stands (a
    /// sync flush), and moves it to `wire`.
    pub fn flush(&mut self, wire: &mut Vec<u8>, chunked: bool) -> std::io::Result<()> {
        if std::mem::take(&mut self.dirty) {
            match &mut self.inner {
                Inner::Gzip(gz, _) => gz.flush()?,
                Inner::Br(br) => br.flush()?,
            }
        }
        self.drain(wire, chunked);
        Ok(())
    }

    /// Moves output produced so far to `wire`, without flushing.
    pub fn drain(&mut self, wire: &mut Vec<u8>, chunked: bool) {
        let out = match &mut self.inner {
            Inner::Gzip(gz, _) => gz.get_mut(),
            Inner::Br(br) => br.get_mut(),
        };
        move_out(out, wire, chunked);
    }

    /// Ends the stream (gzip's trailer, brotli's last block) and moves the
    /// rest to `wire`, with the last chunk when `chunked`.
    pub fn finish(self, wire: &mut Vec<u8>, chunked: bool) -> std::io::Result<()> {
        match self.inner {
            Inner::Gzip(mut gz, level) => {
                gz.try_finish()?;
                move_out(gz.get_mut(), wire, chunked);
                pool::give_gzip(level, gz);
            }
            Inner::Br(br) => {
                let mut out = br.into_inner();
                move_out(&mut out, wire, chunked);
            }
        }
        if chunked {
            wire.extend_from_slice(crate::http::chunked::LAST_CHUNK);
        }
        Ok(())
    }
}

fn move_out(out: &mut Vec<u8>, wire: &mut Vec<u8>, chunked: bool) {
    if out.is_empty() {
        return;
    }
    if chunked {
        push_hex(wire, out.len() as u64);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(out);
    if chunked {
        wire.extend_from_slice(b"\r\n");
    }
    out.clear();
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sample() -> Vec<u8> {
        (0..40_000u32)
            .flat_map(|i| format!("line {i} of a sample\n").into_bytes())
            .collect()
    }

    fn roundtrip(coding: Coding) -> Vec<u8> {
        let text = sample();
        let mut enc = Encoder::new(Encoding { coding, level: 5 });
        let mut wire = Vec::new();
        for piece in text.chunks(STEP) {
            enc.write(piece).expect("write");
            enc.flush(&mut wire, false).expect("flush");
        }
        enc.finish(&mut wire, false).expect("finish");
        assert!(wire.len() < text.len() / 4, "{} bytes", wire.len());
        let mut plain = Vec::new();
        match coding {
            Coding::Gzip => flate2::read::GzDecoder::new(&wire[..])
                .read_to_end(&mut plain)
                .map(|_| ()),
            Coding::Br => brotli::Decompressor::new(&wire[..], 4096)
                .read_to_end(&mut plain)
                .map(|_| ()),
        }
        .expect("decodes");
        assert_eq!(plain, text);
        wire
    }

    #[test]
    fn both_codings_round_trip() {
        roundtrip(Coding::Gzip);
        roundtrip(Coding::Br);
    }

    #[test]
    fn a_flush_makes_everything_so_far_decodable() {
        for coding in [Coding::Gzip, Coding::Br] {
            let mut enc = Encoder::new(Encoding { coding, level: 1 });
            let mut wire = Vec::new();
            enc.write(b"data: one event\n\n").expect("write");
            enc.flush(&mut wire, false).expect("flush");
            let mut plain = vec![0; 64];
            let n = match coding {
                Coding::Gzip => flate2::read::GzDecoder::new(&wire[..]).read(&mut plain),
                Coding::Br => brotli::Decompressor::new(&wire[..], 4096).read(&mut plain),
            }
            .expect("partial stream decodes");
            assert_eq!(&plain[..n], b"data: one event\n\n", "{coding:?}");
        }
    }

    #[test]
    fn chunked_output_is_framed() {
        let mut enc = Encoder::new(Encoding {
            coding: Coding::Gzip,
            level: 1,
        });
        let mut wire = Vec::new();
        enc.write(b"hello").expect("write");
        enc.finish(&mut wire, true).expect("finish");
        assert!(wire.ends_with(b"\r\n0\r\n\r\n"));
        let len = wire.len() - b"\r\n0\r\n\r\n".len();
        let header_end = wire.windows(2).position(|w| w == b"\r\n").expect("crlf");
        let size =
            usize::from_str_radix(std::str::from_utf8(&wire[..header_end]).expect("hex"), 16);
        assert_eq!(size.ok(), Some(len - header_end - 2));
    }
}
