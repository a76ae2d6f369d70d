//! The paired non-inferiority test of a challenger against the champion on the same held-out
//! rows, overall and per slice group, over plain columns: DeLong's test for ROC AUC,
//! kiln-eval's paired bootstrap for every other metric. The challenger is not worse in a group
//! when the one-sided lower bound (level 1 − alpha) of its improvement over the champion is
//! above −margin; the improvement is challenger − champion for a metric where higher is
//! better, champion − challenger for one where lower is better (log loss, ECE, RMSE).

use kiln_eval::compare::{BootstrapConfig, delong, paired_bootstrap};
use kiln_eval::data::{Labels, outcomes};
use kiln_eval::gates::Status;
use kiln_eval::metrics::{Metric, MetricParams, compute};
use kiln_eval::slices::{OVERALL, Slicing};
use serde::{Deserialize, Serialize};

/// How the groups are tested.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestSettings {
    pub metric: Metric,
    pub margin: f64,
    pub alpha: f64,
    /// Groups with fewer rows are skipped (the `[evaluation]` min_slice_size).
    pub min_rows: usize,
    pub params: MetricParams,
    /// Bootstrap replicates and seed (the `[evaluation]` intervals').
    pub replicates: usize,
    pub seed: u64,
}

/// The rows both models scored: labels, and each model's scores (`n × n_outputs`, row-major).
#[derive(Debug, Clone, Copy)]
pub struct PairedScores<'a> {
    pub labels: &'a Labels,
    pub champion: &'a [f64],
    pub challenger: &'a [f64],
}

/// The test of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedTest {
    /// "overall", or the slicing's name.
    pub slicing: String,
    /// The group's value ("all" for overall).
    pub group: String,
    pub rows: usize,
    /// `delong` or `paired_bootstrap`.
    pub method: String,
    pub champion: Option<f64>,
    pub challenger: Option<f64>,
    /// The challenger's improvement over the champion (positive is better).
    pub improvement: Option<f64>,
    /// Its one-sided lower bound at level 1 − alpha.
    pub lower: Option<f64>,
    /// Pass: lower > −margin; skipped: too few rows, or the test is undefined (note says why).
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Test every group of `slicings` (the first is the overall one).
pub fn paired_tests(scores: &PairedScores<'_>, slicings: &[Slicing], settings: &TestSettings) -> Vec<PairedTest> {
    let mut tests = Vec::new();
    for slicing in slicings {
        for group in &slicing.groups {
            let rows: Vec<usize> = group.rows.iter().map(|&r| r as usize).collect();
            let mut test = test_group(scores, &rows, settings);
            (test.slicing, test.group) = (slicing.name.clone(), group.value.clone());
            tests.push(test);
        }
    }
    tests
}

/// Whether every test holds: the overall one passed (a skipped overall test cannot show that
/// the challenger is not worse) and no group failed.
pub fn all_hold(tests: &[PairedTest]) -> bool {
    let overall = tests.iter().any(|t| t.slicing == OVERALL && t.status == Status::Pass);
    overall && tests.iter().all(|t| t.status != Status::Fail)
}

fn test_group(scores: &PairedScores<'_>, rows: &[usize], settings: &TestSettings) -> PairedTest {
    let metric = settings.metric;
    let method = if metric == Metric::RocAuc { "delong" } else { "paired_bootstrap" };
    let mut test = PairedTest {
        slicing: String::new(),
        group: String::new(),
        rows: rows.len(),
        method: method.into(),
        champion: None,
        challenger: None,
        improvement: None,
        lower: None,
        status: Status::Skipped,
        note: None,
    };
    if rows.len() < settings.min_rows {
        test.note = Some(format!("fewer than {} rows", settings.min_rows));
        return test;
    }
    let (labels, champion, challenger) = gather(scores, rows);
    let bound = if metric == Metric::RocAuc {
        delong_bound(&labels, &champion, &challenger, settings)
    } else {
        bootstrap_bound(&labels, &champion, &challenger, settings)
    };
    match bound {
        Ok(b) => {
            (test.champion, test.challenger, test.improvement, test.lower) =
                (Some(b.champion), Some(b.challenger), Some(b.improvement), b.lower);
            test.status = match b.lower {
                Some(lower) if lower > -settings.margin => Status::Pass,
                Some(_) => Status::Fail,
                None => Status::Skipped,
            };
            if b.lower.is_none() {
                test.note = Some("the bound is undefined on these rows".into());
            }
        }
        Err(note) => test.note = Some(note),
    }
    test
}

/// One group's figures.
struct Bound {
    champion: f64,
    challenger: f64,
    improvement: f64,
    lower: Option<f64>,
}

fn delong_bound(labels: &Labels, champion: &[f64], challenger: &[f64], s: &TestSettings) -> Result<Bound, String> {
    let Labels::Binary(labels) = labels else { return Err("ROC AUC needs binary labels".into()) };
    let d = delong(labels, challenger, champion).map_err(|e| e.to_string())?;
    let z = kiln_eval::ci::normal_quantile(1.0 - s.alpha);
    let lower = d.variance.map(|v| d.difference - z * v.sqrt());
    Ok(Bound { champion: d.auc_b, challenger: d.auc_a, improvement: d.difference, lower })
}

fn bootstrap_bound(labels: &Labels, champion: &[f64], challenger: &[f64], s: &TestSettings) -> Result<Bound, String> {
    let config = BootstrapConfig { replicates: s.replicates, level: 1.0 - 2.0 * s.alpha, seed: s.seed };
    let models = [challenger, champion];
    let b = paired_bootstrap(labels.len(), &config, |w, m| {
        compute(s.metric, &outcomes(labels, models[m]), Some(w), &s.params)
    })
    .map_err(|e| e.to_string())?;
    let (improvement, lower) =
        if s.metric.higher_is_better() { (b.observed, b.ci_low) } else { (-b.observed, b.ci_high.map(|h| -h)) };
    Ok(Bound { champion: b.metric_b, challenger: b.metric_a, improvement, lower })
}

