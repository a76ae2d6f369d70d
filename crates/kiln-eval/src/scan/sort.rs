//! The one sort of the fast path: rows as `(score key, payload)` items in increasing score order.
//!
//! The score key is the order-preserving `u64` image of the `f64` score (the transform of
//! `f64::total_cmp`, with `-0.0` folded onto `0.0`, as in `metrics::binary`). Only the bits that
//! vary between rows matter for the order, so keys are shifted down to their varying span;
//! when that span plus the payload fits 64 bits an item is a single `u64`
//! (`key << payload_bits | payload`), otherwise a `(key, payload)` pair.
//!
//! The sort is a radix sort: one most-significant-digit scatter into up to 4096 buckets, then
//! each bucket (in parallel) by least-significant-digit passes of 8 bits over the bits that
//! vary within it. Every step is deterministic, whatever the thread count.

use rayon::prelude::*;

/// Rows per chunk of the parallel passes (fixed, so results do not depend on the thread count).
pub(crate) const CHUNK: usize = 1 << 16;

/// Parts of the most-significant-digit scatter (fixed: the result does not depend on it anyway,
/// the scatter being stable).
const PARTS: usize = 16;

/// Bits of the most-significant-digit pass.
const MSD_BITS: u32 = 12;

/// Buckets shorter than this are sorted by comparison.
const SMALL: usize = 192;

/// Order-preserving map of a non-NaN score onto `u64`, `-0.0` and `0.0` tied.
#[inline]
pub(crate) fn sort_key(score: f64) -> u64 {
    let bits = (score + 0.0).to_bits();
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

/// The varying bits of a set of keys: `(lowest varying bit, number of bits up to the highest)`.
pub(crate) fn key_span(or: u64, and: u64) -> (u32, u32) {
    let varying = or ^ and;
    if varying == 0 {
        return (0, 0);
    }
    let lo = varying.trailing_zeros();
    (lo, 64 - varying.leading_zeros() - lo)
}

/// A sortable item: a score key (compressed to its varying bits) and a payload.
pub(crate) trait Item: Copy + Default + Send + Sync {
    /// Packs `key` and `payload`; `payload_bits` is the payload's width where packed.
    fn new(key: u64, payload: u64, payload_bits: u32) -> Self;
    /// The compressed score key.
    fn key(&self, payload_bits: u32) -> u64;
    /// The payload.
    fn payload(&self, payload_bits: u32) -> u64;
    /// The word the radix sort reads, and the bit where the key starts in it.
    fn sort_word(&self) -> u64;
    /// See [`Item::sort_word`].
    fn key_shift(payload_bits: u32) -> u32;
}

impl Item for u64 {
    #[inline]
    fn new(key: u64, payload: u64, payload_bits: u32) -> Self {
        (key << payload_bits) | payload
    }
    #[inline]
    fn key(&self, payload_bits: u32) -> u64 {
        self >> payload_bits
    }
    #[inline]
    fn payload(&self, payload_bits: u32) -> u64 {
        self & low_mask(payload_bits)
    }
    #[inline]
    fn sort_word(&self) -> u64 {
        *self
    }
    fn key_shift(payload_bits: u32) -> u32 {
        payload_bits
    }
}

impl Item for (u64, u64) {
    #[inline]
    fn new(key: u64, payload: u64, _: u32) -> Self {
        (key, payload)
    }
    #[inline]
    fn key(&self, _: u32) -> u64 {
        self.0
    }
    #[inline]
    fn payload(&self, _: u32) -> u64 {
        self.1
    }
    #[inline]
    fn sort_word(&self) -> u64 {
        self.0
    }
    fn key_shift(_: u32) -> u32 {
        0
    }
}

/// `bits` ones in the low bits (all 64 for `bits >= 64`).
#[inline]
pub(crate) fn low_mask(bits: u32) -> u64 {
    if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 }
}

