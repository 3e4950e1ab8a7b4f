//! The simulator's own seeded PRNG (xoshiro256** seeded through splitmix64).
//!
//! Not cryptographic, and not meant to be: it only decides which packets a link loses,
//! duplicates or delays. Owning the generator (instead of depending on `rand`) pins the stream
//! of numbers, so the same seed gives the same run on every platform and every version of the
//! dependencies.

/// xoshiro256** (Blackman and Vigna, 2018).
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose state is four outputs of splitmix64 started at `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`. Draws nothing when `p <= 0` (or NaN) or `p >= 1`, so a link
    /// without loss does not shift the random stream of the rest of the run.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.unit() < p
        }
    }

    /// Uniform in `[0, n]` (inclusive); draws nothing when `n == 0`.
    pub(crate) fn up_to(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        if n == u64::MAX {
            return self.next_u64();
        }
        // Lemire's multiply-shift; the tiny bias is irrelevant for link jitter.
        ((u128::from(self.next_u64()) * u128::from(n + 1)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_stream_and_seeds_differ() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut c = Rng::new(8);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn chance_matches_probability_roughly() {
        let mut r = Rng::new(1);
        let hits = (0..100_000).filter(|_| r.chance(0.1)).count();
        assert!((9_000..11_000).contains(&hits), "{hits}");
        assert!(!r.chance(0.0));
        assert!(!r.chance(f64::NAN));
        assert!(r.chance(1.0));
    }

    #[test]
    fn up_to_is_inclusive_and_bounded() {
        let mut r = Rng::new(3);
        let mut seen = [false; 4];
        for _ in 0..1000 {
            let v = r.up_to(3);
            assert!(v <= 3);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(r.up_to(0), 0);
    }
}
