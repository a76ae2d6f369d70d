//! Every stage on generated data: each model is scored once, as its exported bundle scores
//! through kiln-core; the evaluation's metrics match a hand-written ROC AUC; the tracker
//! records the run; `kiln data split`'s files agree with the snapshot.

use kiln_core::bundle::Bundle;
use kiln_core::model::Model;
use kiln_core::preprocess::ColumnRef;
use kiln_data::fit::{Plain, plain_column};
use kiln_data::split::key_uniform;
use kiln_pipeline::export::{Registration, register};
use kiln_pipeline::prepare::{self, Validation};
use kiln_pipeline::progress::Silent;
use kiln_pipeline::track::{StoreTracker, Tracker};
use kiln_pipeline::train::TrainOptions;
use polars::prelude::DataFrame;

use crate::synth_project;

const MODELS: &str = r#"
[[models]]
kind = "prior"

[[models]]
kind = "linear"
name = "linear"
epochs = 3
batch_size = 128

[[models]]
kind = "gbdt"
name = "gbdt"
num_iterations = 20

[evaluation]
ci = { method = "none" }
"#;

/// Scores of `model` on `df`, read column by column for kiln-core (not through the pipeline).
fn scores_of(model: &Model, df: &DataFrame) -> Vec<f64> {
    let mut wanted: Vec<(String, bool)> = model.input_columns().iter().map(|(n, k)| (n.to_string(), *k)).collect();
    if wanted.is_empty() {
        wanted.push(("age".into(), true));
    }
    let plain: Vec<(String, Plain)> =
        wanted.iter().map(|(n, k)| (n.clone(), plain_column(df, n, *k).expect("column"))).collect();
    let text: Vec<Vec<Option<&str>>> = plain
        .iter()
        .map(|(_, p)| match p {
            Plain::Categorical(v) => v.iter().map(Option::as_deref).collect(),
            Plain::Numeric(_) => Vec::new(),
        })
        .collect();
    let refs: Vec<(&str, ColumnRef<'_>)> = plain
        .iter()
        .zip(&text)
        .map(|((n, p), t)| match p {
            Plain::Numeric(v) => (n.as_str(), ColumnRef::Numeric(v)),
            Plain::Categorical(_) => (n.as_str(), ColumnRef::Categorical(t)),
        })
        .collect();
    model.predict(&refs).expect("predict")
}

/// ROC AUC by its definition: the share of (positive, negative) pairs ranked correctly, ties
/// counting one half.
fn auc_by_pairs(scores: &[f64], positive: &[bool]) -> f64 {
    let of = |class: bool| scores.iter().zip(positive).filter(move |(_, y)| **y == class).map(|(s, _)| *s);
    let (mut wins, mut pairs) = (0.0, 0.0);
    for p in of(true) {
        for n in of(false) {
            pairs += 1.0;
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / pairs
}

#[test]
fn each_stage_produces_what_it_says_and_models_score_as_their_exported_bundles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = synth_project(dir.path(), 1_500, MODELS);
    let config = kiln_pipeline::config::load(&config_path).expect("config");
    let Validation::Passed(validated) = prepare::load(config, &Silent).and_then(|l| l.validate()).expect("validate")
    else {
        panic!("the generated data passes")
    };
    let ids: Vec<String> = match plain_column(&validated.loaded.train.df, "id", false).expect("id") {
        Plain::Categorical(v) => v.into_iter().map(|k| k.unwrap_or_default()).collect(),
        Plain::Numeric(_) => unreachable!("read as text"),
    };
    let prepared = validated.snapshot().and_then(|s| s.split()).and_then(|s| s.fit_preprocessor()).expect("prepare");

    // The key-hash split: a row is test when its key's uniform number is under 0.2, validation
    // under 0.2 + 0.8 × 0.1.
    let seed = prepared.parts.snapshot.split.seed;
    let test_rows = ids.iter().filter(|k| key_uniform(k, seed) < 0.2).count();
    let valid_rows = ids.iter().filter(|k| (0.2..0.28).contains(&key_uniform(k, seed))).count();
    assert_eq!(prepared.parts.sizes(), (1_500 - test_rows - valid_rows, valid_rows, test_rows));

    let store = dir.path().join("kiln.db");
    let mut tracker = StoreTracker::new(&store);
    let options = TrainOptions {
        backend: kiln_train::backend::Backend::native(),
        command: "run",
        resume: None,
        checkpoint_every: 0,
    };
    let trained = prepared.train(&options, &mut tracker, &Silent).expect("train");
    let names: Vec<&str> = trained.models.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["prior", "linear", "gbdt"]);

    let positive: Vec<bool> = match plain_column(&prepared.parts.test, "label", false).expect("label") {
        Plain::Categorical(v) => v.iter().map(|l| l.as_deref() == Some("yes")).collect(),
        Plain::Numeric(_) => unreachable!("read as text"),
    };
    let evaluated = prepared.evaluate(&trained, &Silent).expect("evaluate");
    for (index, fitted) in trained.models.iter().enumerate() {
        // Export, read the bundle back and score the test rows through kiln-core alone.
        let path = dir.path().join(format!("{}.safetensors", fitted.name));
        let exported =
            prepared.export(&trained, index, evaluated.test_metrics(index), Some(&path), &mut tracker).expect("export");
        assert_eq!(exported.sha256, kiln_track::sha256_file(&path).expect("hash"));
        let bundle = Bundle::read(&path).expect("bundle");
        assert_eq!(bundle.manifest.architecture, fitted.finished.architecture, "the real architecture");
        assert_eq!(bundle.manifest.data.split_hash, prepared.parts.snapshot.split.hash);
        let model = Model::from_bundle(&bundle).expect("model");
        let scores = scores_of(&model, &prepared.parts.test);
        assert_eq!(scores, fitted.test_scores, "{}: the scores kept from training", fitted.name);

        let auc = auc_by_pairs(&scores, &positive);
        let reported = evaluated.report.models[index].overall_metric("roc_auc").and_then(|m| m.value);
        assert!((reported.expect("roc_auc") - auc).abs() < 1e-12, "{}: {reported:?} against {auc}", fitted.name);
        assert!((fitted.test.value - auc).abs() < 1e-12, "{}: selection score", fitted.name);
        assert!((bundle.manifest.metrics["roc_auc"] - auc).abs() < 1e-12, "{}: manifest metric", fitted.name);
    }
    assert!((auc_by_pairs(&trained.models[0].test_scores, &positive) - 0.5).abs() < 1e-12, "a prior ranks nothing");

    let gated = evaluated.gate(&trained).expect("gate");
    let chosen = gated.chosen.expect("no acceptance section: the best model is chosen");
    assert_eq!(Some(trained.models[chosen].name.as_str()), evaluated.report.chosen.as_deref());
    let exported = prepared
        .export(
            &trained,
            chosen,
            evaluated.test_metrics(chosen),
            Some(&dir.path().join("chosen.safetensors")),
            &mut tracker,
        )
        .expect("export");
    let registration = Registration {
        project: "synth",
        exported: &exported,
        passed: true,
        verdict: serde_json::json!({}),
        record_training: false,
    };
    assert_eq!(register(&registration, &mut tracker).expect("register"), 1);
    tracker.finished().expect("finish");

    // What the tracker recorded: the run's data versions and each model's scores.
    let store = kiln_track::Store::open(&store).expect("store");
    let detail = store.show_run(&trained.run.id).expect("run");
    assert_eq!(detail.data.data_hash.as_deref(), Some(prepared.parts.snapshot.dataset_hash.as_str()));
    for fitted in &trained.models {
        let recorded = &detail.metrics[&format!("{}.test_roc_auc", fitted.name)];
        assert_eq!(recorded.last().map(|p| p.value), Some(fitted.test.value));
    }
}

#[test]
fn split_files_agree_with_the_snapshot_of_the_same_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = synth_project(dir.path(), 800, "\n[[models]]\nkind = \"prior\"\n");
    let config = kiln_pipeline::config::load(&config_path).expect("config");
    let loaded = prepare::load(config.clone(), &Silent).expect("load");
    let out = dir.path().join("parts");
    let (manifest, path) =
        kiln_pipeline::split_files::write_split(&config, &loaded.train, loaded.test.as_ref(), &out).expect("split");
    assert_eq!(path, out.join("split.json"));
    let Validation::Passed(validated) = loaded.validate().expect("validate") else { panic!("passes") };
    let snapshotted = validated.snapshot().expect("snapshot");
    let snapshot = &snapshotted.snapshot;
    assert_eq!(manifest.format, "kiln.split.v1");
    assert_eq!(manifest.split_hash, snapshot.split.hash);
    assert_eq!(manifest.schema_hash, snapshot.schema_hash);
    let rows: Vec<u64> = manifest.files.iter().map(|f| f.n_rows).collect();
    assert_eq!(rows, [snapshot.split.train, snapshot.split.validation, snapshot.split.test]);
    for file in &manifest.files {
        assert!(std::path::Path::new(&file.path).exists(), "{} written", file.path);
    }
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("split.json")).expect("json");
    assert_eq!(written["split_hash"], manifest.split_hash.as_str());
}

