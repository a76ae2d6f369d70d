//! Fast 64-bit hashes of cells and whole rows, for duplicate detection and category lookups.
//!
//! These are not content hashes for versioning (that is BLAKE3 in `snapshot`): they only need
//! to be fast and well mixed. Row hashes are computed in parallel over row ranges.

use std::hash::{BuildHasherDefault, Hasher};

use polars::prelude::{DataFrame, DataType};
use rayon::prelude::*;

use crate::error::{Error, Result};

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Final avalanche (the SplitMix64 finalizer).
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a string's bytes, eight bytes at a time.
pub(crate) fn hash_str(s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks_exact yields 8 bytes"));
        h = (h.rotate_left(23) ^ word).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    let rest = chunks.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(23) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    mix(h)
}

fn combine(row: u64, cell: u64) -> u64 {
    (row.rotate_left(29) ^ cell).wrapping_mul(K)
}

const NULL_CELL: u64 = 0x5555_5555_5555_5555;

/// One hash per row over every column of `df`.
pub(crate) fn row_hashes(df: &DataFrame) -> Result<Vec<u64>> {
    let n_rows = df.height();
    let mut hashes = vec![0u64; n_rows];
    let chunk = 1 << 16;
    for column in df.columns() {
        let series = column.as_materialized_series().rechunk();
        match series.dtype() {
            DataType::Float64 | DataType::Int64 | DataType::Boolean => {
                let bits = series
                    .cast(&DataType::Float64)
                    .map_err(|source| Error::Polars { doing: "hashing rows", source })?;
                let values = bits.f64().map_err(|source| Error::Polars { doing: "hashing rows", source })?;
                let values: Vec<Option<f64>> = values.iter().collect();
                hashes.par_chunks_mut(chunk).zip(values.par_chunks(chunk)).for_each(|(h, v)| {
                    for (h, v) in h.iter_mut().zip(v) {
                        let cell = v.map_or(NULL_CELL, |x| mix(x.to_bits() ^ K));
                        *h = combine(*h, cell);
                    }
                });
            }
            _ => {
                let text =
                    series.cast(&DataType::String).map_err(|source| Error::Polars { doing: "hashing rows", source })?;
                let text = text.str().map_err(|source| Error::Polars { doing: "hashing rows", source })?;
                hashes.par_chunks_mut(chunk).enumerate().for_each(|(i, h)| {
                    let part = text.slice((i * chunk) as i64, h.len());
                    for (h, v) in h.iter_mut().zip(part.iter()) {
                        let cell = v.map_or(NULL_CELL, hash_str);
                        *h = combine(*h, cell);
                    }
                });
            }
        }
    }
    Ok(hashes)
}

/// A hasher for keys that are already hashes.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

pub(crate) type IdentityBuild = BuildHasherDefault<IdentityHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_depends_on_every_byte_and_the_length() {
        assert_ne!(hash_str("abcdefgh1"), hash_str("abcdefgh2"));
        assert_ne!(hash_str("a"), hash_str("a\0"));
        assert_eq!(hash_str("same"), hash_str("same"));
    }
}
