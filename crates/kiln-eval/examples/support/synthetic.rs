//! Seeded synthetic evaluation data for the demo report and the rendering tests: a binary
//! task, two segment columns (one with a value full of HTML metacharacters, one with a level
//! too small to report), three models (a prior baseline, a logistic model and a boosted one)
//! and an `[acceptance]` section that some models fail.

use kiln_core::rng::Rng;
use kiln_eval::config::{
    AcceptanceConfig, BudgetGate, CiConfig, CiMethod, EvaluationConfig, MetricGate, SliceSelector,
};
use kiln_eval::data::{ColumnValues, CurvePoint, DisplayColumn, EvalData, Labels, ModelCost, ModelOutput, SliceColumn};
use kiln_eval::evaluate::{EvalInput, evaluate};
use kiln_eval::report::EvalReport;

/// The region levels; the last one checks that rendered values are escaped.
pub(crate) const REGIONS: [&str; 5] = ["north", "south", "east", "west", "<b>&\"x\""];
/// The plan levels; "trial" has a fixed handful of rows, always below `min_slice_size`.
pub(crate) const PLANS: [&str; 4] = ["basic", "pro", "enterprise", "trial"];
/// Rows on the "trial" plan, whatever the number of rows.
pub(crate) const TRIAL_ROWS: usize = 12;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The configuration the synthetic report is evaluated with: bootstrap intervals with
/// `replicates` replicates, a ROC AUC floor of 0.7 on every slice, and a p95 latency budget
/// of 1 ms.
pub(crate) fn configs(replicates: usize) -> (EvaluationConfig, AcceptanceConfig) {
    let evaluation = EvaluationConfig {
        ci: CiConfig { method: CiMethod::Bootstrap, replicates, level: 0.95, seed: 7 },
        ..EvaluationConfig::default()
    };
    let acceptance = AcceptanceConfig {
        metrics: vec![MetricGate {
            metric: "roc_auc".into(),
            min: Some(0.7),
            max: None,
            slices: SliceSelector::Keyword("all".into()),
        }],
        budget: Some(BudgetGate { max_latency_p95_ms: Some(1.0), ..BudgetGate::default() }),
        ..AcceptanceConfig::default()
    };
    (evaluation, acceptance)
}

