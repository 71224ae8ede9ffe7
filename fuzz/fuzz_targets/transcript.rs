//! `cargo fuzz run transcript`: see `notifspec_fuzz::transcript` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifspec_fuzz::transcript(data));
