//! The CPU reference of the bootstrap kernel's generator: Philox4x32-10, the counter-based
//! generator of Salmon, Moraes, Dror and Shaw ("Parallel random numbers: as easy as 1, 2, 3",
//! SC 2011), and the Poisson(1) bootstrap weights drawn from it. The same definitions as
//! `kiln_eval::scan::philox` (this crate is a leaf, so it keeps its own copy; kiln-eval's tests
//! check that both give the same words and weights).
//!
//! A counter-based generator is a pure function of `(counter, key)`: the weight of row `i` in
//! replicate `r` is computed from `(i, r)` and the seed alone, in any order, on any thread or
//! device. The definitions here are fixed and must never change; a CUDA port computes the same
//! words from the same counters.
//!
//! - counter `(row as u32, replicate as u32, 0, 0)`, key `(seed as u32, (seed >> 32) as u32)`;
//! - uniform in `[0, 1)` with 53 bits from the first two output words:
//!   `((x0 << 32 | x1) >> 11) · 2⁻⁵³` (the convention of `kiln_core::rng::Rng::uniform`);
//! - Poisson(1) by inversion: the smallest `k` with `u < P(K ≤ k)`, against [`POISSON1_CDF`]
//!   (the `e⁻¹ / k!` partial sums, last entry set to 1), the table every Poisson bootstrap of
//!   kiln uses (`compare::poisson1_weights`, and the GPU kernels, which receive it).

/// Multipliers of the two Philox4x32 S-boxes (Random123 `PHILOX_M4x32_0`, `PHILOX_M4x32_1`).
const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
/// Weyl increments of the key schedule (Random123 `PHILOX_W32_0`, `PHILOX_W32_1`).
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Philox4x32 with 10 rounds: four 32-bit output words of `counter` under `key`.
#[inline]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The key of a 64-bit seed: its low and high halves.
#[inline]
pub fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// Uniform in `[0, 1)` with 53 bits for `(row, replicate)`: words 0 (high) and 1 (low) of
/// Philox4x32-10 at counter `(row, replicate, 0, 0)`.
#[inline]
pub fn uniform(row: u32, replicate: u32, key: [u32; 2]) -> f64 {
    let x = philox4x32_10([row, replicate, 0, 0], key);
    let bits = (u64::from(x[0]) << 32) | u64::from(x[1]);
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Table length: weights 0..=19 cover all of Poisson(1) that a 53-bit uniform can reach.
pub const POISSON1_TABLE_LEN: usize = 20;

/// P(K ≤ k) for K ~ Poisson(1), k = 0..19, the last entry set to 1 so that inversion ends.
pub const POISSON1_CDF: [f64; POISSON1_TABLE_LEN] = poisson1_cdf();

const fn poisson1_cdf() -> [f64; POISSON1_TABLE_LEN] {
    let mut cdf = [0.0; POISSON1_TABLE_LEN];
    let mut p = 0.367_879_441_171_442_33; // e^-1 = P(K = 0)
    let mut acc = 0.0;
    let mut k = 0;
    while k < POISSON1_TABLE_LEN {
        acc += p;
        cdf[k] = acc;
        k += 1;
        p /= k as f64;
    }
    cdf[POISSON1_TABLE_LEN - 1] = 1.0;
    cdf
}

/// Poisson(1) draw by inversion of a uniform in `[0, 1)`.
#[inline]
pub fn poisson1(u: f64) -> u32 {
    let mut k = 0;
    while u >= POISSON1_CDF[k] {
        k += 1;
    }
    k as u32
}

/// The Poisson(1) bootstrap weight of `row` in `replicate` under `key`.
#[inline]
pub fn poisson1_weight(row: u32, replicate: u32, key: [u32; 2]) -> u32 {
    poisson1(uniform(row, replicate, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors of Random123 (D. E. Shaw Research), `tests/kat_vectors` at commit
    /// 9545ff6413f258be2f04c1d319d99aaef7521150 of github.com/DEShawResearch/random123, lines
    /// 27-29 (`philox4x32 10 ctr[4] key[2] expected[4]`), plus lines of the fuller list in
    /// the Random123 manual's `examples/kat_vectors`.
    #[test]
    fn random123_known_answers() {
        let cases: [([u32; 4], [u32; 2], [u32; 4]); 6] = [
            ([0, 0, 0, 0], [0, 0], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
            ([u32::MAX; 4], [u32::MAX; 2], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]),
            (
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0],
                [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
            ),
            ([1, 0, 0, 0], [1, 0], [0xac08_141b, 0xdfc5_ccbe, 0x79c0_7a47, 0xa7f6_6093]),
            (
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0, 1],
                [0x1265_14c3, 0xd189_8b69, 0xda27_07b3, 0x6e6f_b436],
            ),
            ([0, 0, 0, 0x8000_0000], [0, 0x8000_0000], [0xf7a0_b371, 0xe51d_c93d, 0x56ce_135d, 0x1d4b_5580]),
        ];
        for (ctr, key, expected) in cases {
            assert_eq!(philox4x32_10(ctr, key), expected, "ctr {ctr:08x?} key {key:08x?}");
        }
    }

    #[test]
    fn weights_have_poisson1_moments() {
        let key = seed_key(0x1234_5678_9abc_def0);
        let n = 200_000u32;
        let (mut sum, mut sq) = (0.0, 0.0);
        for row in 0..n {
            let w = f64::from(poisson1_weight(row, 3, key));
            sum += w;
            sq += w * w;
        }
        let mean = sum / f64::from(n);
        let var = sq / f64::from(n) - mean * mean;
        // mean and variance 1; standard errors about 0.0022 and 0.005
        assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "variance {var}");
    }
}
