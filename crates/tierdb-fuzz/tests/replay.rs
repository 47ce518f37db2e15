//! Replays one input file: `TIERDB_FUZZ_REPLAY=<target>:<file> cargo test
//! -p tierdb-fuzz --test replay -- --nocapture` (add `TIERDB_FUZZ_TRACE=1`
//! to see the steps of a `crash_recovery` program).

#[test]
fn replay_one_input() {
    let Ok(spec) = std::env::var("TIERDB_FUZZ_REPLAY") else {
        return;
    };
    let (name, file) = spec.split_once(':').expect("<target>:<file>");
    let target = tierdb_fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no target {name}"))
        .1;
    let outcome = target(&std::fs::read(file).expect("read input"));
    println!("{name} on {file}: {outcome:?}");
}
