//! Randomised checks of the request-head path and the chunked codec: many
//! generated inputs, fixed seeds (so a failure reproduces), bounded counts.
//! The same entry points are cargo-fuzz targets in fuzz/ for longer runs.

use tern::config::Limits;
use tern::http::chunked::ChunkedReframer;
use tern::http::request;
use tern::http::scan::{HeadScanner, Scan};
use tern::http::BodyKind;
use tern::proxy::rewrite_request::{write_upstream_head, ForwardInfo};

const LIMITS: Limits = Limits {
    max_head_bytes: 64 * 1024,
    max_request_line_bytes: 8 * 1024,
    max_headers: 100,
};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a [u8]]) -> &'a [u8] {
        items[self.below(items.len())]
    }
}

const METHODS: &[&[u8]] = &[
    b"GET", b"POST", b"HEAD", b"PUT", b"OPTIONS", b"CONNECT", b"G T",
];
const TARGETS: &[&[u8]] = &[
    b"/",
    b"/a?b=c",
    b"http://h.test/x",
    b"http://h.test",
    b"*",
    b"x",
    b"/%00",
];
const VERSIONS: &[&[u8]] = &[b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 "];
/// Header lines, valid and not: framing fields, hop-by-hop fields, and the
/// bytes smuggling attacks are made of.
const FIELDS: &[&[u8]] = &[
    b"Host: a.test",
    b"Host: b",
    b"Host:",
    b"Content-Length: 5",
    b"Content-Length: 5, 5",
    b"Content-Length: 5, 6",
    b"Content-Length: -1",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip",
    b"Transfer-Encoding: chunked, chunked",
    b"Connection: close, X-A",
    b"X-A: 1",
    b"Upgrade: websocket",
    b"Connection: upgrade",
    b"Connection: keep-alive",
    b"Expect: 100-continue",
    b"X-Forwarded-For: 1.2.3.4",
    b"Keep-Alive: 5",
    b"TE: trailers",
    b"Accept: */*",
    b" folded",
    b"X : y",
    b"X-Y: a\0b",
    b"X-Y: a\x7fb",
    b"X-Y: \xff",
];
/// Noise spliced into a line now and then.
const NOISE: &[&[u8]] = &[b"\n", b"\r", b" ", b"\t", b":", b"\0", b",", b"\r\n"];

fn random_head(rng: &mut Rng) -> Vec<u8> {
    let mut lines = vec![[
        rng.pick(METHODS),
        b" ",
        rng.pick(TARGETS),
        b" ",
        rng.pick(VERSIONS),
    ]
    .concat()];
    for _ in 0..rng.below(8) {
        lines.push(rng.pick(FIELDS).to_vec());
    }
    if rng.below(4) == 0 {
        let line = rng.below(lines.len());
        let at = rng.below(lines[line].len() + 1);
        let noise = rng.pick(NOISE);
        lines[line].splice(at..at, noise.iter().copied());
    }
    let mut head = lines.join(&b"\r\n"[..]);
    head.extend_from_slice(b"\r\n\r\n");
    head
}

fn forward(head: &[u8]) -> Option<(Vec<u8>, BodyKind, String)> {
    let mut slots = request::field_slots::<256>();
    let req = request::parse(head, &mut slots, &LIMITS).ok()?;
    let info = ForwardInfo {
        client_ip: "10.1.2.3".parse().expect("ip"),
        proto: "http",
        strip_expect: true,
        local_addr: None,
        edit: None,
    };
    let mut out = Vec::new();
    write_upstream_head(&req, head, &info, &mut out);
    Some((out, req.body, req.method.to_owned()))
}

/// Whatever a client sends, what tern would forward is itself a clean head
/// that parses to the same method and framing, with no bare CR or LF.
#[test]
fn forwarded_heads_are_always_clean_and_equivalent() {
    let mut rng = Rng(0x7e57_0001);
    let mut accepted = 0;
    for _ in 0..50_000 {
        let raw = random_head(&mut rng);
        let head_len = match HeadScanner::default().scan(&raw) {
            Scan::Complete { head_len } => head_len,
            _ => continue,
        };
        let Some((out, body, method)) = forward(&raw[..head_len]) else {
            continue;
        };
        accepted += 1;
        assert_eq!(
            HeadScanner::default().scan(&out),
            Scan::Complete {
                head_len: out.len()
            },
            "forwarded head not clean: {:?}",
            String::from_utf8_lossy(&out)
        );
        let (_, body_again, method_again) = forward(&out).unwrap_or_else(|| {
            panic!(
                "forwarded head refused: {:?}",
                String::from_utf8_lossy(&out)
            )
        });
        assert_eq!((body, method.as_str()), (body_again, method_again.as_str()));
    }
    assert!(
        accepted > 100,
        "the generator should produce valid heads too ({accepted})"
    );
}

fn chunked_body(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let mut wire = Vec::new();
    let mut data = Vec::new();
    for _ in 0..rng.below(6) {
        let len = 1 + rng.below(40);
        let chunk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        wire.extend_from_slice(format!("{len:X}").as_bytes());
        if rng.below(3) == 0 {
            wire.extend_from_slice(b";name=\"v a\"");
        }
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&chunk);
        wire.extend_from_slice(b"\r\n");
        data.extend_from_slice(&chunk);
    }
    wire.extend_from_slice(b"0\r\n");
    if rng.below(2) == 0 {
        wire.extend_from_slice(b"X-Trailer: t\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    (wire, data)
}

/// Feeds `wire` in random pieces; returns the output, or None on an error.
fn reframe(wire: &[u8], rng: &mut Rng, decoder: &mut ChunkedReframer) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < wire.len() && !decoder.is_done() {
        let end = (at + 1 + rng.below(17)).min(wire.len());
        at += decoder.feed(&wire[at..end], &mut out).ok()?;
    }
    Some(out)
}

/// Valid bodies split anywhere decode to their data, and the re-framed
/// output decodes to the same data again.
#[test]
fn chunked_bodies_survive_any_split_and_reframing() {
    let mut rng = Rng(0x7e57_0002);
    for _ in 0..20_000 {
        let (wire, data) = chunked_body(&mut rng);
        let mut decode_only = ChunkedReframer::decode_only();
        let decoded = reframe(&wire, &mut rng, &mut decode_only).expect("valid body");
        assert!(decode_only.is_done());
        assert_eq!(decoded, data);
        let mut reframer = ChunkedReframer::default();
        let reframed = reframe(&wire, &mut rng, &mut reframer).expect("valid body");
        let mut again = ChunkedReframer::decode_only();
        assert_eq!(reframe(&reframed, &mut rng, &mut again), Some(data));
    }
}

/// Mutated bodies never panic, and whatever tern forwards from them is a
/// well-formed chunked body (so an upstream can't read it another way).
#[test]
fn mutated_chunked_bodies_never_yield_malformed_output() {
    let mut rng = Rng(0x7e57_0003);
    let noise: &[&[u8]] = &[
        b"\r",
        b"\n",
        b";",
        b"0",
        b"f",
        b"\0",
        b" ",
        b"\r\n",
        b"ffffffffffffffffff",
    ];
    for _ in 0..20_000 {
        let (mut wire, _) = chunked_body(&mut rng);
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(wire.len());
            let piece = rng.pick(noise);
            wire.splice(
                at..at + usize::from(rng.below(2) == 0).min(wire.len() - at),
                piece.iter().copied(),
            );
        }
        let mut decoder = ChunkedReframer::default();
        let Some(out) = reframe(&wire, &mut rng, &mut decoder) else {
            continue;
        };
        if decoder.is_done() {
            let mut check = ChunkedReframer::decode_only();
            let mut sink = Vec::new();
            assert_eq!(
                check.feed(&out, &mut sink),
                Ok(out.len()),
                "{:?}",
                String::from_utf8_lossy(&out)
            );
            assert!(check.is_done());
        }
    }
}
