//! `cargo fuzz run expect_fail`: see `notifspec_fuzz::expect_fail` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifspec_fuzz::expect_fail(data));
