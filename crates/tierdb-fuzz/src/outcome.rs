//! What a target made of its input, so that tests can tell an input the
//! decoder took in (and the target then checked in depth) from one it
//! refused at the door: a seed must be decoded, a regression input must
//! reach the check that catches its bug.

/// The result of running a target on one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Decoded and checked; `items` counts what it held (records, entries,
    /// tables, partitions, writes, program steps: see each target).
    Decoded { items: usize },
    /// Refused, as bad input must be: the reason (the error's text).
    Refused(String),
}

impl Outcome {
    pub(crate) fn decoded(items: usize) -> Self {
        Outcome::Decoded { items }
    }

    pub(crate) fn refused(reason: impl std::fmt::Display) -> Self {
        Outcome::Refused(reason.to_string())
    }
}
