//! kiln's gradient-boosted trees on one config's data, the kiln half of `benches/gbdt_peers.sh`.
//!
//! Loads and splits the data as `kiln run` does, fits kiln's GBDT with the config's `gbdt`
//! model (LightGBM's defaults when the config has none) on the training split, and writes
//! into `KILN_GBDT_OUT`:
//! - `train.f64`, `valid.f64`, `test.f64`: the encoded rows (row-major f64, exactly what the
//!   trees read), and `train_y.f64`, `valid_y.f64`, `test_y.f64`: class indices or values, so
//!   that the peers train on the same rows in the same encoding;
//! - `kiln_pred.f64`: kiln's test predictions (`n_rows × n_outputs`);
//! - `kiln.json`: the shapes, the task, the categorical columns, the training seconds, and
//!   predict throughput (rows/s over the encoded test rows, on one thread and on every core;
//!   the same from raw columns, preprocessing included) and single-row latency percentiles.
//!
//! `KILN_GBDT_CONFIG=configs/adult.toml KILN_GBDT_OUT=/tmp/out cargo bench -p kiln-bench --bench gbdt_peer`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_bench::{machine, median_time};
use kiln_core::preprocess::{Encoded, Encoding};
use kiln_core::schema::Task;
use kiln_data::load::{Source, load};
use kiln_data::plan::DataPlan;
use kiln_data::split::{Part, assign};
use kiln_train::baselines::gbdt::GbdtModel;
use kiln_train::config::{GbdtCategorical, GbdtConfig, GbdtPlan, ModelSpec, ModelsSection};
use kiln_train::target::{Target, read_target};
use polars::prelude::DataFrame;

type Failure = Box<dyn std::error::Error>;

struct Parts {
    plan: DataPlan,
    train: DataFrame,
    valid: DataFrame,
    test: DataFrame,
    schema: kiln_core::schema::Schema,
}

fn parts(config: &Path) -> Result<Parts, Failure> {
    let text = std::fs::read_to_string(config)?;
    let plan = DataPlan::from_toml(config, &text)?;
    let train_file = load(&plan, Source::Train, 5)?;
    let test_file = if plan.test_path.is_some() { Some(load(&plan, Source::Test, 5)?) } else { None };
    let n_test_rows = test_file.as_ref().map_or(0, |t| t.n_rows());
    let split = assign(&plan.split, plan.split_seed, &train_file, n_test_rows)?;
    let train = split.select(&train_file.df, Part::Train)?;
    let valid = split.select(&train_file.df, Part::Validation)?;
    let test = match &test_file {
        Some(file) => file.df.clone(),
        None => split.select(&train_file.df, Part::Test)?,
    };
    Ok(Parts { schema: train_file.schema, plan, train, valid, test })
}

/// The config's `gbdt` model, or LightGBM's defaults.
fn gbdt_plan(config: &Path, parts: &Parts) -> Result<GbdtPlan, Failure> {
    let text = std::fs::read_to_string(config)?;
    let models = ModelsSection::from_toml(config, &text)?.validate(&parts.schema)?;
    let configured = models.models.into_iter().find_map(|m| match m.spec {
        ModelSpec::Gbdt(plan) => Some(plan),
        _ => None,
    });
    Ok(match configured {
        Some(plan) => plan,
        None => GbdtConfig::default().validate("models[0]")?,
    })
}

fn write_f64(path: PathBuf, values: impl Iterator<Item = f64>) -> Result<(), Failure> {
    let bytes: Vec<u8> = values.flat_map(f64::to_le_bytes).collect();
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Row-major f64 features of `encoded`: the dense block, then the codes.
fn rows(encoded: &Encoded) -> impl Iterator<Item = f64> + '_ {
    (0..encoded.n_rows).flat_map(move |row| encoded.feature_row(row).map(f64::from))
}

fn labels(df: &DataFrame, parts: &Parts) -> Result<Vec<f64>, Failure> {
    Ok(match read_target(df, &parts.schema)? {
        Target::Classes { index, .. } => index.iter().map(|c| f64::from(*c)).collect(),
        Target::Values(values) => values,
    })
}

fn rows_per_second(n_rows: usize, time: Duration) -> f64 {
    n_rows as f64 / time.as_secs_f64()
}

