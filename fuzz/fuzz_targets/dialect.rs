//! `cargo fuzz run dialect`: see `notifspec_fuzz::dialect` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifspec_fuzz::dialect(data));
