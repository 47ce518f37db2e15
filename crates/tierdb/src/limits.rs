//! Size limits enforced at the API with `Error::InvalidArgument`.

use crate::{Error, Result};

/// Longest key accepted: 16 KiB. Empty keys are allowed (they sort first).
pub const MAX_KEY_BYTES: usize = 16 * 1024;
/// Longest value accepted: 64 MiB, in every tier.
pub const MAX_VALUE_BYTES: usize = 64 * 1024 * 1024;
/// Largest write set one commit may carry (keys plus values): 512 MiB. It is
/// written as one WAL record, whose length field is 32 bits.
pub const MAX_COMMIT_BYTES: usize = 512 * 1024 * 1024;

/// Refuses a key longer than [`MAX_KEY_BYTES`].
pub(crate) fn check_key(key: &[u8]) -> Result<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::InvalidArgument(format!(
            "key of {} bytes exceeds the limit of {MAX_KEY_BYTES} bytes",
            key.len()
        )));
    }
    Ok(())
}

/// Refuses a value longer than [`MAX_VALUE_BYTES`].
pub(crate) fn check_value(value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::InvalidArgument(format!(
            "value of {} bytes exceeds the limit of {MAX_VALUE_BYTES} bytes",
            value.len()
        )));
    }
    Ok(())
}

/// Refuses a write set larger than [`MAX_COMMIT_BYTES`].
pub(crate) fn check_commit_bytes(bytes: usize) -> Result<()> {
    if bytes > MAX_COMMIT_BYTES {
        return Err(Error::InvalidArgument(format!(
            "write set of {bytes} bytes exceeds the limit of {MAX_COMMIT_BYTES} bytes per commit"
        )));
    }
    Ok(())
}