fn main() -> Result<(), Failure> {
    let config = PathBuf::from(std::env::var("KILN_GBDT_CONFIG").map_err(|_| "set KILN_GBDT_CONFIG")?);
    let out = PathBuf::from(std::env::var("KILN_GBDT_OUT").map_err(|_| "set KILN_GBDT_OUT")?);
    std::fs::create_dir_all(&out)?;
    let parts = parts(&config)?;
    let plan = gbdt_plan(&config, &parts)?;
    let mut preprocessor = kiln_data::fit::fit_preprocessor(&parts.plan.preprocess, &parts.train, &parts.schema)?;
    preprocessor.config.encoding = Encoding::Index;
    let started = Instant::now();
    let model =
        GbdtModel::fit(&plan, parts.plan.project.seed, &preprocessor, &parts.train, Some(&parts.valid), &parts.schema)?;
    let train_seconds = started.elapsed().as_secs_f64();

    let encode = |df: &DataFrame| kiln_data::fit::encode(model.preprocessor(), df, &parts.schema);
    let (train, valid, test) = (encode(&parts.train)?, encode(&parts.valid)?, encode(&parts.test)?);
    for (name, encoded, df) in
        [("train", &train, &parts.train), ("valid", &valid, &parts.valid), ("test", &test, &parts.test)]
    {
        write_f64(out.join(format!("{name}.f64")), rows(encoded))?;
        write_f64(out.join(format!("{name}_y.f64")), labels(df, &parts)?.into_iter())?;
    }
    let task = parts.schema.task;
    let trees = model.trees();
    let predictions = trees.predict_encoded(task, &test)?;
    write_f64(out.join("kiln_pred.f64"), predictions.iter().copied())?;

    let reps = 7;
    let all_cores = median_time(reps, || trees.predict_encoded(task, &test));
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let one_thread = one.install(|| median_time(reps, || trees.predict_encoded(task, &test)));
    let columns = kiln_data::fit::feature_columns(&parts.test, &parts.schema)?;
    let raw_all = median_time(reps, || kiln_data::fit::with_refs(&columns, |refs| trees.predict(task, refs)));
    let singles = single_row_latencies(&parts, trees, task, 2_000)?;
    let pct = |q: f64| singles[((singles.len() - 1) as f64 * q).round() as usize];

    let json = serde_json::json!({
        "config": config.display().to_string(),
        "machine": machine(),
        "threads": rayon::current_num_threads(),
        "task": format!("{task:?}").to_lowercase(),
        "n_classes": parts.plan.classes.len(),
        "n_cols": test.width(),
        "codes": [test.n_dense, test.width()],
        "categorical": matches!(plan.config().categorical, GbdtCategorical::Native),
        "n_rows": { "train": train.n_rows, "valid": valid.n_rows, "test": test.n_rows },
        "n_outputs": trees.n_outputs(),
        "rounds": model.rounds,
        "train_seconds": train_seconds,
        "predict_rows_per_s": {
            "one_thread": rows_per_second(test.n_rows, one_thread),
            "all_cores": rows_per_second(test.n_rows, all_cores),
            "raw_all_cores": rows_per_second(test.n_rows, raw_all),
        },
        "single_row_us": { "p50": pct(0.5), "p99": pct(0.99) },
    });
    std::fs::write(out.join("kiln.json"), serde_json::to_string_pretty(&json)?)?;
    Ok(())
}

/// Latency of scoring one raw row at a time (preprocessing included), microseconds, sorted.
fn single_row_latencies(
    parts: &Parts,
    trees: &kiln_core::model::Trees,
    task: Task,
    n: usize,
) -> Result<Vec<f64>, Failure> {
    let n = n.min(parts.test.height());
    let rows: Vec<_> = (0..n)
        .map(|i| kiln_data::fit::feature_columns(&parts.test.slice(i as i64, 1), &parts.schema))
        .collect::<Result<_, _>>()?;
    let mut times: Vec<f64> = Vec::with_capacity(n);
    for columns in rows.iter().cycle().take(2 * n) {
        let started = Instant::now();
        std::hint::black_box(kiln_data::fit::with_refs(columns, |refs| trees.predict(task, refs))?);
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let mut times = times.split_off(n); // the first pass warms the caches
    times.sort_by(f64::total_cmp);
    Ok(times)
}
