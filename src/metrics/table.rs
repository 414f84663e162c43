//! A worker's counters for one dimension (listener, route, backend, server),
//! one row per item and one column per status class. Plain cells: only the
//! worker's own thread writes or reads them; the admin thread gets copies.

use std::cell::Cell;

use super::class::{class_of, CLASSES};

pub struct ClassTable {
    cells: Box<[Cell<u64>]>,
}

impl ClassTable {
    pub fn new(rows: usize) -> Self {
        ClassTable {
            cells: (0..rows * CLASSES).map(|_| Cell::new(0)).collect(),
        }
    }

    /// Counts one request of `row` that ended with `status`; rows out of
    /// range are ignored rather than trusted.
    pub fn add(&self, row: usize, status: u16) {
        if let Some(cell) = self.cells.get(row * CLASSES + class_of(status)) {
            cell.set(cell.get() + 1);
        }
    }

    /// Adds `n` to one cell (a reload carrying counts over).
    pub fn add_n(&self, row: usize, class: usize, n: u64) {
        if let Some(cell) = self.cells.get(row * CLASSES + class) {
            cell.set(cell.get() + n);
        }
    }

    /// Empties one cell, returning what it held.
    pub fn take(&self, row: usize, class: usize) -> u64 {
        self.cells.get(row * CLASSES + class).map_or(0, Cell::take)
    }

    /// Row-major copy: `rows * CLASSES` values.
    pub fn copy(&self) -> Vec<u64> {
        self.cells.iter().map(Cell::get).collect()
    }
}

/// One plain counter per item (e.g. per server).
pub struct Counts {
    cells: Box<[Cell<u64>]>,
}

impl Counts {
    pub fn new(len: usize) -> Self {
        Counts {
            cells: (0..len).map(|_| Cell::new(0)).collect(),
        }
    }

    pub fn add(&self, index: usize) {
        if let Some(cell) = self.cells.get(index) {
            cell.set(cell.get() + 1);
        }
    }

    pub fn copy(&self) -> Vec<u64> {
        self.cells.iter().map(Cell::get).collect()
    }

    pub fn add_n(&self, index: usize, n: u64) {
        if let Some(cell) = self.cells.get(index) {
            cell.set(cell.get() + n);
        }
    }

    /// Empties one counter, returning what it held.
    pub fn take(&self, index: usize) -> u64 {
        self.cells.get(index).map_or(0, Cell::take)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_row_and_class() {
        let table = ClassTable::new(2);
        table.add(1, 200);
        table.add(1, 204);
        table.add(0, 502);
        table.add(7, 200);
        let copy = table.copy();
        assert_eq!(copy[CLASSES + 2], 2, "row 1, 2xx");
        assert_eq!(copy[5], 1, "row 0, 5xx");
        assert_eq!(
            copy.iter().sum::<u64>(),
            3,
            "the out-of-range row is dropped"
        );
    }
}
