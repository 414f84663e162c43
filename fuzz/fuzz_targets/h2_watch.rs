#![no_main]
// The body is in the library (tern::fuzzing), where tests/fuzz_corpus.rs
// replays the committed corpus through it too.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tern::fuzzing::h2_watch(data));
