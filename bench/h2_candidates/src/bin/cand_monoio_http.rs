//! Candidate (b): monoio-native HTTP/2, monoio-http's port of `h2` onto
//! monoio's rent-style IO (owned buffers handed to the ring), same
//! settings and answers as candidate (a).

use std::future::poll_fn;

use bytes::Bytes;
use h2_candidates as cand;
use monoio_http::h2::server::{Builder, SendResponse};

fn main() {
    cand::run(async {
        let listener = cand::listen(cand::port_arg());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            monoio::spawn(serve(stream));
        }
    });
}

async fn serve(io: monoio::net::TcpStream) {
    let mut builder = Builder::new();
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
