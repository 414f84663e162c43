//! Static files under the epoll driver (`TERN_DRIVER=epoll`): sendfile's
//! waits for writability go through epoll instead of io_uring. Alone in its
//! own test binary because it sets an environment variable for the child.

mod common;
mod static_site;

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
