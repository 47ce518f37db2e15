#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tierdb_fuzz::commit_record(data);
});
