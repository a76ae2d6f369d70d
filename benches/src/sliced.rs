//! Synthetic rows for the sliced-evaluation benchmarks, and `.npy` files that the Python peers
//! read, so that both sides evaluate identical data.
//!
//! Each row has three segment columns (`a`: 2 values, `b`: 8, `c`: 50), a binary label whose
//! rate depends on the segments, and a predicted probability from a noisy logit, rounded to
//! `f32` as a model serving single-precision scores would give (so scores tie now and then).

use std::io::Write;
use std::path::Path;

use kiln_core::rng::Rng;

/// The columns of the benchmark.
#[derive(Debug, Clone)]
pub struct SlicedData {
    /// Labels, 0 or 1.
    pub labels: Vec<u8>,
    /// Predicted probabilities.
    pub scores: Vec<f64>,
    /// Segment with 2 values.
    pub a: Vec<u32>,
    /// Segment with 8 values.
    pub b: Vec<u32>,
    /// Segment with 50 values.
    pub c: Vec<u32>,
}

/// Group counts of `a`, `b` and `c`.
pub const GROUPS: [u32; 3] = [2, 8, 50];

/// `rows` rows from `seed`.
pub fn generate(rows: usize, seed: u64) -> SlicedData {
    let mut rng = Rng::new(seed);
    let mut d = SlicedData {
        labels: Vec::with_capacity(rows),
        scores: Vec::with_capacity(rows),
        a: Vec::with_capacity(rows),
        b: Vec::with_capacity(rows),
        c: Vec::with_capacity(rows),
    };
    for _ in 0..rows {
        let a = rng.below(2) as u32;
        let b = rng.below(8) as u32;
        let c = rng.below(50) as u32;
        // the segments shift the base rate and the model's sharpness
        let base = -1.0 + 0.5 * f64::from(a) + 0.1 * f64::from(b) - 0.01 * f64::from(c);
        let truth = base + rng.normal();
        let label = rng.uniform() < 1.0 / (1.0 + (-truth).exp());
        let logit = (0.6 + 0.05 * f64::from(b)) * truth + 0.8 * rng.normal();
        let score = f64::from((1.0 / (1.0 + (-logit).exp())) as f32);
        d.labels.push(u8::from(label));
        d.scores.push(score);
        d.a.push(a);
        d.b.push(b);
        d.c.push(c);
    }
    d
}

/// An element type of a `.npy` file.
pub trait NpyElement: Copy {
    /// numpy's `descr` of the type.
    const DESCR: &'static str;
    /// Little-endian bytes.
    fn put(self, out: &mut Vec<u8>);
}

impl NpyElement for u8 {
    const DESCR: &'static str = "|u1";
    fn put(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

impl NpyElement for u32 {
    const DESCR: &'static str = "<u4";
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for f64 {
    const DESCR: &'static str = "<f8";
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Writes `values` as a one-dimensional `.npy` file (format version 1.0).
pub fn write_npy<T: NpyElement>(path: &Path, values: &[T]) -> std::io::Result<()> {
    let dict = format!("{{'descr': '{}', 'fortran_order': False, 'shape': ({},), }}", T::DESCR, values.len());
    // magic (6) + version (2) + header length (2) + dict + padding + newline: a multiple of 64
    let unpadded = 10 + dict.len() + 1;
    let header_len = dict.len() + 1 + (64 - unpadded % 64) % 64;
    let mut out = Vec::with_capacity(10 + header_len + values.len() * 8);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header_len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(10 + header_len - 1, b' ');
    out.push(b'\n');
    values.iter().for_each(|v| v.put(&mut out));
    std::fs::File::create(path)?.write_all(&out)
}

/// Writes the columns as `labels.npy`, `scores.npy`, `a.npy`, `b.npy` and `c.npy` in `dir`.
pub fn write_all(dir: &Path, d: &SlicedData) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_npy(&dir.join("labels.npy"), &d.labels)?;
    write_npy(&dir.join("scores.npy"), &d.scores)?;
    write_npy(&dir.join("a.npy"), &d.a)?;
    write_npy(&dir.join("b.npy"), &d.b)?;
    write_npy(&dir.join("c.npy"), &d.c)
}
