use super::*;
use crate::proxy_protocol::{write, write_local, Version};

fn addrs(source: &str, destination: &str) -> Addresses {
    Addresses {
        source: source.parse().expect("source"),
        destination: destination.parse().expect("destination"),
    }
}

fn done(bytes: &[u8]) -> (usize, Option<Addresses>) {
    match parse(bytes) {
        Parsed::Done { len, addresses } => (len, addresses),
        other => panic!("{other:?} for {bytes:?}"),
    }
}

#[test]
fn v1_tcp4_and_tcp6_and_what_follows_is_left() {
    let bytes = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
    let (len, got) = done(bytes);
    assert_eq!(&bytes[len..], b"GET / HTTP/1.1\r\n");
    assert_eq!(got, Some(addrs("192.0.2.1:56324", "198.51.100.2:443")));
    let (_, got) = done(b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
    assert_eq!(got, Some(addrs("[2001:db8::1]:1", "[::1]:65535")));
    assert_eq!(done(b"PROXY UNKNOWN\r\n"), (15, None));
    assert_eq!(done(b"PROXY UNKNOWN 1 2 3 4\r\n").1, None);
}

#[test]
fn v1_mistakes_are_invalid() {
    for bad in [
        &b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n"[..],
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 1\r\n",
        b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
        b"PROXY TCP6 192.0.2.1 ::1 1 2\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.2 056324 443\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.2 +1 443\r\n",
        b"PROXY TCP4  192.0.2.1 198.51.100.2 1 443\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.2 1 443\n",
        b"PROXY UDP4 192.0.2.1 198.51.100.2 1 443\r\n",
        b"GET / HTTP/1.1\r\n",
        b"\r\n\r\nGET",
    ] {
        assert!(matches!(parse(bad), Parsed::Invalid(_)), "{bad:?}");
    }
    let long = [&b"PROXY UNKNOWN "[..], &[b'x'; 120]].concat();
    assert!(matches!(parse(&long), Parsed::Invalid(_)));
}

#[test]
fn every_prefix_of_a_header_is_incomplete() {
    let mut v2 = Vec::new();
    write(Version::V2, &addrs("[2001:db8::7]:9", "[::1]:80"), &mut v2);
    for header in [&b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"[..], &v2] {
        for cut in 0..header.len() {
            assert_eq!(parse(&header[..cut]), Parsed::Incomplete, "cut at {cut}");
        }
        assert_eq!(done(header).0, header.len());
    }
}

#[test]
fn what_tern_writes_it_reads_back() {
    for version in [Version::V1, Version::V2] {
        for (s, d) in [
            ("192.0.2.1:1234", "198.51.100.2:80"),
            ("[2001:db8::1]:1234", "[2001:db8::2]:443"),
        ] {
            let mut out = Vec::new();
            write(version, &addrs(s, d), &mut out);
            assert_eq!(done(&out), (out.len(), Some(addrs(s, d))), "{version:?}");
        }
        // An IPv4 client on an IPv6 socket: sent as IPv6.
        let mut out = Vec::new();
        write(version, &addrs("192.0.2.1:1", "[2001:db8::2]:2"), &mut out);
        assert_eq!(
            done(&out).1,
            Some(addrs("[::ffff:192.0.2.1]:1", "[2001:db8::2]:2"))
        );
        let mut local = Vec::new();
        write_local(version, &mut local);
        assert_eq!(done(&local), (local.len(), None));
    }
}

#[test]
fn v2_with_tlvs_local_and_other_families() {
    let mut header = Vec::from(&V2_SIGNATURE[..]);
    header.extend_from_slice(&[0x21, 0x11, 0, 12 + 5]);
    header.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0, 80]);
    header.extend_from_slice(&[0x04, 0, 2, b'h', b'i']); // a NOOP TLV
    header.extend_from_slice(b"GET");
    let (len, got) = done(&header);
    assert_eq!(len, header.len() - 3);
    assert_eq!(got, Some(addrs("10.0.0.1:8080", "10.0.0.2:80")));
    let mut unix = Vec::from(&V2_SIGNATURE[..]);
    unix.extend_from_slice(&[0x21, 0x31, 0, 216]);
    unix.extend_from_slice(&[0; 216]);
    assert_eq!(done(&unix), (232, None));
}

#[test]
fn v2_mistakes_are_invalid() {
    let with = |ver_cmd: u8, family: u8, body: &[u8]| {
        let mut h = Vec::from(&V2_SIGNATURE[..]);
        h.extend_from_slice(&[ver_cmd, family]);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    };
    for bad in [
        with(0x11, 0x11, &[0; 12]),   // version 1
        with(0x22, 0x11, &[0; 12]),   // command 2
        with(0x21, 0x11, &[0; 11]),   // too short for TCP4
        with(0x21, 0x21, &[0; 35]),   // too short for TCP6
        with(0x21, 0x41, &[0; 12]),   // unknown family
        with(0x21, 0x11, &[0; 5000]), // too long
    ] {
        assert!(matches!(parse(&bad), Parsed::Invalid(_)), "{bad:?}");
    }
}

/// What a fuzz target would check, over a few thousand inputs made from
/// valid headers by flipping, cutting and extending bytes: `parse` never
/// panics, never claims more bytes than it was given, and never asks for
/// more once a header's worth is there.
#[test]
fn mutated_headers_never_panic_or_overrun() {
    let mut seeds: Vec<Vec<u8>> = vec![b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".to_vec()];
    let mut v2 = Vec::new();
    write(Version::V2, &addrs("[2001:db8::7]:9", "[::1]:80"), &mut v2);
    seeds.push(v2);
    let mut local = Vec::new();
    write_local(Version::V2, &mut local);
    seeds.push(local);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..20_000 {
        let mut bytes = seeds[round % seeds.len()].clone();
        for _ in 0..(next() % 4) {
            let at = next() as usize % bytes.len();
            match next() % 3 {
                0 => bytes[at] = next() as u8,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, next() as u8),
            }
            if bytes.is_empty() {
                bytes.push(b'P');
            }
        }
        match parse(&bytes) {
            Parsed::Done { len, .. } => assert!(len <= bytes.len()),
            Parsed::Incomplete => assert!(bytes.len() < MAX_HEADER),
            Parsed::Invalid(_) => {}
        }
    }
}
