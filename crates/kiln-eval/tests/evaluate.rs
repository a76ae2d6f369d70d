//! The whole evaluation on generated data: slices, intervals, fairness, comparison and gates.

use kiln_core::rng::Rng;
use kiln_eval::config::{
    AcceptanceConfig, BaselineGate, BudgetGate, CiConfig, CiMethod, EvaluationConfig, FairnessGate, MetricGate,
    SliceConfig, SliceSelector,
};
use kiln_eval::data::{ColumnValues, DisplayColumn, EvalData, Labels, ModelCost, ModelOutput, SliceColumn};
use kiln_eval::evaluate::{EvalInput, evaluate};
use kiln_eval::gates::{DecidedBy, GateKind, Status};
use kiln_eval::metrics::{Metric, MetricParams, Outcomes, compute};

/// Rows with a group column (A: 70%, B: 25%, C: 5%), an age, and three models: a weak
/// baseline, a good model, and a model that is good except on group B.
fn fixture(n: usize) -> (EvalData, Vec<ModelOutput>) {
    let mut rng = Rng::new(17);
    let mut labels = Vec::with_capacity(n);
    let mut group = Vec::with_capacity(n);
    let mut age = Vec::with_capacity(n);
    let mut latent = Vec::with_capacity(n);
    for _ in 0..n {
        let u = rng.uniform();
        let g = if u < 0.70 {
            0
        } else if u < 0.95 {
            1
        } else {
            2
        };
        let z = rng.uniform() * 2.0 - 1.0;
        let y = rng.uniform() < 1.0 / (1.0 + (-3.0 * z).exp());
        labels.push(y);
        group.push(g);
        age.push(Some(18.0 + (rng.uniform() * 60.0).floor()));
        latent.push(z);
    }
    let noisy = |rng: &mut Rng, z: f64, noise: f64| 1.0 / (1.0 + (-(3.0 * z + noise * (rng.uniform() - 0.5))).exp());
    let mut rng = Rng::new(99);
    let baseline: Vec<f64> = latent.iter().map(|&z| noisy(&mut rng, z, 12.0)).collect();
    let good: Vec<f64> = latent.iter().map(|&z| noisy(&mut rng, z, 1.0)).collect();
    let uneven: Vec<f64> = latent
        .iter()
        .zip(&group)
        .map(|(&z, &g)| if g == 1 { noisy(&mut rng, z, 40.0) } else { noisy(&mut rng, z, 1.0) })
        .collect();
    let data = EvalData {
        labels: Labels::Binary(labels),
        class_names: vec!["no".into(), "yes".into()],
        weights: None,
        columns: vec![
            SliceColumn {
                name: "group".into(),
                values: ColumnValues::Categorical { codes: group, levels: vec!["A".into(), "B".into(), "C".into()] },
            },
            SliceColumn { name: "age".into(), values: ColumnValues::Numeric(age) },
        ],
        protected: vec!["group".into()],
        display: vec![
            DisplayColumn { name: "email".into(), pii: true, values: (0..n).map(|i| format!("u{i}@x")).collect() },
            DisplayColumn { name: "note".into(), pii: false, values: (0..n).map(|i| format!("row {i}")).collect() },
        ],
    };
    let model = |name: &str, baseline: bool, scores: Vec<f64>| ModelOutput {
        name: name.into(),
        kind: if baseline { "rules".into() } else { "mlp".into() },
        baseline,
        scores,
        cost: ModelCost { latency_p95_ms: Some(if baseline { 0.01 } else { 0.2 }), ..ModelCost::default() },
        learning_curve: Vec::new(),
    };
    (data, vec![model("rules", true, baseline), model("good", false, good), model("uneven", false, uneven)])
}