/// The labels and both models' scores of `rows`.
fn gather(scores: &PairedScores<'_>, rows: &[usize]) -> (Labels, Vec<f64>, Vec<f64>) {
    let labels = match scores.labels {
        Labels::Binary(v) => Labels::Binary(rows.iter().map(|&r| v[r]).collect()),
        Labels::Multiclass { labels, n_classes } => {
            Labels::Multiclass { labels: rows.iter().map(|&r| labels[r]).collect(), n_classes: *n_classes }
        }
        Labels::Regression(v) => Labels::Regression(rows.iter().map(|&r| v[r]).collect()),
    };
    let width = scores.champion.len() / scores.labels.len().max(1);
    let pick = |all: &[f64]| rows.iter().flat_map(|&r| all[r * width..(r + 1) * width].iter().copied()).collect();
    (labels, pick(scores.champion), pick(scores.challenger))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_eval::slices::Group;

    /// A seeded stream of uniforms in [0, 1) (splitmix64), independent of the code under test.
    fn uniforms(seed: u64, n: usize) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    /// 2,000 rows: labels, a good score (label plus noise) and pure noise.
    fn rows() -> (Labels, Vec<f64>, Vec<f64>) {
        let u = uniforms(3, 6000);
        let labels: Vec<bool> = u[..2000].iter().map(|&x| x < 0.3).collect();
        let good = labels.iter().zip(&u[2000..4000]).map(|(&y, &e)| 0.35 * f64::from(u8::from(y)) + 0.65 * e).collect();
        (Labels::Binary(labels), good, u[4000..].to_vec())
    }

    fn slicings(n: usize) -> Vec<Slicing> {
        let all = Group { value: "all".into(), rows: (0..n as u32).collect() };
        let even = Group { value: "even".into(), rows: (0..n as u32).step_by(2).collect() };
        let few = Group { value: "few".into(), rows: vec![1, 3, 5] };
        vec![
            Slicing { name: OVERALL.into(), columns: vec![], groups: vec![all] },
            Slicing { name: "parity".into(), columns: vec!["parity".into()], groups: vec![even, few] },
        ]
    }

    fn settings(metric: Metric) -> TestSettings {
        TestSettings {
            metric,
            margin: 0.01,
            alpha: 0.05,
            min_rows: 30,
            params: MetricParams::default(),
            replicates: 300,
            seed: 7,
        }
    }

    #[test]
    fn the_same_model_passes_and_noise_fails_with_the_delong_bound() {
        let (labels, good, noise) = rows();
        let same = PairedScores { labels: &labels, champion: &good, challenger: &good };
        let tests = paired_tests(&same, &slicings(2000), &settings(Metric::RocAuc));
        assert_eq!(tests.len(), 3);
        assert_eq!((tests[0].improvement, tests[0].lower), (Some(0.0), Some(0.0)));
        assert_eq!(tests[0].status, Status::Pass);
        assert_eq!(tests[2].status, Status::Skipped, "3 rows are too few");
        assert!(all_hold(&tests));

        let worse = PairedScores { labels: &labels, champion: &good, challenger: &noise };
        let tests = paired_tests(&worse, &slicings(2000), &settings(Metric::RocAuc));
        assert!(!all_hold(&tests));
        let overall = &tests[0];
        assert_eq!(overall.status, Status::Fail);
        // the bound is the difference less z(0.95) = 1.6448536 standard errors
        let Labels::Binary(y) = &labels else { unreachable!("binary rows") };
        let d = delong(y, &noise, &good).expect("delong");
        let lower = d.difference - 1.644_853_626_951_472_2 * d.variance.expect("variance").sqrt();
        assert!((overall.lower.expect("lower") - lower).abs() < 1e-9);
        assert!(overall.challenger.expect("auc") < 0.56 && overall.champion.expect("auc") > 0.8, "{overall:?}");
    }

    #[test]
    fn a_lower_is_better_metric_is_oriented_and_bootstrapped() {
        let (labels, good, noise) = rows();
        // Brier score: the noise challenger is worse, so its improvement is negative
        let worse = PairedScores { labels: &labels, champion: &good, challenger: &noise };
        let tests = paired_tests(&worse, &slicings(2000), &settings(Metric::Brier));
        let overall = &tests[0];
        assert_eq!(overall.method, "paired_bootstrap");
        let (champion, challenger) = (overall.champion.expect("brier"), overall.challenger.expect("brier"));
        // the Brier score by hand: the mean squared gap between score and outcome
        let Labels::Binary(y) = &labels else { unreachable!("binary rows") };
        let brier = |s: &[f64]| {
            y.iter().zip(s).map(|(&y, &s)| (s - f64::from(u8::from(y))).powi(2)).sum::<f64>() / y.len() as f64
        };
        assert!((champion - brier(&good)).abs() < 1e-12 && (challenger - brier(&noise)).abs() < 1e-12);
        assert!(challenger > champion, "{overall:?}");
        assert!((overall.improvement.expect("improvement") - (champion - challenger)).abs() < 1e-12);
        assert!(overall.lower.expect("lower") < overall.improvement.expect("improvement"));
        assert_eq!(overall.status, Status::Fail);
        // and the other way round it passes
        let better = PairedScores { labels: &labels, champion: &noise, challenger: &good };
        let tests = paired_tests(&better, &slicings(2000), &settings(Metric::Brier));
        assert!(tests[0].improvement.expect("improvement") > 0.0);
        assert!(all_hold(&tests), "{tests:?}");
    }
}
