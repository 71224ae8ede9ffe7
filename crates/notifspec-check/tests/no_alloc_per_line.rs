//! The streaming check's hot path allocates nothing per line (issue 14): a transcript ten
//! times as long costs no more allocations, only more lines. Counted with a global allocator
//! of this test binary alone, which has no test harness (`harness = false`): no other thread
//! allocates while it counts, so the count is exact and deterministic.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use notifspec_check::transcript::{Reader, generate_conforming};
use notifspec_check::{Checker, Dialect};

/// The system allocator, counting allocations and reallocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn count() {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the contract; the
// counter is only an atomic increment on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc`/`realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by streaming-checking a generated conforming transcript of `lines`
/// lines, held in memory (the reader reads it in blocks as it would a file), judged as
/// `notifspec check` judges it: publishes assumed known, S-NO-DUP reports capped.
fn allocations_to_check(lines: usize) -> u64 {
    let mut text = Vec::new();
    generate_conforming(lines, &mut text).expect("generate");
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut reader = Reader::new(text.as_slice(), "gen.txt").expect("front matter");
    let mut checker = Checker::for_transcript(Dialect::default(), true);
    checker.limit_items_known_reports(10);
    let mut found = 0u64;
    reader.feed(&mut checker, |_| found += 1).expect("parses");
    let _ = checker.finish(reader.is_complete());
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    // The capped S-NO-DUP reports of a file without publishes, and nothing else.
    assert!(found <= 10, "{found} violations");
    after - before
}

fn main() {
    checking_a_longer_transcript_makes_no_more_allocations();
    println!("no_alloc_per_line: ok");
}

fn checking_a_longer_transcript_makes_no_more_allocations() {
    // Warm-up: whatever is allocated once per process (the default dialect's statics).
    allocations_to_check(1_000);
    let short = allocations_to_check(20_000);
    let long = allocations_to_check(200_000);
    assert_eq!(
        short, long,
        "10× the lines should cost the same allocations ({short} for 20,000 lines, {long} for \
         200,000)"
    );
}
