#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tierdb_fuzz::sst_footer(data);
});
