//! A counting allocator for the unit tests: the bytes each thread has allocated and not yet
//! freed, so a test can hold a structure's memory to what it claims to hold (the outbound
//! queue's pending bytes), and the allocations it made, so a test can hold a path to making
//! none. Compiled into test builds only; the server uses the system allocator unchanged.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread (const-initialised: no allocation,
    /// no destructor, safe to touch from inside the allocator).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// Allocations (and reallocations) this thread has made.
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

fn add(bytes: isize) {
    // A thread being torn down has no counter left; its last frees are not counted.
    let _ = LIVE.try_with(|live| live.set(live.get() + bytes));
}

fn called() {
    let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
}

// SAFETY: every call defers to the system allocator with the caller's arguments; the only
// addition is two thread-local counters that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        called();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        called();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        called();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes this thread has allocated and not freed (frees of its memory on other threads count
/// there, so measure on a single-threaded runtime).
pub fn live() -> isize {
    LIVE.with(Cell::get)
}

/// Allocations and reallocations this thread has made, to hold a path to allocating nothing.
pub fn allocations() -> u64 {
    CALLS.with(Cell::get)
}
