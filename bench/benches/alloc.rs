//! Proof that the message path allocates nothing per message: a counting global allocator
//! around an in-process server, a warm-up, then 200,000 messages through 1→1 and 1→4
//! pub/sub; the allocations counted while they flow must stay far below one per message.
//! Fails (exit 1) when they do not.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use bench::load::{self, Scenario};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    // `cargo bench` passes `--bench`; nothing to configure.
    let Some((port, _)) = bench::start_server(bench::local_options()) else {
        eprintln!("server did not start");
        std::process::exit(1);
    };
    let mut failed = false;
    for (name, subscribers) in [("1->1", 1), ("1->4", 4)] {
        let scenario = Scenario::new(name, 128, 1, subscribers, 200_000);
        // Warm up: buffers grow to their working size, caches fill.
        let _ = load::run(
            port,
            Scenario {
                messages: 50_000,
                ..scenario
            },
            None,
        );
        // The load generator runs in this process too; count only while messages flow, and
        // subtract what the generator itself allocates per run (threads, buffers: a constant).
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let outcome = load::run(port, scenario, None);
        let during = ALLOCATIONS.load(Ordering::Relaxed) - before;
        let per_msg = during as f64 / scenario.messages as f64;
        println!(
            "alloc/{name}: {during} allocations for {} messages = {per_msg:.4} per message ({:?})",
            scenario.messages,
            outcome.map(|o| o.msgs_per_sec as u64)
        );
        if per_msg > 0.01 {
            failed = true;
        }
    }
    if failed {
        eprintln!("the message path allocates per message");
        std::process::exit(1);
    }
}
