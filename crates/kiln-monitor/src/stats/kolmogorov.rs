//! The two-sided one-sample Kolmogorov-Smirnov distribution's survival function P(D_n >= d),
//! as scipy's `kstwo.sf` computes it (`scipy/stats/_ksstats.py`, Simard and L'Ecuyer's choice
//! between the Ruben-Gambino closed forms, the Durbin matrix method as Marsaglia, Tsang and
//! Wang evaluate it, Pomeranz's recursion, the Pelz-Good expansion and twice the one-sided
//! Smirnov tail). `ks_2samp` uses it for large samples with `n = round(n1 n2 / (n1 + n2))`.
//!
//! The one-sided Smirnov tail sums the Birnbaum-Tingey series with each term evaluated as a
//! binomial probability by Loader's saddle-point method, which keeps every term's relative
//! error near 1e-14 where scipy carries double-double arithmetic.

const E128: i32 = 128;
const EP128: f64 = 3.402_823_669_209_385e38; // 2^128
const EM128: f64 = 2.938_735_877_055_719e-39; // 2^-128
const LOG_2PI: f64 = 1.837_877_066_409_345_5;
const SQRT_2PI: f64 = 2.506_628_274_631_000_7;
const MIN_LOG: f64 = -708.0;
const PI_SQUARED: f64 = std::f64::consts::PI * std::f64::consts::PI;
/// Below this natural log, exp underflows (scipy's cephes `MINLOG`).
const CEPHES_MINLOG: f64 = -7.083_964_185_322_641e2;
const SMIRNOV_MAX_COMPUTE_N: u64 = 1_000_000;

/// P(D_n >= x) for the two-sided one-sample statistic with `n >= 1` observations.
pub fn kstwo_sf(n: u64, x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let t = nf * x;
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = if n <= 140 {
            (1..=n).fold(1.0, |product, i| product * (i as f64 * (1.0 / nf) * (2.0 * t - 1.0)))
        } else {
            (log_nfactorial_div_n_pow_n(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return clip(1.0 - cdf);
    }
    if t >= nf - 1.0 {
        return clip(2.0 * (1.0 - x).powf(nf));
    }
    if x >= 0.5 {
        return clip(2.0 * smirnov_sf(n, x));
    }
    let nx_squared = t * x;
    if n <= 140 {
        if nx_squared <= 0.754_693 {
            return clip(1.0 - durbin_matrix_cdf(n, x));
        }
        if nx_squared <= 4.0 {
            return clip(1.0 - pomeranz_cdf(n, x));
        }
        return clip(2.0 * smirnov_sf(n, x));
    }
    if nx_squared >= 370.0 {
        return 0.0;
    }
    if nx_squared >= 2.2 {
        return clip(2.0 * smirnov_sf(n, x));
    }
    let cdf = if n <= 100_000 && nf * x.powf(1.5) <= 1.4 { durbin_matrix_cdf(n, x) } else { pelz_good_cdf(nf, x) };
    clip(1.0 - cdf)
}

fn clip(p: f64) -> f64 {
    p.clamp(0.0, 1.0)
}

/// ln(n! / n^n) by Stirling's series with n ln n taken out.
fn log_nfactorial_div_n_pow_n(n: f64) -> f64 {
    const STIRLING: [f64; 8] = [
        -2.955_065_359_477_124_2e-2,
        6.410_256_410_256_41e-3,
        -1.917_526_917_526_917_5e-3,
        8.417_508_417_508_417e-4,
        -5.952_380_952_380_953e-4,
        7.936_507_936_507_937e-4,
        -2.777_777_777_777_778e-3,
        8.333_333_333_333_333e-2,
    ];
    let rn = 1.0 / n;
    let polynomial = STIRLING.iter().fold(0.0, |acc, c| acc * (rn / n) + c);
    n.ln() / 2.0 - n + LOG_2PI / 2.0 + rn * polynomial
}

/// Square matrices of order m, row-major.
fn matmul(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * m];
    for i in 0..m {
        for k in 0..m {
            let aik = a[i * m + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..m {
                out[i * m + j] += aik * b[k * m + j];
            }
        }
    }
    out
}

/// P(D_n <= d) by Durbin's matrix method (Marsaglia, Tsang and Wang's evaluation).
fn durbin_matrix_cdf(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nf = n as f64;
    let nd = nf * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut v: Vec<f64> = (1..=m).map(|j| 1.0 - h.powi(j as i32)).collect();
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] *= fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;
    let mut matrix = vec![0.0; m * m];
    for i in 1..m {
        for row in (i - 1)..m {
            matrix[row * m + i] = w[row - (i - 1)];
        }
    }
    for row in 0..m {
        matrix[row * m] = v[row];
    }
    for col in 0..m {
        matrix[(m - 1) * m + col] = v[m - 1 - col];
    }
    let mut power: Vec<f64> = (0..m * m).map(|i| if i / m == i % m { 1.0 } else { 0.0 }).collect();
    let (mut nn, mut exponent, mut matrix_exponent) = (n, 0i32, 0i32);
    while nn > 0 {
        if nn % 2 == 1 {
            power = matmul(&power, &matrix, m);
            exponent += matrix_exponent;
        }
        matrix = matmul(&matrix, &matrix, m);
        matrix_exponent *= 2;
        if matrix[(k - 1) * m + (k - 1)].abs() > EP128 {
            matrix.iter_mut().for_each(|value| *value /= EP128);
            matrix_exponent += E128;
        }
        nn /= 2;
    }
    let mut p = power[(k - 1) * m + (k - 1)];
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < EM128 {
            p *= EP128;
            exponent -= E128;
        }
    }
    clip(ldexp(p, exponent))
}

