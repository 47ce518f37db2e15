//! Options of the B+tree tier.

use tierdb_io::{Error, Result};

use crate::layout::{MAX_PAGE_SIZE, MIN_PAGE_SIZE};

/// Options of a [`BTreeTier`](crate::BTreeTier).
#[derive(Clone, Debug)]
pub struct BTreeOptions {
    /// Bytes per page of a new file: a power of two in 1024..=65536
    /// (default 4096). An existing file keeps the page size it was made with.
    pub page_size: usize,
}

impl Default for BTreeOptions {
    fn default() -> Self {
        BTreeOptions { page_size: 4096 }
    }
}

impl BTreeOptions {
    /// `Error::InvalidArgument` unless the options are allowed.
    pub fn validate(&self) -> Result<()> {
        let size = self.page_size;
        if !size.is_power_of_two() || !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&size) {
            return Err(Error::InvalidArgument(format!(
                "B+tree page size {size} must be a power of two in {MIN_PAGE_SIZE}..={MAX_PAGE_SIZE}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_must_be_a_power_of_two_in_range() {
        for ok in [1024, 4096, 65536] {
            assert!(BTreeOptions { page_size: ok }.validate().is_ok());
        }
        for bad in [0, 512, 3000, 131_072] {
            assert!(matches!(
                BTreeOptions { page_size: bad }.validate(),
                Err(Error::InvalidArgument(_))
            ));
        }
    }
}