#[test]
fn split_files_of_a_folder_read_batch_by_batch_equal_those_of_one_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = synth_project(dir.path(), 3_000, "\n[[models]]\nkind = \"prior\"\n");
    let config = kiln_pipeline::config::load(&config_path).expect("config");
    let loaded = prepare::load(config.clone(), &Silent).expect("load");
    let (whole, _) =
        kiln_pipeline::split_files::write_split(&config, &loaded.train, None, &dir.path().join("one")).expect("split");
    // The same rows as three Parquet files of small row groups, in a folder.
    let df = &loaded.train.df;
    std::fs::create_dir_all(dir.path().join("many")).expect("folder");
    for (i, (start, len)) in [(0, 1000), (1000, 1500), (2500, 500)].into_iter().enumerate() {
        let file = std::fs::File::create(dir.path().join(format!("many/part-{i}.parquet"))).expect("create");
        let mut piece = df.slice(start, len);
        polars::prelude::ParquetWriter::new(file).with_row_group_size(Some(300)).finish(&mut piece).expect("write");
    }
    let text =
        std::fs::read_to_string(&config_path).expect("config text").replace("train = \"s.csv\"", "train = \"many\"");
    let folder_config = dir.path().join("many.toml");
    std::fs::write(&folder_config, text).expect("write config");
    let config = kiln_pipeline::config::load(&folder_config).expect("folder config");
    let train = kiln_data::stream::Opened::open(&config.plan, kiln_data::load::Source::Train).expect("open");
    assert!(matches!(train, kiln_data::stream::Opened::Parts { .. }));
    let (streamed, _) =
        kiln_pipeline::split_files::write_split_from(&config, &train, None, &dir.path().join("streamed"))
            .expect("split");
    assert_eq!(
        (streamed.split_hash.as_str(), streamed.schema_hash.as_str()),
        (whole.split_hash.as_str(), whole.schema_hash.as_str())
    );
    for (a, b) in whole.files.iter().zip(&streamed.files) {
        assert_eq!((a.n_rows, &a.data_hash), (b.n_rows, &b.data_hash), "{}", a.part);
        let read = |path: &str| {
            use polars::prelude::SerReader;
            let file = std::fs::File::open(path).expect("open part");
            polars::prelude::ParquetReader::new(file).finish().expect("read part")
        };
        assert!(read(&a.path).equals_missing(&read(&b.path)), "{} rows", a.part);
    }
    assert_eq!(whole.files.iter().map(|f| f.n_rows).sum::<u64>(), 3_000);
    // `kiln run` and `kiln train` read the folder whole, as they read one file.
    let folder_loaded = prepare::load(config, &Silent).expect("load the folder");
    assert!(folder_loaded.train.df.equals_missing(&loaded.train.df));
    assert_eq!(folder_loaded.train.schema, loaded.train.schema);
}

