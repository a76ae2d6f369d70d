//! Fast 64-bit hashes of cells and whole rows, for duplicate detection and category lookups.
//!
//! These are not content hashes for versioning (that is BLAKE3 in `snapshot`): they only need
//! to be fast and well mixed. Row hashes are computed in parallel over row ranges.

use std::hash::{BuildHasherDefault, Hasher};

use polars::prelude::{DataFrame, DataType, PlHashMap, Series, StringChunked};
use polars_arrow::array::Array;
use polars_arrow::bitmap::Bitmap;
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
const BLOCK: usize = 1 << 14;

/// One hash per row over the columns of `df` (all of them, or those `keep` accepts). Works block by block of rows, folding every
/// column into a block while it is in cache, in parallel over blocks.
pub(crate) fn row_hashes(df: &DataFrame, keep: impl Fn(&str) -> bool) -> Result<Vec<u64>> {
    let err = |source| Error::Polars { doing: "hashing rows", source };
    let columns: Vec<Series> = df
        .columns()
        .iter()
        .filter(|c| keep(c.name().as_str()))
        .map(|c| {
            let s = c.as_materialized_series();
            match s.dtype() {
                DataType::Int64 | DataType::Float64 | DataType::String | DataType::Boolean => Ok(s.clone()),
                _ => s.cast(&DataType::String).map_err(err),
            }
        })
        .collect::<Result<_>>()?;
    let mut hashes = vec![0u64; df.height()];
    hashes.par_chunks_mut(BLOCK).enumerate().try_for_each(|(block, out)| {
        let offset = (block * BLOCK) as i64;
        for series in &columns {
            let part = series.slice(offset, out.len());
            let mut at = 0;
            match part.dtype() {
                DataType::Int64 => {
                    for a in part.i64().map_err(err)?.downcast_iter() {
                        fold(&mut out[at..at + a.len()], a.values(), a.validity(), |x| (*x as u64).wrapping_mul(K));
                        at += a.len();
                    }
                }
                DataType::Float64 => {
                    for a in part.f64().map_err(err)?.downcast_iter() {
                        fold(&mut out[at..at + a.len()], a.values(), a.validity(), |x| x.to_bits().wrapping_mul(K));
                        at += a.len();
                    }
                }
                DataType::Boolean => {
                    for a in part.bool().map_err(err)?.downcast_iter() {
                        for (j, h) in out[at..at + a.len()].iter_mut().enumerate() {
                            let cell = match a.validity().is_some_and(|v| !v.get_bit(j)) {
                                true => NULL_CELL,
                                false => u64::from(a.values().get_bit(j)).wrapping_mul(K),
                            };
                            *h = combine(*h, cell);
                        }
                        at += a.len();
                    }
                }
                _ => {
                    for a in part.str().map_err(err)?.downcast_iter() {
                        let validity = a.validity();
                        for (j, (h, view)) in out[at..at + a.len()].iter_mut().zip(a.views().iter()).enumerate() {
                            let cell = if validity.is_some_and(|v| !v.get_bit(j)) {
                                NULL_CELL
                            } else if view.length <= INLINE {
                                hash_view(view.as_u128())
                            } else {
                                hash_str(a.value(j))
                            };
                            *h = combine(*h, cell);
                        }
                        at += a.len();
                    }
                }
            }
        }
        // One final avalanche per row instead of one per cell.
        out.iter_mut().for_each(|h| *h = mix(*h));
        Ok::<(), Error>(())
    })?;
    Ok(hashes)
}

fn fold<T>(out: &mut [u64], values: &[T], validity: Option<&Bitmap>, cell: impl Fn(&T) -> u64) {
    match validity {
        Some(bits) => {
            for (j, (h, v)) in out.iter_mut().zip(values).enumerate() {
                *h = combine(*h, if bits.get_bit(j) { cell(v) } else { NULL_CELL });
            }
        }
        None => out.iter_mut().zip(values).for_each(|(h, v)| *h = combine(*h, cell(v))),
    }
}