/// Sorts `items` by bits `lo .. lo + bits` of their sort word, in increasing order.
pub(crate) fn radix_sort<T: Item>(items: Vec<T>, lo: u32, bits: u32) -> Vec<T> {
    if bits == 0 || items.len() < 2 {
        return items;
    }
    let msd = bits.min(MSD_BITS);
    let shift = lo + bits - msd;
    let mask = low_mask(msd);
    let digit = move |t: &T| ((t.sort_word() >> shift) & mask) as usize;
    let n_buckets = 1usize << msd;
    // fixed parts, each scattered by one task into its own piece of every bucket
    let part_len = items.len().div_ceil(PARTS);
    let hists: Vec<Vec<usize>> = items
        .par_chunks(part_len)
        .map(|part| {
            let mut h = vec![0usize; n_buckets];
            part.iter().for_each(|t| h[digit(t)] += 1);
            h
        })
        .collect();
    let n_parts = hists.len();
    let counts: Vec<usize> = (0..n_buckets).map(|d| hists.iter().map(|h| h[d]).sum()).collect();
    let pieces: Vec<usize> = (0..n_buckets * n_parts).map(|i| hists[i % n_parts][i / n_parts]).collect();
    let mut out = vec![T::default(); items.len()];
    let mut dests: Vec<Vec<&mut [T]>> = (0..n_parts).map(|_| Vec::with_capacity(n_buckets)).collect();
    for (i, piece) in split_by_counts(&mut out, &pieces, true).into_iter().enumerate() {
        dests[i % n_parts].push(piece);
    }
    items.par_chunks(part_len).zip(dests).for_each(|(part, mut dest)| {
        let mut cursor = vec![0usize; n_buckets];
        for t in part {
            let d = digit(t);
            dest[d][cursor[d]] = *t;
            cursor[d] += 1;
        }
    });
    let mut scratch = items;
    let rest = bits - msd;
    if rest > 0 {
        let buckets = split_by_counts(&mut out, &counts, false);
        let spares = split_by_counts(&mut scratch, &counts, false);
        buckets.into_par_iter().zip(spares).for_each(|(bucket, spare)| lsd_sort(bucket, spare, lo, rest));
    }
    out
}

/// `slice` cut into consecutive pieces of the given lengths (empty ones only `with_empty`).
fn split_by_counts<'a, T>(mut slice: &'a mut [T], counts: &[usize], with_empty: bool) -> Vec<&'a mut [T]> {
    let mut pieces = Vec::with_capacity(counts.len());
    for &c in counts {
        let (head, tail) = slice.split_at_mut(c);
        if c > 0 || with_empty {
            pieces.push(head);
        }
        slice = tail;
    }
    pieces
}

/// Sorts `items` by bits `lo .. lo + bits` of their sort word with 8-bit LSD passes over the
/// digits that vary, using `spare` (same length) as the other buffer.
fn lsd_sort<T: Item>(items: &mut [T], spare: &mut [T], lo: u32, bits: u32) {
    let mask = low_mask(bits) << lo;
    if items.len() < SMALL {
        items.sort_unstable_by_key(|t| t.sort_word() & mask);
        return;
    }
    let (or, and) = items.iter().fold((0u64, u64::MAX), |(o, a), t| (o | t.sort_word(), a & t.sort_word()));
    let varying = (or ^ and) & mask;
    let mut in_items = true;
    let mut shift = lo;
    while shift < lo + bits {
        if (varying >> shift) & 0xFF != 0 {
            let (src, dst) = if in_items { (&*items, &mut *spare) } else { (&*spare, &mut *items) };
            counting_pass(src, dst, shift);
            in_items = !in_items;
        }
        shift += 8;
    }
    if !in_items {
        items.copy_from_slice(spare);
    }
}

/// One stable counting-sort pass of `src` into `dst` on the byte at `shift`.
fn counting_pass<T: Item>(src: &[T], dst: &mut [T], shift: u32) {
    let mut next = [0usize; 256];
    for t in src {
        next[((t.sort_word() >> shift) & 0xFF) as usize] += 1;
    }
    let mut acc = 0;
    for c in next.iter_mut() {
        let here = *c;
        *c = acc;
        acc += here;
    }
    for t in src {
        let d = ((t.sort_word() >> shift) & 0xFF) as usize;
        dst[next[d]] = *t;
        next[d] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_sort_orders_packed_and_pair_items() {
        let mut rng = kiln_core::rng::Rng::new(9);
        for n in [0usize, 1, 5, 300, 70_000] {
            let raw: Vec<u64> = (0..n).map(|_| rng.next_u64() >> (rng.below(40) as u32)).collect();
            let pairs: Vec<(u64, u64)> = raw.iter().enumerate().map(|(i, &k)| (k, i as u64)).collect();
            let sorted = radix_sort(pairs, 0, 64);
            assert!(sorted.windows(2).all(|w| w[0].0 <= w[1].0));
            let mut seen: Vec<u64> = sorted.iter().map(|p| p.1).collect();
            seen.sort_unstable();
            assert!(seen.iter().enumerate().all(|(i, &v)| v == i as u64), "a permutation");
            // packed: 20-bit keys over a 17-bit payload
            let packed: Vec<u64> = raw.iter().enumerate().map(|(i, &k)| u64::new(k & 0xF_FFFF, i as u64, 17)).collect();
            let sorted = radix_sort(packed, 17, 20);
            assert!(sorted.windows(2).all(|w| w[0].key(17) <= w[1].key(17)));
        }
    }

    #[test]
    fn key_span_finds_the_varying_bits() {
        assert_eq!(key_span(0b1011_0000, 0b0001_0000), (5, 3));
        assert_eq!(key_span(7, 7), (0, 0));
        assert_eq!(key_span(u64::MAX, 0), (0, 64));
    }
}
