//! The reconciliation set (issue 19): memory and time of the ledger's chunked set
//! (`Items`) against the `BTreeSet` it replaced, and of the copy a reconciliation
//! reads (`Items::view`) against the sorted vector the sync built before (40 bytes an
//! event, rebuilt whenever the held set changed). `CARNET_BENCH_ITEMS` sets the sizes
//! (default 1,000,000 and 10,000,000). Prints its figures.

use carnet_protocol::ledger::Items;
use carnet_protocol::Hash32;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Counts the bytes allocated and live.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged, counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc requires.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Items as a node sees them: clocks rising, one in eight a little late (a
/// concurrent event with a lower clock), ids pseudo-random.
fn workload(n: usize) -> Vec<(u64, Hash32)> {
    (0..n as u64)
        .map(|i| {
            let h = blake3::hash(&i.to_le_bytes());
            let late = if h.as_bytes()[0] < 32 { 50 } else { 0 };
            (i / 4 + 100 - late, Hash32(*h.as_bytes()))
        })
        .collect()
}

fn main() {
    let sizes: Vec<usize> = std::env::var("CARNET_BENCH_ITEMS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000, 10_000_000]);
    println!("| items | set | bytes per item | insert, ns per item | copy for a reconciliation | its bytes | iterate the copy, ns per item |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for n in sizes {
        let input = workload(n);

        let before = live();
        let t = Instant::now();
        let mut tree = BTreeSet::new();
        for x in &input {
            tree.insert(*x);
        }
        let insert = t.elapsed().as_secs_f64() * 1e9 / n as f64;
        let bytes = (live() - before) as f64 / n as f64;
        // The sync's copy before: every item into a sorted vector.
        let before_copy = live();
        let t = Instant::now();
        let copy: Vec<(u64, Hash32)> = tree.iter().copied().collect();
        let copy_ms = t.elapsed().as_secs_f64() * 1e3;
        let copy_bytes = live() - before_copy;
        let t = Instant::now();
        let sum: u64 = copy.iter().map(|x| x.0).fold(0, u64::wrapping_add);
        let iter = t.elapsed().as_secs_f64() * 1e9 / n as f64;
        println!(
            "| {n} | BTreeSet, then a sorted Vec for the sync | {bytes:.1} | {insert:.0} | {copy_ms:.1} ms | {} MiB | {iter:.2} |",
            copy_bytes >> 20
        );
        std::hint::black_box(sum);
        drop(copy);
        drop(tree);

        let before = live();
        let t = Instant::now();
        let mut items = Items::default();
        for x in &input {
            items.insert(*x);
        }
        let insert = t.elapsed().as_secs_f64() * 1e9 / n as f64;
        let bytes = (live() - before) as f64 / n as f64;
        let before_copy = live();
        let t = Instant::now();
        let view = items.view();
        let copy_us = t.elapsed().as_secs_f64() * 1e6;
        let copy_bytes = live() - before_copy;
        let t = Instant::now();
        let sum: u64 = view
            .range(0, view.len())
            .map(|x| x.0)
            .fold(0, u64::wrapping_add);
        let iter = t.elapsed().as_secs_f64() * 1e9 / n as f64;
        std::hint::black_box(sum);
        println!(
            "| {n} | Items, its view for the sync | {bytes:.1} | {insert:.0} | {:.3} ms | {} KiB | {iter:.2} |",
            copy_us / 1e3,
            copy_bytes >> 10
        );
        // A write after a copy: the chunk it lands in is copied, once.
        let t = Instant::now();
        items.insert((n as u64, Hash32([0xff; 32])));
        let first_write = t.elapsed().as_secs_f64() * 1e6;
        println!("(first insert after the copy: {first_write:.1} µs)");
        drop(view);
    }
}
