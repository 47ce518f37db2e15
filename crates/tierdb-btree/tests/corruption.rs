//! Damaged files: a flipped bit, a zeroed range or a truncation in a header,
//! a branch, a leaf, an overflow run or the free list gives
//! `Error::Corruption` on open or on read (or, for one damaged header, the
//! previous checkpoint) — never a panic, never wrong data.

mod common;

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use common::*;
use tierdb_io::{Error, SimVfs, Vfs};
use tierdb_tier::{Tier, WriteOp};

const PAGE: usize = 1024;
const PATH: &str = "/db/t.btree";

/// A file with two checkpoints: returns the vfs, both models and seqs.
fn build() -> (SimVfs, Model, Model) {
    let sim = SimVfs::new(3);
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open(&vfs, Path::new(PATH), PAGE).unwrap();
    let mut model = Model::new();
    let ops = (0..600u64)
        .map(|i| WriteOp::Put {
            key: key(i),
            value: value(i, 1, if i % 50 == 7 { 5000 } else { 20 }),
        })
        .collect();
    apply(&tier, &mut model, 1, ops);
    persist(&tier);
    let first = model.clone();
    let ops = (0..600u64)
        .step_by(3)
        .map(|i| WriteOp::Put {
            key: key(i),
            value: value(i, 2, if i % 50 == 7 { 7000 } else { 30 }),
        })
        .collect();
    apply(&tier, &mut model, 2, ops);
    apply(
        &tier,
        &mut model,
        3,
        (0..100u64)
            .map(|i| WriteOp::Delete { key: key(i * 5) })
            .collect(),
    );
    persist(&tier);
    (sim, first, model)
}

/// What opening and reading a (possibly damaged) file gave.
#[derive(Debug, PartialEq)]
enum Outcome {
    Exact(u64),
    Corruption,
}

/// Opens, scans both ways, gets every key and verifies. Anything but exact
/// data or `Error::Corruption` fails the test.
fn examine(sim: &SimVfs, models: &[(u64, &Model)]) -> Outcome {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let result = (|| -> tierdb_io::Result<u64> {
        let tier = open(&vfs, Path::new(PATH), PAGE)?;
        let seq = tier.persisted_seq();
        let (_, model) = models
            .iter()
            .find(|(s, _)| *s == seq)
            .unwrap_or_else(|| panic!("recovered unknown seq {seq}"));
        let view = tier.read_view();
        let items = view
            .range(Bound::Unbounded, Bound::Unbounded)?
            .collect::<tierdb_io::Result<Vec<_>>>()?;
        let expected: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert!(items == expected, "wrong data in a forward scan");
        let mut items = view
            .range(Bound::Unbounded, Bound::Unbounded)?
            .rev()
            .collect::<tierdb_io::Result<Vec<_>>>()?;
        items.reverse();
        assert!(items == expected, "wrong data in a backward scan");
        for (k, v) in model.iter() {
            assert_eq!(view.get(k)?.as_ref(), Some(v), "wrong data in get");
        }
        tier.verify()?;
        Ok(seq)
    })();
    match result {
        Ok(seq) => Outcome::Exact(seq),
        Err(Error::Corruption { file, .. }) => {
            assert_eq!(file, Path::new(PATH));
            Outcome::Corruption
        }
        Err(other) => panic!("expected corruption, got {other:?}"),
    }
}

