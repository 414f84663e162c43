//! Static files: what a served file's response carries, Alias-style prefix
//! stripping, HEAD, keep-alive, index files, listings and methods.

mod common;
mod static_site;

use common::*;
use static_site::*;

#[test]
fn a_file_is_served_with_type_length_and_validators() {
    let root = TempDir::new("basic");
    root.write("app.css", b"body { color: red }\n");
    let tern = serve(&root, "");
    let r = fetch(&tern, &get("/static/app.css"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"body { color: red }\n");
    assert_eq!(r.header("content-type").as_deref(), Some("text/css"));
    assert_eq!(r.header("content-length").as_deref(), Some("20"));
    assert_eq!(r.header("accept-ranges").as_deref(), Some("bytes"));
    let etag = r.header("etag").expect("ETag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let modified = r.header("last-modified").expect("Last-Modified");
    assert!(modified.ends_with(" GMT"), "{modified}");
    assert!(r.has("date"));
}

#[test]
fn unknown_extensions_are_octet_streams() {
    let root = TempDir::new("octet");
    root.write("blob.zzqq", b"x");
    root.write("page.html", b"<p>");
    let tern = serve(&root, "");
    let blob = fetch(&tern, &get("/static/blob.zzqq"));
    assert_eq!(
        blob.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    let page = fetch(&tern, &get("/static/page.html"));
    assert_eq!(page.header("content-type").as_deref(), Some("text/html"));
}

#[test]
fn the_matched_prefix_is_stripped_alias_style() {
    let root = TempDir::new("alias");
    root.write("a/b.css", b"nested");
    let tern = serve(&root, "");
    let r = fetch(&tern, &get("/static/a/b.css?v=3"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"nested");
    // The prefix itself is not a directory under root.
    assert_eq!(fetch(&tern, &get("/static/static/a/b.css")).status, 404);
}

#[test]
fn a_route_without_prefix_maps_the_whole_path() {
    let root = TempDir::new("whole");
    root.write("a/b.txt", b"whole path");
    let tern = Tern::start(&config(None, &root.path, ""));
    let r = fetch(&tern, &get("/a/b.txt"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"whole path");
}

#[test]
fn a_missing_file_is_404() {
    let root = TempDir::new("missing");
    let tern = serve(&root, "");
    assert_eq!(fetch(&tern, &get("/static/nope.txt")).status, 404);
    // A file named as a directory doesn't exist either.
    root.write("f.txt", b"f");
    assert_eq!(fetch(&tern, &get("/static/f.txt/")).status, 404);
}

#[test]
fn head_gets_the_headers_without_the_body() {
    let root = TempDir::new("head");
    root.write("big.bin", &pattern(300_000, 1));
    let tern = serve(&root, "");
    let mut c = tern.connect();
    let r = c.roundtrip(b"HEAD /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length").as_deref(), Some("300000"));
    assert!(r.body.is_empty());
    // Had a body followed, this response would be read from its bytes.
    let next = c.roundtrip(&get("/static/nope"));
    assert_eq!(next.status, 404);
}

#[test]
fn keep_alive_serves_requests_one_after_another_on_one_connection() {
    let root = TempDir::new("keepalive");
    let big = pattern(1 << 20, 7);
    root.write("big.bin", &big);
    root.write("small.txt", b"small");
    let tern = serve(&root, "");
    let mut c = tern.connect();
    for _ in 0..2 {
        let r = c.roundtrip(&get("/static/big.bin"));
        assert_eq!(r.status, 200);
        assert!(r.body == big, "1 MiB body differs");
        let r = c.roundtrip(&get("/static/small.txt"));
        assert_eq!(r.body, b"small");
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let root = TempDir::new("pipeline");
    root.write("a.txt", b"first");
    root.write("b.txt", b"second");
    let tern = serve(&root, "");
    let mut c = tern.connect();
    let mut both = get("/static/a.txt");
    both.extend_from_slice(&get("/static/b.txt"));
    c.send(&both);
    assert_eq!(c.read_response().expect("first").body, b"first");
    assert_eq!(c.read_response().expect("second").body, b"second");
}

#[test]
fn connection_close_is_honoured() {
    let root = TempDir::new("close");
    root.write("a.txt", b"bye");
    let tern = serve(&root, "");
    let mut c = tern.connect();
    let r = c.roundtrip(&get_with("/static/a.txt", "Connection: close\r\n"));
    assert_eq!(r.body, b"bye");
    assert!(r.head.has_token("connection", "close"));
    assert!(c.expect_close(std::time::Duration::from_secs(3)).is_ok());
}

#[test]
fn a_large_file_arrives_whole() {
    let root = TempDir::new("large");
    let body = pattern(5 * 1024 * 1024 + 123, 3);
    root.write("large.bin", &body);
    let tern = serve(&root, "");
    let r = fetch(&tern, &get("/static/large.bin"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), body.len());
    assert!(r.body == body, "5 MiB body differs");
}

#[test]
fn cache_control_is_sent_only_when_configured() {
    let root = TempDir::new("cache");
    root.write("a.js", b"1");
    let plain = serve(&root, "");
    assert!(!fetch(&plain, &get("/static/a.js")).has("cache-control"));
    let cached = serve(&root, ", cache_control = \"public, max-age=3600\"");
    let r = fetch(&cached, &get("/static/a.js"));
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("public, max-age=3600")
    );
}

#[test]
fn methods_other_than_get_and_head_get_405_with_allow() {
    let root = TempDir::new("methods");
    root.write("a.txt", b"a");
    let tern = serve(&root, "");
    let mut c = tern.connect();
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let req =
            format!("{method} /static/a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
        let r = c.roundtrip(req.as_bytes());
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"), "{method}");
    }
}

#[test]
fn a_request_body_is_not_taken_for_the_next_request() {
    let root = TempDir::new("body");
    root.write("a.txt", b"a");
    let tern = serve(&root, "");
    let mut c = tern.connect();
    let body = b"GET /static/a.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let r = c.roundtrip(&post("/static/a.txt", body));
    assert_eq!(r.status, 405);
    // A small body is read and dropped (tests/local_answer_bodies.rs): the
    // connection goes on, and the next answer is the next request's.
    let next = c.roundtrip(&get("/static/missing"));
    assert_eq!(next.status, 404, "the body was answered as a request");
}

#[test]
fn a_directory_serves_its_index_file() {
    let root = TempDir::new("index");
    root.write("docs/index.html", b"<h1>docs</h1>");
    root.write("index.html", b"<h1>home</h1>");
    let tern = serve(&root, "");
    let r = fetch(&tern, &get("/static/docs/"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"<h1>docs</h1>");
    assert_eq!(r.header("content-type").as_deref(), Some("text/html"));
    assert_eq!(fetch(&tern, &get("/static/")).body, b"<h1>home</h1>");
}

#[test]
fn a_configured_index_name_is_used() {
    let root = TempDir::new("indexname");
    root.write("docs/start.txt", b"start");
    root.write("docs/index.html", b"not this");
    let tern = serve(&root, ", index = \"start.txt\"");
    assert_eq!(fetch(&tern, &get("/static/docs/")).body, b"start");
}

#[test]
fn a_directory_without_slash_is_redirected_to_it() {
    let root = TempDir::new("slash");
    root.write("docs/index.html", b"x");
    let tern = serve(&root, "");
    let r = fetch(&tern, &get("/static/docs?page=2"));
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/static/docs/?page=2")
    );
}

#[test]
fn a_directory_without_index_is_403_and_logged() {
    let root = TempDir::new("noindex");
    root.write("empty/readme.txt", b"r");
    let tern = serve(&root, "");
    let r = fetch(&tern, &get("/static/empty/"));
    assert_eq!(r.status, 403);
    assert!(
        !contains(&r.body, b"readme"),
        "listed without listing = true"
    );
    assert!(logged(
        &tern,
        &["/static/empty/", "directory without index", "403"]
    ));
}

#[test]
fn listing_when_enabled_shows_escaped_names() {
    let root = TempDir::new("listing");
    root.write("files/<b>&.txt", b"1");
    root.write("files/plain.txt", b"2");
    root.mkdir("files/sub");
    let tern = serve(&root, ", listing = true");
    let r = fetch(&tern, &get("/static/files/"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let page = r.body_str();
    assert!(page.contains("&lt;b&gt;&amp;.txt"), "{page}");
    assert!(!page.contains("<b>&"), "unescaped name in {page}");
    assert!(page.contains("href=\"%3Cb%3E%26.txt\""), "{page}");
    assert!(page.contains("href=\"plain.txt\""), "{page}");
    assert!(page.contains("href=\"sub/\""), "{page}");
}

#[test]
fn http10_keep_alive_is_announced_and_kept() {
    let root = TempDir::new("http10");
    root.write("a.txt", b"ten");
    let tern = serve(&root, "");
    let mut c = tern.connect();
    let req = b"GET /static/a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let r = c.roundtrip(req);
    assert_eq!(r.body, b"ten");
    assert!(r.head.has_token("connection", "keep-alive"));
    assert_eq!(c.roundtrip(req).body, b"ten");
}
