//! Route `compress` on a static route: files compressed on the way and
//! decoded here byte for byte; a `.gz` beside the file (gzip_static) wins;
//! HEAD, Range requests, short files and types not listed go out as they are.

mod common;
mod static_site;

use common::codings::{gunzip, unbrotli};
use common::*;
use static_site::*;

fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut n = 0u64;
    while out.len() < len {
        n = n.wrapping_mul(2862933555777941757).wrapping_add(3037000493);
        out.extend_from_slice(
            format!("<li class=\"item-{}\">entry {}</li>\n", n >> 60, n >> 40).as_bytes(),
        );
    }
    out.truncate(len);
    out
}

/// tern serving `root` below `/static/` with `compress = value`.
fn serve_compressed(root: &TempDir, static_settings: &str, value: &str) -> Tern {
    let mut toml = config(Some("/static/"), &root.path, static_settings);
    toml.push_str(&format!("compress = {value}\n"));
    Tern::start(&toml)
}

#[test]
fn a_file_is_compressed_and_decodes_to_its_bytes() {
    let root = TempDir::new("zip-basic");
    let page = text(700_000);
    root.write("page.html", &page);
    let tern = serve_compressed(&root, "", "true");
    let mut c = tern.connect();
    for (coding, decode) in [("gzip", gunzip as fn(&[u8]) -> Vec<u8>), ("br", unbrotli)] {
        let r = c.roundtrip(&get_with(
            "/static/page.html",
            &format!("Accept-Encoding: {coding}\r\n"),
        ));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding").as_deref(), Some(coding));
        assert!(
            r.chunked && !r.has("content-length") && !r.has("accept-ranges"),
            "{}",
            show(&r.raw[..400])
        );
        assert_eq!(r.header("vary").as_deref(), Some("Accept-Encoding"));
        assert!(
            r.header("etag").is_some_and(|tag| tag.starts_with("W/\"")),
            "{:?}",
            r.header("etag")
        );
        assert!(
            r.body.len() < page.len() / 3,
            "{coding}: {} bytes",
            r.body.len()
        );
        assert_eq!(decode(&r.body), page, "{coding}");
    }
}

#[test]
fn a_gz_file_beside_it_wins() {
    let root = TempDir::new("zip-static");
    let page = text(5_000);
    root.write("app.js", &page);
    let precompressed = {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&page).expect("gzip");
        enc.finish().expect("gzip")
    };
    root.write("app.js.gz", &precompressed);
    let tern = serve_compressed(&root, "", "true");
    let r = fetch(
        &tern,
        &get_with("/static/app.js", "Accept-Encoding: gzip, br;q=0.5\r\n"),
    );
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(
        r.header("content-length"),
        Some(precompressed.len().to_string())
    );
    assert_eq!(r.body, precompressed, "the .gz file as it is");
    // A client that takes only brotli gets the file compressed on the way.
    let r = fetch(
        &tern,
        &get_with("/static/app.js", "Accept-Encoding: br\r\n"),
    );
    assert_eq!(r.header("content-encoding").as_deref(), Some("br"));
    assert_eq!(unbrotli(&r.body), page);
}

#[test]
fn not_compressed_for_head() {
    let root = TempDir::new("zip-head");
    let page = text(5_000);
    root.write("page.html", &page);
    let tern = serve_compressed(&root, "", "true");
    let mut c = tern.connect();
    c.send(b"HEAD /static/page.html HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n");
    let r = c.read_response_to("HEAD").expect("response");
    assert!(!r.has("content-encoding"), "{}", show(&r.raw));
    assert_eq!(r.header("content-length"), Some(page.len().to_string()));
}

#[test]
fn not_compressed_for_range_requests() {
    let root = TempDir::new("zip-range");
    let page = text(5_000);
    root.write("page.html", &page);
    let tern = serve_compressed(&root, "", "true");
    let r = fetch(
        &tern,
        &get_with(
            "/static/page.html",
            "Accept-Encoding: gzip\r\nRange: bytes=10-19\r\n",
        ),
    );
    assert_eq!(r.status, 206);
    assert!(!r.has("content-encoding"));
    assert_eq!(r.body, &page[10..20]);
}

#[test]
fn not_compressed_under_min_length_or_for_types_not_listed() {
    let root = TempDir::new("zip-small");
    root.write("short.html", &text(255));
    root.write("image.png", &text(5_000));
    // Without gzip_static, whose `.gz` lookup varies every answer.
    let tern = serve_compressed(&root, ", gzip_static = false", "true");
    for (path, len) in [("/static/short.html", 255), ("/static/image.png", 5_000)] {
        let r = fetch(&tern, &get_with(path, "Accept-Encoding: gzip\r\n"));
        assert!(!r.has("content-encoding"), "{path}");
        assert_eq!(r.header("content-length"), Some(len.to_string()), "{path}");
        assert!(!r.has("vary"), "{path}");
    }
}

#[test]
fn a_client_that_takes_no_coding_gets_the_file_as_it_is_with_vary() {
    let root = TempDir::new("zip-identity");
    let page = text(5_000);
    root.write("page.html", &page);
    // Without gzip_static, whose `.gz` lookup varies every answer.
    let tern = serve_compressed(&root, ", gzip_static = false", "true");
    for accept in [
        "",
        "Accept-Encoding: identity\r\n",
        "Accept-Encoding: gzip;q=0, br;q=0\r\n",
    ] {
        let r = fetch(&tern, &get_with("/static/page.html", accept));
        assert!(!r.has("content-encoding"), "{accept:?}");
        assert_eq!(r.body, page, "{accept:?}");
        assert_eq!(
            r.header("vary").as_deref(),
            Some("Accept-Encoding"),
            "{accept:?}"
        );
        assert!(
            !r.header("etag").unwrap_or_default().starts_with("W/"),
            "{accept:?}"
        );
    }
}

#[test]
fn a_revalidation_gets_304_with_the_weak_tag() {
    let root = TempDir::new("zip-304");
    root.write("page.html", &text(5_000));
    let tern = serve_compressed(&root, "", "{ algorithms = [\"gzip\"] }");
    let r = fetch(
        &tern,
        &get_with("/static/page.html", "Accept-Encoding: gzip\r\n"),
    );
    let weak = r.header("etag").expect("etag");
    assert!(weak.starts_with("W/"), "{weak}");
    let r = fetch(
        &tern,
        &get_with(
            "/static/page.html",
            &format!("Accept-Encoding: gzip\r\nIf-None-Match: {weak}\r\n"),
        ),
    );
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some(weak));
    assert_eq!(r.header("vary").as_deref(), Some("Accept-Encoding"));
}

/// As for a proxied body (`compression.rs`): no compression for a client
/// that could not tell a cut one from a whole one.
#[test]
fn an_http10_client_gets_the_file_uncompressed_by_its_length() {
    let root = TempDir::new("zip-http10");
    let page = text(300_000);
    root.write("page.txt", &page);
    let tern = serve_compressed(&root, "", "true");
    let mut c = tern.connect();
    c.send(
        b"GET /static/page.txt HTTP/1.0\r\nConnection: keep-alive\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    let r = c.read_response().expect("response");
    assert_eq!(
        r.header("content-encoding"),
        None,
        "{}",
        show(&r.raw[..300])
    );
    assert_eq!(r.header("content-length"), Some(page.len().to_string()));
    assert_eq!(r.body, page);
}
