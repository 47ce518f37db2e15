//! Manifest targets: the LSM tier's manifest and the database's.

use std::path::Path;

use tierdb::Tier;
use tierdb::fuzz_api::{decode_manifest, encode_manifest, reseal_manifest};
use tierdb_lsm::fuzz_api::{FuzzLsmManifest, reseal_lsm_manifest};

use crate::Outcome;
use crate::check::expect_damage_report;
use crate::input::{RESEAL, split_mode};

/// An LSM manifest log (stamp, snapshot, edits). Mode bit 0: re-seal. A
/// decoded log re-encodes to exactly its bytes; damage (and, in this
/// strict decode, an incomplete last record) is `Corruption` naming the
/// file at an offset inside it. Items: the tables.
pub fn lsm_manifest(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let mut bytes = body.to_vec();
    if mode & RESEAL != 0 {
        reseal_lsm_manifest(&mut bytes);
    }
    let path = Path::new("/db/p000001g000000.lsm/LSM-MANIFEST-000001");
    match FuzzLsmManifest::decode(path, &bytes) {
        Ok(manifest) => {
            assert!(manifest.levels().len() <= 64);
            assert_eq!(manifest.encode(), bytes, "re-encoding differs");
            Outcome::decoded(manifest.levels().iter().map(Vec::len).sum())
        }
        Err(e) => expect_damage_report(&e, path, bytes.len() as u64),
    }
}

/// A database manifest file. Mode bit 0: re-seal. A decoded manifest
/// re-encodes to exactly its bytes and satisfies the partition map's
/// invariants: the first partition starts at the empty key, starts
/// strictly increase, ids are distinct and below the next id, page sizes
/// are valid. Damage is `Corruption` naming the file. Items: the
/// partitions.
pub fn db_manifest(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let mut bytes = body.to_vec();
    if mode & RESEAL != 0 {
        reseal_manifest(&mut bytes);
    }
    let path = Path::new("/db/MANIFEST");
    let (next_id, partitions) = match decode_manifest(&bytes, path) {
        Ok(decoded) => decoded,
        Err(e) => return expect_damage_report(&e, path, bytes.len() as u64),
    };
    assert_eq!(
        encode_manifest(next_id, &partitions),
        bytes,
        "re-encoding differs"
    );
    assert!(partitions.first().is_some_and(|p| p.1.is_empty()));
    assert!(
        partitions.windows(2).all(|w| w[0].1 < w[1].1),
        "starts out of order"
    );
    let mut ids: Vec<u32> = partitions.iter().map(|p| p.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), partitions.len(), "two partitions share an id");
    assert!(ids.iter().all(|&id| id < next_id));
    for (_, _, tier, page_size, _) in &partitions {
        assert!(matches!(tier, Tier::BTree | Tier::Lsm));
        assert!(
            page_size.is_power_of_two() && (1024..=65536).contains(page_size),
            "page size {page_size}"
        );
    }
    Outcome::decoded(partitions.len())
}
