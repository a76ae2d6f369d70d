//! kiln-kernels' CPU references of the evaluation kernels against kiln-eval's fast path: the
//! host preparation of the rows that kiln-eval sorts, the point and replicate sums, the
//! Poisson table and the Philox generator the device draws from.

use kiln_core::rng::Rng;
use kiln_eval::ci::quantile;
use kiln_eval::scan::philox::{self, poisson1};
use kiln_eval::scan::{ScanInput, SegmentCodes, scan, scan_bootstrap, sorted_columns};
use kiln_kernels::reference::bootstrap::{POISSON1_CDF, point_sums, replicate_sums};
use kiln_kernels::reference::philox as device;
use kiln_kernels::reference::prep::{BLOCK, CHUNK, HEAD, Prepared, ROW_MASK, SortedInput};

/// The kernels' lists of `input`, from kiln-eval's one sort.
fn prepared(input: &ScanInput<'_, u8>) -> Prepared {
    let c = sorted_columns(input).expect("valid");
    let sorted = SortedInput {
        keys: &c.keys,
        rows: &c.rows,
        positive: &c.positive,
        correct: &c.correct,
        accumulators: &c.accumulators,
        groups: &c.groups,
        loss: &c.loss,
        weights: input.weights,
    };
    Prepared::new(&sorted).expect("buffers that fit")
}

/// Rows with scores on a coarse grid (many ties), two slicings (3 and 5 groups, one empty).
struct Data {
    labels: Vec<u8>,
    scores: Vec<f64>,
    weights: Vec<f64>,
    a: Vec<u32>,
    b: Vec<u32>,
}

fn data(n: usize, grid: f64, seed: u64) -> Data {
    let mut rng = Rng::new(seed);
    let mut d = Data { labels: vec![], scores: vec![], weights: vec![], a: vec![], b: vec![] };
    for _ in 0..n {
        let a = rng.below(3) as u32;
        let b = [0, 1, 2, 4][rng.below(4) as usize]; // group 3 of `b` stays empty
        let truth = 0.3 * f64::from(a) - 0.5 + rng.normal();
        let y = rng.uniform() < 1.0 / (1.0 + (-truth).exp());
        let p = 1.0 / (1.0 + (-(truth + 0.7 * rng.normal())).exp());
        d.labels.push(u8::from(y));
        d.scores.push((p * grid).round() / grid);
        d.weights.push(if rng.below(10) == 0 { 0.0 } else { 0.5 + rng.uniform() });
        d.a.push(a);
        d.b.push(b);
    }
    d
}

fn close(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{what}: {a} vs {b}"),
        (None, None) => {}
        _ => panic!("{what}: {a:?} vs {b:?}"),
    }
}

fn check_point(d: &Data, weighted: bool) {
    let slicings = [SegmentCodes { codes: &d.a, groups: 3 }, SegmentCodes { codes: &d.b, groups: 5 }];
    let weights = weighted.then_some(&d.weights[..]);
    let input = ScanInput { labels: &d.labels, scores: &d.scores, weights, threshold: 0.5, slicings: &slicings };
    let expected = scan(&input).expect("valid");
    let prep = prepared(&input);
    let sums = point_sums(&prep);
    for (s, groups) in expected.groups.iter().enumerate() {
        for (g, e) in groups.iter().enumerate() {
            let got = sums[prep.offsets[s] as usize + g];
            let [acc, loss, auc] = got.metrics();
            let what = format!("slicing {s} group {g} weighted {weighted}");
            close(acc, e.accuracy, &format!("{what} accuracy"));
            close(loss, e.log_loss, &format!("{what} log loss"));
            close(auc, e.roc_auc, &format!("{what} AUC"));
            close(Some(got.weight), Some(e.weight), &format!("{what} weight"));
        }
    }
}

#[test]
fn point_sums_equal_kiln_eval_scan() {
    // coarse scores: long runs of ties, several chunks per group, runs crossing the chunk target
    let d = data(3 * CHUNK + 777, 40.0, 5);
    check_point(&d, false);
    check_point(&d, true);
    let d = data(2_000, 1e6, 6);
    check_point(&d, false);
    check_point(&d, true);
}

#[test]
fn lists_spanning_several_scatter_blocks_equal_kiln_eval_scan() {
    // runs of tied scores cross the blocks of the parallel scatter; every HEAD flag must mark
    // exactly the first row of a run within its group's list
    let d = data(2 * BLOCK + 12_345, 30.0, 9);
    check_point(&d, false);
    check_point(&d, true);
    let slicings = [SegmentCodes { codes: &d.a, groups: 3 }, SegmentCodes { codes: &d.b, groups: 5 }];
    let input = ScanInput { labels: &d.labels, scores: &d.scores, weights: None, threshold: 0.5, slicings: &slicings };
    let prep = prepared(&input);
    let score = |p: usize| d.scores[(prep.records[p] & ROW_MASK) as usize];
    for g in 0..prep.n_groups {
        let (first, end) = (prep.group_chunk[g] as usize, prep.group_chunk[g + 1] as usize);
        let (lo, hi) = (prep.chunk_start[first] as usize, prep.chunk_start[end] as usize);
        for p in lo..hi {
            let head = p == lo || score(p) != score(p - 1);
            assert_eq!(prep.records[p] & HEAD != 0, head, "group {g}, position {p}");
            assert!(p == lo || score(p) <= score(p - 1), "group {g} not in decreasing score order at {p}");
        }
    }
}

