//! One column's profiles for a window and for every group in it at once: the window's finite
//! values are sorted once and handed to each group in order (one pass per slicing, no sort per
//! group); categories are coded once and counted per group by code. This is where the time of
//! a monitoring pass goes, so nothing here hashes or sorts more than once per column.

use std::collections::{BTreeMap, HashMap};

use kiln_core::preprocess::ColumnRef;
use rayon::slice::ParallelSliceMut;

use crate::profile::Profile;

/// A row in no checked group of a slicing.
pub const NONE: u32 = u32::MAX;

/// How a window's rows fall into the groups checked.
#[derive(Debug, Clone)]
pub struct Cuts<'a> {
    /// The window's rows, ascending.
    pub window: &'a [u32],
    /// Per slicing: for each row of the data, the slot of its group in `group_rows`, or
    /// [`NONE`].
    pub slots: Vec<Vec<u32>>,
    /// Rows of each group.
    pub group_rows: Vec<u64>,
}

impl<'a> Cuts<'a> {
    /// Cuts of `window` (ascending rows of data with `n` rows) into `groups`: each a slicing
    /// index and its rows (ascending, inside the window).
    pub fn new(window: &'a [u32], n: usize, groups: &[(usize, &[u32])]) -> Self {
        let n_slicings = groups.iter().map(|(s, _)| s + 1).max().unwrap_or(0);
        let mut slots = vec![Vec::new(); n_slicings];
        for (slot, (slicing, rows)) in groups.iter().enumerate() {
            let map = &mut slots[*slicing];
            if map.is_empty() {
                *map = vec![NONE; n];
            }
            for &r in *rows {
                map[r as usize] = slot as u32;
            }
        }
        let group_rows = groups.iter().map(|(_, rows)| rows.len() as u64).collect();
        Self { window, slots, group_rows }
    }
}

/// The profile of `column` over the whole window, and over each group of `cuts`.
pub fn profiles(column: ColumnRef<'_>, cuts: &Cuts<'_>) -> (Profile, Vec<Profile>) {
    match column {
        ColumnRef::Numeric(values) => numeric(|r| values[r].filter(|v| v.is_finite()), cuts),
        ColumnRef::Categorical(values) => categorical(values, cuts),
    }
}

/// The profile of the scores (non-finite ones as missing) over the window and each group.
pub fn score_profiles(scores: &[f64], cuts: &Cuts<'_>) -> (Profile, Vec<Profile>) {
    numeric(|r| Some(scores[r]).filter(|v| v.is_finite()), cuts)
}

fn numeric(value: impl Fn(usize) -> Option<f64>, cuts: &Cuts<'_>) -> (Profile, Vec<Profile>) {
    let mut pairs: Vec<(f64, u32)> = cuts.window.iter().filter_map(|&r| value(r as usize).map(|v| (v, r))).collect();
    if pairs.len() > 1 << 16 {
        pairs.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    } else {
        pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    }
    let mut groups: Vec<Vec<f64>> = cuts.group_rows.iter().map(|&n| Vec::with_capacity(n as usize)).collect();
    for slots in &cuts.slots {
        for &(v, r) in &pairs {
            let slot = slots[r as usize];
            if slot != NONE {
                groups[slot as usize].push(v);
            }
        }
    }
    let window_missing = (cuts.window.len() - pairs.len()) as u64;
    let overall = Profile::Numeric { sorted: pairs.into_iter().map(|(v, _)| v).collect(), missing: window_missing };
    let groups = groups
        .into_iter()
        .zip(&cuts.group_rows)
        .map(|(sorted, &rows)| Profile::Numeric { missing: rows - sorted.len() as u64, sorted })
        .collect();
    (overall, groups)
}

fn categorical(values: &[Option<&str>], cuts: &Cuts<'_>) -> (Profile, Vec<Profile>) {
    let mut codes: HashMap<&str, u32> = HashMap::new();
    let mut keys: Vec<&str> = Vec::new();
    let row_codes: Vec<u32> = cuts
        .window
        .iter()
        .map(|&r| match values[r as usize] {
            Some(v) => *codes.entry(v).or_insert_with(|| {
                keys.push(v);
                (keys.len() - 1) as u32
            }),
            None => NONE,
        })
        .collect();
    let k = keys.len();
    let mut overall = vec![0u64; k];
    let mut groups = vec![vec![0u64; k]; cuts.group_rows.len()];
    let mut missing = vec![0u64; cuts.group_rows.len()];
    let mut window_missing = 0;
    for (&r, &code) in cuts.window.iter().zip(&row_codes) {
        if code == NONE {
            window_missing += 1;
        } else {
            overall[code as usize] += 1;
        }
        for slots in &cuts.slots {
            let slot = slots[r as usize];
            if slot == NONE {
                continue;
            }
            if code == NONE {
                missing[slot as usize] += 1;
            } else {
                groups[slot as usize][code as usize] += 1;
            }
        }
    }
    let profile = |counts: &[u64], missing: u64| Profile::Categorical {
        counts: keys
            .iter()
            .zip(counts)
            .filter(|(_, c)| **c > 0)
            .map(|(k, c)| (k.to_string(), *c))
            .collect::<BTreeMap<_, _>>(),
        missing,
    };
    let groups = groups.iter().zip(missing).map(|(c, m)| profile(c, m)).collect();
    (profile(&overall, window_missing), groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The profile of `rows` of `column` the plain way: gather, sort, count by string.
    fn plain(column: ColumnRef<'_>, rows: &[u32]) -> Profile {
        match column {
            ColumnRef::Numeric(values) => {
                let mut sorted: Vec<f64> = rows.iter().filter_map(|&r| values[r as usize]).collect();
                sorted.sort_by(f64::total_cmp);
                Profile::Numeric { missing: (rows.len() - sorted.len()) as u64, sorted }
            }
            ColumnRef::Categorical(values) => {
                let mut counts = BTreeMap::new();
                for &r in rows {
                    if let Some(v) = values[r as usize] {
                        *counts.entry(v.to_string()).or_insert(0) += 1;
                    }
                }
                let missing = rows.iter().filter(|&&r| values[r as usize].is_none()).count() as u64;
                Profile::Categorical { counts, missing }
            }
        }
    }

    /// Grouped profiles equal the ones computed group by group the plain way.
    #[test]
    fn grouped_profiles_equal_profiles_of_each_group() {
        let numbers: Vec<Option<f64>> =
            (0..200).map(|i| if i % 7 == 0 { None } else { Some(((i * 37) % 101) as f64 / 3.0) }).collect();
        let text: Vec<Option<&str>> =
            (0..200).map(|i| if i % 11 == 0 { None } else { Some(["a", "b", "c"][i % 3]) }).collect();
        let window: Vec<u32> = (10..190).collect();
        let even: Vec<u32> = window.iter().copied().filter(|r| r % 2 == 0).collect();
        let low: Vec<u32> = window.iter().copied().filter(|r| *r < 60).collect();
        let high: Vec<u32> = window.iter().copied().filter(|r| *r >= 120).collect();
        let groups: Vec<(usize, &[u32])> = vec![(0, &even), (1, &low), (1, &high)];
        let cuts = Cuts::new(&window, 200, &groups);
        for column in [ColumnRef::Numeric(&numbers), ColumnRef::Categorical(&text)] {
            let (overall, each) = profiles(column, &cuts);
            assert_eq!(overall, plain(column, &window));
            assert_eq!(Profile::of(column, Some(&window)), overall);
            for ((_, rows), profile) in groups.iter().zip(&each) {
                assert_eq!(profile, &plain(column, rows));
            }
        }
    }
}
