//! `cargo fuzz run framing`: see `notifspec_fuzz::framing` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifspec_fuzz::framing(data));
