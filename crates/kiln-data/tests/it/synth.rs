//! The synthetic data generator.

use kiln_data::load::{Source, load};
use kiln_data::synth::{SynthCase, SynthOptions, config_toml, interactions, synth};

use crate::common::plan_from;

#[test]
fn same_seed_same_rows_other_seed_other_rows() {
    let opts = SynthOptions { rows: 70_000, ..SynthOptions::default() };
    let a = synth(&opts).expect("a");
    let b = synth(&opts).expect("b");
    assert!(a.equals_missing(&b));
    let c = synth(&SynthOptions { seed: 1, ..opts.clone() }).expect("c");
    assert!(!a.equals_missing(&c));
    assert_eq!(a.height(), 70_000);
}

#[test]
fn imbalance_missing_values_and_shift() {
    let opts = SynthOptions { rows: 100_000, positive_rate: 0.2, ..SynthOptions::default() };
    let df = synth(&opts).expect("synth");
    let labels = df.column("label").expect("label").as_materialized_series().str().expect("str").clone();
    let share = labels.iter().filter(|v| *v == Some("yes")).count() as f64 / 100_000.0;
    assert!((0.1..0.35).contains(&share), "positive share {share}");
    let missing = df.column("income").expect("income").null_count() as f64 / 100_000.0;
    assert!((missing - 0.03).abs() < 0.005, "{missing}");
    let mean = |df: &polars::prelude::DataFrame| {
        let s = df.column("score_a").expect("score_a").as_materialized_series().f64().expect("f64").clone();
        s.iter().flatten().sum::<f64>() / s.len() as f64
    };
    let shifted = synth(&SynthOptions { shift: 1.0, ..opts }).expect("shifted");
    assert!(mean(&df).abs() < 0.02 && (mean(&shifted) - 1.0).abs() < 0.02);
    for segment in [("cohort", 2), ("region", 8), ("store", 50)] {
        let n = df.column(segment.0).expect("segment").as_materialized_series().n_unique().expect("n_unique");
        assert_eq!(n, segment.1, "{}", segment.0);
    }
}

#[test]
fn the_companion_config_validates_the_written_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SynthOptions { rows: 5_000, ..SynthOptions::default() };
    let mut df = synth(&opts).expect("synth");
    for name in ["synth.csv", "synth.parquet"] {
        let path = dir.path().join(name);
        let format = kiln_data::config::FileFormat::from_path(&path).expect("format");
        kiln_data::write::write_table(&path, format, &mut df).expect("write");
        let config_path = dir.path().join("synth.toml");
        let text = config_toml(name, &opts);
        std::fs::write(&config_path, &text).expect("config");
        let plan = plan_from(&config_path, &text).expect("plan");
        let table = load(&plan, Source::Train, 5).expect("load");
        assert_eq!(table.n_rows(), 5_000);
        let report = kiln_data::validate::validate("synth", &plan.validation, &table, None).expect("validate");
        assert!(report.passed(), "{name}: {:#?}", report.findings);
    }
}

fn interactions(rows: usize, seed: u64) -> SynthOptions {
    SynthOptions { rows, seed, ..SynthOptions::for_case(SynthCase::Interactions) }
}

fn positive_share(df: &polars::prelude::DataFrame) -> f64 {
    let labels = df.column("label").expect("label").as_materialized_series().str().expect("str").clone();
    labels.iter().filter(|v| *v == Some("yes")).count() as f64 / df.height() as f64
}

#[test]
fn interactions_depend_on_the_seed_only_not_on_the_thread_count() {
    // Three blocks, the last one partial.
    let opts = interactions(70_000, 7);
    assert_eq!(opts.positive_rate, 0.06, "the case's own default");
    let in_pool = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| synth(&opts)).expect("synth")
    };
    let one = in_pool(1);
    assert!(one.equals_missing(&in_pool(3)), "1 and 3 threads");
    assert!(one.equals_missing(&synth(&opts).expect("again")), "same seed, same rows");
    assert!(!one.equals_missing(&synth(&interactions(70_000, 8)).expect("other seed")));
    assert_eq!(one.shape(), (70_000, 1 + 33 + 7 + 1));
    // A prefix of the rows does not depend on how many rows follow.
    let short = synth(&interactions(40_000, 7)).expect("short");
    assert!(short.equals_missing(&one.slice(0, 40_000)));
}

#[test]
fn interactions_have_the_target_positive_rate_and_skewed_high_cardinality_columns() {
    for (seed, rate) in [(1, 0.06), (2, 0.06), (3, 0.15)] {
        let df = synth(&SynthOptions { positive_rate: rate, ..interactions(60_000, seed) }).expect("synth");
        let share = positive_share(&df);
        assert!((share - rate).abs() < 0.15 * rate, "seed {seed}: positive share {share}, target {rate}");
    }
    let df = synth(&interactions(60_000, 1)).expect("synth");
    for (name, cardinality) in interactions::CATEGORICAL.iter().zip(interactions::CARDINALITY) {
        let column = df.column(name).expect("column").as_materialized_series().clone();
        assert_eq!(column.null_count(), 0, "{name}");
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for value in column.str().expect("str").iter().flatten() {
            *counts.entry(value.to_string()).or_default() += 1;
        }
        assert_eq!(counts.len(), cardinality, "{name}: every value occurs");
        let (top, last) = (counts["v00"], counts.values().copied().min().expect("values"));
        assert!(top > 3 * last, "{name}: the most frequent value {top}, the rarest {last}");
    }
    assert!((df.column("num_5").expect("num_5").null_count() as f64 / 60_000.0 - 0.03).abs() < 0.005);
    // A shift moves the features but keeps the labelling function: more positives.
    let shifted = synth(&SynthOptions { shift: 1.0, ..interactions(60_000, 1) }).expect("shifted");
    assert!(positive_share(&shifted) > positive_share(&df) + 0.01);
}

#[test]
fn the_interactions_config_validates_the_written_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = interactions(5_000, 3);
    let mut df = synth(&opts).expect("synth");
    let path = dir.path().join("synth.csv");
    kiln_data::write::write_table(&path, kiln_data::config::FileFormat::Csv, &mut df).expect("write");
    let config_path = dir.path().join("synth.toml");
    let text = config_toml("synth.csv", &opts);
    std::fs::write(&config_path, &text).expect("config");
    let plan = plan_from(&config_path, &text).expect("plan");
    assert_eq!(plan.preprocess.min_frequency, 10);
    let table = load(&plan, Source::Train, 5).expect("load");
    assert_eq!(table.n_rows(), 5_000);
    let report = kiln_data::validate::validate("synth", &plan.validation, &table, None).expect("validate");
    assert!(report.passed(), "{:#?}", report.findings);
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let schema = plan.schema(&names).expect("schema");
    assert_eq!(schema.features().count(), 40, "{schema:?}");
    for model in ["kind = \"prior\"", "kind = \"linear\"", "kind = \"gbdt\""] {
        assert!(text.contains(model), "{model}");
    }
}
