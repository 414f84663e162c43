//! The records of a worker's requests in flight, in a slab: a request's
//! future holds only a slot number (see `RequestMeter`), because whatever it
//! holds, every connection's future must have room for (the same reason the
//! timer keeps its deadlines in a slab).

use std::cell::RefCell;

/// What is known of one request so far. Times are microseconds: `started_us`
/// in the stats' clock, the others offsets from it.
pub struct Record {
    pub started_us: u64,
    pub upstream_from_us: u32,
    /// When the request was sent whole (its body too) and its wait for the
    /// response head began.
    pub waiting_from_us: u32,
    pub upstream_head_us: u32,
    pub server: u32,
    /// The status the client got; 0 while none.
    pub status: u16,
    pub listener: u16,
    pub route: u16,
    pub backend: u16,
    /// Counted in the waiting-on-upstream gauge.
    pub waiting: bool,
    /// The request came as an HTTP/2 stream.
    pub http2: bool,
    /// The upstream switched protocols (101): a tunnel, whatever status
    /// the client saw (an HTTP/2 stream sees 200).
    pub tunnel: bool,
    /// Bytes written to the client for this request.
    pub bytes: u64,
    /// The access log's view of the request, when access logging is on.
    pub access: Option<Box<crate::access_log::Entry>>,
}

/// Marks offsets and the server as not known yet.
pub const UNSET: u32 = u32::MAX;

#[derive(Default)]
pub struct InFlight {
    slots: RefCell<Vec<Option<Record>>>,
    free: RefCell<Vec<u32>>,
}

impl InFlight {
    pub fn insert(&self, record: Record) -> u32 {
        let mut slots = self.slots.borrow_mut();
        match self.free.borrow_mut().pop() {
            Some(slot) => {
                slots[slot as usize] = Some(record);
                slot
            }
            None => {
                slots.push(Some(record));
                u32::try_from(slots.len() - 1).unwrap_or(UNSET)
            }
        }
    }

    /// Runs `f` on the record in `slot`, if there is one.
    pub fn update<R>(&self, slot: u32, f: impl FnOnce(&mut Record) -> R) -> Option<R> {
        let mut slots = self.slots.borrow_mut();
        slots.get_mut(slot as usize)?.as_mut().map(f)
    }

    pub fn remove(&self, slot: u32) -> Option<Record> {
        let record = self.slots.borrow_mut().get_mut(slot as usize)?.take()?;
        self.free.borrow_mut().push(slot);
        Some(record)
    }

    /// Every record, the slab left empty (a meter whose record was taken
    /// finds nothing to count).
    pub fn take_all(&self) -> Vec<Record> {
        self.free.borrow_mut().clear();
        let slots = std::mem::take(&mut *self.slots.borrow_mut());
        slots.into_iter().flatten().collect()
    }

    pub fn len(&self) -> usize {
        self.slots.borrow().len() - self.free.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: u16) -> Record {
        Record {
            started_us: 0,
            upstream_from_us: UNSET,
            waiting_from_us: UNSET,
            upstream_head_us: UNSET,
            server: UNSET,
            status,
            listener: 0,
            route: 0,
            backend: 0,
            waiting: false,
            http2: false,
            tunnel: false,
            bytes: 0,
            access: None,
        }
    }

    #[test]
    fn slots_are_reused_and_counted() {
        let inflight = InFlight::default();
        let a = inflight.insert(record(1));
        let b = inflight.insert(record(2));
        assert_eq!(inflight.len(), 2);
        assert_eq!(inflight.remove(a).map(|r| r.status), Some(1));
        assert!(inflight.remove(a).is_none(), "removed once only");
        let c = inflight.insert(record(3));
        assert_eq!(c, a, "the freed slot is reused");
        assert_eq!(inflight.update(b, |r| r.status), Some(2));
        assert_eq!(inflight.len(), 2);
    }
}
