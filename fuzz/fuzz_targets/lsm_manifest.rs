#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tierdb_fuzz::lsm_manifest(data);
});
