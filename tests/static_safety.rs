//! Static files: nothing outside the root is ever served. Each way out —
//! `..`, percent-encoded dot segments, encoded slashes and backslashes,
//! NUL, symlinks leading out — is tried on its own, with a secret placed
//! where a successful escape would find it.

mod common;
mod static_site;

use common::*;
use static_site::*;

const SECRET: &[u8] = b"the secret outside the root";

/// `base/secret.txt` (outside) and `base/root/` (served), so one `..` from
/// the root reaches the secret.
fn escape_site() -> (TempDir, Tern) {
    let base = TempDir::new("escape");
    base.write("secret.txt", SECRET);
    base.write("root/sub/ok.txt", b"inside");
    let tern = Tern::start(&config(Some("/static/"), &base.path.join("root"), ""));
    (base, tern)
}

/// Raw request line, so nothing normalises the path on the way.
fn raw_get(tern: &Tern, path: &str) -> Response {
    fetch(tern, &get(path))
}

fn assert_refused(tern: &Tern, path: &str, status: u16) {
    let r = raw_get(tern, path);
    assert_eq!(r.status, status, "{path}");
    assert!(!contains(&r.body, SECRET), "{path} leaked the secret");
}

#[test]
fn the_setup_reaches_files_inside_the_root() {
    let (_base, tern) = escape_site();
    assert_eq!(raw_get(&tern, "/static/sub/ok.txt").body, b"inside");
    assert_eq!(raw_get(&tern, "/static/./sub//ok.txt").body, b"inside");
}

/// Dot segments, spelled out or percent-encoded, and encoded slashes are
/// resolved before routing (`http::path`): a path they take out of
/// `/static/` is no longer the static route's (404 here, no other route),
/// one they take above the root is a 400. The static route's own refusal of
/// them (`files::decode`, unit-tested there) stays behind that.
#[test]
fn dot_dot_segments_never_leave_the_root() {
    let (_base, tern) = escape_site();
    assert_refused(&tern, "/static/../secret.txt", 404);
    assert_refused(&tern, "/static/sub/../../secret.txt", 404);
    assert_refused(&tern, "/static/../../secret.txt", 400);
}

#[test]
fn percent_encoded_dot_segments_never_leave_the_root() {
    let (_base, tern) = escape_site();
    for path in [
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E/secret.txt",
        "/static/.%2e/secret.txt",
        "/static/%2e./secret.txt",
    ] {
        assert_refused(&tern, path, 404);
    }
    assert_refused(&tern, "/static/%2e%2e/%2e%2e/secret.txt", 400);
}

#[test]
fn encoded_slashes_never_leave_the_root() {
    let (_base, tern) = escape_site();
    assert_refused(&tern, "/static/..%2fsecret.txt", 404);
    assert_refused(&tern, "/static/sub%2F..%2F..%2Fsecret.txt", 404);
    assert_eq!(raw_get(&tern, "/static/sub%2Fok.txt").body, b"inside");
}

#[test]
fn backslashes_encoded_or_not_are_refused() {
    let (_base, tern) = escape_site();
    assert_refused(&tern, "/static/..%5csecret.txt", 403);
    assert_refused(&tern, "/static/..%5Csecret.txt", 403);
}

#[test]
fn nul_is_refused() {
    let (_base, tern) = escape_site();
    assert_refused(&tern, "/static/sub/ok.txt%00.png", 403);
    assert!(logged(&tern, &["NUL"]));
}

#[test]
fn malformed_percent_encoding_is_a_bad_request() {
    let (_base, tern) = escape_site();
    assert_refused(&tern, "/static/sub/%zz", 400);
}

#[test]
fn a_symlink_to_a_file_outside_the_root_is_refused() {
    let (base, tern) = escape_site();
    base.symlink(&base.path.join("secret.txt"), "root/link.txt");
    assert_refused(&tern, "/static/link.txt", 403);
    assert!(logged(&tern, &["/static/link.txt", "outside the root"]));
}

#[test]
fn a_symlinked_directory_outside_the_root_is_refused() {
    let (base, tern) = escape_site();
    base.symlink(&base.path, "root/up");
    assert_refused(&tern, "/static/up/secret.txt", 403);
}

#[test]
fn a_relative_symlink_climbing_out_is_refused() {
    let (base, tern) = escape_site();
    base.symlink(std::path::Path::new("../secret.txt"), "root/rel.txt");
    assert_refused(&tern, "/static/rel.txt", 403);
}

#[test]
fn a_symlink_that_stays_inside_the_root_is_followed() {
    let (base, tern) = escape_site();
    base.symlink(std::path::Path::new("sub/ok.txt"), "root/alias.txt");
    assert_eq!(raw_get(&tern, "/static/alias.txt").body, b"inside");
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let (base, tern) = escape_site();
    let fifo = base.path.join("root/pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    assert_refused(&tern, "/static/pipe", 403);
    // The worker is still free.
    assert_eq!(raw_get(&tern, "/static/sub/ok.txt").status, 200);
}
