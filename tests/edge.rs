//! Holding at the edge (issue 9, items 5 and 9-12): one tern per address,
//! server limits that hold for the process, a connection cap and descriptor
//! exhaustion, contained panics, and reloads that don't pile up.

mod common;

use common::traffic::*;
use common::*;
use std::time::Duration;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// --- item 5: one tern per address ------------------------------------------

#[test]
fn a_second_tern_on_the_same_address_is_refused() {
    let app = says("first");
    let port = free_port();
    let mut cfg = Cfg::new(app.addr);
    cfg.binds = vec![format!("127.0.0.1:{port}")];
    let mut first = cfg.start();
    let second = Tern::try_start(&cfg.render());
    let Err(why) = second else {
        panic!("a second tern started on 127.0.0.1:{port} beside the first");
    };
    assert!(
        why.contains("Address already in use") && why.contains(&format!("127.0.0.1:{port}")),
        "the refusal should name the address and say it is in use:\n{why}"
    );
    assert!(first.is_running(), "the first tern must keep running");
    for _ in 0..4 {
        assert_eq!(fetch(first.addr(), "/").as_deref(), Ok("first"));
    }
}

#[test]
fn two_listeners_on_one_address_fail_the_check() {
    let port = free_port();
    let config = format!(
        "[[listener]]\nname = \"a\"\nbind = \"127.0.0.1:{port}\"\n\n\
         [[listener]]\nname = \"b\"\nbind = [\"127.0.0.2:1\", \"0.0.0.0:{port}\"]\n\n\
         [[route]]\nbackend = \"app\"\n\n[backend.app]\nservers = [\"127.0.0.1:9\"]\n"
    );
    let file = TempFile::new("two.toml", &config);
    let out = run_tern(&["--check", "--config", &file.path_str()]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "--check accepted two listeners on one port: {err}"
    );
    assert!(
        err.contains("listener[1].bind[1]") && err.contains("already in use"),
        "the error should name the key and say the address is in use: {err}"
    );
}
