//! Counting the host's heap allocations, for the host-path benchmark
//! (`bench/host-path/measure.sh ... allocs`). Only in a build with the `count-allocations`
//! feature: the allocator then counts every allocation and reallocation (two relaxed atomic
//! adds each), and on SIGUSR1 the process writes the counts so far to stderr as
//! `allocations: A reallocations: R`. The shipped build has neither.
//!
//! A global allocator can only be written with `unsafe`: each method passes its call on to
//! the allocator it wraps, unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};

/// `inner`, counting the allocations and reallocations made through it.
pub struct Counting<A> {
    inner: A,
    allocations: AtomicU64,
    reallocations: AtomicU64,
}

impl<A> Counting<A> {
    /// A counter around `inner`, at zero.
    pub const fn new(inner: A) -> Self {
        Self {
            inner,
            allocations: AtomicU64::new(0),
            reallocations: AtomicU64::new(0),
        }
    }

    /// Allocations (zeroed or not) and reallocations so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.allocations.load(Ordering::Relaxed),
            self.reallocations.load(Ordering::Relaxed),
        )
    }
}

// SAFETY: every call is passed on to `inner` unchanged; the counters do not allocate.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.allocations.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `inner` shares.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.allocations.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `inner` (every allocation goes through it) with `layout`.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.reallocations.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s size contract.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}

/// Writes `counter`'s counts to stderr on every SIGUSR1, from a task of its own.
pub fn report_on_sigusr1<A: Send + Sync>(counter: &'static Counting<A>) {
    let mut signals = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("cannot listen for SIGUSR1 to report allocation counts: {error}");
            return;
        }
    };
    tokio::spawn(async move {
        while signals.recv().await.is_some() {
            let (allocations, reallocations) = counter.counts();
            eprintln!("allocations: {allocations} reallocations: {reallocations}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_goes_through_it() {
        let counter = Counting::new(std::alloc::System);
        let layout = Layout::from_size_align(64, 8).expect("a valid layout");
        // SAFETY: each pointer is freed once, with the layout it was allocated with.
        unsafe {
            let a = counter.alloc(layout);
            let b = counter.alloc_zeroed(layout);
            let a = counter.realloc(a, layout, 128);
            counter.dealloc(a, Layout::from_size_align(128, 8).expect("a valid layout"));
            counter.dealloc(b, layout);
        }
        assert_eq!(counter.counts(), (2, 1));
    }
}
