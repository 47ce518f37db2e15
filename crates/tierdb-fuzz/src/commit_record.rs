//! The commit record target: the payload of a commit's WAL record.

use std::path::Path;

use tierdb::fuzz_api::{decode_commit_record, encode_commit_record};

use crate::Outcome;
use crate::check::expect_damage_report;
use crate::input::split_mode;

/// A commit record payload. It has no checksum of its own (the WAL record
/// that carries it has), so the mode byte is unused. A decoded payload
/// re-encodes to exactly its bytes; a bad one is `Corruption` naming the
/// WAL segment. Items: the writes.
pub fn commit_record(data: &[u8]) -> Outcome {
    let (_, payload) = split_mode(data);
    let file = Path::new("/db/wal/000001.log");
    match decode_commit_record(payload, file, 7) {
        Ok(writes) => {
            // Older record versions decode too; the encoder writes the
            // current one, so compare what the bytes mean.
            let again = decode_commit_record(&encode_commit_record(&writes), file, 7);
            assert_eq!(again.expect("re-encoded record decodes"), writes);
            Outcome::decoded(writes.len())
        }
        Err(e) => expect_damage_report(&e, file, u64::MAX),
    }
}
