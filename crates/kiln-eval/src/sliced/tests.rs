//! The fast path of a binary evaluation against the generic one, on generated data.

use kiln_core::rng::Rng;

use super::{Path, slicings_by};
use crate::config::{CiConfig, CiMethod, EvaluationConfig, SliceConfig};
use crate::data::{ColumnValues, EvalData, Labels, ModelCost, ModelOutput, SliceColumn};
use crate::metrics::{Metric, Task};
use crate::report::SlicingReport;
use crate::slices;

/// Rows in three groups (one too small to report) and an age column; scores rounded to two
/// decimals so that many tie; with `weighted`, weights in {0, 0.5, 1, 2.5}.
fn generated(n: usize, weighted: bool) -> (EvalData, ModelOutput) {
    let mut rng = Rng::new(23);
    let (mut labels, mut scores, mut group, mut age, mut weights) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        let z = rng.uniform() * 2.0 - 1.0;
        labels.push(rng.uniform() < 1.0 / (1.0 + (-3.0 * z).exp()));
        let noisy = 1.0 / (1.0 + (-(3.0 * z + 2.0 * (rng.uniform() - 0.5))).exp());
        scores.push((noisy * 100.0).round() / 100.0);
        let u = rng.uniform();
        group.push(if u < 0.6 {
            0
        } else if u < 0.995 {
            1
        } else {
            2
        });
        age.push(Some(18.0 + (rng.uniform() * 60.0).floor()));
        weights.push([0.0, 0.5, 1.0, 2.5][rng.below(4) as usize]);
    }
    let data = EvalData {
        labels: Labels::Binary(labels),
        class_names: vec!["no".into(), "yes".into()],
        weights: weighted.then_some(weights),
        columns: vec![
            SliceColumn {
                name: "group".into(),
                values: ColumnValues::Categorical { codes: group, levels: vec!["A".into(), "B".into(), "C".into()] },
            },
            SliceColumn { name: "age".into(), values: ColumnValues::Numeric(age) },
        ],
        protected: Vec::new(),
        display: Vec::new(),
    };
    let model = ModelOutput {
        name: "m".into(),
        kind: "mlp".into(),
        baseline: false,
        scores,
        cost: ModelCost::default(),
        learning_curve: Vec::new(),
    };
    (data, model)
}

fn evaluate(data: &EvalData, model: &ModelOutput, path: Path) -> Vec<SlicingReport> {
    let config = EvaluationConfig {
        min_slice_size: 30,
        ci: CiConfig { method: CiMethod::Bootstrap, replicates: 60, level: 0.9, seed: 5 },
        slices: vec![
            SliceConfig { by: vec!["group".into()], bands: None, value: None, name: None },
            SliceConfig { by: vec!["age".into()], bands: Some(vec![30.0, 50.0]), value: None, name: None },
        ],
        ..EvaluationConfig::default()
    };
    let slicings = slices::build(data, &config.slices, &[]).expect("slicings");
    slicings_by(model, data, &slicings, &Metric::for_task(Task::Binary), &config, path)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

/// Every slice, metric, point value and interval bound of the two paths agree within 1e-9,
/// and the slices the paths report and suppress are the same.
fn assert_same(fast: &[SlicingReport], generic: &[SlicingReport]) -> usize {
    let mut checked = 0;
    assert_eq!(fast.len(), generic.len());
    for (f, g) in fast.iter().zip(generic) {
        assert_eq!(f.slices.len(), g.slices.len());
        for (fs, gs) in f.slices.iter().zip(&g.slices) {
            assert_eq!((fs.suppressed, fs.n, &fs.value), (gs.suppressed, gs.n, &gs.value));
            assert_eq!(fs.confusion, gs.confusion, "{} {}", f.name, fs.value);
            assert_eq!(fs.roc, gs.roc);
            for (name, fv) in &fs.metrics {
                let gv = gs.metrics[name];
                assert_eq!(fv.value, gv.value, "{} {} {name}: point values", f.name, fs.value);
                match (fv.ci, gv.ci) {
                    (Some(a), Some(b)) => {
                        assert!(
                            close(a.lo, b.lo) && close(a.hi, b.hi),
                            "{} {} {name}: {a:?} vs {b:?}",
                            f.name,
                            fs.value
                        );
                        checked += 1;
                    }
                    (a, b) => assert_eq!(a, b, "{} {} {name}", f.name, fs.value),
                }
            }
        }
    }
    checked
}

#[test]
fn the_one_pass_bootstrap_equals_the_generic_one() {
    for weighted in [false, true] {
        let (data, model) = generated(6_000, weighted);
        let fast = evaluate(&data, &model, Path::Fast);
        let generic = evaluate(&data, &model, Path::Generic);
        let checked = assert_same(&fast, &generic);
        // overall, groups A and B (C is suppressed), three age bands: 6 slices × 12 metrics
        assert_eq!(checked, 6 * 12, "weighted: {weighted}");
        let suppressed = fast[1].slices.iter().filter(|s| s.suppressed).count();
        assert_eq!(suppressed, 1);
    }
}

#[test]
fn scores_outside_zero_one_take_the_generic_path_with_the_same_report() {
    let (data, mut model) = generated(2_000, false);
    model.scores.iter_mut().for_each(|s| *s = *s * 4.0 - 1.0);
    let fast = evaluate(&data, &model, Path::Fast);
    let generic = evaluate(&data, &model, Path::Generic);
    assert_same(&fast, &generic);
    assert!(fast[0].slices[0].metrics["log_loss"].value.is_none());
    assert!(fast[0].slices[0].metrics["roc_auc"].ci.is_some());
}
