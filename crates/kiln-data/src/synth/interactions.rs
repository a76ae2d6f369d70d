//! The `interactions` case of `kiln data synth`: many high-cardinality categorical columns
//! with skewed frequencies, a few numeric columns, a rare positive class, and a label carried
//! mainly by interactions between pairs of categorical columns.
//!
//! It stands in for data where gradient-boosted trees on integer category codes (ranked by
//! training frequency) clearly beat a logistic regression on one-hot columns, because most of
//! the signal is in which *combination* of two categories a row has rather than in either
//! category alone.
//!
//! The label follows `P(yes) = sigmoid(intercept + z)`, where `z` sums:
//! - for each pair in `PRODUCT_PAIRS` (columns of 10 to 16 values): `1.5 * u[a] * v[b] + 0.3 * e[a][b]`,
//!   a rank-one product of per-category scores plus cell noise (`u`, `v`, `e` standard normal,
//!   then `u` and `v` centred on their frequency-weighted means, so that the product has no main
//!   effect a linear model could pick up);
//! - for each pair in `CELL_PAIRS` (columns of 24 to 52 values): an independent normal effect per
//!   cell with standard deviation 0.5, mostly too sparse to learn from a sample;
//! - a main effect per category (standard deviation 0.6) in `cat_12` to `cat_19`;
//! - a little from the numeric columns: `0.4 * num_0`, `0.5` when `num_1 > 0.8`, `-0.15 * |num_2|`,
//!   `0.4` when `num_5 > 0.9` (nothing when it is missing).
//!
//! The effect tables come from the seed alone (stream `TABLE_STREAM`). The intercept is solved
//! by bisection so that the mean of `P(yes)` over a fixed calibration sample of the unshifted
//! distribution (stream `CALIBRATION_STREAM`) equals the target positive rate; a shift thus
//! changes the features and the positive share but never the labelling function. Rows are
//! generated in fixed blocks, each with its own stream, so the output depends only on the seed
//! and the options, never on the thread count.

use kiln_core::rng::Rng;
use polars::prelude::{
    Column as PlColumn, DataFrame, Float64Chunked, Int64Chunked, IntoColumn, NewChunkedArray, StringChunked,
};
use rayon::prelude::*;

use super::{SynthOptions, tilted};
use crate::error::{Error, Result};

/// Values of every categorical column of this case, as many as the column has (`v00` is the most
/// frequent value before any shift).
pub const CATEGORY_VALUES: [&str; 52] = [
    "v00", "v01", "v02", "v03", "v04", "v05", "v06", "v07", "v08", "v09", "v10", "v11", "v12", "v13", "v14", "v15",
    "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31",
    "v32", "v33", "v34", "v35", "v36", "v37", "v38", "v39", "v40", "v41", "v42", "v43", "v44", "v45", "v46", "v47",
    "v48", "v49", "v50", "v51",
];

/// Categorical column names, in order (`cat_00` to `cat_32`).
pub const CATEGORICAL: [&str; 33] = [
    "cat_00", "cat_01", "cat_02", "cat_03", "cat_04", "cat_05", "cat_06", "cat_07", "cat_08", "cat_09", "cat_10",
    "cat_11", "cat_12", "cat_13", "cat_14", "cat_15", "cat_16", "cat_17", "cat_18", "cat_19", "cat_20", "cat_21",
    "cat_22", "cat_23", "cat_24", "cat_25", "cat_26", "cat_27", "cat_28", "cat_29", "cat_30", "cat_31", "cat_32",
];

/// Number of values of each categorical column.
pub const CARDINALITY: [usize; 33] = [
    12, 10, 14, 11, 16, 13, 10, 15, 52, 40, 24, 31, 18, 45, 27, 36, 20, 50, 22, 33, 29, 47, 19, 38, 26, 43, 17, 34, 21,
    52, 30, 25, 39,
];

/// Numeric column names, in order. `num_4` is an integer count; `num_5` and `num_6` have
/// missing values.
pub const NUMERIC: [&str; 7] = ["num_0", "num_1", "num_2", "num_3", "num_4", "num_5", "num_6"];

/// Pairs of categorical columns whose rank-one interaction carries most of the signal.
pub const PRODUCT_PAIRS: [(usize, usize); 6] = [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3)];
/// Pairs of high-cardinality columns with an independent effect per cell.
pub const CELL_PAIRS: [(usize, usize); 2] = [(8, 9), (10, 11)];
/// Columns with a main effect of their own.
const MAIN_EFFECT_COLUMNS: std::ops::Range<usize> = 12..20;

const TABLE_STREAM: u64 = 1;
const CALIBRATION_STREAM: u64 = 2;
const BLOCK_STREAM_BASE: u64 = 3000;
const CALIBRATION_ROWS: usize = 50_000;
const BLOCK: usize = 1 << 15;

/// Scale of the rank-one products.
const PRODUCT_SCALE: f64 = 1.5;

/// Unshifted value frequencies of column `col`: Zipf's law with an exponent between 0.5 and 1.5.
fn base_weights(col: usize) -> Vec<f64> {
    let alpha = 0.5 + ((col * 7) % 11) as f64 / 10.0;
    let weights: Vec<f64> = (1..=CARDINALITY[col]).map(|r| (r as f64).powf(-alpha)).collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}

