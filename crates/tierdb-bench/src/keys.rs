//! Keys, values and key choice shared by the workloads.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand::rngs::StdRng;

/// Categories of the catalog: product keys sort by category, then id.
pub const CATEGORIES: u64 = 200;

/// Key of product `id`: `p/<category>/<id>`.
pub fn product_key(id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(16);
    key.extend_from_slice(b"p/");
    push_decimal(&mut key, id % CATEGORIES, 3);
    key.push(b'/');
    push_decimal(&mut key, id, 10);
    key
}

/// First key of category `cat`.
pub fn category_start(cat: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(6);
    key.extend_from_slice(b"p/");
    push_decimal(&mut key, cat, 3);
    key.push(b'/');
    key
}

/// Key of product `id`'s stock level (the inventory feed writes these).
pub fn stock_key(id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(16);
    key.extend_from_slice(b"stock/");
    push_decimal(&mut key, id, 10);
    key
}

/// Stock values are this long (a zero-padded count).
pub const STOCK_VALUE_LEN: usize = 8;

pub fn stock_value(count: u32) -> Vec<u8> {
    let mut value = Vec::with_capacity(STOCK_VALUE_LEN);
    push_decimal(&mut value, u64::from(count % 100_000_000), STOCK_VALUE_LEN);
    value
}

/// Key of record `i` in the YCSB and classic workloads.
pub fn user_key(i: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(20);
    key.extend_from_slice(b"user");
    push_decimal(&mut key, i, 16);
    key
}

/// Appends `v` in decimal, zero-padded to at least `width` digits (as
/// `format!("{v:0width$}")`, without the formatting machinery: the
/// workloads make a key per operation, and `format!` cost ~150 ns of it).
fn push_decimal(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut n = 0;
    while v > 0 {
        digits[n] = b'0' + (v % 10) as u8;
        v /= 10;
        n += 1;
    }
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(n)));
    out.extend(digits[..n].iter().rev());
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
    zipf: Zipfian,
}

impl KeyChooser {
    pub fn new(dist: KeyDist, n: u64) -> Self {
        let n = n.max(1);
        KeyChooser {
            dist,
            n,
            zipf: Zipfian::new(n, ZIPF_THETA),
        }
    }

    pub fn next(&self, rng: &mut StdRng) -> u64 {
        self.next_below(rng, self.n)
    }

    /// As `next`, for a key space that has grown to `n` records.
    pub fn next_below(&self, rng: &mut StdRng, n: u64) -> u64 {
        match self.dist {
            KeyDist::Uniform => rng.random_range(0..n),
            KeyDist::Zipfian => mix(self.zipf.rank(rng)) % n,
            KeyDist::Latest => n - 1 - self.zipf.rank(rng) % n,
        }
    }
}

/// YCSB's zipfian constant.
const ZIPF_THETA: f64 = 0.99;

/// Zipfian ranks in `0..n` by YCSB's generator (Gray et al., "Quickly
/// generating billion-record synthetic databases", SIGMOD 1994): the sum
/// zeta(n) is computed once, then a draw is one uniform number and one
/// `powf` (about 20 ns; `rand_distr::Zipf`'s rejection sampling took
/// ~90 ns, a tenth of a fast engine's read, inside the timed operation).
struct Zipfian {
    n: f64,
    /// 1 / 2^theta: rank 1's share relative to rank 0's.
    half_pow_theta: f64,
    zeta_n: f64,
    alpha: f64,
    eta: f64,
}

impl Zipfian {
    fn new(n: u64, theta: f64) -> Self {
        let zeta_n: f64 = (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum();
        let half_pow_theta = 0.5f64.powf(theta);
        let zeta_2 = 1.0 + half_pow_theta;
        let n = n as f64;
        Zipfian {
            n,
            half_pow_theta,
            zeta_n,
            alpha: 1.0 / (1.0 - theta),
            eta: (1.0 - (2.0 / n).powf(1.0 - theta)) / (1.0 - zeta_2 / zeta_n),
        }
    }

    /// A rank: 0 is the most popular.
    fn rank(&self, rng: &mut StdRng) -> u64 {
        let u: f64 = rng.random();
        let uz = u * self.zeta_n;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + self.half_pow_theta {
            return 1.min(self.n as u64 - 1);
        }
        let rank = self.n * (self.eta * u - self.eta + 1.0).powf(self.alpha);
        (rank as u64).min(self.n as u64 - 1)
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
    fn keys_are_formatted_as_documented() {
        for id in [
            0,
            7,
            199,
            200,
            123_456,
            9_999_999_999,
            12_345_678_901,
            u64::MAX,
        ] {
            assert_eq!(
                product_key(id),
                format!("p/{:03}/{id:010}", id % CATEGORIES).into_bytes()
            );
            assert_eq!(stock_key(id), format!("stock/{id:010}").into_bytes());
            assert_eq!(user_key(id), format!("user{id:016}").into_bytes());
        }
        for cat in [0, 5, 199] {
            assert_eq!(category_start(cat), format!("p/{cat:03}/").into_bytes());
        }
        for count in [0, 42, 99_999_999, 100_000_001, u32::MAX] {
            assert_eq!(
                stock_value(count),
                format!("{:08}", count % 100_000_000).into_bytes()
            );
        }
    }

    /// Rank frequencies follow 1/r^0.99: the most popular rank of 1,000
    /// gets 1/zeta(1000) of the draws (13.4 %), the second half as much,
    /// the tenth a tenth.
    #[test]
    fn zipfian_ranks_follow_the_law() {
        let z = Zipfian::new(1000, ZIPF_THETA);
        let mut rng = StdRng::seed_from_u64(5);
        let draws = 200_000;
        let mut counts = vec![0u32; 1000];
        for _ in 0..draws {
            counts[z.rank(&mut rng) as usize] += 1;
        }
        let share = |r: usize| f64::from(counts[r]) / f64::from(draws);
        let expected = |r: usize| 1.0 / ((r + 1) as f64).powf(ZIPF_THETA) / z.zeta_n;
        for r in [0, 1, 9] {
            let (got, want) = (share(r), expected(r));
            assert!(
                (got - want).abs() < 0.15 * want,
                "rank {r}: {got} vs {want}"
            );
        }
        let tail: u32 = counts[500..].iter().sum();
        let want: f64 = (500..1000).map(expected).sum();
        let got = f64::from(tail) / f64::from(draws);
        assert!((got - want).abs() < 0.2 * want, "tail {got} vs {want}");
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
