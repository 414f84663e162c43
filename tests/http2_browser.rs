//! Issue 15's browser case: Chromium, over TLS through tern, loads a page
//! that holds 10 long-polls at once, still loads its assets, and opens a
//! WebSocket over HTTP/2 (RFC 8441) — all on one connection. Over HTTP/1.1
//! the polls would take the browser's six connections per origin and the
//! assets would wait behind them.
//!
//! The test origin releases the polls only once all 10 are held and every
//! asset has been served, so a page that reports 10 released polls had
//! them open at the same time as its assets. The page writes its findings
//! into the DOM, reports them, and only then is its last script (the
//! "gate", which holds the load event) answered, so `--dump-dom` sees them.
//! One connection is checked from tern's own counters.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::chromium::dump_dom;
use common::tls_client::make_cert;
use common::*;

const POLLS: usize = 10;
const ASSETS: usize = 5;
/// How long the origin holds a poll or the gate at most.
const HOLD: Duration = Duration::from_secs(20);

const PAGE: &str = r#"<!doctype html><html><head><title>comet</title><link rel="icon" href="data:,"><script>
const POLLS = 10, ASSETS = 5;
window.assets = [];
// Each asset pushes its name; the last one calls allAssets.
const assetsIn = new Promise(resolve => { window.allAssets = resolve; });
const found = {};
function show() {
  document.getElementById('result').textContent =
    `polls ${found.polls} assets ${window.assets.length} ws ${found.ws}`;
}
const polls = [];
for (let i = 0; i < POLLS; i++) {
  polls.push(fetch('/poll/' + i).then(r => r.text()).catch(e => 'failed ' + e));
}
const ws = new Promise(resolve => {
  const sock = new WebSocket(`wss://${location.host}/ws`);
  sock.onopen = () => sock.send('hello over h2');
  sock.onmessage = m => { resolve(m.data); sock.close(); };
  sock.onerror = () => resolve('error');
});
Promise.all([Promise.all(polls), ws, assetsIn]).then(([bodies, echo]) => {
  found.polls = bodies.filter(b => b === 'released').length;
  found.ws = echo;
  show();
  return fetch('/report', { method: 'POST', body: document.getElementById('result').textContent });
});
</script></head><body><p id="result">pending</p>
<script async src="/asset/0.js"></script><script async src="/asset/1.js"></script>
<script async src="/asset/2.js"></script><script async src="/asset/3.js"></script>
<script async src="/asset/4.js"></script><script async src="/gate.js"></script>
</body></html>"#;

/// What the origin has seen, shared by its connection threads.
#[derive(Default)]
struct Origin {
    assets: AtomicUsize,
    held: AtomicUsize,
    report: Mutex<Option<String>>,
}

impl Origin {
    fn serve(&self, c: &mut UpConn) {
        while let Some(req) = c.read_request() {
            let path = req.head.target().to_owned();
            let js = [("Content-Type", "text/javascript")];
            let ok = match path.as_str() {
                "/" => c.respond(200, &[("Content-Type", "text/html")], PAGE.as_bytes()),
                "/ws" => return websocket_echo(c, &req),
                "/report" => {
                    *self.report.lock().unwrap() =
                        Some(String::from_utf8_lossy(&req.body).into_owned());
                    c.respond(200, &[], b"thanks")
                }
                "/gate.js" => {
                    wait_until(HOLD, || self.report.lock().unwrap().is_some());
                    c.respond(200, &js, b"")
                }
                p if p.starts_with("/asset/") => {
                    let body = format!(
                        "window.assets.push('{p}');\
                         if (window.assets.length === {ASSETS}) window.allAssets();"
                    );
                    self.assets.fetch_add(1, Ordering::SeqCst);
                    c.respond(200, &js, body.as_bytes())
                }
                p if p.starts_with("/poll/") => {
                    self.held.fetch_add(1, Ordering::SeqCst);
                    let released = wait_until(HOLD, || {
                        self.held.load(Ordering::SeqCst) >= POLLS
                            && self.assets.load(Ordering::SeqCst) >= ASSETS
                    });
                    let body: &[u8] = if released { b"released" } else { b"timed out" };
                    c.respond(200, &[("Cache-Control", "no-store")], body)
                }
                _ => c.respond(404, &[], b"no such thing"),
            };
            if !ok {
                return;
            }
        }
    }
}

