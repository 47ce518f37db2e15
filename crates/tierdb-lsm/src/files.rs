//! File names in the tier's directory.
//!
//! - `NNNNNN.sst`: table number `NNNNNN` (decimal, at least six digits).
//!   Numbers are never reused.
//! - `LSM-MANIFEST-NNNNNN`: manifest log number `NNNNNN` (same digits); the
//!   live one is the one `LSM-CURRENT` names, others are left over from a
//!   roll to a new log and removed.
//! - `LSM-CURRENT`, and `LSM-CURRENT.tmp` while it is being replaced.
//! - `LSM-MANIFEST`: the single manifest file of format version 1, refused.
//!
//! The `LSM-` prefix keeps these apart from the database's own `MANIFEST`
//! if a directory were ever shared.

use std::path::{Path, PathBuf};

/// The pointer to the live manifest log.
pub(crate) const CURRENT_NAME: &str = "LSM-CURRENT";
/// The name a new `LSM-CURRENT` is written under before the rename.
pub(crate) const CURRENT_TMP_NAME: &str = "LSM-CURRENT.tmp";
/// The manifest of format version 1.
pub(crate) const V1_MANIFEST_NAME: &str = "LSM-MANIFEST";
const MANIFEST_LOG_PREFIX: &str = "LSM-MANIFEST-";

/// The path of table `number` in `dir`.
pub(crate) fn table_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:06}.sst"))
}

/// The table number of a file name, if it names a table.
pub(crate) fn parse_table_name(name: &str) -> Option<u64> {
    parse_number(name.strip_suffix(".sst")?)
}

/// The path of manifest log `number` in `dir`.
pub(crate) fn manifest_log_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{MANIFEST_LOG_PREFIX}{number:06}"))
}

/// The manifest log number of a file name, if it names a manifest log.
pub(crate) fn parse_manifest_log_name(name: &str) -> Option<u64> {
    parse_number(name.strip_prefix(MANIFEST_LOG_PREFIX)?)
}

fn parse_number(digits: &str) -> Option<u64> {
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_round_trip() {
        let path = table_path(Path::new("/d"), 42);
        assert_eq!(path, Path::new("/d/000042.sst"));
        assert_eq!(parse_table_name("000042.sst"), Some(42));
        assert_eq!(parse_table_name("1234567.sst"), Some(1_234_567));
        assert_eq!(parse_table_name("42.sst"), None);
        assert_eq!(parse_table_name("000042.log"), None);
        assert_eq!(parse_table_name("00004x.sst"), None);
    }

    #[test]
    fn manifest_log_names_round_trip() {
        let path = manifest_log_path(Path::new("/d"), 7);
        assert_eq!(path, Path::new("/d/LSM-MANIFEST-000007"));
        assert_eq!(parse_manifest_log_name("LSM-MANIFEST-000007"), Some(7));
        assert_eq!(parse_manifest_log_name("LSM-MANIFEST"), None);
        assert_eq!(parse_manifest_log_name("LSM-MANIFEST-7"), None);
        assert_eq!(parse_manifest_log_name("LSM-MANIFEST-000007.tmp"), None);
    }
}
