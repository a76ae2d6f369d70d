//! The stages before training on the shipped Adult data (load → validate → snapshot → split
//! → fit preprocessor), and a refusal by validation.

use kiln_data::fit::{Plain, plain_column};
use kiln_pipeline::prepare::{self, Validation};
use kiln_pipeline::progress::Silent;

use crate::{adult_config, synth_project};

fn numeric(df: &polars::prelude::DataFrame, column: &str) -> Vec<f64> {
    match plain_column(df, column, true).expect("column") {
        Plain::Numeric(v) => v.into_iter().flatten().collect(),
        Plain::Categorical(_) => panic!("{column} is numeric"),
    }
}

fn positive_share(df: &polars::prelude::DataFrame) -> f64 {
    let Plain::Categorical(labels) = plain_column(df, "income", false).expect("income") else { panic!("text") };
    labels.iter().filter(|l| l.as_deref() == Some(">50K")).count() as f64 / labels.len() as f64
}

#[test]
fn the_stages_before_training_split_adult_as_configured_and_fit_on_training_rows_only() {
    let loaded = prepare::load(adult_config(), &Silent).expect("load");
    // UCI Adult: 32,561 rows in adult.data, 16,281 in adult.test (adult.names).
    assert_eq!(loaded.train.n_rows(), 32_561);
    assert_eq!(loaded.test.as_ref().map(|t| t.n_rows()), Some(16_281));
    let Validation::Passed(validated) = loaded.validate().expect("validate") else { panic!("Adult passes") };
    assert_eq!(validated.models.models.len(), 6, "prior, rules, linear, gbdt, mlp, resnet");

    let snapshotted = validated.snapshot().expect("snapshot");
    let snapshot = snapshotted.snapshot.clone();
    assert_eq!(snapshot.split.method, "fixed");
    assert_eq!(snapshot.schema_hash, snapshotted.validated.loaded.train.schema.hash());

    let parts = snapshotted.split().expect("split");
    let (train, holdout, test) = parts.sizes();
    assert_eq!(train + holdout, 32_561, "the fixed split carves validation from adult.data");
    assert_eq!(test, 16_281, "adult.test is the test part");
    assert!(holdout.abs_diff(3_256) <= 2, "10% of adult.data is validation: {holdout}");
    assert_eq!(
        (train as u64, holdout as u64, test as u64),
        (snapshot.split.train, snapshot.split.validation, snapshot.split.test)
    );
    // Stratified by label: both parts keep adult.data's share of >50K (7,841 of 32,561).
    let share = 7_841.0 / 32_561.0;
    for (part, df) in [("train", &parts.train), ("validation", &parts.holdout)] {
        let s = positive_share(df);
        assert!((s - share).abs() < 0.002, "{part}: {s} against {share}");
    }

    let train_ages = numeric(&parts.train, "age");
    let prepared = parts.fit_preprocessor().expect("fit preprocessor");
    assert_eq!(prepared.n_outputs, 1);
    assert_eq!(prepared.preprocessor.numeric.len(), 6);
    assert_eq!(prepared.preprocessor.categorical.len(), 8);
    assert_eq!(prepared.preprocessor.n_rows_fitted, train);
    // Fitted on the training rows only: the age center is their mean (imputation: mean,
    // scaling: standard), not the mean over adult.data or adult.test.
    let mean = train_ages.iter().sum::<f64>() / train_ages.len() as f64;
    let age = prepared.preprocessor.numeric.iter().find(|n| n.name == "age").expect("age");
    assert!((age.center - mean).abs() < 1e-9, "{} against {mean}", age.center);
    let all_ages = numeric(&prepared.parts.holdout, "age");
    let all_mean =
        (train_ages.iter().sum::<f64>() + all_ages.iter().sum::<f64>()) / (train_ages.len() + all_ages.len()) as f64;
    assert!((age.center - all_mean).abs() > 1e-6, "the validation rows are not part of the fit");
}

#[test]
fn data_that_fails_validation_is_refused_with_its_findings_and_starts_no_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = synth_project(dir.path(), 500, "\n[[models]]\nkind = \"prior\"\n");
    let text = std::fs::read_to_string(&config).expect("config").replace("min = 18", "min = 30");
    std::fs::write(&config, text).expect("write");
    let loaded = kiln_pipeline::config::load(&config).expect("config");
    let store = dir.path().join("kiln.db");
    let mut tracker = kiln_pipeline::track::StoreTracker::new(&store);
    let train = kiln_pipeline::train::TrainOptions {
        backend: kiln_train::backend::Backend::native(),
        command: "run",
        resume: None,
        checkpoint_every: 0,
    };
    let options = kiln_pipeline::run::RunOptions { train: &train, report_dir: None, export: None, judge: None };
    let outcome = kiln_pipeline::run::run(loaded, &options, &mut tracker, &Silent).expect("run");
    let kiln_pipeline::run::Outcome::Refused(report) = outcome else { panic!("ages under 30 are refused") };
    assert!(!report.passed());
    let finding = report.findings.iter().find(|f| f.column.as_deref() == Some("age")).expect("an age finding");
    assert!(finding.count > 0 && !finding.examples.is_empty(), "{finding:?}");
    assert!(!store.exists(), "no run was started");
}
