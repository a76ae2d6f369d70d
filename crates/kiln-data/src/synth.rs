//! `kiln data synth`: synthetic tabular data with numeric and categorical features, segment
//! columns, class imbalance, missing values and an optional distribution shift.
//!
//! Two cases ([`SynthCase`]): the default one, below, and [`interactions`], whose label is
//! carried by interactions between high-cardinality categorical columns.
//!
//! Rows are generated in fixed blocks, each from its own seeded stream, so the output depends
//! only on the seed and the options, never on the thread count. The label follows a known
//! logistic model of the features, so models trained on it have a real signal to find.

use kiln_core::rng::Rng;
use polars::prelude::{
    BooleanChunked, Column as PlColumn, DataFrame, Float64Chunked, Int64Chunked, IntoColumn, NewChunkedArray,
    StringChunked,
};
use rayon::prelude::*;

use crate::error::{Error, Result};

pub mod interactions;

/// Which data the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SynthCase {
    /// Numeric and categorical features, segments and a logistic label (a main-effects model).
    #[default]
    Default,
    /// 33 high-cardinality categorical columns and 7 numeric ones; the label comes mainly from
    /// interactions between pairs of categorical columns, and about 6% of rows are positive.
    Interactions,
}

impl SynthCase {
    /// The positive share the case aims at unless told otherwise.
    pub fn default_positive_rate(self) -> f64 {
        match self {
            Self::Default => 0.2,
            Self::Interactions => 0.06,
        }
    }
}

/// Options of the generator.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthOptions {
    pub case: SynthCase,
    pub rows: usize,
    pub seed: u64,
    /// Drift: numeric means move by `shift` standard deviations and category mixes tilt.
    pub shift: f64,
    /// Target share of positive labels.
    pub positive_rate: f64,
    /// Share of missing values in the columns that have them.
    pub missing_rate: f64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self::for_case(SynthCase::Default)
    }
}

impl SynthOptions {
    /// The default options of `case` (its own positive rate).
    pub fn for_case(case: SynthCase) -> Self {
        Self {
            case,
            rows: 10_000,
            seed: 42,
            shift: 0.0,
            positive_rate: case.default_positive_rate(),
            missing_rate: 0.03,
        }
    }
}

const REGIONS: [&str; 8] = ["north", "south", "east", "west", "central", "coast", "mountain", "islands"];
const DEVICES: [&str; 5] = ["desktop", "mobile", "tablet", "tv", "other"];
const COHORTS: [&str; 2] = ["A", "B"];
const PLANS: [&str; 20] = [
    "p00", "p01", "p02", "p03", "p04", "p05", "p06", "p07", "p08", "p09", "p10", "p11", "p12", "p13", "p14", "p15",
    "p16", "p17", "p18", "p19",
];
const STORES: [&str; 50] = [
    "s00", "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09", "s10", "s11", "s12", "s13", "s14", "s15",
    "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31",
    "s32", "s33", "s34", "s35", "s36", "s37", "s38", "s39", "s40", "s41", "s42", "s43", "s44", "s45", "s46", "s47",
    "s48", "s49",
];

/// Column names and roles of the generated data, in order.
pub const NUMERIC: [&str; 6] = ["age", "income", "tenure", "score_a", "score_b", "visits"];
pub const CATEGORICAL: [&str; 3] = ["region", "device", "plan"];

const BLOCK: usize = 1 << 15;

#[derive(Default)]
struct Block {
    id: Vec<i64>,
    age: Vec<i64>,
    income: Vec<Option<f64>>,
    tenure: Vec<f64>,
    score_a: Vec<f64>,
    score_b: Vec<Option<f64>>,
    visits: Vec<i64>,
    region: Vec<&'static str>,
    device: Vec<&'static str>,
    plan: Vec<&'static str>,
    cohort: Vec<&'static str>,
    store: Vec<&'static str>,
    active: Vec<bool>,
    label: Vec<&'static str>,
}

/// Cumulative weights tilted by `shift` (0 keeps `base`).
fn tilted(base: &[f64], shift: f64) -> Vec<f64> {
    let k = base.len() as f64;
    let w: Vec<f64> = base.iter().enumerate().map(|(i, b)| b * (shift * (i as f64 / k - 0.5) * 2.0).exp()).collect();
    let total: f64 = w.iter().sum();
    w.iter()
        .scan(0.0, |acc, x| {
            *acc += x / total;
            Some(*acc)
        })
        .collect()
}

fn pick(cumulative: &[f64], u: f64) -> usize {
    cumulative.iter().position(|c| u < *c).unwrap_or(cumulative.len() - 1)
}

