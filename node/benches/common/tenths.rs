//! A timer for the benches that show how a cost grows with the store.

use std::time::Instant;

/// Times a run of `total` items taken in steps: µs an item over each tenth of them,
/// to show how a cost grows with the store.
pub struct Tenths {
    total: usize,
    done: usize,
    /// Items done at the last mark, and when.
    marked: (usize, Instant),
    start: Instant,
    marks: Vec<String>,
}

impl Tenths {
    pub fn new(total: usize) -> Tenths {
        let now = Instant::now();
        Tenths {
            total,
            done: 0,
            marked: (0, now),
            start: now,
            marks: Vec::new(),
        }
    }

    /// A step of `n` more items is done: a mark when it crossed a tenth, and whether
    /// it did (for a figure taken at the same marks).
    pub fn done(&mut self, n: usize) -> bool {
        let tenth = (self.total / 10).max(1);
        let before = self.done / tenth;
        self.done += n;
        if self.done / tenth == before {
            return false;
        }
        let now = Instant::now();
        let (items, then) = self.marked;
        let us = (now - then).as_secs_f64() * 1e6 / (self.done - items).max(1) as f64;
        self.marks.push(format!("{us:.1}"));
        self.marked = (self.done, now);
        true
    }

    /// Leaves `d` out of the timings: work the bench does that the timed code would
    /// not (e.g. copying what it hands over).
    #[allow(dead_code)] // the store bench has nothing to leave out
    pub fn leave_out(&mut self, d: std::time::Duration) {
        self.marked.1 += d;
        self.start += d;
    }

    /// µs an item over the whole run, and the marks of the tenths.
    pub fn finish(self) -> (f64, String) {
        let all = self.start.elapsed().as_secs_f64() * 1e6 / self.total.max(1) as f64;
        (all, self.marks.join(" "))
    }
}