fn settings() -> (EvaluationConfig, AcceptanceConfig) {
    let evaluation = EvaluationConfig {
        ci: CiConfig { method: CiMethod::Bootstrap, replicates: 200, level: 0.95, seed: 3 },
        slices: vec![
            SliceConfig { by: vec!["group".into()], bands: None, value: None, name: None },
            SliceConfig {
                by: vec!["age".into()],
                bands: Some(vec![30.0, 50.0]),
                value: None,
                name: Some("age".into()),
            },
        ],
        ..EvaluationConfig::default()
    };
    let acceptance = AcceptanceConfig {
        metrics: vec![MetricGate {
            metric: "roc_auc".into(),
            min: Some(0.75),
            max: None,
            slices: SliceSelector::Names(vec!["group".into()]),
        }],
        fairness: vec![FairnessGate {
            metric: "demographic_parity_difference".into(),
            column: None,
            max: Some(0.5),
            min: None,
            method: "between_groups".into(),
        }],
        baseline: Some(BaselineGate { metric: "roc_auc".into(), min_lift: 0.02 }),
        budget: Some(BudgetGate { max_latency_p95_ms: Some(1.0), ..BudgetGate::default() }),
        ..AcceptanceConfig::default()
    };
    (evaluation, acceptance)
}

/// The evaluation of `models` on `data` in project `demo`, slicings from the settings only.
fn input<'a>(
    data: &'a EvalData,
    models: &'a [ModelOutput],
    (evaluation, acceptance): (&'a EvaluationConfig, &'a AcceptanceConfig),
) -> EvalInput<'a> {
    EvalInput { project: "demo", data_label: "generated", data, models, evaluation, acceptance, segments: &[] }
}

#[test]
fn slices_intervals_comparison_and_gates_on_generated_data() {
    let (data, models) = fixture(6000);
    let (evaluation, acceptance) = settings();
    let input = input(&data, &models, (&evaluation, &acceptance));
    let report = evaluate(&input).expect("evaluate");
    assert_eq!(report.models.len(), 3);
    let good = &report.models[1];
    assert_eq!(good.slicings.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["overall", "group", "age"]);

    // The overall ROC AUC is the metric module's value on all rows, inside its interval.
    let Labels::Binary(labels) = &data.labels else { unreachable!() };
    let outcomes = Outcomes::Binary { labels, scores: &models[1].scores };
    let expected = compute(Metric::RocAuc, &outcomes, None, &MetricParams::default()).expect("auc");
    let auc = good.overall_metric("roc_auc").expect("metric");
    assert_eq!(auc.value, Some(expected));
    let ci = auc.ci.expect("interval");
    assert!(ci.lo < expected && expected < ci.hi && ci.hi - ci.lo < 0.05, "{ci:?}");

    // Group C has about 300 rows: above min_slice_size 30, so it is reported.
    let group = &good.slicings[1];
    assert_eq!(group.slices.iter().map(|s| s.value.as_str()).collect::<Vec<_>>(), ["A", "B", "C"]);
    let n: usize = group.slices.iter().map(|s| s.n).sum();
    assert_eq!(n, 6000);
    // Confusion counts add up to the slice.
    let conf = group.slices[0].confusion.as_ref().expect("confusion");
    assert_eq!(conf.iter().flatten().sum::<f64>() as usize, group.slices[0].n);
    // Confident errors mask pii.
    let err = &group.slices[0].confident_errors[0];
    assert_eq!(err.values["email"], "***");
    assert!(err.values["note"].starts_with("row "));

    // The uneven model fails the per-slice floor on group B only, decided by the CI bound.
    let uneven = &report.verdicts[2];
    assert!(!uneven.passed);
    let failures: Vec<_> = uneven.failures().collect();
    assert!(
        failures
            .iter()
            .any(|c| c.kind == GateKind::Metric && c.slice == "group = B" && c.decided_by == DecidedBy::CiLower)
    );
    assert!(!failures.iter().any(|c| c.slice == "group = A"), "{failures:?}");
    // Its worst slice is group B.
    assert_eq!(report.models[2].worst_slices[0].value, "B");

    // The good model passes everything; the baseline fails the lift check? It is skipped.
    let good_verdict = &report.verdicts[1];
    assert!(good_verdict.passed, "{:?}", good_verdict.failures().collect::<Vec<_>>());
    let baseline_verdict = &report.verdicts[0];
    assert!(
        baseline_verdict.checks.iter().any(|c| c.kind == GateKind::Baseline && c.status == Status::Skipped),
        "a baseline is not compared with itself"
    );
    assert_eq!(report.chosen.as_deref(), Some("good"));

    // The comparison: a clear lift over the rules baseline, significant by both tests.
    let cmp = report.comparisons.iter().find(|c| c.model == "good").expect("comparison");
    assert_eq!(cmp.baseline, "rules");
    let base_auc = report.models[0].overall_metric("roc_auc").and_then(|m| m.value).expect("auc");
    assert!((cmp.lift - (expected - base_auc)).abs() < 1e-12);
    assert!(cmp.lift_ci.expect("ci").lo > 0.0);
    assert!(cmp.delong_p.expect("delong") < 1e-6);
    assert!(cmp.mcnemar_p.expect("mcnemar") < 0.05);

    // Fairness summaries per protected column, with fairlearn's gap names.
    let fair = &good.fairness[0];
    assert_eq!(fair.column, "group");
    assert!(fair.gaps["demographic_parity_difference"]["between_groups"].is_some());

    // Same seed, same report.
    assert_eq!(evaluate(&input).expect("again"), report);
}

