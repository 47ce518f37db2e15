//! The table's bloom filter over user keys.
//!
//! Hash: 64-bit FNV-1a of the key, then the splitmix64 finalizer (FNV alone
//! mixes its last bytes poorly). Probes use double hashing (Kirsch and
//! Mitzenmacher): with `h1` the low and `h2` the high 32 bits of the hash,
//! probe `i` sets bit `(h1 + i * h2) mod m` for `i` in `0..k`, where `m` is
//! the number of bits and `k = round(bits_per_key * ln 2)`, in `1..=30`.
//!
//! Filter block contents (an empty block means "no filter": every key may
//! be present):
//!
//! ```text
//! | bit array (m / 8 bytes, bit j = byte j/8, bit j%8) | k u8 |
//! ```

use super::coding::Reason;

/// Most probes a filter may use.
const PROBES_MAX: u8 = 30;

/// The 64-bit hash of a user key used by the filter.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in key {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix64(hash)
}

fn splitmix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Builds the filter block from the hashes of the table's user keys.
pub(crate) fn build(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
    if bits_per_key == 0 {
        return Vec::new();
    }
    let probes = probes_for(bits_per_key);
    let bits = (hashes.len() as u64)
        .saturating_mul(u64::from(bits_per_key))
        .max(64);
    let bytes = usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX);
    let mut out = vec![0u8; bytes];
    let bit_count = bytes as u64 * 8;
    for &hash in hashes {
        for bit in probe_bits(hash, probes, bit_count) {
            if let Some(byte) = out.get_mut(bit_index(bit)) {
                *byte |= 1 << (bit % 8);
            }
        }
    }
    out.push(probes);
    out
}

/// `k` for a given number of bits per key.
fn probes_for(bits_per_key: u32) -> u8 {
    let probes = (f64::from(bits_per_key) * std::f64::consts::LN_2).round();
    // Clamped into 1..=30 first, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let probes = probes.clamp(1.0, f64::from(PROBES_MAX)) as u8;
    probes
}

fn probe_bits(hash: u64, probes: u8, bit_count: u64) -> impl Iterator<Item = u64> {
    let h1 = hash & 0xffff_ffff;
    let h2 = hash >> 32;
    (0..u64::from(probes)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bit_count)
}

fn bit_index(bit: u64) -> usize {
    usize::try_from(bit / 8).unwrap_or(usize::MAX)
}

/// A decoded filter block, kept in memory by the reader.
#[derive(Debug, Clone)]
pub(crate) struct Bloom {
    /// `None`: the table has no filter.
    bits: Option<(Vec<u8>, u8)>,
}

impl Bloom {
    /// Checks and takes the filter block's contents.
    pub(crate) fn decode(mut contents: Vec<u8>) -> Result<Self, Reason> {
        let Some(probes) = contents.pop() else {
            return Ok(Self { bits: None });
        };
        if probes == 0 || probes > PROBES_MAX {
            return Err("bad filter probe count");
        }
        if contents.len() < 8 {
            return Err("filter shorter than 64 bits");
        }
        Ok(Self {
            bits: Some((contents, probes)),
        })
    }

    /// True if the table has a filter.
    pub(crate) fn is_present(&self) -> bool {
        self.bits.is_some()
    }

    /// False only if no key with this hash was added.
    ///
    /// Walks the same bits as [`probe_bits`] with two divisions instead of
    /// one per probe: `h1` and `h2` are below 2^32 and `i` below 31, so
    /// `h1 + i * h2` never wraps and `(h1 + i * h2) mod m` is `h1 mod m`
    /// advanced by `h2 mod m` per probe, modulo `m`.
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        let Some((bits, probes)) = &self.bits else {
            return true;
        };
        let bit_count = bits.len() as u64 * 8;
        let mut bit = (hash & 0xffff_ffff) % bit_count;
        let step = (hash >> 32) % bit_count;
        for _ in 0..*probes {
            let set = bits
                .get(bit_index(bit))
                .is_some_and(|byte| byte & (1 << (bit % 8)) != 0);
            if !set {
                return false;
            }
            bit += step;
            if bit >= bit_count {
                bit -= bit_count;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_keys_are_always_found() {
        let hashes: Vec<u64> = (0..1000u32).map(|i| key_hash(&i.to_le_bytes())).collect();
        let bloom = Bloom::decode(build(&hashes, 10)).unwrap();
        assert!(hashes.iter().all(|&h| bloom.may_contain(h)));
    }

    /// The incremental probe walk of `may_contain` answers as testing
    /// every bit of `probe_bits` does, for filters of many sizes and
    /// hashes present or not.
    #[test]
    fn incremental_probes_answer_as_probe_bits() {
        for bits_per_key in [1, 2, 5, 10, 16, 40] {
            let hashes: Vec<u64> = (0..50u32).map(|i| key_hash(&i.to_le_bytes())).collect();
            let built = build(&hashes, bits_per_key);
            let bloom = Bloom::decode(built.clone()).unwrap();
            let (bits, probes) = built.split_at(built.len() - 1);
            let bit_count = bits.len() as u64 * 8;
            let mut admitted = 0;
            for i in 0..5_000u32 {
                let hash = key_hash(&(i * 7).to_le_bytes());
                let reference = probe_bits(hash, probes[0], bit_count)
                    .all(|b| bits[bit_index(b)] & (1 << (b % 8)) != 0);
                assert_eq!(
                    bloom.may_contain(hash),
                    reference,
                    "bits/key {bits_per_key}"
                );
                admitted += usize::from(reference);
            }
            assert!(admitted > 0, "bits/key {bits_per_key}: nothing admitted");
        }
    }

    #[test]
    fn no_filter_admits_everything() {
        let bloom = Bloom::decode(build(&[1, 2, 3], 0)).unwrap();
        assert!(!bloom.is_present());
        assert!(bloom.may_contain(key_hash(b"anything")));
    }

    #[test]
    fn probe_counts() {
        assert_eq!(probes_for(10), 7);
        assert_eq!(probes_for(1), 1);
        assert_eq!(probes_for(100), 30);
        assert!(Bloom::decode(vec![0; 8].into_iter().chain([31]).collect()).is_err());
        assert!(Bloom::decode(vec![0, 0, 7]).is_err());
    }

    #[test]
    fn false_positive_rate_at_10_bits_is_low() {
        let hashes: Vec<u64> = (0..10_000u32)
            .map(|i| key_hash(format!("key{i:08}").as_bytes()))
            .collect();
        let bloom = Bloom::decode(build(&hashes, 10)).unwrap();
        let false_hits = (0..10_000u32)
            .filter(|i| bloom.may_contain(key_hash(format!("absent{i:08}").as_bytes())))
            .count();
        assert!(false_hits < 300, "false positives: {false_hits} / 10000");
    }
}