#[test]
fn chunks_cut_at_score_changes_only() {
    let d = data(4 * CHUNK, 20.0, 7);
    let slicings = [SegmentCodes { codes: &d.a, groups: 3 }];
    let input = ScanInput { labels: &d.labels, scores: &d.scores, weights: None, threshold: 0.5, slicings: &slicings };
    let prep = prepared(&input);
    assert!(prep.n_chunks() > 3, "{} chunks", prep.n_chunks());
    for c in 0..prep.n_chunks() {
        assert!(prep.records[prep.chunk_start[c] as usize] & HEAD != 0, "chunk {c} starts inside a run of ties");
    }
    assert_eq!(prep.chunk_start[prep.n_chunks()] as usize, d.labels.len());
}

#[test]
fn replicates_give_kiln_eval_bootstrap_intervals() {
    let d = data(5_000, 200.0, 8);
    for weighted in [false, true] {
        let slicings = [SegmentCodes { codes: &d.a, groups: 3 }, SegmentCodes { codes: &d.b, groups: 5 }];
        let weights = weighted.then_some(&d.weights[..]);
        let input = ScanInput { labels: &d.labels, scores: &d.scores, weights, threshold: 0.5, slicings: &slicings };
        let (replicates, seed, level) = (60u32, 0xDEAD_BEEF_1234, 0.9);
        let expected = scan_bootstrap(&input, replicates as usize, seed, level).expect("valid");
        let prep = prepared(&input);
        let sums = replicate_sums(&prep, replicates, seed);
        let (lo, hi) = ((1.0 - level) / 2.0, 1.0 - (1.0 - level) / 2.0);
        for (s, groups) in expected.intervals.iter().enumerate() {
            for (g, e) in groups.iter().enumerate() {
                let acc = prep.offsets[s] as usize + g;
                for (m, interval) in [e.accuracy, e.log_loss, e.roc_auc].into_iter().enumerate() {
                    let mut v: Vec<f64> = (0..replicates as usize)
                        .filter_map(|r| sums[r * prep.n_groups + acc].metrics()[m])
                        .filter(|v| v.is_finite())
                        .collect();
                    let what = format!("weighted {weighted} slicing {s} group {g} metric {m}");
                    if v.is_empty() || v.len() * 2 < replicates as usize {
                        assert!(interval.is_none(), "{what}");
                        continue;
                    }
                    v.sort_by(f64::total_cmp);
                    let i = interval.expect("defined");
                    close(Some(quantile(&v, lo)), Some(i.lo), &format!("{what} lo"));
                    close(Some(quantile(&v, hi)), Some(i.hi), &format!("{what} hi"));
                }
            }
        }
    }
}

#[test]
fn poisson_table_is_kiln_evals() {
    // inverting with this table gives kiln_eval's draw at and around every entry: equal entries
    let mine = |u: f64| POISSON1_CDF.iter().position(|&c| u < c).expect("the last entry is 1") as u32;
    for &c in POISSON1_CDF.iter().filter(|&&c| c < 1.0) {
        for u in [c.next_down(), c, c.next_up()].into_iter().filter(|&u| u < 1.0) {
            assert_eq!(mine(u), poisson1(u), "at {u:e}");
        }
    }
    assert_eq!(POISSON1_CDF[19], 1.0);
}

#[test]
fn the_device_generator_s_reference_equals_kiln_eval_s() {
    for seed in [0u64, 7, 0xDEAD_BEEF_1234_5678] {
        let key = philox::seed_key(seed);
        assert_eq!(device::seed_key(seed), key);
        for row in (0..100_000u32).step_by(97) {
            for replicate in [0u32, 1, 999] {
                assert_eq!(
                    device::philox4x32_10([row, replicate, 0, 0], key),
                    philox::philox4x32_10([row, replicate, 0, 0], key)
                );
                assert_eq!(device::poisson1_weight(row, replicate, key), philox::poisson1_weight(row, replicate, key));
            }
        }
    }
    assert_eq!(device::POISSON1_CDF, philox::POISSON1_CDF);
}

#[test]
fn mismatched_buffers_are_errors() {
    let keys = [1u64, 2];
    let good = SortedInput {
        keys: &keys,
        rows: &[1, 0],
        positive: &[true, false],
        correct: &[true, true],
        accumulators: &[0, 0],
        groups: &[1],
        loss: &[0.1, 0.2],
        weights: None,
    };
    assert!(Prepared::new(&good).is_ok());
    assert!(Prepared::new(&SortedInput { rows: &[0], ..good }).is_err());
    assert!(Prepared::new(&SortedInput { accumulators: &[0, 1], ..good }).is_err());
    assert!(Prepared::new(&SortedInput { rows: &[2, 0], ..good }).is_err());
}
