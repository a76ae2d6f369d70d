//! TEMPORARY local shim (not committed).
use kiln_core::rng::Rng;
pub fn poisson1_weights(rng: &mut Rng, out: &mut [f64]) {
    const CDF: [f64; 8] = [0.36787944117144233, 0.7357588823428847, 0.9196986029286058, 0.9810118431238462, 0.9963401531726563, 0.9994058151824183, 0.9999167588507119, 0.9999897508033253];
    for o in out.iter_mut() { let u = rng.uniform(); *o = CDF.iter().position(|c| u < *c).unwrap_or(8) as f64; }
}
pub fn erfc(x: f64) -> f64 { let t = 1.0 / (1.0 + 0.5 * x.abs()); let y = t * (-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))).exp(); if x >= 0.0 { y } else { 2.0 - y } }
