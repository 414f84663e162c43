//! The epoll fallback (`TERN_DRIVER=epoll`, as where io_uring is refused)
//! proxies like io_uring does. Alone in its own test binary because it sets
//! an environment variable for the child.

mod common;

use common::*;

#[test]
fn the_epoll_driver_proxies_gets_and_chunked_uploads() {
    std::env::set_var("TERN_DRIVER", "epoll");
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    assert!(
        tern.stderr().iter().any(|l| l.contains("driver=epoll")),
        "{:?}",
        tern.stderr()
    );
    let mut c = tern.connect();
    let r = c.roundtrip(&get("/plain"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "/plain"));
    let r = c.roundtrip(
        b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello"));
}
