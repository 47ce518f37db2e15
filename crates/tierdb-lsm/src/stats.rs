//! `LsmStats`: figures specific to the LSM tier, beyond `TierStats`.

/// LSM-specific counters and shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LsmStats {
    /// Bytes of keys and values applied since open.
    pub bytes_applied: u64,
    /// Bytes written to table files (flushes and compactions) since open.
    pub table_bytes_written: u64,
    /// Flushes that wrote a table, since open.
    pub flushes: u64,
    /// Compactions run since open.
    pub compactions: u64,
    /// Tables per level (L0 first).
    pub tables_per_level: Vec<usize>,
    /// Bytes per level (L0 first).
    pub bytes_per_level: Vec<u64>,
    /// Memtables held (the active one included).
    pub memtables: usize,
}

impl LsmStats {
    /// Write amplification: table bytes written per byte applied (0 when
    /// nothing was applied).
    pub fn write_amplification(&self) -> f64 {
        if self.bytes_applied == 0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let ratio = self.table_bytes_written as f64 / self.bytes_applied as f64;
        ratio
    }
}
