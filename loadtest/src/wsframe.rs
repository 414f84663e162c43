//! The RFC 6455 wire format, shared by the echo origin and the client.
//!
//! Only framing lives here: no sockets, so it is tested directly. Payloads
//! are unmasked in place in the caller's read buffer to avoid a copy per
//! message on the origin's echo path.

use base64::Engine;
use sha1::{Digest, Sha1};

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The fixed GUID every server appends to the client's key (RFC 6455 §1.3).
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// A fresh `Sec-WebSocket-Key`: base64 of 16 bytes. It only needs to be
/// unpredictable enough that a caching proxy can't replay an old handshake.
pub fn client_key(random: [u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(random)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    /// Bytes of header, including the masking key.
    pub header_len: usize,
    pub payload_len: usize,
}

impl Header {
    pub fn frame_len(&self) -> usize {
        self.header_len + self.payload_len
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct FrameError(pub &'static str);

/// Parses a frame header from the start of `buf`; `Ok(None)` if more bytes
/// are needed. `max_payload` bounds memory a peer can make us buffer.
pub fn parse_header(buf: &[u8], max_payload: usize) -> Result<Option<Header>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(FrameError("reserved bits set"));
    }
    let (fin, opcode, masked) = (b0 & 0x80 != 0, b0 & 0x0F, b1 & 0x80 != 0);
    if !matches!(
        opcode,
        OP_CONT | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
    ) {
        return Err(FrameError("unknown opcode"));
    }
    let (len, mut pos) = match b1 & 0x7F {
        126 if buf.len() < 4 => return Ok(None),
        126 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() < 10 => return Ok(None),
        127 => (
            u64::from_be_bytes(buf[2..10].try_into().unwrap_or([0xFF; 8])),
            10,
        ),
        n => (n as u64, 2),
    };
    if opcode & 0x8 != 0 && (!fin || len > 125) {
        return Err(FrameError("bad control frame"));
    }
    if len > max_payload as u64 {
        return Err(FrameError("payload too large"));
    }
    let mask = if masked {
        let Some(key) = buf.get(pos..pos + 4) else {
            return Ok(None);
        };
        pos += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask,
        header_len: pos,
        payload_len: len as usize,
    }))
}

/// XORs `data` with the masking key; masking and unmasking are the same.
pub fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// Appends a frame header. Clients must mask (`mask: Some`), servers must not.
pub fn write_header(out: &mut Vec<u8>, fin: bool, opcode: u8, len: usize, mask: Option<[u8; 4]>) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let m = if mask.is_some() { 0x80 } else { 0 };
    match len {
        0..=125 => out.push(m | len as u8),
        126..=0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// Appends a whole frame, masking the payload copy if `mask` is given.
pub fn write_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    write_header(out, fin, opcode, payload.len(), mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_accept_example() {
        // The worked example of RFC 6455 §1.3 (also `openssl sha1 | base64`).
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rfc6455_masked_hello_example() {
        // RFC 6455 §5.7: a masked "Hello" from a client.
        let mut frame = vec![
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let h = parse_header(&frame, 1024).unwrap().unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.header_len, h.payload_len),
            (true, OP_TEXT, 6, 5)
        );
        let key = h.mask.unwrap();
        apply_mask(&mut frame[6..], key);
        assert_eq!(&frame[6..], b"Hello");

        let mut out = Vec::new();
        write_frame(&mut out, true, OP_TEXT, b"Hello", Some(key));
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn length_encodings_round_trip() {
        for len in [0, 125, 126, 65535, 65536, 200_000] {
            let payload = vec![7u8; len];
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut out = Vec::new();
                write_frame(&mut out, true, OP_BINARY, &payload, mask);
                let h = parse_header(&out, 1 << 20).unwrap().unwrap();
                assert_eq!(h.payload_len, len);
                assert_eq!(h.frame_len(), out.len());
                assert_eq!(h.mask, mask);
                // Every strict prefix of the header asks for more bytes.
                for cut in 0..h.header_len {
                    assert_eq!(parse_header(&out[..cut], 1 << 20), Ok(None));
                }
            }
        }
    }

    #[test]
    fn rejects_bad_frames() {
        assert!(parse_header(&[0x81 | 0x40, 0x00], 10).is_err()); // RSV1
        assert!(parse_header(&[0x83, 0x00], 10).is_err()); // opcode 3
        assert!(parse_header(&[0x09, 0x00], 10).is_err()); // fragmented ping
        assert!(parse_header(&[0x89, 126, 0, 200], 1000).is_err()); // long ping
        assert!(parse_header(&[0x82, 126, 0x10, 0], 100).is_err()); // too large
    }

    #[test]
    fn client_key_is_24_chars() {
        assert_eq!(client_key([0; 16]).len(), 24);
    }
}
