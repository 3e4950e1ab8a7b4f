#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nhrp::fuzzing::nhrp_node(data));
