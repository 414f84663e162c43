//! One client connection: read a request head, route it, and proxy the
//! exchange to an upstream, as many times as keep-alive allows.
//!
//! # The life of a connection
//!
//! In short here; step by step, with the reasons, in `LIFECYCLE.md` next to
//! this file.
//!
//! 1. `session::serve` (spawned per accepted socket, inside the worker's
//!    panic containment): admission (PROXY header, per-client limit), then the
//!    TLS handshake (`handshake`) on TLS listeners. `Conn` (`conn`) is the
//!    connection from here on: plain or TLS, with a read buffer it holds only
//!    while bytes are buffered.
//! 2. `read_head`: the wait for a request, holding no buffer (readiness
//!    first, or a posted read for quick clients); a drain ends the wait only
//!    when no request bytes have arrived. Then the head is scanned within the
//!    limits; bytes that can't start a request line are refused at once.
//! 3. `follow`: the connection moves to the newest plan generation.
//! 4. `prepare` (synchronous, so the parser's header array never lives in the
//!    connection's future): parse, route, rate limits, the upstream head
//!    (`rewrite_request`), or tern's own answer, or a static reply — which
//!    may first wait for a file opened off the worker (`static_open`).
//! 5. `exchange`: body check, `acquire` (pick, queue, pool or connect, retry
//!    with `Attempts`), send the head and body (`pump`), then `relay`: the response head
//!    (`response`: its edits and writing) and body by length, chunks
//!    or close, or a `tunnel` after 101. While the head is awaited,
//!    `client_watch` notices a client that left (499). Every failure is a
//!    `crate::failure::Failure`; `exchange::fail` turns it into the log line
//!    (`failure_log` for an upstream's), the metered status and the answer.
//! 6. Back to 2 while keep-alive allows; at the end, a TLS connection says
//!    close_notify.
//!
//! A connection that negotiates HTTP/2 (ALPN `h2`, or an h2c preface on a
//! listener with `http2 = true`, both seen in `session::open`) leaves this
//! loop for `http2`, whose streams come back through `one_request`:
//! the same `prepare`, answers, static replies and exchange. The exchange,
//! the relay and `files::send` are generic over `Downstream`,
//! the client's side of an exchange (`conn::downstream`): `Conn` here
//! (`downstream`), an HTTP/2 stream there.
//!
//! The `Box::pin`s on this path keep rare states (TLS, file transfers,
//! compression, a static answer's wait for a file thread, the probe after
//! a FIN, a tunnel) out of every connection's future, whose size bounds what
//! a held long-poll costs (size test below); and nothing is held in it twice
//! (the functions a long-poll waits in are `fn`s returning `async move`
//! blocks, the request is borrowed: `LIFECYCLE.md`, "Nothing held twice").

mod acquire;
mod answer;
mod client_watch;
mod compress_relay;
mod downstream;
mod early_answer;
mod exchange;
mod failure_log;
pub(crate) mod follow;
mod handshake;
pub mod http2;
pub(crate) mod one_request;
pub(crate) mod prepare;
mod pump;
pub(crate) mod read_head;
pub(crate) mod relay;
pub mod response;
pub mod rewrite_request;
mod session;
mod static_open;
mod steer;
mod tunnel;

pub use session::serve;

/// What a held connection costs is mostly its task's future: keep it small.
#[cfg(test)]
mod size_tests {
    use std::rc::Rc;
    use std::sync::Arc;

    /// Bytes of the whole connection future. A held long-poll's resident cost
    /// is this plus the task header, the retry's copy of the head and two
    /// io_uring polls (README's Scale table). It was 1664; the client watch
    /// (abandoned long-polls), the retry state, the client-limit and
    /// compression fields of a request took it to 2080; the exchange's
    /// split into an attempt and its ending brought it to 2016, the posted
    /// reads' canceller (`read_head::Between`) to 2032. Then what was held
    /// twice went (read with rustc's `-Zprint-type-sizes`): the arguments
    /// of the `async fn`s a long-poll waits in (now `fn`s returning an
    /// `async move` block), the request moved into the exchange (now
    /// borrowed), the accepted socket beside the connection made of it, and
    /// the making of the outcome (`session::outcome_of`): 1480.
    const SESSION_FUTURE_MAX: usize = 1504;

    #[test]
    fn the_connection_future_stays_small() {
        let plan = crate::config::from_str(
            "[[listener]]\nbind = \"127.0.0.1:0\"\n[[route]]\nbackend = \"a\"\n[backend.a]\nservers = [\"127.0.0.1:9\"]\n",
            "t",
        )
        .expect("plan");
        let ctx = Rc::new(crate::worker_ctx::WorkerCtx::new(0, Arc::new(plan)));
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime");
        let size = rt.block_on(async move {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let stream = monoio::net::TcpStream::connect_addr(addr)
                .await
                .expect("connect");
            let info = Rc::new(crate::listen::ListenerInfo {
                addr,
                index: 0,
                tls: None,
            });
            std::mem::size_of_val(&super::serve(stream, addr, info, ctx))
        });
        assert!(
            size <= SESSION_FUTURE_MAX,
            "the connection future grew to {size} bytes"
        );
    }
}
