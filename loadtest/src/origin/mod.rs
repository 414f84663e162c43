//! `tern-loadtest origin`: the demo and benchmark origin server.
//!
//! One monoio runtime per worker thread, each with its own SO_REUSEPORT
//! listener, so the kernel spreads connections and workers share nothing
//! on the request path (only long-poll publishes cross threads; see
//! `pubsub`). It is the ceiling of every proxy benchmark, so the hot path
//! is kept to parse, memcpy a precomputed response, one write.

mod body;
mod conn;
mod poll;
mod pubsub;
mod responses;
mod route;
mod serve;
mod websocket;

use crate::args::Flags;
use pubsub::{Hub, Local};
use responses::Config;
use serve::Worker;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Connections accepted since start, over all workers: `GET /origin-stats`
/// answers it, so bench/ can count the connections a proxy opens to the
/// origin (one increment per connection, none per request).
pub static ACCEPTED: AtomicU64 = AtomicU64::new(0);

pub fn run(args: &[String]) -> Result<(), String> {
    let flags = Flags::parse(args, &[], &["listen", "workers", "body-size"])?;
    let addr: SocketAddr = flags.required("listen")?;
    let workers: usize = flags.get("workers", 1)?;
    let body_size: usize = flags.get("body-size", 100)?;
    if workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    // Behind a proxy holding 20k long-polls, the origin holds as many sockets.
    crate::net::raise_nofile().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    let listeners = bind_all(addr, workers)?;
    let local_addr = listeners[0].local_addr().map_err(|e| e.to_string())?;
    let config = Arc::new(Config::new(body_size));
    let (hub, bells) = Hub::new(workers).map_err(|e| format!("creating doorbells: {e}"))?;

    let mut threads = Vec::new();
    for (id, (listener, bell)) in listeners.into_iter().zip(bells).enumerate() {
        let (config, hub) = (config.clone(), hub.clone());
        let thread = std::thread::Builder::new()
            .name(format!("origin-{id}"))
            .spawn(move || worker_main(id, listener, bell, config, hub))
            .map_err(|e| format!("spawning worker: {e}"))?;
        threads.push(thread);
    }
    // Listeners are bound and listening, so connections queue from now on
    // even if a worker's runtime is still starting.
    println!("listening on {local_addr}");
    let _ = std::io::stdout().flush();
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("worker thread panicked".into()),
        }
    }
    Ok(())
}

/// Binds one listener per worker. With port 0 the first bind picks the
/// port and the rest join it through SO_REUSEPORT.
fn bind_all(addr: SocketAddr, workers: usize) -> Result<Vec<TcpListener>, String> {
    let reuse = workers > 1;
    let first = crate::net::listener(addr, reuse).map_err(|e| format!("bind {addr}: {e}"))?;
    let bound = first.local_addr().map_err(|e| e.to_string())?;
    let mut all = vec![first];
    for _ in 1..workers {
        all.push(crate::net::listener(bound, reuse).map_err(|e| format!("bind {bound}: {e}"))?);
    }
    Ok(all)
}

fn worker_main(
    id: usize,
    listener: TcpListener,
    bell: UnixStream,
    config: Arc<Config>,
    hub: Arc<Hub>,
) -> Result<(), String> {
    let run = async move {
        let listener = monoio::net::TcpListener::from_std(listener)?;
        let local = Rc::new(Local::default());
        let inbox = (hub.clone(), local.clone());
        monoio::spawn(async move { inbox.0.serve_inbox(id, inbox.1, bell).await });
        let worker = Rc::new(Worker {
            id,
            config,
            hub,
            local,
        });
        accept_loop(&listener, worker).await
    };
    crate::runtime::block_on(run)
        .and_then(|r| r)
        .map_err(|e| format!("worker {id}: {e}"))
}

async fn accept_loop(
    listener: &monoio::net::TcpListener,
    worker: Rc<Worker>,
) -> std::io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                ACCEPTED.fetch_add(1, Ordering::Relaxed);
                // Responses go out in one write each; don't let Nagle hold
                // the next one back waiting for an ACK.
                let _ = stream.set_nodelay(true);
                monoio::spawn(serve::serve(stream, worker.clone()));
            }
            Err(e) => {
                // Out of fds (EMFILE/ENFILE) or a connection reset before
                // accept: back off briefly instead of spinning, keep serving.
                eprintln!("origin: accept: {e}");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