#[test]
fn a_bundle_evaluated_alone_scores_the_test_rows_as_the_run_did() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra =
        "\n[[models]]\nkind = \"linear\"\nname = \"linear\"\nepochs = 2\n\n[evaluation]\nci = { method = \"none\" }\n";
    let config_path = synth_project(dir.path(), 1_200, extra);
    let config = kiln_pipeline::config::load(&config_path).expect("config");
    let loaded = prepare::load(config.clone(), &Silent).expect("load");
    let parts = dir.path().join("parts");
    kiln_pipeline::split_files::write_split(&config, &loaded.train, loaded.test.as_ref(), &parts).expect("split");
    let Validation::Passed(validated) = loaded.validate().expect("validate") else { panic!("passes") };
    let prepared = validated.snapshot().and_then(|s| s.split()).and_then(|s| s.fit_preprocessor()).expect("prepare");
    let mut tracker = StoreTracker::new(&dir.path().join("kiln.db"));
    let options = TrainOptions {
        backend: kiln_train::backend::Backend::native(),
        command: "run",
        resume: None,
        checkpoint_every: 0,
    };
    let trained = prepared.train(&options, &mut tracker, &Silent).expect("train");
    let evaluated = prepared.evaluate(&trained, &Silent).expect("evaluate");
    let bundle = dir.path().join("linear.safetensors");
    prepared.export(&trained, 0, evaluated.test_metrics(0), Some(&bundle), &mut tracker).expect("export");
    tracker.finished().expect("finish");

    // `kiln eval` of the bundle on the test part written by `kiln data split`.
    let request = kiln_pipeline::bundle_eval::BundleEval {
        bundle: &bundle,
        data: &parts.join("test.parquet"),
        config: Some(&config),
        out: Some(&dir.path().join("eval")),
    };
    let mut eval_tracker = StoreTracker::new(&dir.path().join("kiln.db"));
    let alone = kiln_pipeline::bundle_eval::evaluate_bundle(&request, &mut eval_tracker, &Silent).expect("eval");
    assert_eq!(alone.report.n_rows, prepared.parts.test.height());
    let metric = |report: &kiln_eval::report::EvalReport, m: &str| {
        report.models[report.models.len() - 1].overall_metric(m).and_then(|v| v.value).expect("metric")
    };
    for m in ["roc_auc", "log_loss", "brier"] {
        assert_eq!(metric(&alone.report, m), metric(&evaluated.report, m), "{m}");
    }
    assert!(alone.report_files.iter().all(|f| f.exists()));
}

