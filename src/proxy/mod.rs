//! One client connection: read a request head, route it, and proxy the
//! exchange to an upstream, as many times as keep-alive allows.

mod acquire;
mod client_watch;
pub mod conn;
mod exchange;
mod failure_log;
mod follow;
mod handshake;
mod prepare;
pub(crate) mod read_head;
pub(crate) mod relay;
pub(crate) mod response_edit;
pub mod rewrite_request;
pub mod rewrite_response;
mod session;
mod steer;
mod tunnel;

pub use session::serve;

/// The listener a connection arrived on.
pub struct ListenerInfo {
    /// The address the socket is bound to: how a listener is recognised
    /// across a reload.
    pub addr: std::net::SocketAddr,
    /// Index of its `[[listener]]` in the plan.
    pub index: usize,
    /// Set when the listener terminates TLS.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

/// What happens to the client connection after an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    KeepAlive,
    Close,
}

/// What a held connection costs is mostly its task's future: keep it small.
#[cfg(test)]
mod size_tests {
    use std::rc::Rc;
    use std::sync::Arc;

    /// Bytes of the whole connection future. A held long-poll's resident cost
    /// is this plus the task header and an io_uring poll; the README's "about
    /// 2 KB per held connection" depends on it staying this small. It was
    /// 1664; the client watch (abandoned long-polls), the retry state, the
    /// client-limit and compression fields of a request took it to 2064.
    /// Next to shrink: `Prepared` is held about three times over.
    const SESSION_FUTURE_MAX: usize = 2112;

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
            let info = Rc::new(super::ListenerInfo {
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
