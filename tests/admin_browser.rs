//! The status page in a real browser: headless Chromium loads it and the
//! rendered DOM shows the live numbers. Skipped, with a note, only where
//! chromium is not installed (CI installs Debian's package).

mod admin_support;
mod common;

use admin_support::*;
use common::chromium::dump_dom;
use common::*;

#[test]
fn the_status_page_renders_the_live_numbers_in_chromium() {
    let (a, b) = (RecordingUpstream::echo(), RecordingUpstream::echo());
    let tern = start_with_admin(&Cfg::servers(&[a.addr, b.addr]).workers(1));
    let mut client = tern.connect();
    for i in 0..7 {
        assert_eq!(client.roundtrip(&get(&format!("/{i}"))).status, 200);
    }
    let (status, _, _) = admin_request(&tern, "POST", "/servers/app/1/drain", "");
    assert_eq!(status, 200);
    let url = format!("http://{}/", admin_addr(&tern));
    let dom = dump_dom(&url, &[]);
    assert!(dom.contains("<h2>backend app</h2>"), "{dom}");
    assert!(dom.contains(&a.addr.to_string()) && dom.contains(&b.addr.to_string()));
    assert!(
        dom.contains("2xx 7"),
        "the 7 requests are on the page: {dom}"
    );
    assert!(
        dom.contains("class=\"drain\">drain</td>"),
        "the drained server: {dom}"
    );
    assert!(
        dom.contains("class=\"up\">up</td>"),
        "the other server: {dom}"
    );
}
