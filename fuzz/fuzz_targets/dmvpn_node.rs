#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| dmvpn_core::fuzzing::dmvpn_node(data));
