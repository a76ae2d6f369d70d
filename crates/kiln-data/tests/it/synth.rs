//! The synthetic data generator.

use kiln_data::load::{Source, load};
use kiln_data::synth::{SynthOptions, config_toml, synth};

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
