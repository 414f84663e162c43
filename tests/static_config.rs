//! Static routes in the config: `backend` or `static`, exactly one; the root
//! must exist and be a directory; errors name the file and the key.

mod common;
mod static_site;

use common::*;
use static_site::*;

fn check(contents: &str) -> (Option<i32>, String) {
    let f = TempFile::new("static.toml", contents);
    let out = run_tern(&["--check", "--config", &f.path_str()]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), err)
}

fn refused(contents: &str, mentions: &[&str]) {
    let (code, err) = check(contents);
    assert_eq!(code, Some(1), "should be refused: {err}\n{contents}");
    assert!(err.contains("static.toml"), "file missing: {err}");
    for m in mentions {
        assert!(err.contains(m), "{m:?} missing from: {err}");
    }
}

fn listener() -> String {
    "[[listener]]\nbind = \"127.0.0.1:0\"\n".into()
}

#[test]
fn a_static_route_is_accepted() {
    let root = TempDir::new("cfg-ok");
    let toml = config(Some("/s/"), &root.path, ", listing = true, cache_control = \"max-age=60\", gzip_static = false, index = \"home.html\"");
    let (code, err) = check(&toml);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_route_with_both_backend_and_static_is_refused() {
    let root = TempDir::new("cfg-both");
    let toml = format!(
        "{}[[route]]\nbackend = \"app\"\nstatic = {{ root = \"{}\" }}\n[backend.app]\nservers = [\"127.0.0.1:9\"]\n",
        listener(),
        root.path.display()
    );
    refused(&toml, &["route[0]", "more than one action"]);
}

#[test]
fn a_route_with_neither_is_refused() {
    refused(
        &format!("{}[[route]]\npath_prefix = \"/\"\n", listener()),
        &["route[0]", "needs an action"],
    );
}

#[test]
fn a_missing_root_is_refused() {
    let toml = format!(
        "{}[[route]]\nstatic = {{ root = \"/nonexistent/tern/root\" }}\n",
        listener()
    );
    refused(&toml, &["route[0].static.root", "/nonexistent/tern/root"]);
}

#[test]
fn a_root_that_is_a_file_is_refused() {
    let root = TempDir::new("cfg-file");
    let file = root.write("f.txt", b"x");
    let toml = config(None, &file, "");
    refused(&toml, &["route[0].static.root", "not a directory"]);
}

#[test]
fn an_unknown_static_key_is_refused() {
    let root = TempDir::new("cfg-key");
    refused(
        &config(None, &root.path, ", autoindex = true"),
        &["autoindex"],
    );
}

#[test]
fn a_multi_line_cache_control_is_refused() {
    let root = TempDir::new("cfg-cc");
    let toml = config(None, &root.path, ", cache_control = \"a\\r\\nX-Evil: 1\"");
    refused(&toml, &["route[0].static.cache_control"]);
}
