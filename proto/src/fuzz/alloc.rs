//! A counting global allocator for this crate's tests: each thread keeps
//! its own live-bytes count and the peak it reached, so a test measures what
//! one call allocated at its peak while other tests run on other threads.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting each thread's live bytes.
struct Counting;

thread_local! {
    /// Bytes this thread allocated and has not freed (memory freed by
    /// another thread makes it drift, which no measured call does).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The most `LIVE` reached since the last `peak_bytes_during` began.
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// Adds `delta` to this thread's live bytes and raises the peak.
fn note(delta: isize) {
    // `try_with`: during thread exit the counters may already be gone.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is delegated to the system allocator with the same
// arguments; the counting touches only const-initialised thread-locals,
// which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which is System's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            note(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            note(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the most bytes it had allocated at
/// once (above what the thread held before), freed or not by its end.
pub fn peak_bytes_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, usize::try_from(peak - base).unwrap_or(0))
}

/// The counter sees a large allocation, and its freeing does not lower the peak.
#[test]
fn counts_the_peak() {
    let ((), peak) = peak_bytes_during(|| drop(std::hint::black_box(vec![0u8; 1 << 20])));
    assert!((1 << 20..(1 << 20) + 1024).contains(&peak), "{peak}");
    let ((), peak) = peak_bytes_during(|| {});
    assert_eq!(peak, 0);
}
