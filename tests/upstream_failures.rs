//! Upstreams that fail: a server that takes a request and closes without an
//! answer costs an idempotent request nothing when another server can take
//! it; absurd chunk framing from an upstream is a 502 while nothing has
//! reached the client, and a close after; an upstream that answers an
//! upload before taking it (and stops reading) has that answer relayed, one
//! that stops reading without an answer is a 504. A client that stops
//! reading is no upstream failure.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// A server that accepts, reads the request and closes without answering.
fn mute_server(taken: Arc<AtomicUsize>) -> RecordingUpstream {
    RecordingUpstream::start(move |c| {
        if c.read_request().is_some() {
            taken.fetch_add(1, Ordering::SeqCst);
        }
    })
}

fn two_servers(first: SocketAddr, second: SocketAddr, backend_extra: &str) -> String {
    format!(
        "[server]\nworkers = 1\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
         [[route]]\nbackend = \"app\"\n\
         [backend.app]\nservers = [\"{first}\", \"{second}\"]\n{backend_extra}\n"
    )
}

#[test]
fn a_get_the_first_server_drops_is_answered_by_the_next() {
    let taken = Arc::new(AtomicUsize::new(0));
    let mute = mute_server(taken.clone());
    let good = RecordingUpstream::echo();
    let tern = Tern::start(&two_servers(mute.addr, good.addr, ""));
    // Round robin sends some of these to the mute server first.
    for i in 0..6 {
        let mut c = tern.connect();
        let resp = c.roundtrip(format!("GET /item/{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        assert_eq!(resp.status, 200, "request {i}: {}", resp.body_str());
    }
    assert!(
        taken.load(Ordering::SeqCst) > 0,
        "the mute server never got a request: the retry path was not exercised"
    );
}

#[test]
fn a_post_is_not_sent_twice() {
    let taken = Arc::new(AtomicUsize::new(0));
    let mute = mute_server(taken.clone());
    let good = RecordingUpstream::echo();
    let tern = Tern::start(&two_servers(mute.addr, good.addr, ""));
    let mut failed = 0;
    for _ in 0..4 {
        let mut c = tern.connect();
        c.send(&post("/pay", b"once"));
        let resp = c.read_response().expect("an answer");
        if resp.status == 502 {
            failed += 1;
        }
    }
    assert_eq!(taken.load(Ordering::SeqCst), failed, "each drop is one 502");
    assert!(failed > 0, "the mute server was never chosen");
    assert_eq!(good.request_count(), 4 - failed, "no POST was retried");
}

#[test]
fn retries_zero_means_no_second_server() {
    let taken = Arc::new(AtomicUsize::new(0));
    let mute = mute_server(taken.clone());
    let good = RecordingUpstream::echo();
    let tern = Tern::start(&two_servers(mute.addr, good.addr, "retries = 0"));
    let statuses: Vec<u16> = (0..4)
        .map(|_| tern.connect().roundtrip(&get("/x")).status)
        .collect();
    assert!(statuses.contains(&502), "{statuses:?}");
}

/// One server answering every request with `response` (raw bytes).
fn answering(response: &'static [u8]) -> RecordingUpstream {
    RecordingUpstream::start(move |c| {
        if c.read_request().is_some() {
            c.write(response);
            let _ = c.conn.read_to_eof();
        }
    })
}

fn one_server(upstream: SocketAddr) -> Tern {
    one_server_waiting(upstream, "3s")
}

/// `one_server` whose server timeout is `server_timeout`.
fn one_server_waiting(upstream: SocketAddr, server_timeout: &str) -> Tern {
    Tern::start(&format!(
        "[server]\nworkers = 1\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
         [[route]]\nbackend = \"app\"\n[backend.app]\nservers = [\"{upstream}\"]\n\
         timeouts = {{ server = \"{server_timeout}\" }}\n"
    ))
}

#[test]
fn an_absurd_chunk_size_from_an_upstream_is_a_502() {
    for body in [
        &b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"[..],
        b"00000000000000000000000000000001\r\nh\r\n0\r\n\r\n",
    ] {
        let mut response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        response.extend_from_slice(body);
        let up = answering(Box::leak(response.into_boxed_slice()));
        let tern = one_server(up.addr);
        let (resp, closed) = raw_request(tern.addr(), &get("/"));
        assert_eq!(status_of(&resp), Some(502), "{}", show(&resp));
        assert!(closed);
    }
}

#[test]
fn bad_chunk_framing_after_the_response_started_closes_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let up = RecordingUpstream::with_listener(listener, |c| {
        if c.read_request().is_some() {
            c.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
            std::thread::sleep(Duration::from_millis(200));
            c.write(b"ZZZ\r\n");
            let _ = c.conn.read_to_eof();
        }
    });
    let tern = one_server(up.addr);
    let (resp, closed) = raw_request(tern.addr(), &get("/"));
    assert_eq!(status_of(&resp), Some(200), "{}", show(&resp));
    assert!(closed, "the connection stayed open after a broken body");
    assert!(
        !contains(&resp, b"0\r\n\r\n"),
        "a broken body was ended as complete"
    );
}

/// An upstream that refuses uploads on sight: it reads the head, answers
/// 413 and closes with the body unread (its kernel resets the connection).
fn refusing_uploads() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        if c.read_head().is_some() {
            c.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n\r\ntoo large");
        }
    })
}

