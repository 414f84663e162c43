//! Long-poll channels across worker threads.
//!
//! Each worker keeps its own subscriber registry (`Local`), touched only by
//! its own thread, so holding 20k waiters costs no locking. A publish
//! arriving on one worker must still reach subscribers on all the others,
//! and promptly, because the load test measures delivery latency. So each
//! worker has an inbox (a mutex-guarded Vec) plus a doorbell: a Unix socket
//! pair whose read end the worker's runtime awaits like any other socket.
//! Polling a shared map every few ms would have been simpler, but would
//! add up to that many ms to every measured delivery.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::poll_fn;
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

pub type Message = Arc<[u8]>;

#[derive(Default)]
struct Slot {
    message: Option<Message>,
    waker: Option<Waker>,
}

/// A pending long-poll. Dropping it unsubscribes (the registry holds a Weak).
pub struct Subscription(Rc<RefCell<Slot>>);

impl Subscription {
    pub async fn recv(&self) -> Message {
        poll_fn(|cx| {
            let mut slot = self.0.borrow_mut();
            match slot.message.take() {
                Some(m) => Poll::Ready(m),
                None => {
                    slot.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

/// One worker thread's subscribers, by channel.
#[derive(Default)]
pub struct Local {
    channels: RefCell<HashMap<String, Vec<Weak<RefCell<Slot>>>>>,
}

impl Local {
    pub fn subscribe(&self, channel: &str) -> Subscription {
        let slot = Rc::new(RefCell::new(Slot::default()));
        let mut channels = self.channels.borrow_mut();
        let list = channels.entry(channel.to_string()).or_default();
        // Long-polls that timed out or whose client left leave dead entries;
        // sweeping when the Vec would grow keeps that amortized O(1).
        if list.len() == list.capacity() {
            list.retain(|w| w.strong_count() > 0);
        }
        list.push(Rc::downgrade(&slot));
        Subscription(slot)
    }

    /// Hands `message` to every live subscriber of `channel`; returns how many.
    pub fn release(&self, channel: &str, message: &Message) -> usize {
        let Some(list) = self.channels.borrow_mut().remove(channel) else {
            return 0;
        };
        let mut released = 0;
        for slot in list.iter().filter_map(Weak::upgrade) {
            let mut slot = slot.borrow_mut();
            slot.message = Some(message.clone());
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
            released += 1;
        }
        released
    }
}

/// Counts the subscribers a publish released across workers.
struct Ack {
    released: AtomicUsize,
    pending: AtomicUsize,
}

struct Delivery {
    channel: String,
    message: Message,
    ack: Arc<Ack>,
}

struct Peer {
    inbox: Mutex<Vec<Delivery>>,
    bell: UnixStream,
}

/// The cross-thread part, shared by all workers.
pub struct Hub {
    peers: Vec<Peer>,
}

/// A publish waits at most this long for other workers to confirm.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

impl Hub {
    /// Builds the hub for `workers` threads, returning each one's doorbell.
    pub fn new(workers: usize) -> io::Result<(Arc<Hub>, Vec<UnixStream>)> {
        let mut peers = Vec::new();
        let mut bells = Vec::new();
        for _ in 0..workers {
            let (tx, rx) = UnixStream::pair()?;
            tx.set_nonblocking(true)?;
            rx.set_nonblocking(true)?;
            peers.push(Peer {
                inbox: Mutex::new(Vec::new()),
                bell: tx,
            });
            bells.push(rx);
        }
        Ok((Arc::new(Hub { peers }), bells))
    }

    /// Publishes from worker `me`: releases its own subscribers now, the
    /// others' via their inboxes, and returns the total released.
    pub async fn publish(
        &self,
        me: usize,
        local: &Local,
        channel: &str,
        message: Message,
    ) -> usize {
        let others = self.peers.len() - 1;
        let ack = Arc::new(Ack {
            released: AtomicUsize::new(0),
            pending: AtomicUsize::new(others),
        });
        for (i, peer) in self.peers.iter().enumerate().filter(|(i, _)| *i != me) {
            lock(&peer.inbox).push(Delivery {
                channel: channel.to_string(),
                message: message.clone(),
                ack: ack.clone(),
            });
            self.ring(i);
        }
        let mine = local.release(channel, &message);
        // Only the "released N" answer waits on this; deliveries don't.
        let deadline = std::time::Instant::now() + ACK_TIMEOUT;
        while ack.pending.load(Ordering::Acquire) > 0 && std::time::Instant::now() < deadline {
            monoio::time::sleep(Duration::from_millis(1)).await;
        }
        mine + ack.released.load(Ordering::Acquire)
    }

    fn ring(&self, peer: usize) {
        // WouldBlock means unread rings are already queued: the peer will
        // wake and drain its inbox anyway, so a full doorbell is fine.
        let _ = (&self.peers[peer].bell).write(&[1]);
    }

    /// Worker `me`'s side: waits on its doorbell and delivers its inbox.
    pub async fn serve_inbox(
        &self,
        me: usize,
        local: Rc<Local>,
        bell: UnixStream,
    ) -> io::Result<()> {
        use monoio::io::AsyncReadRent;
        let mut bell = monoio::net::UnixStream::from_std(bell)?;
        let mut buf = vec![0u8; 64];
        loop {
            let (res, b) = bell.read(buf).await;
            buf = b;
            if res? == 0 {
                return Ok(());
            }
            let deliveries = std::mem::take(&mut *lock(&self.peers[me].inbox));
            for d in deliveries {
                let n = local.release(&d.channel, &d.message);
                d.ack.released.fetch_add(n, Ordering::AcqRel);
                d.ack.pending.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// A poisoned inbox only means another worker panicked mid-push; the Vec
/// itself is still valid, so keep going rather than cascade the panic.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_reaches_live_subscribers_only() {
        let local = Local::default();
        let a = local.subscribe("c");
        let b = local.subscribe("c");
        drop(b);
        let other = local.subscribe("d");
        let msg: Message = Arc::from(&b"hi"[..]);
        assert_eq!(local.release("c", &msg), 1);
        assert_eq!(local.release("c", &msg), 0, "a publish empties the channel");
        assert_eq!(a.0.borrow().message.as_deref(), Some(&b"hi"[..]));
        assert!(other.0.borrow().message.is_none());
    }

    #[test]
    fn dead_entries_are_swept() {
        let local = Local::default();
        for _ in 0..1000 {
            drop(local.subscribe("c"));
        }
        assert!(local.channels.borrow()["c"].len() < 64);
    }
}
