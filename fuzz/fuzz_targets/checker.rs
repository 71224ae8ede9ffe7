//! `cargo fuzz run checker`: see `notifspec_fuzz::checker` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifspec_fuzz::checker(data));
