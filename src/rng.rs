//! Deterministic random streams.
//!
//! One scenario seed; every entity (terminal, link direction, cardholder,
//! traffic source) draws from its own ChaCha8 stream derived from the seed
//! and the entity's stable id, so adding a terminal does not change what
//! happens at another. Distributions are computed here with `libm` rather
//! than the platform's maths library, so the same seed gives the same draws
//! on every machine.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// 64-bit FNV-1a: a stable hash of an entity id (std's hasher is randomised).
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A ChaCha key from the scenario seed and a name (empty for the shared
/// key of entity streams; a link direction names its own key so that its
/// per-frame stream numbers cannot collide with anyone else's).
pub(crate) fn chacha_key(seed: u64, name: &str) -> [u8; 32] {
    let mut s = seed ^ if name.is_empty() { 0 } else { stable_hash(name) };
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut s).to_le_bytes());
    }
    key
}

/// A random stream owned by one entity.
#[derive(Clone, Debug)]
pub struct Stream(ChaCha8Rng);

impl Stream {
    /// The stream of entity `id` under scenario `seed`: the ChaCha key comes
    /// from the seed, the stream number from the id.
    pub fn derive(seed: u64, id: &str) -> Self {
        let mut rng = ChaCha8Rng::from_seed(chacha_key(seed, ""));
        rng.set_stream(stable_hash(id));
        Self(rng)
    }

    /// A uniformly random u64.
    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniformly random f64 in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniformly random integer in [0, n) (n > 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        // Lemire's multiply-shift with rejection.
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.f64() < p
    }

    /// Exponentially distributed with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * libm::log(1.0 - self.f64())
    }

    /// Normally distributed (Box-Muller).
    pub fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let u1 = 1.0 - self.f64();
        let u2 = self.f64();
        mean + sd * libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(std::f64::consts::TAU * u2)
    }

    /// Log-normally distributed with the given median and log-space spread.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * libm::exp(self.normal(0.0, sigma))
    }

    /// Pareto distributed with the given scale (minimum) and shape.
    pub fn pareto(&mut self, scale: f64, shape: f64) -> f64 {
        scale / libm::pow(1.0 - self.f64(), 1.0 / shape)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_depend_on_seed_and_id_only() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::derive(7, "TERM0001");
                move |_| s.u64()
            })
            .collect();
        let mut b = Stream::derive(7, "TERM0001");
        assert_eq!(a, (0..4).map(|_| b.u64()).collect::<Vec<_>>());
        assert_ne!(Stream::derive(7, "TERM0002").u64(), a[0]);
        assert_ne!(Stream::derive(8, "TERM0001").u64(), a[0]);
    }

    #[test]
    fn below_is_in_range_and_exponential_has_its_mean() {
        let mut s = Stream::derive(1, "x");
        assert!((0..1000).all(|_| s.below(7) < 7));
        let mean = (0..20_000).map(|_| s.exponential(10.0)).sum::<f64>() / 20_000.0;
        assert!((9.0..11.0).contains(&mean), "{mean}");
    }
}
