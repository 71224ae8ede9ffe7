//! `cargo fuzz run differential`: see `notifspec_fuzz::differential` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifspec_fuzz::differential(data));
