#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| esp::fuzzing::esp_sa_open(data));
