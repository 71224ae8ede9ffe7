//! `cargo fuzz run feed_file`: see `notifspec_fuzz::feed_file` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifspec_fuzz::feed_file(data));