fn generate_block(opts: &SynthOptions, block: usize, start: usize, len: usize) -> Block {
    let mut rng = Rng::derive(opts.seed, block as u64 + 1000);
    let s = opts.shift;
    let region_w = tilted(&[0.2, 0.18, 0.15, 0.14, 0.12, 0.1, 0.07, 0.04], s);
    let device_w = tilted(&[0.45, 0.38, 0.1, 0.04, 0.03], s);
    let plan_base: Vec<f64> = (1..=20).map(|r| 1.0 / r as f64).collect();
    let plan_w = tilted(&plan_base, s);
    let intercept = (opts.positive_rate / (1.0 - opts.positive_rate)).ln() - 0.9;
    let mut b = Block::default();
    for i in 0..len {
        let age = (40.0 + 5.0 * s + 13.0 * rng.normal()).round().clamp(18.0, 90.0);
        let log_income = 10.5 + 0.5 * s + 0.6 * rng.normal();
        let tenure = -(1.0 - rng.uniform()).ln() * 4.0;
        let score_a = rng.normal() + s;
        let score_b = 2.0 * rng.normal() + 0.5 * score_a;
        let visits = ((1.0 - rng.uniform()).ln() / (0.8f64).ln()).floor().min(200.0) as i64;
        let region = pick(&region_w, rng.uniform());
        let device = pick(&device_w, rng.uniform());
        let plan = pick(&plan_w, rng.uniform());
        let cohort = usize::from(rng.uniform() < 0.45);
        let store = rng.below(50) as usize;
        let active = rng.uniform() < 0.7;
        let z = intercept + 0.9 * score_a + 0.25 * score_b + 0.03 * (age - 40.0) + 0.6 * (log_income - 10.5)
            - 0.08 * tenure
            + 0.05 * visits as f64
            + [0.3, -0.2, 0.1, 0.0, -0.1, 0.2, -0.3, 0.4][region]
            + [0.0, 0.2, -0.2, 0.1, 0.0][device]
            + if plan < 3 { 0.5 } else { -0.1 }
            + if active { 0.4 } else { -0.4 };
        let p = 1.0 / (1.0 + (-z).exp());
        b.id.push((start + i) as i64);
        b.age.push(age as i64);
        b.income.push((rng.uniform() >= opts.missing_rate).then(|| (log_income.exp() * 100.0).round() / 100.0));
        b.tenure.push((tenure * 1000.0).round() / 1000.0);
        b.score_a.push((score_a * 1e6).round() / 1e6);
        b.score_b.push((rng.uniform() >= opts.missing_rate).then(|| (score_b * 1e6).round() / 1e6));
        b.visits.push(visits);
        b.region.push(REGIONS[region]);
        b.device.push(DEVICES[device]);
        b.plan.push(PLANS[plan]);
        b.cohort.push(COHORTS[cohort]);
        b.store.push(STORES[store]);
        b.active.push(active);
        b.label.push(if rng.uniform() < p { "yes" } else { "no" });
    }
    b
}

/// Generate the rows.
pub fn synth(opts: &SynthOptions) -> Result<DataFrame> {
    if opts.case == SynthCase::Interactions {
        return interactions::synth(opts);
    }
    let n_blocks = opts.rows.div_ceil(BLOCK);
    let blocks: Vec<Block> = (0..n_blocks)
        .into_par_iter()
        .map(|k| {
            let start = k * BLOCK;
            generate_block(opts, k, start, BLOCK.min(opts.rows - start))
        })
        .collect();
    macro_rules! gather {
        ($field:ident) => {
            blocks.iter().flat_map(|b| b.$field.iter().copied())
        };
    }
    let columns: Vec<PlColumn> = vec![
        Int64Chunked::from_iter_values("id".into(), gather!(id)).into_column(),
        Int64Chunked::from_iter_values("age".into(), gather!(age)).into_column(),
        Float64Chunked::from_iter_options("income".into(), gather!(income)).into_column(),
        Float64Chunked::from_iter_values("tenure".into(), gather!(tenure)).into_column(),
        Float64Chunked::from_iter_values("score_a".into(), gather!(score_a)).into_column(),
        Float64Chunked::from_iter_options("score_b".into(), gather!(score_b)).into_column(),
        Int64Chunked::from_iter_values("visits".into(), gather!(visits)).into_column(),
        StringChunked::from_iter_values("region".into(), gather!(region)).into_column(),
        StringChunked::from_iter_values("device".into(), gather!(device)).into_column(),
        StringChunked::from_iter_values("plan".into(), gather!(plan)).into_column(),
        StringChunked::from_iter_values("cohort".into(), gather!(cohort)).into_column(),
        StringChunked::from_iter_values("store".into(), gather!(store)).into_column(),
        BooleanChunked::from_iter_values("active".into(), gather!(active)).into_column(),
        StringChunked::from_iter_values("label".into(), gather!(label)).into_column(),
    ];
    DataFrame::new_infer_height(columns).map_err(|source| Error::Polars { doing: "assembling synthetic data", source })
}

/// A config that describes the generated file `data_file` (a name relative to the config).
pub fn config_toml(data_file: &str, opts: &SynthOptions) -> String {
    if opts.case == SynthCase::Interactions {
        return interactions::config_toml(data_file, opts);
    }
    format!(
        r#"# Synthetic data written by `kiln data synth --rows {rows} --seed {seed}`.
[project]
name = "synth"
task = "binary"
seed = {seed}

[data]
train = "{data_file}"

[columns]
target = "label"
classes = ["no", "yes"]
positive = "yes"
id = ["id"]
numeric = ["age", "income", "tenure", "score_a", "score_b", "visits"]
categorical = ["region", "device", "plan", "active"]
segment = ["cohort", "region", "store"]
protected = ["cohort"]
types = {{ id = "int", age = "int", visits = "int", active = "bool" }}

[validation]
max_missing = 0.1
max_duplicate_fraction = 0.0
class_balance = {{ min = 0.02, max = 0.98 }}
min_rows = 1

[validation.columns.age]
min = 18
max = 90

[validation.columns.device]
allowed = ["desktop", "mobile", "tablet", "tv", "other"]

[validation.columns.cohort]
allowed = ["A", "B"]
max_missing = 0.0

[split]
method = "key_hash"
key = "id"
test_fraction = 0.2
validation_fraction = 0.1
"#,
        rows = opts.rows,
        seed = opts.seed,
    )
}
