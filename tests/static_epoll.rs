//! Static files under the epoll driver (`TERN_DRIVER=epoll`): sendfile's
//! waits for writability go through epoll instead of io_uring, and so does
//! the wait for a file thread. Alone in its own test binary because it sets
//! an environment variable for the child.

mod common;
mod static_site;

use common::slow_fs::SlowFs;
use common::*;
use static_site::*;

#[test]
fn large_files_and_ranges_arrive_whole_under_the_epoll_driver() {
    std::env::set_var("TERN_DRIVER", "epoll");
    let root = TempDir::new("epoll");
    let body = pattern(3 << 20, 8);
    root.write("big.bin", &body);
    let tern = serve(&root, "");
    assert!(tern.has_said("driver=epoll"));
    let mut c = tern.connect();
    let r = c.roundtrip(&get("/static/big.bin"));
    assert!(r.body == body, "body differs");
    let r = c.roundtrip(&get_with(
        "/static/big.bin",
        "Range: bytes=1000-2000999\r\n",
    ));
    assert_eq!(r.status, 206);
    assert!(r.body == body[1000..2_001_000], "range differs");
}

/// tern on the epoll driver, `/slow/` on the slow filesystem, `/fast/` on
/// `fast`.
fn tern_on_epoll(slow: &SlowFs, fast: &TempDir) -> Tern {
    std::env::set_var("TERN_DRIVER", "epoll");
    let tern = Tern::start(&slow_and_fast_config(&slow.mount, ("", ""), fast));
    assert!(tern.has_said("driver=epoll"));
    tern
}

#[test]
fn a_name_slow_to_look_up_holds_up_no_other_client_under_the_epoll_driver() {
    // The file thread says it is done on a socket the epoll driver waits
    // on; an eventfd read through monoio's file ops would block the worker.
    let (slow, fast) = (SlowFs::mount(), fast_site());
    let tern = tern_on_epoll(&slow, &fast);
    let response = slow.answered_after(&tern, &get("/slow/slow-name.bin"), "lookup");
    assert_eq!(response.status, 200);
    assert_eq!(response.body.len(), 4_000);
}

#[test]
fn a_file_the_disk_is_slow_to_give_holds_up_no_other_client_under_the_epoll_driver() {
    // monoio's file reads on the epoll driver are plain preads: a file
    // thread reads instead.
    let (slow, fast) = (SlowFs::mount(), fast_site());
    let tern = tern_on_epoll(&slow, &fast);
    let response = slow.answered_after(&tern, &get("/slow/small.bin"), "read");
    assert_eq!(response.status, 200);
    let expected: Vec<u8> = (0..4_000).map(|i| (i * 7) as u8).collect();
    assert!(response.body == expected, "small.bin arrived changed");
}
