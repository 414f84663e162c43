//! Listening on IPv4 and IPv6 at once.

mod common;

use common::*;

#[test]
fn one_listener_serves_on_ipv4_and_ipv6() {
    let up = RecordingUpstream::echo();
    let mut cfg = Cfg::new(up.addr);
    cfg.binds = vec!["127.0.0.1:0".into(), "[::1]:0".into()];
    let tern = cfg.start();
    let v6 = tern
        .listeners
        .iter()
        .map(|l| l.0)
        .find(|a| a.is_ipv6())
        .expect("an IPv6 address is listening");
    for addr in [tern.addr(), v6] {
        let r = Conn::connect(addr).roundtrip(&get("/both"));
        assert_eq!(r.status, 200, "via {addr}");
        assert_eq!(r.body_str(), "/both");
    }
    assert_eq!(up.request_count(), 2);
}
