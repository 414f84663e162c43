//! A fixed-size table of client keys to one number each, shared by the
//! workers. It never grows: a flood of distinct addresses evicts entries
//! rather than using memory. Buckets of `WAYS` entries, each bucket under
//! its own lock, so workers rarely meet on one; the bucket of a key is
//! chosen by a hash with a per-table random key, so a client cannot aim
//! its addresses at one bucket to push a given entry out.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

/// Entries per table: `TABLE_ENTRIES * 24` bytes (384 KiB) per limited
/// route or listener, allocated when the config is loaded.
pub const TABLE_ENTRIES: usize = 16 * 1024;
/// Entries per bucket: the candidates for eviction when a key is new.
const WAYS: usize = 8;

#[derive(Clone, Copy, Default)]
struct Entry {
    /// The client key, split so an entry is 24 bytes, not 32.
    key: [u64; 2],
    value: u64,
}

pub struct Table {
    buckets: Box<[Mutex<[Entry; WAYS]>]>,
    hasher: RandomState,
}

impl Table {
    pub fn new() -> Table {
        Table {
            buckets: (0..TABLE_ENTRIES / WAYS)
                .map(|_| Mutex::new([Entry::default(); WAYS]))
                .collect(),
            hasher: RandomState::new(),
        }
    }

    /// Runs `f` on the value of `key`. A key not in the table takes the
    /// place of the entry of its bucket with the smallest value (the one
    /// whose loss costs least: for both users a 0 means "nothing to keep"),
    /// starting at 0.
    pub fn with<R>(&self, key: u128, f: impl FnOnce(&mut u64) -> R) -> R {
        let key = split(key);
        let mut bucket = self.bucket(key);
        let at = match bucket.iter().position(|e| e.key == key) {
            Some(at) => at,
            None => {
                let at = (0..WAYS).min_by_key(|&i| bucket[i].value).unwrap_or(0);
                bucket[at] = Entry { key, value: 0 };
                at
            }
        };
        f(&mut bucket[at].value)
    }

    /// Runs `f` on the value of `key` if the table still holds it.
    pub fn with_existing(&self, key: u128, f: impl FnOnce(&mut u64)) {
        let key = split(key);
        let mut bucket = self.bucket(key);
        if let Some(entry) = bucket.iter_mut().find(|e| e.key == key) {
            f(&mut entry.value);
        }
    }

    fn bucket(&self, key: [u64; 2]) -> std::sync::MutexGuard<'_, [Entry; WAYS]> {
        let index = self.hasher.hash_one(key) as usize % self.buckets.len();
        // The values stay consistent whatever a panicking holder did.
        self.buckets[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn split(key: u128) -> [u64; 2] {
    [(key >> 64) as u64, key as u64]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_24_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }

    #[test]
    fn keeps_values_per_key() {
        let table = Table::new();
        table.with(1, |v| *v = 5);
        table.with(2, |v| *v = 7);
        assert_eq!(table.with(1, |v| *v), 5);
        assert_eq!(table.with(2, |v| *v), 7);
        table.with_existing(1, |v| *v -= 1);
        assert_eq!(table.with(1, |v| *v), 4);
    }

    #[test]
    fn a_flood_of_keys_evicts_instead_of_growing() {
        let table = Table::new();
        table.with(u128::MAX, |v| *v = u64::MAX);
        for key in 0..(TABLE_ENTRIES as u128 * 4) {
            table.with(key, |v| *v = 1);
        }
        let held: usize = table
            .buckets
            .iter()
            .map(|b| {
                b.lock()
                    .map(|b| b.iter().filter(|e| e.value > 0).count())
                    .unwrap_or(0)
            })
            .sum();
        assert!(held <= TABLE_ENTRIES);
        // The entry with the most state is the last of its bucket to go.
        let mut kept = false;
        table.with_existing(u128::MAX, |_| kept = true);
        assert!(kept);
        // A key no longer held is not recreated by with_existing.
        let mut touched = false;
        table.with_existing(u128::MAX - 1, |_| touched = true);
        assert!(!touched);
    }
}
