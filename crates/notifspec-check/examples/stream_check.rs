//! Streams one transcript through the checker as `notifspec check` does, printing the number
//! of violations: a small binary for profiling the checker alone (callgrind, perf) without the
//! command line around it. `cargo run --release -p notifspec-check --example stream_check --
//! FILE`.

use notifspec_check::transcript::Reader;
use notifspec_check::{Checker, Dialect};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: stream_check FILE")?;
    let mut reader = Reader::new(std::fs::File::open(&path)?, path.as_str())?;
    let mut checker = Checker::for_transcript(Dialect::default(), true);
    checker.limit_items_known_reports(1000);
    let mut found = 0u64;
    reader.feed(&mut checker, |_| found += 1)?;
    found += checker.finish(reader.is_complete()).len() as u64;
    println!("{found} violations (publishes assumed known)");
    Ok(())
}