#[test]
fn small_slices_are_suppressed_and_skipped_by_the_gates() {
    let (data, models) = fixture(2000);
    let (mut evaluation, acceptance) = settings();
    evaluation.min_slice_size = 150; // group C has about 100 rows
    let input = input(&data, &models, (&evaluation, &acceptance));
    let report = evaluate(&input).expect("evaluate");
    let c = &report.models[1].slicings[1].slices[2];
    assert_eq!(c.value, "C");
    assert!(c.suppressed && c.metrics.is_empty() && c.n > 0);
    let check = report.verdicts[1].checks.iter().find(|k| k.slice == "group = C").expect("check on C");
    assert_eq!(check.status, Status::Skipped);
}

#[test]
fn bad_inputs_are_errors_that_name_the_model() {
    let (data, mut models) = fixture(100);
    models[1].scores.pop();
    let (evaluation, acceptance) = settings();
    let input = input(&data, &models, (&evaluation, &acceptance));
    let e = evaluate(&input).expect_err("short scores");
    assert!(e.to_string().contains("`good`"), "{e}");
    let mut models = models.clone();
    models[1].scores.push(f64::NAN);
    let input = EvalInput { models: &models, ..input };
    let e = evaluate(&input).expect_err("NaN score");
    assert!(e.to_string().contains("non-finite"), "{e}");
}

#[test]
fn compute_all_equals_compute_metric_by_metric() {
    let mut rng = Rng::new(4);
    let n = 3000;
    let labels: Vec<bool> = (0..n).map(|_| rng.uniform() < 0.3).collect();
    // Two decimals: many ties.
    let scores: Vec<f64> = (0..n).map(|_| (rng.uniform() * 100.0).round() / 100.0).collect();
    let weights: Vec<f64> = (0..n).map(|_| (rng.uniform() * 3.0).floor()).collect();
    let outcomes = Outcomes::Binary { labels: &labels, scores: &scores };
    let metrics = Metric::for_task(kiln_core::schema::Task::Binary);
    let params = MetricParams { threshold: 0.3, ..MetricParams::default() };
    for w in [None, Some(weights.as_slice())] {
        let all = kiln_eval::metrics::compute_all(&metrics, &outcomes, w, &params);
        for (m, v) in metrics.iter().zip(all) {
            assert_eq!(v, compute(*m, &outcomes, w, &params), "{}", m.name());
        }
    }
}

#[test]
fn a_gate_on_an_unknown_slicing_is_an_error_not_a_silent_pass() {
    let (data, models) = fixture(500);
    let (evaluation, mut acceptance) = settings();
    acceptance.metrics[0].slices = SliceSelector::Names(vec!["gruop".into()]);
    let input = input(&data, &models, (&evaluation, &acceptance));
    let e = evaluate(&input).expect_err("unknown slicing");
    assert!(e.to_string().contains("`gruop`") && e.to_string().contains("`group`"), "{e}");
}