/// Strings of up to 12 bytes live inside their 16-byte view (length + bytes, zero padded):
/// the view itself identifies the content.
const INLINE: u32 = 12;

fn hash_view(view: u128) -> u64 {
    ((view as u64) ^ ((view >> 64) as u64).wrapping_mul(K).rotate_left(32)).wrapping_mul(K)
}

/// How many values repeat an earlier value. Partitions by the top byte (one counting pass, one
/// scatter), then sorts the 256 cache-sized buckets in parallel.
pub(crate) fn count_repeats(hashes: &[u64]) -> u64 {
    let mut counts = [0usize; 256];
    for h in hashes {
        counts[(h >> 56) as usize] += 1;
    }
    let mut starts = [0usize; 256];
    let mut acc = 0;
    for (start, count) in starts.iter_mut().zip(counts) {
        *start = acc;
        acc += count;
    }
    let mut scattered = vec![0u64; hashes.len()];
    let mut next = starts;
    for h in hashes {
        let b = (h >> 56) as usize;
        scattered[next[b]] = *h;
        next[b] += 1;
    }
    let mut buckets = Vec::with_capacity(256);
    let mut rest = scattered.as_mut_slice();
    for count in counts {
        let (bucket, tail) = rest.split_at_mut(count);
        buckets.push(bucket);
        rest = tail;
    }
    buckets
        .into_par_iter()
        .map(|bucket| {
            bucket.sort_unstable();
            bucket.windows(2).filter(|w| w[0] == w[1]).count() as u64
        })
        .sum()
}

/// Visit every present value of a text column once per distinct value: `judge` runs once per
/// distinct value, `visit` gets each row's 0-based index, its verdict and its value.
pub(crate) fn scan_text<V: Copy>(
    text: &StringChunked,
    mut judge: impl FnMut(&str) -> V,
    mut visit: impl FnMut(usize, V, &dyn Fn() -> String),
) {
    // Low-cardinality columns (the common case) are served by a linear scan of a few views,
    // which beats hashing; past SMALL distinct short values a hash map takes over.
    const SMALL: usize = 16;
    let mut few: Vec<(u128, V)> = Vec::with_capacity(SMALL);
    let mut short: PlHashMap<u128, V> = PlHashMap::default();
    let mut long: PlHashMap<&str, V> = PlHashMap::default();
    let mut row = 0usize;
    for a in text.downcast_iter() {
        let validity = a.validity();
        for (j, view) in a.views().iter().enumerate() {
            if validity.is_none_or(|v| v.get_bit(j)) {
                let verdict = if view.length <= INLINE {
                    let key = view.as_u128();
                    match few.iter().find(|(k, _)| *k == key) {
                        Some((_, v)) => *v,
                        None if few.len() < SMALL => {
                            let v = judge(a.value(j));
                            few.push((key, v));
                            v
                        }
                        None => *short.entry(key).or_insert_with(|| judge(a.value(j))),
                    }
                } else {
                    let value = a.value(j);
                    *long.entry(value).or_insert_with(|| judge(value))
                };
                visit(row + j, verdict, &|| a.value(j).to_string());
            }
        }
        row += a.len();
    }
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
    fn repeats_are_counted_exactly() {
        let values: Vec<u64> = [5u64, 1 << 60, 5, 7, 1 << 60, 5, u64::MAX].to_vec();
        assert_eq!(count_repeats(&values), 3);
        assert_eq!(count_repeats(&[]), 0);
    }

    #[test]
    fn string_hash_depends_on_every_byte_and_the_length() {
        assert_ne!(hash_str("abcdefgh1"), hash_str("abcdefgh2"));
        assert_ne!(hash_str("a"), hash_str("a\0"));
        assert_eq!(hash_str("same"), hash_str("same"));
    }
}
