//! Static roots replaced by a deploy — a symlink switched to a new release,
//! the directory removed and made again — are followed without a reload,
//! as nginx follows them: within a second or so, never an error between.

mod common;
mod static_site;

use std::path::Path;
use std::time::Duration;

use common::*;
use static_site::*;

/// How long a test waits for tern to notice; it looks once a second.
const NOTICE: Duration = Duration::from_secs(10);

/// `link` made to point at `target` in one step, as deploy tools do it
/// (a new symlink renamed over the old one).
fn switch_symlink(link: &Path, target: &Path) {
    let fresh = link.with_extension("next");
    let _ = std::fs::remove_file(&fresh);
    std::os::unix::fs::symlink(target, &fresh).expect("symlink");
    std::fs::rename(&fresh, link).expect("rename over the link");
}

/// Fetches `path` until its body is `want`; every answer on the way must
/// be a 200 with one of `allowed`. Whether `want` came in time.
fn serves_eventually(tern: &Tern, path: &str, want: &[u8], allowed: &[&[u8]]) -> bool {
    wait_until(NOTICE, || {
        let r = fetch(tern, &get(path));
        assert_eq!(r.status, 200, "an answer between the two roots");
        assert!(
            allowed.contains(&r.body.as_slice()),
            "body {:?}",
            show(&r.body)
        );
        r.body == want
    })
}

fn releases(tag: &str) -> TempDir {
    let site = TempDir::new(tag);
    site.write("releases/1/app.txt", b"release one");
    site.write("releases/2/app.txt", b"release two");
    site.symlink(&site.path.join("releases/1"), "current");
    site
}

#[test]
fn a_root_symlink_switched_to_a_new_release_is_followed_without_a_reload() {
    let site = releases("switch");
    let tern = Tern::start(&config(Some("/static/"), &site.path.join("current"), ""));
    assert_eq!(fetch(&tern, &get("/static/app.txt")).body, b"release one");

    switch_symlink(&site.path.join("current"), &site.path.join("releases/2"));
    let both: &[&[u8]] = &[b"release one", b"release two"];
    assert!(
        serves_eventually(&tern, "/static/app.txt", b"release two", both),
        "still serving the old release"
    );
    // The old release goes, as deploy tools prune them: nothing changes.
    std::fs::remove_dir_all(site.path.join("releases/1")).expect("prune");
    let r = fetch(&tern, &get("/static/app.txt"));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"release two"[..]));
    assert!(
        tern.has_said("now names"),
        "the switch is logged: {:?}",
        tern.stderr()
    );
}

#[test]
fn a_root_removed_and_made_again_is_followed() {
    let site = TempDir::new("remade");
    site.write("www/app.txt", b"old");
    let tern = Tern::start(&config(Some("/static/"), &site.path.join("www"), ""));
    assert_eq!(fetch(&tern, &get("/static/app.txt")).body, b"old");

    std::fs::remove_dir_all(site.path.join("www")).expect("remove the root");
    site.write("www/app.txt", b"new");
    let renewed = wait_until(NOTICE, || {
        let r = fetch(&tern, &get("/static/app.txt"));
        // Until tern looks, the held directory is the deleted one: 404.
        assert!(matches!(r.status, 200 | 404), "status {}", r.status);
        r.status == 200 && r.body == b"new"
    });
    assert!(renewed, "the new directory was never served");
}

#[test]
fn a_root_that_stops_resolving_keeps_its_directory_and_is_logged_once() {
    let site = releases("dangling");
    let link = site.path.join("current");
    let tern = Tern::start(&config(Some("/static/"), &link, ""));
    assert_eq!(fetch(&tern, &get("/static/app.txt")).body, b"release one");

    std::fs::remove_file(&link).expect("remove the link");
    let warned = |tern: &Tern| {
        let lines = tern.stderr();
        lines
            .iter()
            .filter(|l| l.contains("keeping the directory it named before"))
            .count()
    };
    assert!(
        wait_until(NOTICE, || {
            let r = fetch(&tern, &get("/static/app.txt"));
            assert_eq!((r.status, r.body.as_slice()), (200, &b"release one"[..]));
            warned(&tern) > 0
        }),
        "the unresolved root was never logged"
    );
    // More looks (one a second, on requests) while it stays unresolved add
    // no line.
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(fetch(&tern, &get("/static/app.txt")).status, 200);
    }
    assert_eq!(warned(&tern), 1, "{:?}", tern.stderr());

    switch_symlink(&link, &site.path.join("releases/2"));
    let both: &[&[u8]] = &[b"release one", b"release two"];
    assert!(serves_eventually(
        &tern,
        "/static/app.txt",
        b"release two",
        both
    ));
}
