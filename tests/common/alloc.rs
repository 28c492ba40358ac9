//! A counting global allocator for the tests that prove code allocation-free.
//!
//! A test binary installs it with
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: common::alloc::Counting = common::alloc::Counting;
//! ```
//!
//! and measures with [`count_allocs`]. Counts are per thread, so tests running in
//! parallel do not disturb each other; [`count_allocs_all_threads`] counts every
//! thread's, for code that runs on a thread pool (its test binary must run nothing else
//! at the same time).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the allocations (and reallocations) of each thread.
pub struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

/// Every thread's allocations.
static ALL_THREADS: AtomicUsize = AtomicUsize::new(0);

fn bump() {
    ALL_THREADS.fetch_add(1, Ordering::Relaxed);
    // `try_with`: during thread teardown the counter may be gone; such allocations are
    // never inside a `count_allocs`.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn allocs_so_far() -> usize {
    ALLOCS.with(Cell::get)
}

// SAFETY: forwards every call to the system allocator unchanged; the bookkeeping only
// touches a const-initialized thread-local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        bump();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

/// Allocations (including reallocations) this thread makes while `f` runs.
///
/// Panics if [`Counting`] is not the global allocator of this test binary (a count of 0
/// would then prove nothing).
pub fn count_allocs(f: impl FnOnce()) -> usize {
    let before = allocs_so_far();
    drop(std::hint::black_box(Box::new(0u8)));
    assert_eq!(
        allocs_so_far() - before,
        1,
        "install common::alloc::Counting with #[global_allocator] to count allocations"
    );
    let before = allocs_so_far();
    f();
    allocs_so_far() - before
}

/// Allocations (including reallocations) any thread makes while `f` runs. Only
/// meaningful when nothing else runs meanwhile: a test binary of one test.
pub fn count_allocs_all_threads(f: impl FnOnce()) -> usize {
    assert_eq!(
        count_allocs(|| drop(std::hint::black_box(Box::new(0u8)))),
        1
    );
    let before = ALL_THREADS.load(Ordering::SeqCst);
    f();
    ALL_THREADS.load(Ordering::SeqCst) - before
}