/// Everything the labelling function and the sampler need, fixed by the seed and the options.
struct Model {
    /// Cumulative value weights per categorical column (tilted by the shift).
    cumulative: Vec<Vec<f64>>,
    /// `u` and `v` scores per product pair, then its cell noise (row-major, `k_a * k_b`).
    products: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)>,
    /// Cell effects per cell pair (row-major).
    cells: Vec<Vec<f64>>,
    /// Main effects per column of `MAIN_EFFECT_COLUMNS`.
    mains: Vec<Vec<f64>>,
    shift: f64,
    missing_rate: f64,
}

/// One row's features and its score `z` (without the intercept).
struct Row {
    cats: [u8; CATEGORICAL.len()],
    nums: [Option<f64>; 7],
    z: f64,
}

#[derive(Default)]
struct Block {
    cats: Vec<Vec<u8>>,
    nums: Vec<Vec<Option<f64>>>,
    label: Vec<&'static str>,
}

impl Model {
    fn new(seed: u64, shift: f64, missing_rate: f64) -> Self {
        let mut rng = Rng::derive(seed, TABLE_STREAM);
        let mut normals = |n: usize, scale: f64| (0..n).map(|_| scale * rng.normal()).collect::<Vec<f64>>();
        let weights: Vec<Vec<f64>> = (0..CARDINALITY.len()).map(base_weights).collect();
        let centred = |scores: Vec<f64>, weights: &[f64]| {
            let mean = scores.iter().zip(weights).map(|(s, w)| s * w).sum::<f64>();
            scores.iter().map(|s| s - mean).collect::<Vec<f64>>()
        };
        let products = PRODUCT_PAIRS
            .iter()
            .map(|&(a, b)| {
                let (ka, kb) = (CARDINALITY[a], CARDINALITY[b]);
                let u = centred(normals(ka, 1.0), &weights[a]);
                let v = centred(normals(kb, 1.0), &weights[b]);
                (u.iter().map(|x| PRODUCT_SCALE * x).collect(), v, normals(ka * kb, 0.3))
            })
            .collect();
        let cells = CELL_PAIRS.iter().map(|&(a, b)| normals(CARDINALITY[a] * CARDINALITY[b], 0.5)).collect();
        let mains = MAIN_EFFECT_COLUMNS.map(|c| normals(CARDINALITY[c], 0.6)).collect();
        let cumulative = weights.iter().map(|w| tilted(w, shift)).collect();
        Self { cumulative, products, cells, mains, shift, missing_rate }
    }

    fn row(&self, rng: &mut Rng) -> Row {
        let mut cats = [0u8; CATEGORICAL.len()];
        for (c, cumulative) in cats.iter_mut().zip(&self.cumulative) {
            let u = rng.uniform();
            *c = cumulative.partition_point(|w| *w <= u).min(cumulative.len() - 1) as u8;
        }
        let s = self.shift;
        let num_0 = rng.normal() + s;
        let num_1 = rng.normal() + s;
        let num_2 = 2.0 * rng.normal();
        let num_3 = (3.0 + 0.8 * rng.normal() + 0.3 * s).exp();
        let num_4 = ((1.0 - rng.uniform()).ln() / 0.85f64.ln()).floor().min(500.0);
        let num_5 = rng.uniform();
        let num_6 = rng.normal() + 0.5 * s;
        let num_5 = (rng.uniform() >= self.missing_rate).then_some(num_5);
        let num_6 = (rng.uniform() >= self.missing_rate).then_some(num_6);
        let at = |c: usize| usize::from(cats[c]);
        let mut z = 0.4 * num_0 + if num_1 > 0.8 { 0.5 } else { 0.0 } - 0.15 * num_2.abs()
            + if num_5.is_some_and(|x| x > 0.9) { 0.4 } else { 0.0 };
        for ((a, b), (u, v, noise)) in PRODUCT_PAIRS.iter().zip(&self.products) {
            z += u[at(*a)] * v[at(*b)] + noise[at(*a) * CARDINALITY[*b] + at(*b)];
        }
        for ((a, b), cell) in CELL_PAIRS.iter().zip(&self.cells) {
            z += cell[at(*a) * CARDINALITY[*b] + at(*b)];
        }
        for (c, main) in MAIN_EFFECT_COLUMNS.zip(&self.mains) {
            z += main[at(c)];
        }
        let nums = [
            Some(round(num_0, 1e6)),
            Some(round(num_1, 1e6)),
            Some(round(num_2, 1e6)),
            Some(round(num_3, 100.0)),
            Some(num_4),
            num_5.map(|x| round(x, 1e6)),
            num_6.map(|x| round(x, 1e6)),
        ];
        Row { cats, nums, z }
    }
}

