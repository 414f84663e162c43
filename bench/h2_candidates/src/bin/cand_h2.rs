//! Candidate (a): hyperium `h2` 0.4 over monoio's poll-io compatibility
//! layer, as tern's src/proxy/http2/io.rs drives it on a plain (h2c)
//! connection: the stream's `into_poll_io()` is tokio's AsyncRead/
//! AsyncWrite, readiness coming through the io_uring driver.

use std::future::poll_fn;

use bytes::Bytes;
use h2::server::SendResponse;
use h2_candidates as cand;
use monoio::io::IntoPollIo;

fn main() {
    cand::run(async {
        let listener = cand::listen(cand::port_arg());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            monoio::spawn(async move {
                if let Ok(poll) = stream.into_poll_io() {
                    serve(poll).await;
                }
            });
        }
    });
}

async fn serve(io: monoio::net::tcp::stream_poll::TcpStreamPoll) {
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(cand::MAX_CONCURRENT_STREAMS)
        .max_header_list_size(cand::MAX_HEADER_LIST_SIZE)
        .initial_window_size(cand::STREAM_WINDOW)
        .initial_connection_window_size(cand::CONNECTION_WINDOW)
        .max_send_buffer_size(cand::SEND_BUFFER);
    let Ok(mut conn) = builder.handshake::<_, Bytes>(io).await else {
        return;
    };
    while let Some(Ok((request, respond))) = poll_fn(|cx| conn.poll_accept(cx)).await {
        let hold = request.uri().path() == "/hold";
        drop(request);
        monoio::spawn(answer(respond, hold));
    }
}

/// Answers a stream, or holds it until the client resets it or goes.
async fn answer(mut respond: SendResponse<Bytes>, hold: bool) {
    if hold {
        let _ = poll_fn(|cx| respond.poll_reset(cx)).await;
        return;
    }
    if let Ok(mut body) = respond.send_response(cand::response(), false) {
        let _ = body.send_data(Bytes::from_static(cand::BODY), true);
    }
}
