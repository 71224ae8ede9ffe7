//! `cargo fuzz run scenario`: see `notifspec_fuzz::scenario` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifspec_fuzz::scenario(data));