fn damage(sim: &SimVfs, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let original = sim.file_contents(Path::new(PATH)).unwrap();
    let mut bytes = original.clone();
    f(&mut bytes);
    sim.set_file_contents(Path::new(PATH), bytes);
    original
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// (slot of the newest header, its root page).
fn newest(bytes: &[u8]) -> (usize, u64) {
    let gen0 = u64_at(bytes, 16);
    let gen1 = u64_at(bytes, PAGE + 16);
    let slot = if gen1 > gen0 { 1 } else { 0 };
    (slot, u64_at(bytes, slot * PAGE + 32))
}

/// The page of child 0 of the branch at `page`.
fn first_child(bytes: &[u8], page: u64) -> u64 {
    let base = page as usize * PAGE;
    let cell = u16::from_le_bytes([bytes[base + 24], bytes[base + 25]]) as usize;
    u64_at(bytes, base + cell + 1)
}

fn leftmost_leaf(bytes: &[u8]) -> u64 {
    let (_, mut page) = newest(bytes);
    while bytes[page as usize * PAGE + 4] == 2 {
        page = first_child(bytes, page);
    }
    page
}

#[test]
fn one_damaged_header_falls_back_to_the_other() {
    let (sim, first, second) = build();
    let models = [(1, &first), (3, &second)];
    assert_eq!(examine(&sim, &models), Outcome::Exact(3));
    let (slot, _) = newest(&sim.file_contents(Path::new(PATH)).unwrap());
    let original = damage(&sim, |b| b[slot * PAGE + 40] ^= 0x10);
    assert_eq!(
        examine(&sim, &models),
        Outcome::Exact(1),
        "newest header damaged: previous checkpoint"
    );
    sim.set_file_contents(Path::new(PATH), original.clone());
    damage(&sim, |b| {
        b[(1 - slot) * PAGE..(1 - slot) * PAGE + 50].fill(0)
    });
    assert_eq!(
        examine(&sim, &models),
        Outcome::Exact(3),
        "older header damaged: newest checkpoint"
    );
    sim.set_file_contents(Path::new(PATH), original);
    damage(&sim, |b| {
        b[3] ^= 1;
        b[PAGE + 3] ^= 1;
    });
    assert_eq!(
        examine(&sim, &models),
        Outcome::Corruption,
        "both headers damaged"
    );
}

#[test]
fn truncation_is_corruption() {
    let (sim, first, second) = build();
    let empty = Model::new();
    let models = [(0, &empty), (1, &first), (3, &second)];
    let original = sim.file_contents(Path::new(PATH)).unwrap();
    for len in [
        0usize,
        50,
        100,
        PAGE + 60,
        3 * PAGE + 17,
        original.len() / 2,
        original.len() - 1,
    ] {
        sim.set_file_contents(Path::new(PATH), original[..len].to_vec());
        let outcome = examine(&sim, &models);
        if len == 0 {
            assert_eq!(
                outcome,
                Outcome::Exact(0),
                "an empty file is a new, empty tier"
            );
            continue;
        }
        assert_eq!(outcome, Outcome::Corruption, "truncated to {len}");
    }
}

#[test]
fn damaged_branch_leaf_and_overflow_run_are_caught() {
    let (sim, first, second) = build();
    let models = [(1, &first), (3, &second)];
    let bytes = sim.file_contents(Path::new(PATH)).unwrap();
    let (_, root) = newest(&bytes);
    assert_eq!(
        bytes[root as usize * PAGE + 4],
        2,
        "root should be a branch"
    );
    let leaf = leftmost_leaf(&bytes);
    let marker = b"v57@2:".to_vec();
    let run_at = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_slice())
        .expect("overflow value");
    assert_eq!(run_at % PAGE, 0, "overflow runs start on a page boundary");
    let targets = [
        ("branch", root as usize * PAGE),
        ("leaf", leaf as usize * PAGE),
        ("overflow run", run_at),
    ];
    for (what, at) in targets {
        for (how, offsets) in [
            ("bit flip", vec![at + 200]),
            ("zeroed range", (at + 30..at + 90).collect::<Vec<_>>()),
        ] {
            let original = damage(&sim, |b| {
                for o in &offsets {
                    b[*o] = if how == "bit flip" { b[*o] ^ 4 } else { 0 };
                }
            });
            assert_eq!(
                examine(&sim, &models),
                Outcome::Corruption,
                "{how} in {what}"
            );
            sim.set_file_contents(Path::new(PATH), original);
        }
    }
}

#[test]
fn misdirected_page_is_caught() {
    let (sim, first, second) = build();
    let models = [(1, &first), (3, &second)];
    let bytes = sim.file_contents(Path::new(PATH)).unwrap();
    let leaf = leftmost_leaf(&bytes) as usize;
    let (_, root) = newest(&bytes);
    // The write meant for another leaf landed on this one: a valid page with
    // the wrong number and checksum.
    let other = first_child(&bytes, root) as usize;
    let donor = if other != leaf { other } else { leaf + 1 };
    damage(&sim, |b| {
        let page = b[donor * PAGE..(donor + 1) * PAGE].to_vec();
        b[leaf * PAGE..(leaf + 1) * PAGE].copy_from_slice(&page);
    });
    assert_eq!(examine(&sim, &models), Outcome::Corruption);
}

#[test]
fn random_damage_anywhere_never_gives_wrong_data() {
    let (sim, first, second) = build();
    let models = [(1, &first), (3, &second)];
    let original = sim.file_contents(Path::new(PATH)).unwrap();
    let mut rng = Rng::new(seed(11));
    let (mut exact, mut corrupt) = (0, 0);
    for _ in 0..300 {
        let at = rng.below(original.len() as u64) as usize;
        let span = if rng.chance(50) { 1 } else { 64 };
        let len = 1 + rng.below(span) as usize;
        let mut bytes = original.clone();
        for b in bytes.iter_mut().skip(at).take(len) {
            *b ^= 1 + rng.below(255) as u8;
        }
        sim.set_file_contents(Path::new(PATH), bytes);
        match examine(&sim, &models) {
            Outcome::Exact(_) => exact += 1,
            Outcome::Corruption => corrupt += 1,
        }
    }
    eprintln!("{exact} harmless (free or stale pages, older header), {corrupt} detected");
    assert!(corrupt > 0);
}
