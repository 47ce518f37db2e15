//! File names in the tier's directory.
//!
//! - `NNNNNN.sst`: table number `NNNNNN` (decimal, at least six digits).
//!   Numbers are never reused.
//! - `LSM-MANIFEST`: the durable manifest; `LSM-MANIFEST.tmp` while it is being
//!   replaced (not `MANIFEST.tmp`, so it cannot collide with the database
//!   manifest's temp file if a directory were ever shared).

use std::path::{Path, PathBuf};

/// The manifest's name.
pub(crate) const MANIFEST_NAME: &str = "LSM-MANIFEST";
/// The name a new manifest is written under before the rename.
pub(crate) const MANIFEST_TMP_NAME: &str = "LSM-MANIFEST.tmp";

/// The path of table `number` in `dir`.
pub(crate) fn table_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:06}.sst"))
}

/// The table number of a file name, if it names a table.
pub(crate) fn parse_table_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".sst")?;
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
}
