//! A chunked body, fed to the decoder that re-frames it in reads of any
//! size. The re-framed body must decode to the same data, re-frame to
//! itself, and the decoder must stop exactly where the body ends; limited
//! to the data's length it must take the body, to a byte less refuse it.
//! The checker (what a body tern answers without is read and dropped with)
//! must end, refuse or wait exactly where the re-framer does: a dropped
//! body that ended elsewhere would leave its bytes to be read as a request.

use crate::http::chunked::{ChunkError, ChunkedReframer};

/// The first byte sets the size of the reads the body arrives in (1 to 256
/// bytes); the rest is the body and whatever follows it.
pub fn chunked(data: &[u8]) {
    let Some((&read_size, body)) = data.split_first() else {
        return;
    };
    let whole = decode(ChunkedReframer::default(), body, body.len().max(1));
    let in_reads = decode(ChunkedReframer::default(), body, usize::from(read_size) + 1);
    assert_eq!(
        whole, in_reads,
        "the reads a body arrives in changed the result"
    );
    let checked = decode(
        ChunkedReframer::checker(u64::MAX),
        body,
        usize::from(read_size) + 1,
    );
    assert_eq!(
        checked,
        whole.without_output(),
        "the checker and the re-framer disagree on where the body ends"
    );
    let data_only = decode(ChunkedReframer::decode_only(), body, body.len().max(1));
    let Decoded::Done {
        used,
        out: reframed,
    } = whole
    else {
        if let Decoded::Done { .. } = data_only {
            panic!("decode-only finished a body the re-framer did not");
        }
        return;
    };
    let Decoded::Done {
        used: data_used,
        out: plain,
    } = data_only
    else {
        panic!("the re-framer finished a body decode-only did not");
    };
    assert_eq!(used, data_used);
    limits_hold(body, used, &reframed, plain.len() as u64);
    // The clean framing tern forwards is a fixed point, and carries the data.
    let again = decode(ChunkedReframer::default(), &reframed, reframed.len());
    assert_eq!(
        again,
        Decoded::Done {
            used: reframed.len(),
            out: reframed.clone()
        }
    );
    let forwarded = decode(ChunkedReframer::decode_only(), &reframed, reframed.len());
    assert_eq!(
        forwarded,
        Decoded::Done {
            used: reframed.len(),
            out: plain
        }
    );
}

/// A decoder limited to the body's data length decodes it as an unlimited
/// one does; one limited to a byte less refuses it as too large.
fn limits_hold(body: &[u8], used: usize, reframed: &[u8], data_len: u64) {
    let whole = body.len().max(1);
    assert_eq!(
        decode(ChunkedReframer::with_limit(data_len), body, whole),
        Decoded::Done {
            used,
            out: reframed.to_vec()
        },
        "a limit the body keeps to changed the result"
    );
    assert_eq!(
        decode(ChunkedReframer::checker(data_len), body, whole),
        Decoded::Done {
            used,
            out: Vec::new()
        },
        "a limit the body keeps to changed where the checker ends"
    );
    if data_len > 0 {
        for decoder in [ChunkedReframer::with_limit, ChunkedReframer::checker] {
            assert_eq!(
                decode(decoder(data_len - 1), body, whole),
                Decoded::Failed(ChunkError::TooLarge),
                "a body past its limit was taken"
            );
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Decoded {
    /// The body ended after `used` bytes of input.
    Done {
        used: usize,
        out: Vec<u8>,
    },
    /// The input ran out first.
    Unfinished {
        out: Vec<u8>,
    },
    Failed(ChunkError),
}

impl Decoded {
    /// The same end, with nothing passed on (as the checker decodes).
    fn without_output(&self) -> Decoded {
        match self {
            Decoded::Done { used, .. } => Decoded::Done {
                used: *used,
                out: Vec::new(),
            },
            Decoded::Unfinished { .. } => Decoded::Unfinished { out: Vec::new() },
            Decoded::Failed(err) => Decoded::Failed(*err),
        }
    }
}

/// Feeds `body` in reads of `read_size`, as a connection would.
fn decode(mut decoder: ChunkedReframer, body: &[u8], read_size: usize) -> Decoded {
    let mut out = Vec::new();
    let mut used = 0;
    for read in body.chunks(read_size) {
        match decoder.feed(read, &mut out) {
            Ok(n) => {
                assert!(n <= read.len());
                used += n;
                if decoder.is_done() {
                    return Decoded::Done { used, out };
                }
                assert_eq!(n, read.len(), "stopped early without finishing");
            }
            Err(err) => return Decoded::Failed(err),
        }
    }
    Decoded::Unfinished { out }
}
