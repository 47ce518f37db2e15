//! What an error from a decoder may be.

use std::path::Path;

use tierdb::Error;

use crate::Outcome;

/// `err` must be `Corruption` naming `file` at an offset `<= max_offset`,
/// or `UnsupportedVersion` naming `file`: damage is reported, never
/// anything else. The input was then refused.
pub(crate) fn expect_damage_report(err: &Error, file: &Path, max_offset: u64) -> Outcome {
    match err {
        Error::Corruption {
            file: f, offset, ..
        } => {
            assert_eq!(f, file, "corruption names the wrong file: {err}");
            assert!(
                *offset <= max_offset,
                "corruption offset past the end: {err}"
            );
        }
        Error::UnsupportedVersion { file: f, .. } => {
            assert_eq!(f, file, "unsupported version names the wrong file: {err}");
        }
        other => panic!("bad bytes gave an error that is not corruption: {other}"),
    }
    Outcome::refused(err)
}
