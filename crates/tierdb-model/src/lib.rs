//! The reference model the `crash_recovery` fuzz target (`tierdb-fuzz`)
//! checks recovery against: a sorted map of the contents, and the commit
//! history that says which contents a recovery may legitimately produce.
//! (The crash suite now uses `tierdb-sim`'s history, which landed at the
//! same time; folding the two together is left to do.)
//!
//! Independent of the engine on purpose (no dependency on `tierdb`), so
//! that the engine's own tests can use it without a dependency cycle.
#![forbid(unsafe_code)]

mod history;

pub use history::{History, Writes, apply};

/// The reference model: the database's contents as a sorted map.
pub type Model = std::collections::BTreeMap<Vec<u8>, Vec<u8>>;

/// A value of `len` bytes that encodes `key` and `version`, so that a value
/// found under the wrong key or from the wrong commit is recognised.
pub fn value_for(key: &[u8], version: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{}@{version}:", String::from_utf8_lossy(key)).into_bytes();
    while v.len() < len {
        v.push(b'a' + (v.len() % 26) as u8);
    }
    v
}

/// Up to `limit` keys on which `expected` and `got` differ, lossily as
/// text, for failure messages.
pub fn differing_keys(expected: &Model, got: &Model, limit: usize) -> Vec<String> {
    let mut keys: Vec<&Vec<u8>> = expected
        .keys()
        .chain(got.keys())
        .filter(|k| expected.get(*k) != got.get(*k))
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .take(limit)
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}
