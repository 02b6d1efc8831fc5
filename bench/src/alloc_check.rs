//! The check that the message path allocates nothing per message, shared by the `alloc`
//! bench (release build, in the README's bench list) and the test suite (`tests/allocations.rs`):
//! a counting global allocator around an in-process server, a warm-up, then messages through
//! 1→1 and 1→4 pub/sub; the allocations counted while they flow must stay far below one per
//! message. What does allocate is per chunk of output (a 64 KiB outbound chunk when a
//! subscriber's queue grows past the ones it keeps), so the bound is per message, not zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::load::{self, Scenario};

/// Most allocations per published message the check accepts.
pub const BOUND: f64 = 0.01;

/// A global allocator that counts allocations and reallocations; a binary that runs the
/// check declares it as its `#[global_allocator]`.
pub struct Counting;

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

/// One scenario's count.
#[derive(Debug)]
pub struct Counted {
    /// The scenario (`1->1`, `1->4`).
    pub name: &'static str,
    /// Messages published.
    pub messages: usize,
    /// Allocations while they flowed.
    pub allocations: u64,
    /// The load's rate, when it completed.
    pub msgs_per_sec: Option<u64>,
}

impl Counted {
    /// Allocations per published message.
    pub fn per_message(&self) -> f64 {
        self.allocations as f64 / self.messages as f64
    }
}

/// Runs `messages` 128 B messages through 1→1 and 1→4 on a fresh in-process server and counts
/// the allocations (only meaningful with [`Counting`] as the global allocator). `None` when
/// the server did not start.
pub fn measure(messages: usize) -> Option<Vec<Counted>> {
    let (port, _) = crate::start_server(crate::local_options())?;
    let mut counted = Vec::new();
    for (name, subscribers) in [("1->1", 1), ("1->4", 4)] {
        let scenario = Scenario::new(name, 128, 1, subscribers, messages);
        // Warm up: buffers grow to their working size, caches fill.
        let _ = load::run(
            port,
            Scenario {
                messages: messages / 4,
                ..scenario
            },
            None,
        );
        // The load generator runs in this process too; its own allocations per run (threads,
        // buffers) are a constant, small beside the bound times the messages.
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let outcome = load::run(port, scenario, None);
        counted.push(Counted {
            name,
            messages,
            allocations: ALLOCATIONS.load(Ordering::Relaxed) - before,
            msgs_per_sec: outcome.ok().map(|o| o.msgs_per_sec as u64),
        });
    }
    Some(counted)
}