fn ldexp(x: f64, exponent: i32) -> f64 {
    // Split so that neither factor overflows on its own.
    let half = exponent / 2;
    x * 2f64.powi(half) * 2f64.powi(exponent - half)
}

/// The interval of row i in Pomeranz's recursion.
fn pomeranz_j1j2(i: i64, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let (ip1div2, ip1mod2) = ((i + 1) / 2, (i + 1) % 2);
        if ip1mod2 == 0 {
            if ip1div2 == n + 1 {
                (n - ll - ceilf - 1, n + ll + ceilf - 1)
            } else {
                (ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1)
            }
        } else {
            (ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1)
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// P(D_n <= x) by Pomeranz's recursion.
fn pomeranz_cdf(n_u: u64, x: f64) -> f64 {
    let n = n_u as i64;
    let nf = n_u as f64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let mut gpower = vec![1.0; npwrs];
    let mut twogpower = vec![1.0; npwrs];
    let mut onem2gpower = vec![1.0; npwrs];
    let (g_over_n, two_g_over_n, one_minus_two_g_over_n) = (g / nf, 2.0 * g / nf, (1.0 - 2.0 * g) / nf);
    for m in 1..npwrs {
        gpower[m] = gpower[m - 1] * g_over_n / m as f64;
        twogpower[m] = twogpower[m - 1] * two_g_over_n / m as f64;
        onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_over_n / m as f64;
    }
    let mut v0 = vec![0.0; npwrs];
    let mut v1 = vec![0.0; npwrs];
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0i64, 0i64);
    let mut exponent = 0i32;
    let (mut j1, _) = pomeranz_j1j2(0, n, ll, ceilf, roundf);
    let mut conv = Vec::with_capacity(2 * npwrs);
    for i in 1..(2 * n + 2) {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.iter_mut().for_each(|value| *value = 0.0);
        let (new_j1, j2) = pomeranz_j1j2(i, n, ll, ceilf, roundf);
        j1 = new_j1;
        let powers = if i == 1 || i == 2 * n + 1 {
            &gpower
        } else if i % 2 == 1 {
            &twogpower
        } else {
            &onem2gpower
        };
        let ln2 = j2 - k1 + 1;
        if ln2 > 0 {
            let len = ln2 as usize;
            let start = (k1 - v0s) as usize;
            let row = &v0[start..start + len];
            conv.clear();
            conv.resize(2 * len - 1, 0.0);
            for (a, &ra) in row.iter().enumerate() {
                for (b, &pb) in powers[..len].iter().enumerate() {
                    conv[a + b] += ra * pb;
                }
            }
            let conv_start = (j1 - k1) as usize;
            let conv_len = (j2 - j1 + 1) as usize;
            v1[..conv_len].copy_from_slice(&conv[conv_start..conv_start + conv_len]);
            let max = v1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if 0.0 < max && max < EM128 {
                v1.iter_mut().for_each(|value| *value *= EP128);
                exponent -= E128;
            }
            v1s = v0s + j1 - k1;
        }
    }
    let mut answer = v1[(n - v1s) as usize];
    for m in 1..=n {
        if answer.abs() > EP128 {
            answer *= EM128;
            exponent += E128;
        }
        answer *= m as f64;
    }
    clip(ldexp(answer, exponent))
}

/// The Pelz-Good approximation to P(D_n <= x).
fn pelz_good_cdf(n: f64, x: f64) -> f64 {
    use std::f64::consts::PI;
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let z = n.sqrt() * x;
    let (zsquared, zthree, zfour, zsix) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let qlog = -PI_SQUARED / 8.0 / zsquared;
    if qlog < MIN_LOG {
        return 0.0;
    }
    let q = qlog.exp();
    let pi_four = PI_SQUARED * PI_SQUARED;
    let pi_six = pi_four * PI_SQUARED;
    let (k1a, k1b) = (-zsquared, PI_SQUARED / 4.0);
    let k2a = 6.0 * zsix + 2.0 * zfour;
    let k2b = (2.0 * zfour - 5.0 * zsquared) * PI_SQUARED / 4.0;
    let k2c = pi_four * (1.0 - 2.0 * zsquared) / 16.0;
    let k3d = pi_six * (5.0 - 30.0 * zsquared) / 64.0;
    let k3c = pi_four * (-60.0 * zsquared + 212.0 * zfour) / 16.0;
    let k3b = PI_SQUARED * (135.0 * zfour - 96.0 * zsix) / 4.0;
    let k3a = -30.0 * zsix - 90.0 * z.powi(8);
    let mut k = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (msquared, mfour, msix) = (m * m, m.powi(4), m.powi(6));
        let qpower = q.powf(8.0 * kk as f64);
        let coefficients = [
            1.0,
            k1a + k1b * msquared,
            k2a + k2b * msquared + k2c * mfour,
            k3a + k3b * msquared + k3c * mfour + k3d * msix,
        ];
        for (value, c) in k.iter_mut().zip(coefficients) {
            *value = *value * qpower + c;
        }
    }
    let divisors = [z, 6.0 * zfour, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (value, divisor) in k.iter_mut().zip(divisors) {
        *value = *value * q * SQRT_2PI / divisor;
    }
    let q2 = (-PI_SQUARED / 2.0 / zsquared).exp();
    let sqrt3z = 3f64.sqrt() * z;
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    for kk in (1..=maxk).rev() {
        let ksquared = (kk * kk) as f64;
        let qpower = q2.powf(ksquared);
        let kspi = PI * kk as f64;
        k2extra += ksquared * qpower;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpower;
    }
    k[2] += k2extra * PI_SQUARED * SQRT_2PI / (-36.0 * zthree);
    k[3] += k3extra * PI_SQUARED * SQRT_2PI / (216.0 * zsix);
    (0..4).map(|i| k[i] / n.powf(i as f64 / 2.0)).sum()
}

/// The one-sided Smirnov tail P(D_n^+ >= x) (scipy.special.smirnov).
pub fn smirnov_sf(n: u64, x: f64) -> f64 {
    if x.is_nan() || !(0.0..=1.0).contains(&x) || n == 0 {
        return f64::NAN;
    }
    let nf = n as f64;
    if n == 1 {
        return 1.0 - x;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == 1.0 {
        return 0.0;
    }
    let (nx_floor, alpha, nx) = floor_n_times_x(nf, x);
    if nx_floor == 0 || (nx_floor == 1 && alpha == 0.0) {
        let cdf = x * (1.0 + x).powf(nf - 1.0);
        return clip(1.0 - cdf);
    }
    if -2.0 * nf * x * x < CEPHES_MINLOG {
        return 0.0;
    }
    if nx_floor >= n - 1 {
        return clip((nf * (-x).ln_1p()).exp());
    }
    if n > SMIRNOV_MAX_COMPUTE_N {
        let logp = -(6.0 * nf * x + 1.0).powi(2) / 18.0 / nf;
        // Maximise precision for a small tail.
        return if logp < -std::f64::consts::LN_2 { logp.exp() } else { 1.0 + logp.exp_m1() };
    }
    // The lower sum runs to floor(n (1 - x)), leaving out the zero term when n x is whole.
    let last = n - nx_floor - 1;
    clip(x * birnbaum_tingey_sum(n, x, nx, last))
}

/// floor(n x), its fractional remainder, and n x, exact through a fused multiply-add.
fn floor_n_times_x(n: f64, x: f64) -> (u64, f64, f64) {
    let hi = n * x;
    let lo = n.mul_add(x, -hi);
    let mut floor = hi.floor();
    if hi == floor && lo < 0.0 {
        floor -= 1.0;
    }
    let mut alpha = (hi - floor) + lo;
    if alpha >= 1.0 {
        floor += 1.0;
        alpha = 0.0;
    }
    (floor as u64, alpha.max(0.0), hi)
}

/// Σ_{v=0}^{last} C(n, v) (x + v/n)^(v-1) (1 - x - v/n)^(n-v), each term
/// binom_pmf(v; n, x + v/n) / (x + v/n), stopping once the rest cannot matter.
fn birnbaum_tingey_sum(n: u64, x: f64, nx: f64, last: u64) -> f64 {
    let nf = n as f64;
    let mut sum = (nf * (-x).ln_1p()).exp() / x;
    let terms = last + 1;
    for v in 1..terms {
        let vf = v as f64;
        let p = x + vf / nf;
        let term = binomial_pmf(vf, nf, vf + nx, nf - vf - nx) / p;
        sum += term;
        if term != 0.0 {
            if 4.0 * (terms - v) as f64 * term < f64::EPSILON * sum && v != terms - 1 {
                break;
            }
        } else if v > n / 2 {
            break;
        }
    }
    sum
}

/// binom_pmf(k; n, p) with `np = n p` and `nq = n (1 - p)` given directly, by Loader's
/// saddle-point expansion (accurate to a few ulps relative for all n).
fn binomial_pmf(k: f64, n: f64, np: f64, nq: f64) -> f64 {
    let lc = stirling_error(n) - stirling_error(k) - stirling_error(n - k) - deviance(k, np) - deviance(n - k, nq);
    let lf = LOG_2PI + k.ln() + (-k / n).ln_1p();
    (lc - 0.5 * lf).exp()
}

/// ln(n!) - ln(√(2πn) (n/e)^n) for a whole number n >= 1.
fn stirling_error(n: f64) -> f64 {
    if n <= 15.0 {
        let mut ln_factorial = 0.0;
        let mut i = 2.0;
        while i <= n {
            ln_factorial += f64::ln(i);
            i += 1.0;
        }
        return ln_factorial - (n + 0.5) * n.ln() + n - LOG_2PI / 2.0;
    }
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    let nn = n * n;
    if n > 500.0 {
        return (S0 - S1 / nn) / n;
    }
    if n > 80.0 {
        return (S0 - (S1 - S2 / nn) / nn) / n;
    }
    if n > 35.0 {
        return (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n;
    }
    (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n
}

/// The deviance term k ln(k / m) + m - k, summed as a series when k is near m.
fn deviance(k: f64, m: f64) -> f64 {
    if (k - m).abs() < 0.1 * (k + m) {
        let mut v = (k - m) / (k + m);
        let mut s = (k - m) * v;
        let mut ej = 2.0 * k * v;
        v *= v;
        for j in 1..1000 {
            ej *= v;
            let s1 = s + ej / (2 * j + 1) as f64;
            if s1 == s {
                return s1;
            }
            s = s1;
        }
        return s;
    }
    k * (k / m).ln() + m - k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_pmf_matches_direct_products() {
        // C(10, 3) 0.3^3 0.7^7 = 0.26682793200000005 (computed directly).
        let direct = 120.0 * 0.3f64.powi(3) * 0.7f64.powi(7);
        let found = binomial_pmf(3.0, 10.0, 3.0, 7.0);
        assert!((found - direct).abs() < 1e-15, "{found} {direct}");
    }

    #[test]
    fn survival_is_one_below_half_over_n_and_zero_at_one() {
        assert_eq!(kstwo_sf(10, 0.04), 1.0);
        assert_eq!(kstwo_sf(10, 1.0), 0.0);
        // Ruben-Gambino's upper closed form: 2 (1 - x)^n.
        assert!((kstwo_sf(10, 0.95) - 2.0 * 0.05f64.powi(10)).abs() < 1e-25);
    }
}
