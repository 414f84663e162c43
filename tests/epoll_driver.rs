//! The epoll fallback (`TERN_DRIVER=epoll`, as where io_uring is refused)
//! proxies like io_uring does. Alone in its own test binary because it sets
//! an environment variable for the child.

mod common;

use common::fifo::Fifo;
use common::*;

#[test]
fn the_epoll_driver_proxies_gets_and_chunked_uploads() {
    std::env::set_var("TERN_DRIVER", "epoll");
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    assert!(tern.has_said("driver=epoll"), "{:?}", tern.stderr());
    let mut c = tern.connect();
    let r = c.roundtrip(&get("/plain"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "/plain"));
    let r = c.roundtrip(
        b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello"));
}

#[test]
fn the_epoll_driver_writes_an_access_log_to_a_fifo() {
    std::env::set_var("TERN_DRIVER", "epoll");
    let up = RecordingUpstream::echo();
    // Held open from before tern starts (so its opens never wait for a
    // reader, nor see this end close), read once the requests are done.
    let mut fifo = Fifo::new("epoll-fifo");
    let toml = format!(
        "{}\n[log]\naccess = \"{}\"\n",
        Cfg::new(up.addr).workers(1).render(),
        fifo.path.display()
    );
    let tern = Tern::start(&toml);
    let mut c = tern.connect();
    for i in 0..3 {
        assert_eq!(c.roundtrip(&get(&format!("/logged/{i}"))).status, 200);
    }
    let all = fifo.read_until(std::time::Duration::from_secs(5), |log| {
        log.iter().filter(|&&b| b == b'\n').count() >= 3
    });
    let log = fifo.text();
    assert!(all, "{log}");
    for i in 0..3 {
        assert!(log.contains(&format!("/logged/{i} ")), "{log}");
    }
    // pwrite(2), which the epoll driver's file writes use, refuses a FIFO.
    assert!(
        !tern.has_said("access log write failed"),
        "{:?}",
        tern.stderr()
    );
}
