use super::*;

/// Feeds `input` in pieces of `step` bytes; returns (output, consumed, done).
fn reframe(input: &[u8], step: usize) -> Result<(Vec<u8>, usize, bool), ChunkError> {
    let mut decoder = ChunkedReframer::default();
    let mut out = Vec::new();
    let mut consumed = 0;
    while consumed < input.len() && !decoder.is_done() {
        let end = (consumed + step).min(input.len());
        consumed += decoder.feed(&input[consumed..end], &mut out)?;
    }
    Ok((out, consumed, decoder.is_done()))
}

#[test]
fn reframes_a_body_split_at_every_byte() {
    let body = b"5\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n";
    for step in 1..=body.len() {
        let (out, consumed, done) = reframe(body, step).expect("valid body");
        assert_eq!(
            out, b"5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n",
            "step {step}"
        );
        assert_eq!(consumed, body.len());
        assert!(done);
    }
}

#[test]
fn drops_extensions_and_trailers() {
    let body = b"5;ext=1;q=\"a b\"\r\nhello\r\n0;last\r\nX-Sum: 1\r\nY: 2\r\n\r\n";
    let (out, _, done) = reframe(body, 7).expect("valid body");
    assert_eq!(out, b"5\r\nhello\r\n0\r\n\r\n");
    assert!(done);
}

#[test]
fn stops_at_the_end_of_the_body() {
    let input = b"1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    let (_, consumed, done) = reframe(input, 64).expect("valid body");
    assert!(done);
    assert_eq!(consumed, 11);
}

#[test]
fn refuses_malformed_sizes() {
    assert_eq!(reframe(b"zz\r\n", 4).err(), Some(ChunkError::BadSize));
    assert_eq!(reframe(b"\r\n", 4).err(), Some(ChunkError::BadSize));
    assert_eq!(reframe(b"-1\r\n", 4).err(), Some(ChunkError::BadSize));
    assert_eq!(reframe(b"0x5\r\n", 4).err(), Some(ChunkError::BadSize));
    assert_eq!(
        reframe(b"ffffffffffffffffff\r\n", 4).err(),
        Some(ChunkError::SizeOverflow)
    );
}

#[test]
fn refuses_missing_or_bare_line_endings() {
    // Data longer than its size: the CR after the data is missing.
    assert_eq!(
        reframe(b"3\r\nhello\r\n", 64).err(),
        Some(ChunkError::BadLineEnding)
    );
    // Bare LF after the size.
    assert_eq!(
        reframe(b"5\nhello\r\n", 64).err(),
        Some(ChunkError::BadLineEnding)
    );
    // Bare LF after the data.
    assert_eq!(
        reframe(b"5\r\nhello\n0\r\n\r\n", 64).err(),
        Some(ChunkError::BadLineEnding)
    );
    // Bare LF ending the trailer section.
    assert_eq!(reframe(b"0\r\n\n", 64).err(), Some(ChunkError::BadTrailer));
}

#[test]
fn refuses_control_bytes_in_extensions_and_folded_trailers() {
    assert_eq!(
        reframe(b"5;a\0b\r\n", 64).err(),
        Some(ChunkError::BadExtension)
    );
    assert_eq!(
        reframe(b"5;a\nb\r\n", 64).err(),
        Some(ChunkError::BadExtension)
    );
    assert_eq!(
        reframe(b"0\r\nX: 1\r\n folded\r\n\r\n", 64).err(),
        Some(ChunkError::BadTrailer)
    );
    assert_eq!(
        reframe(b"0\r\nNo colon\r\n\r\n", 64).err(),
        Some(ChunkError::BadTrailer)
    );
}

#[test]
fn accepts_whitespace_before_an_extension_only() {
    assert!(reframe(b"5 ;e\r\nhello\r\n0\r\n\r\n", 64).is_ok());
    assert_eq!(
        reframe(b"5 \r\nhello\r\n", 64).err(),
        Some(ChunkError::BadExtension)
    );
}

#[test]
fn limits_the_size_line() {
    let mut long = b"5;".to_vec();
    long.extend(std::iter::repeat_n(b'a', MAX_SIZE_LINE + 1));
    assert_eq!(reframe(&long, 512).err(), Some(ChunkError::LineTooLong));
}

#[test]
fn hex_is_lower_case_and_minimal() {
    let mut out = Vec::new();
    push_hex(&mut out, 0);
    push_hex(&mut out, 0xABC);
    assert_eq!(out, b"0abc");
}

#[test]
fn decode_only_writes_just_the_data() {
    let mut decoder = ChunkedReframer::decode_only();
    let mut out = Vec::new();
    let body = b"5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nT: 1\r\n\r\n";
    assert_eq!(decoder.feed(body, &mut out), Ok(body.len()));
    assert!(decoder.is_done());
    assert_eq!(out, b"hello!");
}

#[test]
fn refuses_absurd_chunk_sizes() {
    assert_eq!(
        reframe(b"ffffffffffffffff\r\n", 64).unwrap_err(),
        ChunkError::SizeOverflow
    );
    assert_eq!(
        reframe(b"10000000001\r\n", 64).unwrap_err(),
        ChunkError::SizeOverflow
    );
    // The largest accepted size still starts a body.
    let largest = format!("{MAX_CHUNK_SIZE:x}\r\nab");
    assert!(reframe(largest.as_bytes(), 64).is_ok());
}

#[test]
fn checks_a_body_prefix_without_copying() {
    assert!(ChunkedReframer::check_prefix(b"", u64::MAX).is_ok());
    assert!(ChunkedReframer::check_prefix(b"5\r\nhel", u64::MAX).is_ok());
    assert!(ChunkedReframer::check_prefix(b"5\r\nhello\r\n0\r\n\r\nGET", u64::MAX).is_ok());
    assert_eq!(
        ChunkedReframer::check_prefix(b"ZZZ-not-hex\r\n", u64::MAX),
        Err(ChunkError::BadSize)
    );
    assert_eq!(
        ChunkedReframer::check_prefix(b"5\r\nhello!!", u64::MAX),
        Err(ChunkError::BadLineEnding)
    );
}

#[test]
fn a_limited_decoder_takes_up_to_its_limit_and_refuses_a_chunk_past_it() {
    let mut out = Vec::new();
    let mut exact = ChunkedReframer::with_limit(8);
    assert!(exact
        .feed(b"5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n", &mut out)
        .is_ok());
    assert!(exact.is_done());
    // The chunk is refused from its size line: none of its data goes out.
    let mut over = ChunkedReframer::with_limit(8);
    let mut out = Vec::new();
    assert_eq!(
        over.feed(b"5\r\nhello\r\n4\r\nabcd\r\n0\r\n\r\n", &mut out),
        Err(ChunkError::TooLarge)
    );
    assert_eq!(out, b"5\r\nhello\r\n");
    assert_eq!(
        ChunkedReframer::check_prefix(b"9\r\nhel", 8),
        Err(ChunkError::TooLarge)
    );
}