/// The evaluated rows and the three models' outputs for `n_rows` rows drawn from `seed`.
pub(crate) fn data(n_rows: usize, seed: u64) -> (EvalData, Vec<ModelOutput>) {
    let mut rng = Rng::new(seed);
    let mut region = Vec::with_capacity(n_rows);
    let mut plan = Vec::with_capacity(n_rows);
    let mut labels = Vec::with_capacity(n_rows);
    let mut logistic = Vec::with_capacity(n_rows);
    let mut boosted = Vec::with_capacity(n_rows);
    for i in 0..n_rows {
        let u = rng.uniform();
        let r = if u < 0.3 {
            0
        } else if u < 0.55 {
            1
        } else if u < 0.75 {
            2
        } else if u < 0.9 {
            3
        } else {
            4
        };
        let p = if i < TRIAL_ROWS { 3 } else { [0, 0, 1, 1, 2][rng.below(5) as usize] };
        let z = rng.normal();
        let shift = [0.0, 0.2, -0.3, 0.1, 0.0][r] + [0.0, 0.3, 0.5, 0.0][p];
        let y = z + shift + 0.6 * rng.normal() > 0.3;
        // East is harder for both models: noisier scores.
        let noise = if r == 2 { 1.6 } else { 1.0 };
        logistic.push(sigmoid(1.4 * (z + shift + noise * 0.9 * rng.normal()) - 0.4));
        boosted.push(sigmoid(2.2 * (z + shift + noise * 0.5 * rng.normal()) - 0.7));
        region.push(r as u32);
        plan.push(p as u32);
        labels.push(y);
    }
    let rate = labels.iter().filter(|&&y| y).count() as f64 / n_rows.max(1) as f64;
    let display = vec![
        DisplayColumn {
            name: "customer_id".into(),
            pii: true,
            values: (0..n_rows).map(|i| format!("C{i:07}")).collect(),
        },
        DisplayColumn {
            name: "region".into(),
            pii: false,
            values: region.iter().map(|&r| REGIONS[r as usize].to_string()).collect(),
        },
        DisplayColumn {
            name: "plan".into(),
            pii: false,
            values: plan.iter().map(|&p| PLANS[p as usize].to_string()).collect(),
        },
    ];
    let data = EvalData {
        labels: Labels::Binary(labels),
        class_names: vec!["stays".into(), "churns".into()],
        weights: None,
        columns: vec![
            SliceColumn {
                name: "region".into(),
                values: ColumnValues::Categorical { codes: region, levels: REGIONS.map(String::from).to_vec() },
            },
            SliceColumn {
                name: "plan".into(),
                values: ColumnValues::Categorical { codes: plan, levels: PLANS.map(String::from).to_vec() },
            },
        ],
        protected: Vec::new(),
        display,
    };
    let curve = |epochs: usize, start: f64, end: f64, metric: f64| -> Vec<CurvePoint> {
        (1..=epochs)
            .map(|e| {
                let t = e as f64 / epochs as f64;
                CurvePoint {
                    epoch: e,
                    train_loss: end + (start - end) * (-4.0 * t).exp(),
                    valid_metric: metric - 0.15 * (-5.0 * t).exp(),
                }
            })
            .collect()
    };
    let models = vec![
        ModelOutput {
            name: "prior".into(),
            kind: "prior".into(),
            baseline: true,
            scores: vec![rate; n_rows],
            cost: ModelCost {
                train_seconds: Some(0.002),
                latency_p50_ms: Some(0.0008),
                latency_p95_ms: Some(0.0012),
                batch_latency_p50_ms: Some(0.004),
                batch_latency_p95_ms: Some(0.006),
                size_bytes: Some(180),
                n_params: Some(1),
            },
            learning_curve: Vec::new(),
        },
        ModelOutput {
            name: "logistic".into(),
            kind: "logistic_regression".into(),
            baseline: false,
            scores: logistic,
            cost: ModelCost {
                train_seconds: Some(2.31),
                latency_p50_ms: Some(0.021),
                latency_p95_ms: Some(0.048),
                batch_latency_p50_ms: Some(0.82),
                batch_latency_p95_ms: Some(1.13),
                size_bytes: Some(12_400),
                n_params: Some(1_537),
            },
            learning_curve: curve(20, 0.69, 0.52, 0.80),
        },
        ModelOutput {
            name: "boosted".into(),
            kind: "gradient_boosting".into(),
            baseline: false,
            scores: boosted,
            cost: ModelCost {
                train_seconds: Some(45.2),
                latency_p50_ms: Some(0.41),
                latency_p95_ms: Some(1.62),
                batch_latency_p50_ms: Some(31.5),
                batch_latency_p95_ms: Some(42.8),
                size_bytes: Some(2_412_000),
                n_params: Some(183_250),
            },
            learning_curve: curve(120, 0.69, 0.38, 0.88),
        },
    ];
    (data, models)
}

/// The report over `n_rows` synthetic rows, with `replicates` bootstrap replicates.
pub(crate) fn report(n_rows: usize, seed: u64, replicates: usize) -> EvalReport {
    let (data, models) = data(n_rows, seed);
    let (evaluation, acceptance) = configs(replicates);
    let segments = vec!["region".to_string(), "plan".to_string()];
    let input = EvalInput {
        project: "churn <demo>",
        data_label: "synthetic test split",
        data: &data,
        models: &models,
        evaluation: &evaluation,
        acceptance: &acceptance,
        segments: &segments,
    };
    match evaluate(&input) {
        Ok(report) => report,
        Err(e) => panic!("the synthetic evaluation failed: {e}"),
    }
}
