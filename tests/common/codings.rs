//! Decoding what tern compressed, for the compression tests to compare
//! byte for byte.

use std::io::Read;

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a valid gzip stream");
    out
}

pub fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("a valid brotli stream");
    out
}

/// Text that compresses well but not trivially.
pub fn compressible_text(len: usize) -> Vec<u8> {
    let words = ["alpha ", "beta ", "gamma\n", "delta ", "epsilon ", "zeta\n"];
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0u64;
    while out.len() < len {
        i = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(words[(i >> 33) as usize % words.len()].as_bytes());
        out.extend_from_slice(format!("{} ", i >> 50).as_bytes());
    }
    out.truncate(len);
    out
}