fn round(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The intercept that makes the mean probability over the calibration sample `positive_rate`.
fn solve_intercept(seed: u64, positive_rate: f64) -> f64 {
    let unshifted = Model::new(seed, 0.0, 0.0);
    let mut rng = Rng::derive(seed, CALIBRATION_STREAM);
    let scores: Vec<f64> = (0..CALIBRATION_ROWS).map(|_| unshifted.row(&mut rng).z).collect();
    let mean_probability = |b: f64| scores.iter().map(|z| sigmoid(z + b)).sum::<f64>() / scores.len() as f64;
    let (mut low, mut high) = (-40.0, 40.0);
    for _ in 0..80 {
        let mid = 0.5 * (low + high);
        if mean_probability(mid) < positive_rate {
            low = mid;
        } else {
            high = mid;
        }
    }
    0.5 * (low + high)
}

fn generate_block(model: &Model, intercept: f64, seed: u64, block: usize, len: usize) -> Block {
    let mut rng = Rng::derive(seed, BLOCK_STREAM_BASE + block as u64);
    let mut b = Block {
        cats: (0..CATEGORICAL.len()).map(|_| Vec::with_capacity(len)).collect(),
        nums: (0..NUMERIC.len()).map(|_| Vec::with_capacity(len)).collect(),
        label: Vec::with_capacity(len),
    };
    for _ in 0..len {
        let row = model.row(&mut rng);
        for (column, value) in b.cats.iter_mut().zip(row.cats) {
            column.push(value);
        }
        for (column, value) in b.nums.iter_mut().zip(row.nums) {
            column.push(value);
        }
        b.label.push(if rng.uniform() < sigmoid(intercept + row.z) { "yes" } else { "no" });
    }
    b
}

/// Generate the rows of the `interactions` case.
pub(super) fn synth(opts: &SynthOptions) -> Result<DataFrame> {
    let model = Model::new(opts.seed, opts.shift, opts.missing_rate);
    let intercept = solve_intercept(opts.seed, opts.positive_rate);
    let n_blocks = opts.rows.div_ceil(BLOCK);
    let blocks: Vec<Block> = (0..n_blocks)
        .into_par_iter()
        .map(|k| generate_block(&model, intercept, opts.seed, k, BLOCK.min(opts.rows - k * BLOCK)))
        .collect();
    let mut columns: Vec<PlColumn> = Vec::with_capacity(2 + CATEGORICAL.len() + NUMERIC.len());
    columns.push(Int64Chunked::from_iter_values("id".into(), (0..opts.rows).map(|i| i as i64)).into_column());
    for (c, name) in CATEGORICAL.iter().enumerate() {
        let values = blocks.iter().flat_map(|b| b.cats[c].iter().map(|v| CATEGORY_VALUES[usize::from(*v)]));
        columns.push(StringChunked::from_iter_values((*name).into(), values).into_column());
    }
    for (c, name) in NUMERIC.iter().enumerate() {
        let values = blocks.iter().flat_map(|b| b.nums[c].iter().copied());
        columns.push(if *name == "num_4" {
            Int64Chunked::from_iter_values((*name).into(), values.map(|v| v.unwrap_or(0.0) as i64)).into_column()
        } else {
            Float64Chunked::from_iter_options((*name).into(), values).into_column()
        });
    }
    let labels = blocks.iter().flat_map(|b| b.label.iter().copied());
    columns.push(StringChunked::from_iter_values("label".into(), labels).into_column());
    DataFrame::new_infer_height(columns)
        .map_err(|source| Error::Polars { doing: "assembling synthetic interactions data", source })
}

/// The companion config of the `interactions` case.
pub(super) fn config_toml(data_file: &str, opts: &SynthOptions) -> String {
    let quoted = |names: &[&str]| names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    let categorical = CATEGORICAL.chunks(11).map(quoted).collect::<Vec<_>>().join(",\n  ");
    format!(
        r#"# Synthetic data written by `kiln data synth --case interactions --rows {rows} --seed {seed}`:
# 33 categorical columns of 10 to 52 values with skewed frequencies, 7 numeric columns, and a
# label carried mainly by interactions between pairs of categorical columns.
[project]
name = "synth-interactions"
task = "binary"
seed = {seed}

[data]
train = "{data_file}"

[columns]
target = "label"
classes = ["no", "yes"]
positive = "yes"
id = ["id"]
numeric = [{numeric}]
categorical = [
  {categorical},
]
types = {{ id = "int", num_4 = "int" }}

[validation]
max_missing = 0.1
max_duplicate_fraction = 0.0
class_balance = {{ min = 0.001, max = 0.999 }}
min_rows = 1

[validation.columns.num_4]
min = 0
max = 500

[validation.columns.num_5]
min = 0.0
max = 1.0

[validation.columns.cat_00]
allowed = [{cat_00}]
max_missing = 0.0

[split]
method = "key_hash"
key = "id"
test_fraction = 0.2
validation_fraction = 0.1

[preprocess]
min_frequency = 10

[[models]]
kind = "prior"

[[models]]
kind = "linear"
name = "linear"

[[models]]
kind = "gbdt"
name = "gbdt"
"#,
        rows = opts.rows,
        seed = opts.seed,
        numeric = quoted(&NUMERIC[..]),
        cat_00 = quoted(&CATEGORY_VALUES[..CARDINALITY[0]]),
    )
}
