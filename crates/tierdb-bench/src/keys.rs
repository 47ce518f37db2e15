//! Keys, values and key choice shared by the workloads.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Zipf};

/// Categories of the catalog: product keys sort by category, then id.
pub const CATEGORIES: u64 = 200;

/// Key of product `id`: `p/<category>/<id>`.
pub fn product_key(id: u64) -> Vec<u8> {
    format!("p/{:03}/{id:010}", id % CATEGORIES).into_bytes()
}

/// First key of category `cat`.
pub fn category_start(cat: u64) -> Vec<u8> {
    format!("p/{cat:03}/").into_bytes()
}

/// Key of product `id`'s stock level (the inventory feed writes these).
pub fn stock_key(id: u64) -> Vec<u8> {
    format!("stock/{id:010}").into_bytes()
}

/// Stock values are this long (a zero-padded count).
pub const STOCK_VALUE_LEN: usize = 8;

pub fn stock_value(count: u32) -> Vec<u8> {
    format!("{:08}", count % 100_000_000).into_bytes()
}

/// Key of record `i` in the YCSB and classic workloads.
pub fn user_key(i: u64) -> Vec<u8> {
    format!("user{i:016}").into_bytes()
}

/// Sizes of values: a fixed size or uniform in a range (`--value-size
/// 100-500` or `--value-size 1000`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueSize {
    pub min: usize,
    pub max: usize,
}

impl ValueSize {
    /// The length of record `id`'s value: fixed per record, so that
    /// updates keep the live data size constant and space amplification
    /// can be computed exactly.
    pub fn len_of(&self, id: u64) -> usize {
        self.min + (mix(id) % (self.max - self.min + 1) as u64) as usize
    }

    /// Sum of key and value bytes of records `0..n`.
    pub fn live_bytes(&self, n: u64, key: fn(u64) -> Vec<u8>) -> u64 {
        (0..n).map(|i| (key(i).len() + self.len_of(i)) as u64).sum()
    }
}

impl FromStr for ValueSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parse = |x: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|e| format!("value size {x:?}: {e}"))
        };
        let (min, max) = match s.split_once('-') {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => (parse(s)?, parse(s)?),
        };
        if min == 0 || min > max {
            return Err(format!(
                "value size {s:?}: want N or MIN-MAX with 0 < MIN <= MAX"
            ));
        }
        Ok(ValueSize { min, max })
    }
}

impl fmt::Display for ValueSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

/// Random filler for values (incompressible enough; no engine compresses).
pub struct ValueSource {
    bytes: Vec<u8>,
}

impl ValueSource {
    pub fn new(seed: u64) -> Self {
        let mut rng: StdRng = rand::SeedableRng::seed_from_u64(seed);
        ValueSource {
            bytes: (0..(1 << 20) + 4096)
                .map(|_| b'a' + rng.random_range(0..26u8))
                .collect(),
        }
    }

    /// A value of `len` bytes that starts with `id` and a version.
    pub fn value(&self, id: u64, version: u64, len: usize, rng: &mut StdRng) -> Vec<u8> {
        let mut v = format!("{{\"id\":{id},\"v\":{version},\"d\":\"").into_bytes();
        let start = rng.random_range(0..1 << 20);
        let fill = len.saturating_sub(v.len());
        v.extend_from_slice(&self.bytes[start..start + fill.min(4096)]);
        while v.len() < len {
            v.push(b'.');
        }
        v.truncate(len);
        v
    }
}

/// How keys are chosen for reads and updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyDist {
    /// Every key alike.
    Uniform,
    /// Zipfian (s = 0.99, as YCSB): a few keys get most requests; the
    /// popular keys are scattered over the key space.
    Zipfian,
    /// Zipfian over recency: the newest keys are the most popular.
    Latest,
}

/// Draws record numbers in `0..n` by a `KeyDist`.
pub struct KeyChooser {
    dist: KeyDist,
    n: u64,
    zipf: Zipf<f64>,
}

impl KeyChooser {
    pub fn new(dist: KeyDist, n: u64) -> Self {
        let n = n.max(1);
        KeyChooser {
            dist,
            n,
            zipf: Zipf::new(n as f64, 0.99).expect("zipf parameters"),
        }
    }

    pub fn next(&self, rng: &mut StdRng) -> u64 {
        self.next_below(rng, self.n)
    }

    /// As `next`, for a key space that has grown to `n` records.
    pub fn next_below(&self, rng: &mut StdRng, n: u64) -> u64 {
        match self.dist {
            KeyDist::Uniform => rng.random_range(0..n),
            KeyDist::Zipfian => {
                let rank = self.zipf.sample(rng) as u64 - 1;
                mix(rank) % n
            }
            KeyDist::Latest => {
                let rank = (self.zipf.sample(rng) as u64 - 1) % n;
                n - 1 - rank
            }
        }
    }
}

/// A 64-bit mixer (splitmix64's finaliser): scatters zipfian ranks and picks
/// per-record value lengths.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn product_keys_sort_by_category_then_id() {
        let mut keys: Vec<(u64, Vec<u8>)> = (0..1000).map(|i| (i, product_key(i))).collect();
        keys.sort_by(|a, b| a.1.cmp(&b.1));
        for w in keys.windows(2) {
            let (a, b) = (w[0].0, w[1].0);
            assert!((a % CATEGORIES, a) < (b % CATEGORIES, b));
        }
    }

    #[test]
    fn values_have_the_length_of_their_record() {
        let vs: ValueSize = "100-500".parse().unwrap();
        let src = ValueSource::new(1);
        let mut rng = StdRng::seed_from_u64(2);
        for id in 0..500 {
            let len = vs.len_of(id);
            assert!((100..=500).contains(&len));
            assert_eq!(src.value(id, 3, len, &mut rng).len(), len);
        }
        assert_eq!("64".parse::<ValueSize>().unwrap().len_of(9), 64);
        assert!("0".parse::<ValueSize>().is_err());
        assert!("9-3".parse::<ValueSize>().is_err());
    }

    #[test]
    fn key_choice_stays_in_range_and_skews() {
        let mut rng = StdRng::seed_from_u64(3);
        for dist in [KeyDist::Uniform, KeyDist::Zipfian, KeyDist::Latest] {
            let c = KeyChooser::new(dist, 1000);
            let mut counts = vec![0u32; 1000];
            for _ in 0..20_000 {
                counts[c.next(&mut rng) as usize] += 1;
            }
            let top = *counts.iter().max().unwrap();
            if dist == KeyDist::Uniform {
                assert!(top < 60, "{dist:?}: {top}");
            } else {
                assert!(top > 1000, "{dist:?} is not skewed: {top}");
            }
            if dist == KeyDist::Latest {
                assert_eq!(counts[999], top);
            }
        }
    }
}
