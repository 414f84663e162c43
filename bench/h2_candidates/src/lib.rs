//! What both candidate servers share: the listener, the runtime, the
//! connection settings and the answer, so that only the HTTP/2
//! implementation differs between them.
//!
//! Each server: `cand-<name> PORT`, one monoio thread on the io_uring
//! driver, h2c with prior knowledge on 127.0.0.1:PORT. Any path but
//! `/hold` is answered 200 with a 20-byte body; a `/hold` stream is never
//! answered (a held long-poll) and ends when the client resets it or
//! closes the connection. It prints `listening PORT` once bound.

use std::future::Future;

/// The body every answered stream gets (20 bytes).
pub const BODY: &[u8] = b"hello from h2 cand\r\n";
/// The connection settings, tern's defaults (src/config/plan/http2.rs).
pub const MAX_CONCURRENT_STREAMS: u32 = 128;
pub const MAX_HEADER_LIST_SIZE: u32 = 64 * 1024;
pub const STREAM_WINDOW: u32 = 256 * 1024;
pub const CONNECTION_WINDOW: u32 = 1024 * 1024;
pub const SEND_BUFFER: usize = 64 * 1024;

/// The port from the command line (0 when missing or not a number: the
/// kernel picks one, printed on `listening`).
pub fn port_arg() -> u16 {
    std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// Runs `main` on one monoio thread with the io_uring driver.
pub fn run<F: Future<Output = ()>>(main: F) {
    let mut rt = match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(4096)
        .enable_timer()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("io_uring runtime: {err}");
            std::process::exit(1);
        }
    };
    rt.block_on(main);
}

/// Binds 127.0.0.1:`port` and says so.
pub fn listen(port: u16) -> monoio::net::TcpListener {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let listener = match monoio::net::TcpListener::bind(addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("bind {addr}: {err}");
            std::process::exit(1);
        }
    };
    let bound = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    println!("listening {bound}");
    listener
}

/// The response head: 200, content-length 20.
pub fn response() -> http::Response<()> {
    let mut response = http::Response::new(());
    response.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from_static("20"),
    );
    response
}