#[test]
fn a_resumed_run_reloads_its_finished_models_and_scores_them_as_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = synth_project(dir.path(), 1_000, MODELS);
    let config = kiln_pipeline::config::load(&config_path).expect("config");
    let prepared = match kiln_pipeline::prepare::prepare(config, &Silent).expect("prepare") {
        Ok(prepared) => prepared,
        Err(report) => panic!("the generated data passes: {report:?}"),
    };
    let store = dir.path().join("kiln.db");
    let options = TrainOptions {
        backend: kiln_train::backend::Backend::native(),
        command: "run",
        resume: None,
        checkpoint_every: 1,
    };
    // A run that stops after training (its tracker dropped: the run is interrupted, and its
    // finished models stay in its checkpoint folder).
    let first = {
        let mut tracker = StoreTracker::new(&store);
        prepared.train(&options, &mut tracker, &Silent).expect("train")
    };
    for fitted in &first.models {
        let saved = first.run.checkpoint_dir.join(format!("{}.model.safetensors", fitted.name));
        assert!(saved.exists(), "{} saved for a resume", saved.display());
    }
    assert!(!first.models[1].history.is_empty(), "the linear model reports its epochs");
    let resume = TrainOptions { resume: Some(&first.run.id), ..options };
    let mut tracker = StoreTracker::new(&store);
    let again = prepared.train(&resume, &mut tracker, &Silent).expect("resume");
    assert_eq!(again.run.id, first.run.id, "the same run continues");
    for (a, b) in first.models.iter().zip(&again.models) {
        assert!(b.history.is_empty(), "{}: reloaded, not trained again", b.name);
        assert_eq!(a.finished.tensors, b.finished.tensors, "{}", a.name);
        assert_eq!(a.test_scores, b.test_scores, "{}: scored as before", a.name);
        assert_eq!(a.validation, b.validation, "{}", a.name);
    }
    tracker.finished().expect("finish");
}
