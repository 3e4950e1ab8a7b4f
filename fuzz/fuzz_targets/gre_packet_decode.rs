#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gre::fuzzing::gre_packet_decode(data));
