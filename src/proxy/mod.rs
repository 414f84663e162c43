//! One client connection: read a request head, route it, and proxy the
//! exchange to an upstream, as many times as keep-alive allows.

pub mod conn;
mod exchange;
mod prepare;
mod read_head;
mod relay;
pub mod rewrite_request;
pub mod rewrite_response;
mod session;
mod tunnel;

pub use session::serve;

/// What happens to the client connection after an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    KeepAlive,
    Close,
}

#[cfg(test)]
mod size_tests {
    use std::rc::Rc;
    use std::sync::Arc;

    use super::conn::Conn;

    #[test]
    fn print_future_sizes() {
        let plan = crate::config::from_str(
            "[[listener]]\nbind = \"127.0.0.1:0\"\n[[route]]\nbackend = \"a\"\n[backend.a]\nservers = [\"127.0.0.1:9\"]\n",
            "t",
        )
        .expect("plan");
        let ctx = Rc::new(crate::worker_ctx::WorkerCtx::new(0, Arc::new(plan)));
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let s1 = monoio::net::TcpStream::connect_addr(addr)
                .await
                .expect("connect");
            let (s2, _) = listener.accept().await.expect("accept");
            let s3 = monoio::net::TcpStream::connect_addr(addr)
                .await
                .expect("connect");
            let mut c = Conn::new(s2);
            let mut u = Conn::new(s3);
            println!(
                "serve: {}",
                std::mem::size_of_val(&super::serve(s1, addr, ctx.clone()))
            );
            println!(
                "read_head: {}",
                std::mem::size_of_val(&super::read_head::read_head(&mut c, &ctx, true))
            );
            println!(
                "tunnel: {}",
                std::mem::size_of_val(&super::tunnel::run(
                    &mut c,
                    &mut u,
                    std::time::Duration::from_secs(1)
                ))
            );
            println!("conn fill: {}", std::mem::size_of_val(&c.fill(10)));
            println!("conn readable: {}", std::mem::size_of_val(&c.readable()));
            println!(
                "timeout(readable): {}",
                std::mem::size_of_val(&crate::timer::timeout(
                    std::time::Duration::from_secs(1),
                    c.readable()
                ))
            );
        });
    }
}