#[test]
fn an_upload_the_upstream_refuses_before_taking_it_gets_its_answer_not_a_502() {
    let up = refusing_uploads();
    upload_gets_the_early_answer(&one_server(up.addr));
}

/// An upstream that answers 413 on sight of the head, then reads no more
/// and keeps the connection open for `hold`.
fn refusing_and_holding(hold: Duration) -> RecordingUpstream {
    RecordingUpstream::start(move |c| {
        if c.read_head().is_some() {
            c.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n\r\ntoo large");
            std::thread::sleep(hold);
        }
    })
}

#[test]
fn an_upload_the_upstream_answers_then_stops_reading_gets_its_answer_before_the_server_timeout() {
    // tern's write waits, and a look at the upstream's socket while it
    // waits finds the answer, long before the server timeout (60 s; the
    // client gives up at 10).
    let up = refusing_and_holding(Duration::from_secs(30));
    upload_gets_the_early_answer(&one_server_waiting(up.addr, "60s"));
}

#[test]
fn an_upload_the_client_pauses_gets_the_early_answer_before_the_client_timeout() {
    // The client sends part of its body, then waits (for the answer, say):
    // tern's read of it waits, and a look at the upstream's socket while it
    // waits finds the answer, long before the client timeout (the default
    // 60 s; the client gives up at 5). A body past one buffer: a smaller one
    // is read whole before the upstream is contacted.
    let up = refusing_and_holding(Duration::from_secs(15));
    let tern = one_server(up.addr);
    let mut client = tern.connect();
    client.send(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\nfirst ten.");
    let (answer, read) = client.read_to_eof();
    assert_eq!(status_of(&answer), Some(413), "{read:?}: {}", show(&answer));
    is_the_413_that_ends_the_connection(&answer);
}

/// The refusing upstream's 413, whole, with the client's connection ending
/// after it (the rest of the body is unread).
fn is_the_413_that_ends_the_connection(answer: &[u8]) {
    assert!(contains(answer, b"\r\n\r\ntoo large"), "{}", show(answer));
    assert!(
        contains(answer, b"Connection: close"),
        "the rest of the body is unread: the connection must end: {}",
        show(answer)
    );
}

#[test]
fn an_upload_the_client_pauses_goes_on_after_an_early_answer_that_is_no_refusal() {
    // The upstream answers 200 on sight of the head and still reads the
    // body: a client that pauses mid-way must not have the rest cut off.
    let taken = Arc::new(AtomicUsize::new(0));
    let counted = taken.clone();
    let up = RecordingUpstream::start(move |c| {
        let Some(head) = c.read_head() else { return };
        c.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly");
        if let Some((body, _)) = c.read_body(&head) {
            counted.store(body.len(), Ordering::SeqCst);
        }
    });
    let tern = one_server(up.addr);
    let mut client = tern.connect();
    client.send(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\nfirst ten.");
    std::thread::sleep(Duration::from_millis(500));
    client.send(&[b'r'; 99_990]);
    let answer = client.read_response().expect("answer");
    assert_eq!((answer.status, answer.body_str()), (200, "early".into()));
    assert!(
        wait_until(Duration::from_secs(5), || taken.load(Ordering::SeqCst)
            == 100_000),
        "the upstream got {} of the body's 100,000 bytes",
        taken.load(Ordering::SeqCst)
    );
}

/// A 16 MiB upload through `tern` to an upstream that answers 413 without
/// taking it: the client gets that answer, and its connection ends after it.
fn upload_gets_the_early_answer(tern: &Tern) {
    let (answer, read) = upload_16_mib(tern);
    assert_eq!(status_of(&answer), Some(413), "{}", show(&answer));
    is_the_413_that_ends_the_connection(&answer);
    // Ended, by its FIN or, should tern close before the client stops
    // sending, by a reset; not by the read timeout.
    let timed_out = read.as_ref().is_err_and(|err| {
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    });
    assert!(!timed_out, "the connection did not end: {read:?}");
}

/// Sends a 16 MiB upload through `tern`, more than the sockets between can
/// hold, stopping when tern stops reading; what came back, and how the
/// read of it ended.
fn upload_16_mib(tern: &Tern) -> (Vec<u8>, std::io::Result<usize>) {
    let size = 16 << 20;
    let mut client = std::net::TcpStream::connect(tern.addr()).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {size}\r\n\r\n");
    let mut writer = client.try_clone().expect("clone");
    // The client stops when tern stops reading.
    let sending = std::thread::spawn(move || {
        use std::io::Write;
        let _ = writer.write_all(head.as_bytes());
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..size / chunk.len() {
            if writer.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let read = std::io::Read::read_to_end(&mut client, &mut answer);
    let _ = sending.join();
    (answer, read)
}

#[test]
fn an_upstream_that_stops_taking_an_upload_without_an_answer_is_a_504() {
    // It reads the head and then nothing, and says nothing: tern's write
    // waits out the server timeout, as a wait for an answer would (nginx's
    // proxy_send_timeout is a 504 too).
    let up = RecordingUpstream::start(|c| {
        if c.read_head().is_some() {
            std::thread::sleep(Duration::from_secs(6));
        }
    });
    let (answer, _) = upload_16_mib(&one_server_waiting(up.addr, "1s"));
    assert_eq!(status_of(&answer), Some(504), "{}", show(&answer));
}

/// An upstream that takes an upload slowly: it reads the head, sends
/// `first` (nothing, or an interim response), pauses while tern's writes
/// wait on its full window, then reads the whole body and answers with its
/// length.
fn slow_reader(first: &'static [u8]) -> RecordingUpstream {
    RecordingUpstream::start(move |c| {
        let Some(head) = c.read_head() else { return };
        c.write(first);
        std::thread::sleep(Duration::from_millis(800));
        if let Some((body, _)) = c.read_body(&head) {
            let length = body.len().to_string();
            c.respond(200, &[], length.as_bytes());
        }
    })
}

#[test]
fn an_upload_the_upstream_takes_slowly_is_sent_whole_even_after_an_interim_answer() {
    // tern looks for an early answer while its writes wait: a pause, or a
    // 102 Processing before it, is no answer, and the body goes on.
    let size: usize = 8 << 20;
    for first in [&b""[..], b"HTTP/1.1 102 Processing\r\n\r\n"] {
        let up = slow_reader(first);
        let tern = one_server_waiting(up.addr, "20s");
        let mut client = tern.connect();
        let mut request =
            format!("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {size}\r\n\r\n")
                .into_bytes();
        request.resize(request.len() + size, b'x');
        let resp = client.roundtrip(&request);
        assert_eq!(
            resp.status,
            200,
            "after {}: {}",
            show(first),
            resp.body_str()
        );
        assert_eq!(resp.body_str(), size.to_string(), "after {}", show(first));
    }
}

/// An upstream that answers every request with a body of 64 MiB, by length.
fn large_answers() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        while c.read_request().is_some() {
            let len = 64 << 20;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
            if !c.write(head.as_bytes()) || !c.write(&vec![b'x'; len]) {
                return;
            }
        }
    })
}

/// A client that stops reading a large answer stops the exchange at its
/// `client` timeout, and that is the client's doing: not logged as an
/// upstream failure (which sends an operator after a healthy server), nor
/// counted against the server.
#[test]
fn a_client_that_stops_reading_is_no_upstream_failure() {
    let up = large_answers();
    let tern = Tern::start(&format!(
        "[server]\nworkers = 1\n[server.timeouts]\nclient = \"1s\"\n\
         [[listener]]\nbind = \"127.0.0.1:0\"\n\
         [[route]]\nbackend = \"app\"\n[backend.app]\nservers = [\"{}\"]\n",
        up.addr
    ));
    let mut c = tern.connect();
    c.send(&get("/"));
    // Read nothing while tern's write waits past `client`, then all there is.
    std::thread::sleep(Duration::from_secs(3));
    c.set_read_timeout(Duration::from_secs(10));
    let (got, _) = c.read_to_eof();
    assert!(got.len() < 64 << 20, "the answer was cut short");
    // The exchange has ended; give its log line time to be read.
    let blamed = wait_until(Duration::from_secs(1), || tern.has_said("upstream failed"));
    assert!(!blamed, "{:?}", tern.said("upstream failed"));
}
