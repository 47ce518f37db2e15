//! Every fuzz target over its checked-in corpus (`fuzz/corpus/<target>/`),
//! its seeds, seeded mutations of them (bit flips, byte changes,
//! truncations, insertions, splices, mode changes) and random inputs.
//!
//! `TIERDB_FUZZ_ITERS=N` runs N mutated inputs per target (default 200;
//! `crash_recovery`, whose inputs each open a database several times, runs
//! a tenth of that); `TIERDB_FUZZ_TARGET=<name>` runs only that target. A failure prints the target, the input's origin and
//! its bytes in hex; save them to a file and replay it with
//! `cargo fuzz run <target> <file>` or add it to the corpus.

use std::path::PathBuf;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tierdb_fuzz::{Outcome, TARGETS, seeds};

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn iters() -> usize {
    std::env::var("TIERDB_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

/// Runs `target` on `input`; on a panic, says which input it was.
fn run(name: &str, target: fn(&[u8]) -> Outcome, origin: &str, input: &[u8]) {
    let outcome = std::panic::catch_unwind(|| target(input));
    if outcome.is_err() {
        let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
        panic!(
            "target {name} failed on {origin} ({} bytes): {hex}",
            input.len()
        );
    }
}

fn mutate(rng: &mut StdRng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..rng.random_range(1..4) {
        let len = out.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] = rng.random();
            }
            2 if len > 0 => out.truncate(rng.random_range(0..len)),
            3 => {
                let i = rng.random_range(0..=len);
                let n = rng.random_range(1..16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                out.splice(i..i, bytes);
            }
            4 if len > 1 => {
                let i = rng.random_range(0..len);
                let j = rng.random_range(i..len);
                out.drain(i..j);
            }
            5 if !other.is_empty() => {
                let cut = rng.random_range(0..=out.len());
                let from = rng.random_range(0..other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => out[0] = rng.random(),
            _ => out.push(rng.random()),
        }
    }
    // Half the time ask the target to re-seal, so that mutations reach
    // the parser behind the checksum.
    if let Some(mode) = out.first_mut()
        && rng.random_bool(0.5)
    {
        *mode |= 1;
    }
    out
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(dir) = std::fs::read_dir(corpus_dir(target)) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).expect("read corpus file"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_survives_its_corpus_seeds_mutations_and_random_bytes() {
    let only = std::env::var("TIERDB_FUZZ_TARGET").ok();
    for &(name, target) in TARGETS {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let started = Instant::now();
        let corpus = corpus(name);
        for (file, input) in &corpus {
            run(name, target, &format!("corpus file {file}"), input);
        }
        let seeds = seeds::for_target(name);
        for (i, seed) in seeds.iter().enumerate() {
            run(name, target, &format!("seed {i}"), seed);
        }
        let n = if name == "crash_recovery" {
            iters() / 10
        } else {
            iters()
        };
        let mut rng = StdRng::seed_from_u64(0x7d1e_f022);
        for i in 0..n {
            let seed = &seeds[i % seeds.len()];
            let other = &seeds[rng.random_range(0..seeds.len())];
            let input = mutate(&mut rng, seed, other);
            run(name, target, &format!("mutation {i}"), &input);
        }
        for i in 0..n / 4 {
            let len = rng.random_range(0..300);
            let input: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            run(name, target, &format!("random input {i}"), &input);
        }
        println!(
            "{name}: {} corpus files, {} seeds, {} mutations, {} random inputs, {:?}",
            corpus.len(),
            seeds.len(),
            n,
            n / 4,
            started.elapsed()
        );
    }
}

/// Every seed is checked in under `fuzz/corpus/<target>/seed-<n>`, so that
/// the fuzzer starts from valid encodings, and so is every regression input
/// rebuilt by `seeds::regressions_for_target`. `TIERDB_FUZZ_WRITE_SEEDS=1`
/// (re)writes them after a format change.
#[test]
fn corpus_holds_every_seed() {
    let write = std::env::var_os("TIERDB_FUZZ_WRITE_SEEDS").is_some();
    for &(name, _) in TARGETS {
        let dir = corpus_dir(name);
        let seeds = seeds::for_target(name);
        let named = seeds
            .iter()
            .enumerate()
            .map(|(i, seed)| (format!("seed-{i}"), seed.clone()));
        let rebuilt = seeds::regressions_for_target(name)
            .into_iter()
            .map(|(file, input)| (file.to_string(), input));
        for (file, seed) in named.chain(rebuilt) {
            let path = dir.join(file);
            if write {
                std::fs::create_dir_all(&dir).expect("create corpus dir");
                std::fs::write(&path, &seed).expect("write seed");
            }
            let stored = std::fs::read(&path).unwrap_or_default();
            assert!(
                stored == seed,
                "{} is missing or stale: run TIERDB_FUZZ_WRITE_SEEDS=1 cargo test -p tierdb-fuzz",
                path.display()
            );
        }
    }
}

/// Every checked-in seed is taken in by the current decoders (not refused
/// by version or checksum, as a seed left over from an older format would
/// be), and every target has a seed that holds something: the fuzzer
/// starts inside each format, and so do the mutations above.
#[test]
fn every_seed_in_the_corpus_decodes() {
    for &(name, target) in TARGETS {
        let mut items = 0;
        let files = corpus(name);
        let seeds: Vec<_> = files
            .iter()
            .filter(|(f, _)| f.starts_with("seed-"))
            .collect();
        assert!(!seeds.is_empty(), "{name} has no seed in its corpus");
        for (file, input) in seeds {
            match target(input) {
                Outcome::Decoded { items: n } => items += n,
                Outcome::Refused(reason) => {
                    panic!("{name}/{file} is refused by the current decoder: {reason}")
                }
            }
        }
        assert!(items > 0, "{name}'s seeds decode to nothing");
    }
}

/// Re-sealing (mode bit 0) reaches every block of a current table, two-level
/// index included: a bit flipped anywhere in a seed table's blocks (the
/// footer aside) is never refused for a checksum, so the fuzzer's changes
/// get to the reader's checks behind them, and many such tables still open
/// and read in full.
#[test]
fn resealed_tables_get_past_every_checksum() {
    let target = TARGETS
        .iter()
        .find(|(name, _)| *name == "sst_table")
        .expect("sst_table")
        .1;
    let (mut decoded, mut refused) = (0, 0);
    for seed in seeds::for_target("sst_table") {
        let blocks_end = seed.len() - 64;
        for at in 1..blocks_end {
            let mut input = seed.clone();
            input[0] |= 1;
            input[at] ^= 1 << (at % 8);
            match target(&input) {
                Outcome::Decoded { .. } => decoded += 1,
                Outcome::Refused(reason) => {
                    assert!(
                        !reason.contains("checksum"),
                        "byte {at}: refused for a checksum after re-sealing: {reason}"
                    );
                    refused += 1;
                }
            }
        }
    }
    println!("re-sealed single-bit flips: {decoded} decoded, {refused} refused");
    assert!(
        decoded > refused / 4,
        "{decoded} decoded, {refused} refused"
    );
}
