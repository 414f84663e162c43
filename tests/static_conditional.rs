//! Static files: conditional requests (ETag, If-None-Match,
//! If-Modified-Since → 304; If-Match, If-Unmodified-Since → 412), ranges
//! (206, 416, If-Range) and precompressed
//! `.gz` variants (gzip_static).

mod common;
mod static_site;

use common::*;
use static_site::*;

fn site_with(name: &str, contents: &[u8]) -> (TempDir, Tern) {
    let root = TempDir::new("cond");
    root.write(name, contents);
    let tern = serve(&root, "");
    (root, tern)
}

#[test]
fn if_none_match_with_the_etag_gives_304() {
    let (_root, tern) = site_with("a.txt", b"hello");
    let mut c = tern.connect();
    let etag = c
        .roundtrip(&get("/static/a.txt"))
        .header("etag")
        .expect("etag");
    for value in [etag.clone(), format!("\"x\", W/{etag}"), "*".into()] {
        let r = c.roundtrip(&get_with(
            "/static/a.txt",
            &format!("If-None-Match: {value}\r\n"),
        ));
        assert_eq!(r.status, 304, "{value}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("etag").as_deref(), Some(etag.as_str()));
    }
    let r = c.roundtrip(&get_with("/static/a.txt", "If-None-Match: \"other\"\r\n"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
}

#[test]
fn if_modified_since_gives_304_unless_the_file_is_newer() {
    let (_root, tern) = site_with("a.txt", b"hello");
    let mut c = tern.connect();
    let modified = c
        .roundtrip(&get("/static/a.txt"))
        .header("last-modified")
        .expect("Last-Modified");
    let same = get_with(
        "/static/a.txt",
        &format!("If-Modified-Since: {modified}\r\n"),
    );
    assert_eq!(c.roundtrip(&same).status, 304);
    let old = get_with(
        "/static/a.txt",
        "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
    );
    let r = c.roundtrip(&old);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
}

/// RFC 9110 §13.2.2: If-Match (strong), or without it If-Unmodified-Since,
/// is checked first, and a failed one is a 412: a client resuming a
/// download "only if the file is still the one I have" must not get a
/// slice of another. The connection goes on after it.
#[test]
fn a_failed_if_match_or_if_unmodified_since_gives_412_before_any_range() {
    let (_root, tern) = site_with("a.txt", b"hello world");
    let mut c = tern.connect();
    let etag = c
        .roundtrip(&get("/static/a.txt"))
        .header("etag")
        .expect("etag");
    for failing in [
        "If-Match: \"not-the-etag\"\r\n".to_owned(),
        format!("If-Match: W/{etag}\r\n"),
        "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\n".to_owned(),
        "If-Match: \"stale\"\r\nRange: bytes=0-4\r\n".to_owned(),
    ] {
        let r = c.roundtrip(&get_with("/static/a.txt", &failing));
        assert_eq!(r.status, 412, "{failing}");
        assert!(!contains(&r.body, b"hello"), "{failing}");
    }
    for passing in [
        format!("If-Match: {etag}\r\nRange: bytes=0-4\r\n"),
        "If-Match: *\r\nRange: bytes=0-4\r\n".to_owned(),
    ] {
        let r = c.roundtrip(&get_with("/static/a.txt", &passing));
        assert_eq!(r.status, 206, "{passing}");
        assert_eq!(r.body, b"hello");
    }
}

#[test]
fn the_etag_changes_when_the_file_does() {
    let (root, tern) = site_with("a.txt", b"one");
    let before = fetch(&tern, &get("/static/a.txt")).header("etag");
    root.write("a.txt", b"three");
    let after = fetch(&tern, &get("/static/a.txt"));
    assert_eq!(after.body, b"three");
    assert_ne!(after.header("etag"), before);
}

#[test]
fn a_single_range_gives_206_with_content_range() {
    let body = pattern(1000, 5);
    let (_root, tern) = site_with("r.bin", &body);
    let mut c = tern.connect();
    let cases = [
        ("bytes=0-99", 0, 99),
        ("bytes=900-", 900, 999),
        ("bytes=-10", 990, 999),
    ];
    for (range, start, end) in cases {
        let r = c.roundtrip(&get_with("/static/r.bin", &format!("Range: {range}\r\n")));
        assert_eq!(r.status, 206, "{range}");
        let expected = format!("bytes {start}-{end}/1000");
        assert_eq!(
            r.header("content-range").as_deref(),
            Some(expected.as_str())
        );
        assert_eq!(r.body, &body[start..=end], "{range}");
    }
}

#[test]
fn a_range_of_a_large_file_is_sent_exactly() {
    let body = pattern(3 << 20, 11);
    let (_root, tern) = site_with("big.bin", &body);
    let r = fetch(
        &tern,
        &get_with("/static/big.bin", "Range: bytes=100000-2999999\r\n"),
    );
    assert_eq!(r.status, 206);
    assert!(r.body == body[100_000..3_000_000], "range body differs");
}

#[test]
fn an_unsatisfiable_range_gives_416_with_the_size() {
    let (_root, tern) = site_with("r.bin", &[7u8; 100]);
    let mut c = tern.connect();
    for range in ["bytes=100-", "bytes=500-600", "bytes=-0"] {
        let r = c.roundtrip(&get_with("/static/r.bin", &format!("Range: {range}\r\n")));
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range").as_deref(), Some("bytes */100"));
    }
}

#[test]
fn several_ranges_get_the_whole_file() {
    let (_root, tern) = site_with("r.bin", &[7u8; 100]);
    let r = fetch(
        &tern,
        &get_with("/static/r.bin", "Range: bytes=0-1, 5-6\r\n"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 100);
}

#[test]
fn if_range_with_an_old_etag_gets_the_whole_file() {
    let (_root, tern) = site_with("r.bin", &[7u8; 100]);
    let mut c = tern.connect();
    let etag = c
        .roundtrip(&get("/static/r.bin"))
        .header("etag")
        .expect("etag");
    let current = format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\n");
    assert_eq!(
        c.roundtrip(&get_with("/static/r.bin", &current)).status,
        206
    );
    let old = "Range: bytes=0-9\r\nIf-Range: \"old\"\r\n";
    let r = c.roundtrip(&get_with("/static/r.bin", old));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 100);
}

#[test]
fn a_gz_beside_the_file_is_served_to_clients_that_accept_gzip() {
    let root = TempDir::new("gzip");
    root.write("app.js", b"plain javascript");
    root.write("app.js.gz", b"pretend gzip bytes");
    let tern = serve(&root, "");
    let r = fetch(
        &tern,
        &get_with("/static/app.js", "Accept-Encoding: br, gzip\r\n"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"pretend gzip bytes");
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(r.header("content-type").as_deref(), Some("text/javascript"));
    assert!(r.head.has_token("vary", "accept-encoding"));
    let plain = fetch(&tern, &get("/static/app.js"));
    assert_eq!(plain.body, b"plain javascript");
    assert!(!plain.has("content-encoding"));
    assert_ne!(plain.header("etag"), r.header("etag"));
}

#[test]
fn gzip_with_q_zero_gets_the_plain_file() {
    let root = TempDir::new("gzipq0");
    root.write("app.js", b"plain");
    root.write("app.js.gz", b"gz");
    let tern = serve(&root, "");
    let r = fetch(
        &tern,
        &get_with("/static/app.js", "Accept-Encoding: *, gzip;q=0\r\n"),
    );
    assert_eq!(r.body, b"plain");
    assert!(!r.has("content-encoding"));
}

#[test]
fn gzip_static_off_never_serves_the_gz() {
    let root = TempDir::new("gzipoff");
    root.write("app.js", b"plain");
    root.write("app.js.gz", b"gz");
    let tern = serve(&root, ", gzip_static = false");
    let r = fetch(
        &tern,
        &get_with("/static/app.js", "Accept-Encoding: gzip\r\n"),
    );
    assert_eq!(r.body, b"plain");
    assert!(!r.has("content-encoding"));
}
