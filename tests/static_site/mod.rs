//! Helpers for the static-file tests: a temporary document root filled by
//! the test, and a tern serving it on a route.

#![allow(dead_code)]

use std::path::Path;

use crate::common::{Cfg, Conn, Response, TempDir, Tern};

/// A config with one static route: `settings` is extra `key = value` text
/// for the static table (e.g. `, listing = true`).
pub fn config(prefix: Option<&str>, root: &Path, settings: &str) -> String {
    let mut toml = Cfg::empty().render();
    toml.push_str("\n[[route]]\n");
    if let Some(prefix) = prefix {
        toml.push_str(&format!("path_prefix = \"{prefix}\"\n"));
    }
    toml.push_str(&format!(
        "static = {{ root = \"{}\"{settings} }}\n",
        root.display()
    ));
    toml
}

/// tern serving `root` below `/static/`.
pub fn serve(root: &TempDir, settings: &str) -> Tern {
    Tern::start(&config(Some("/static/"), &root.path, settings))
}

/// A GET with extra header lines (each ending in CRLF).
pub fn get_with(path: &str, headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test.local\r\n{headers}\r\n").into_bytes()
}

/// Sends `request` on a new connection and reads the response.
pub fn fetch(tern: &Tern, request: &[u8]) -> Response {
    let mut conn: Conn = tern.connect();
    conn.roundtrip(request)
}

/// Whether tern logged a line containing every one of `parts`, waiting
/// briefly (the line may trail the response).
pub fn logged(tern: &Tern, parts: &[&str]) -> bool {
    crate::common::wait_until(std::time::Duration::from_secs(2), || {
        tern.stderr()
            .iter()
            .any(|line| parts.iter().all(|part| line.contains(part)))
    })
}

/// The ordinary directory `/fast/` serves: `fast.txt` holding "fast".
pub fn fast_site() -> TempDir {
    let fast = TempDir::new("fast");
    fast.write("fast.txt", b"fast");
    fast
}

/// One worker: `/slow/` on `slow` (its static table with `settings`, its
/// route with `route_lines`), `/fast/` on `fast`, and the admin endpoint.
pub fn slow_and_fast_config(
    slow: &Path,
    (settings, route_lines): (&str, &str),
    fast: &TempDir,
) -> String {
    let mut toml = config(Some("/slow/"), slow, settings).replace("workers = 2", "workers = 1");
    toml.push_str(route_lines);
    toml.push_str(&format!(
        "\n[[route]]\npath_prefix = \"/fast/\"\nstatic = {{ root = \"{}\" }}\n",
        fast.path.display()
    ));
    toml.push_str("\n[admin]\nbind = \"127.0.0.1:0\"\n");
    toml
}