/// An HTTP/1.1 WebSocket upstream: answers the Upgrade, then echoes each
/// (small, masked) client frame back unmasked until the client closes.
fn websocket_echo(c: &mut UpConn, req: &SeenRequest) {
    use std::io::{Read, Write};
    if req.head.header("upgrade").as_deref() != Some("websocket") {
        c.respond(400, &[], b"not a websocket upgrade");
        return;
    }
    // Over HTTP/2 the client checks no Sec-WebSocket-Accept (RFC 8441 §5).
    let switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                   Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
    if !c.write(switch) {
        return;
    }
    let stream = &mut c.conn.stream;
    for _ in 0..16 {
        let mut head = [0u8; 2];
        if stream.read_exact(&mut head).is_err() {
            return;
        }
        let (opcode, len) = (head[0] & 0x0f, usize::from(head[1] & 0x7f));
        let mut mask = [0u8; 4];
        let mut payload = vec![0u8; len.min(125)];
        if stream.read_exact(&mut mask).is_err() || stream.read_exact(&mut payload).is_err() {
            return;
        }
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        let mut frame = vec![0x80 | opcode, payload.len() as u8];
        frame.extend_from_slice(&payload);
        if stream.write_all(&frame).is_err() || opcode == 0x8 {
            return;
        }
    }
}

#[test]
fn chromium_holds_ten_long_polls_loads_assets_and_a_websocket_on_one_h2_connection() {
    let origin = Arc::new(Origin::default());
    let serving = origin.clone();
    let up = RecordingUpstream::start(move |c| serving.serve(c));
    let cert = make_cert("browser", &["localhost"]);
    let log = TempFile::new("browser-access.log", "");
    let tern = Tern::start(&format!(
        "[log]\naccess = \"{}\"\n[server]\nworkers = 1\n[[listener]]\nbind = \"127.0.0.1:0\"\nname = \"web\"\n\
         tls = {{ certificates = [{{ cert = \"{}\", key = \"{}\" }}] }}\n\
         [[route]]\nbackend = \"app\"\n[backend.app]\nservers = [\"{}\"]\n\
         [admin]\nbind = \"127.0.0.1:0\"\n",
        log.path_str(),
        cert.cert_file.path_str(),
        cert.key_file.path_str(),
        up.addr
    ));
    let web = tern.listeners.iter().find(|(_, n)| n == "web").unwrap().0;
    let admin = tern.listeners.iter().find(|(_, n)| n == "admin").unwrap().0;
    let url = format!("https://localhost:{}/", web.port());
    let dom = dump_dom(&url, &["--ignore-certificate-errors"]);
    let want = format!("polls {POLLS} assets {ASSETS} ws hello over h2");
    assert!(dom.contains(&want), "the page's findings: {dom}");
    assert_eq!(origin.report.lock().unwrap().as_deref(), Some(&*want));
    // One HTTP/2 connection carried every request — the WebSocket too
    // (over HTTP/1.1 it would have needed a connection of its own), and no
    // request came over HTTP/1.1. (Chromium may also preconnect a spare
    // socket that it drops unused once the first one speaks HTTP/2: that
    // one is accepted but never sends the HTTP/2 preface.)
    let scrape = format!("GET /metrics HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
    let (raw, _) = raw_request_timeout(admin, scrape.as_bytes(), Duration::from_secs(5));
    let metrics = String::from_utf8_lossy(&raw);
    assert!(
        metrics.contains("tern_http2_connections_total{worker=\"0\"} 1\n"),
        "{metrics}"
    );
    let mut over_http11 = metrics
        .lines()
        .filter(|l| l.starts_with("tern_protocol_requests_total{protocol=\"HTTP/1.1\""));
    assert!(over_http11.all(|l| l.ends_with(" 0")), "{metrics}");
    // The WebSocket is logged (when it ends) as the page saw it: 200.
    let mut logged = String::new();
    wait_until(Duration::from_secs(5), || {
        logged = std::fs::read_to_string(&log.path).unwrap_or_default();
        logged.contains("/ws HTTP/2.0\" ")
    });
    assert!(logged.contains("\"GET /ws HTTP/2.0\" 200 "), "{logged}");
    assert!(logged.lines().count() > POLLS + ASSETS, "{logged}");
    assert!(
        logged.lines().all(|l| l.contains(" HTTP/2.0\" ")),
        "{logged}"
    );
    let ws_requests = up
        .requests()
        .iter()
        .filter(|r| r.head.target() == "/ws")
        .count();
    assert_eq!(ws_requests, 1);
}
