//! A provided buffer ring: buffers the kernel picks from when bytes arrive
//! for a multishot RECV, so a connection waiting to read holds none. The
//! forwarder gives a buffer back once its bytes have been sent on.

use io_uring::types::BufRingEntry;
use io_uring::IoUring;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

const PAGE: usize = 4096;

pub struct BufRing {
    /// The ring of entries the kernel takes buffers from (page aligned).
    entries: NonNull<BufRingEntry>,
    entries_layout: Layout,
    /// `count` buffers of `size` bytes, back to back.
    data: NonNull<u8>,
    data_layout: Layout,
    count: u16,
    size: usize,
    /// The next entry to fill; published to the kernel after each give-back.
    tail: u16,
}

impl BufRing {
    /// Registers `count` (a power of two) buffers of `size` bytes as group
    /// `group` of `ring`, all of them available.
    ///
    /// The caller keeps the `BufRing` until `ring` is gone (the forwarder
    /// declares its ring first, so it is dropped first).
    pub fn register(ring: &IoUring, count: u16, size: usize, group: u16) -> io::Result<BufRing> {
        assert!(
            count.is_power_of_two(),
            "a buffer ring's size is a power of two"
        );
        let entries_layout =
            Layout::from_size_align(count as usize * size_of::<BufRingEntry>(), PAGE)
                .map_err(io::Error::other)?;
        let data_layout =
            Layout::from_size_align(count as usize * size, PAGE).map_err(io::Error::other)?;
        // SAFETY: both layouts have a non-zero size (count ≥ 1, size ≥ 1).
        let (entries, data) = unsafe { (alloc_zeroed(entries_layout), alloc_zeroed(data_layout)) };
        let (Some(entries), Some(data)) = (NonNull::new(entries.cast()), NonNull::new(data)) else {
            return Err(io::ErrorKind::OutOfMemory.into());
        };
        let mut bufs = BufRing {
            entries,
            entries_layout,
            data,
            data_layout,
            count,
            size,
            tail: 0,
        };
        // SAFETY: the entries stay allocated, at this address, until `bufs`
        // is dropped, which the caller does only after the ring is gone.
        unsafe {
            ring.submitter()
                .register_buf_ring(entries.as_ptr() as u64, count, group)?
        };
        for id in 0..count {
            bufs.give_back(id);
        }
        Ok(bufs)
    }

    /// Makes buffer `id` available to the kernel again.
    pub fn give_back(&mut self, id: u16) {
        let slot = (self.tail & (self.count - 1)) as usize;
        // SAFETY: `slot < count`, inside the entries' allocation; the kernel
        // reads an entry only once the tail below has moved past it.
        unsafe {
            let entry = &mut *self.entries.as_ptr().add(slot);
            entry.set_addr(self.start_of(id) as u64);
            entry.set_len(self.size as u32);
            entry.set_bid(id);
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail overlays the first entry's reserved field, which
        // `BufRingEntry::tail` points at; the kernel reads it, so it is
        // stored atomically and after the entry (Release).
        unsafe {
            let tail = BufRingEntry::tail(self.entries.as_ptr()) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Where buffer `id` starts.
    pub fn start_of(&self, id: u16) -> *const u8 {
        debug_assert!(id < self.count);
        // SAFETY: `id < count`, so the offset is inside the data allocation.
        unsafe { self.data.as_ptr().add(id as usize * self.size) }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both were allocated in `register` with these layouts; the
        // ring that wrote into them is gone (see `register`).
        unsafe {
            dealloc(self.entries.as_ptr().cast(), self.entries_layout);
            dealloc(self.data.as_ptr(), self.data_layout);
        }
    }
}
