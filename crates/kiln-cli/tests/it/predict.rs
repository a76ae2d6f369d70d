//! `kiln predict` through kiln-core's inference path: the same numbers as the trained model for
//! every model kind, on the raw Adult test file read as the config declares it; the bundle's
//! decision threshold; the row check; and kiln's own messages for files it cannot read.

use std::path::{Path, PathBuf};

use kiln_core::bundle::Bundle;
use kiln_data::plan::DataPlan;
use kiln_train::trained::TrainedModel;
use polars::prelude::{DataFrame, ParquetReader, SerReader};

use crate::{kiln_at, repo};

/// The Adult config's data sections (paths made absolute), with `models` and `evaluation`.
pub(crate) fn adult_config(dir: &Path, name: &str, models: &str, evaluation: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo("configs/adult.toml")).expect("adult.toml");
    let data = &text[..text.find("[[models]]").expect("models")];
    let data = data.replace("../datasets/", &format!("{}/", repo("datasets")));
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, format!("{data}\n{models}\n{evaluation}")).expect("config");
    path
}

/// The rules model of the shipped Adult config.
pub(crate) fn adult_rules() -> String {
    let text = std::fs::read_to_string(repo("configs/adult.toml")).expect("adult.toml");
    let start = text.find("[[models]]\nkind = \"rules\"").expect("rules");
    let end = text.find("[[models]]\nkind = \"linear\"").expect("linear");
    text[start..end].to_string()
}

pub(crate) fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).expect("open")).finish().expect("parquet")
}

pub(crate) fn floats(df: &DataFrame, name: &str) -> Vec<f64> {
    df.column(name)
        .expect(name)
        .as_materialized_series()
        .f64()
        .expect("f64")
        .iter()
        .map(|v| v.expect("value"))
        .collect()
}

pub(crate) fn texts(df: &DataFrame, name: &str) -> Vec<String> {
    df.column(name)
        .expect(name)
        .as_materialized_series()
        .str()
        .expect("str")
        .iter()
        .map(|v| v.expect("v").into())
        .collect()
}

/// Train `config` into `bundle`, then predict the raw adult.test with it.
pub(crate) fn train_and_predict(store: &str, config: &Path, bundle: &Path, preds: &Path) {
    let (config, bundle) = (config.display().to_string(), bundle.display().to_string());
    let (code, _, err) = kiln_at(store, &["-q", "train", &config, "--out", &bundle]);
    assert_eq!(code, 0, "{err}");
    let test = repo("datasets/adult/adult.test");
    let out = preds.display().to_string();
    let args = ["-q", "predict", "--bundle", &bundle, "--data", &test, "--config", &config, "--out", &out];
    let (code, stdout, err) = kiln_at(store, &args);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("16281"), "{stdout}");
}

/// What kiln-train's own model gives on the same rows, read with the same plan.
fn trained_scores(config: &Path, bundle: &Path) -> Vec<f64> {
    let plan = DataPlan::from_toml(config, &std::fs::read_to_string(config).expect("config")).expect("plan");
    let table = kiln_data::load::load_path(&plan, Path::new(&repo("datasets/adult/adult.test")), "test", 5)
        .expect("adult.test");
    let model = TrainedModel::from_bundle(&Bundle::read(bundle).expect("bundle")).expect("model");
    model.predict(&table.df).expect("predict").values
}

/// One small model of every kind kiln trains, as `[[models]]` entries for the Adult config.
pub(crate) fn every_kind() -> [(&'static str, String); 6] {
    [
        ("prior", "[[models]]\nkind = \"prior\"\n".to_string()),
        ("rules", adult_rules()),
        ("linear", "[[models]]\nkind = \"linear\"\nepochs = 2\n".into()),
        ("gbdt", "[[models]]\nkind = \"gbdt\"\nnum_iterations = 20\n".into()),
        ("mlp", "[[models]]\nkind = \"mlp\"\nhidden = [32]\nnorm = \"layer\"\nepochs = 1\n".into()),
        ("resnet", "[[models]]\nkind = \"resnet\"\nd_block = 16\nn_blocks = 1\nembedding_dim = 4\nepochs = 1\n".into()),
    ]
}

#[test]
fn predict_equals_the_trained_model_bit_for_bit_for_every_model_kind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let kinds = every_kind();
    for (kind, model) in kinds {
        let config = adult_config(dir.path(), kind, &model, "");
        let bundle = dir.path().join(format!("{kind}.safetensors"));
        let preds = dir.path().join(format!("{kind}.parquet"));
        train_and_predict(&store, &config, &bundle, &preds);
        let df = read_parquet(&preds);
        let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
        assert_eq!(names, ["p_>50K", "predicted"], "{kind}");
        let found = floats(&df, "p_>50K");
        let expected = trained_scores(&config, &bundle);
        assert_eq!(found.len(), 16_281, "{kind}");
        let same = found.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{kind}: kiln predict differs from the trained model");
        // The config sets no threshold: the default 0.5.
        let labels: Vec<&str> = found.iter().map(|p| if *p >= 0.5 { ">50K" } else { "<=50K" }).collect();
        assert_eq!(texts(&df, "predicted"), labels, "{kind}");
    }
}

#[test]
fn the_threshold_of_the_config_is_stored_in_the_bundle_and_decides_the_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let model = "[[models]]\nkind = \"gbdt\"\nnum_iterations = 10\n";
    let config = adult_config(dir.path(), "t03", model, "[evaluation]\nthreshold = 0.3\n");
    let bundle = dir.path().join("t03.safetensors");
    let preds = dir.path().join("t03.csv");
    train_and_predict(&store, &config, &bundle, &preds);
    assert_eq!(Bundle::read(&bundle).expect("bundle").manifest.decision_threshold, Some(0.3));
    let text = std::fs::read_to_string(&preds).expect("csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("p_>50K,predicted"));
    let (mut between, mut n) = (0, 0);
    for line in lines {
        let (p, label) = line.split_once(',').expect("two fields");
        let p: f64 = p.parse().expect("probability");
        // By hand: positive from 0.3 on, not from 0.5.
        assert_eq!(label, if p >= 0.3 { ">50K" } else { "<=50K" }, "{line}");
        between += usize::from((0.3..0.5).contains(&p));
        n += 1;
    }
    assert_eq!(n, 16_281);
    assert!(between > 100, "only {between} rows between 0.3 and 0.5: the test would not see the threshold");
}

#[test]
fn raw_files_without_their_config_get_kiln_messages_naming_file_line_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let config = adult_config(dir.path(), "prior", "[[models]]\nkind = \"prior\"\n", "");
    let bundle = dir.path().join("prior.safetensors").display().to_string();
    let (code, _, err) = kiln_at(&store, &["-q", "train", &config.display().to_string(), "--out", &bundle]);
    assert_eq!(code, 0, "{err}");
    let predict = |data: &Path| {
        let (data, out) = (data.display().to_string(), dir.path().join("p.parquet").display().to_string());
        let (code, _, err) = kiln_at(&store, &["-q", "predict", "--bundle", &bundle, "--data", &data, "--out", &out]);
        assert_eq!(code, 2, "{err}");
        err
    };
    let polars_words = ["Schema", "truncate_ragged_lines", "polars", "ComputeError"];
    // The raw Adult test file: no header row, a comment line first.
    let raw = PathBuf::from(repo("datasets/adult/adult.test"));
    let err = predict(&raw);
    assert!(err.contains(&raw.display().to_string()) && err.contains("line 1"), "{err}");
    assert!(err.contains("no header row") && err.contains("--config"), "{err}");
    assert!(!polars_words.iter().any(|w| err.contains(w)), "{err}");
    // `kiln eval` reads it the same way: refused without the config, read with it.
    let (raw_text, report) = (raw.display().to_string(), dir.path().join("report").display().to_string());
    let eval = ["-q", "eval", "--bundle", &bundle, "--data", &raw_text, "--out", &report, "--format", "json"];
    let (code, _, err) = kiln_at(&store, &eval);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 1") && err.contains("no header row"), "{err}");
    assert!(!polars_words.iter().any(|w| err.contains(w)), "{err}");
    let config_text = config.display().to_string();
    let (code, out, err) = kiln_at(&store, &[&eval[..], &["--config", &config_text]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("16281"), "the report covers every row of adult.test: {out}");

    // A header, then a row with a field too many on line 3.
    let header = "age,workclass,fnlwgt,education,education_num,marital_status,occupation,relationship,race,sex,capital_gain,capital_loss,hours_per_week,native_country";
    let row =
        "39,State-gov,77516,Bachelors,13,Never-married,Adm-clerical,Not-in-family,White,Male,2174,0,40,United-States";
    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, format!("{header}\n{row}\n{row},extra\n{row}\n")).expect("write");
    let err = predict(&ragged);
    assert!(err.contains(&ragged.display().to_string()) && err.contains("line 3"), "{err}");
    assert!(err.contains("expected 14 fields, found 15"), "{err}");
    assert!(!polars_words.iter().any(|w| err.contains(w)), "{err}");

    // Text where the bundle's schema declares a number: the row check names column and row.
    let typed = dir.path().join("typed.csv");
    let bad = row.replacen("39,", "old,", 1);
    std::fs::write(&typed, format!("{header}\n{row}\n{bad}\n")).expect("write");
    let err = predict(&typed);
    assert!(err.contains("column `age`: 1 value(s) are string where int is declared (row 2)"), "{err}");

    // A file named .parquet that is not Parquet.
    let fake = dir.path().join("fake.parquet");
    std::fs::write(&fake, format!("{header}\n{row}\n")).expect("write");
    let err = predict(&fake);
    assert!(err.contains(&fake.display().to_string()) && err.contains("not a Parquet file"), "{err}");
    assert!(!polars_words.iter().any(|w| err.contains(w)), "{err}");
}

#[test]
fn a_bundle_whose_outputs_do_not_fit_its_classes_is_refused_with_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let config = adult_config(dir.path(), "prior", "[[models]]\nkind = \"prior\"\n", "");
    let path = dir.path().join("prior.safetensors");
    let (code, _, err) =
        kiln_at(&store, &["-q", "train", &config.display().to_string(), "--out", &path.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let mut bundle = Bundle::read(&path).expect("bundle");
    bundle.manifest.schema.classes.push("unknown".into());
    let broken = dir.path().join("broken.safetensors");
    bundle.write(&broken).expect("write");
    let err = kiln_core::model::Model::from_bundle(&Bundle::read(&broken).expect("read")).expect_err("inconsistent");
    assert!(matches!(err, kiln_core::Error::OutputsMismatch { n_outputs: 1, n_classes: 3, .. }), "{err:?}");
    let raw = repo("datasets/adult/adult.test");
    let (broken, out) = (broken.display().to_string(), dir.path().join("p.csv").display().to_string());
    let args = ["-q", "predict", "--bundle", &broken, "--data", &raw, "--config", &config.display().to_string()];
    let (code, _, err) = kiln_at(&store, &[&args[..], &["--out", &out]].concat());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("gives 1 output(s) per row, but its schema is a binary task with 3 class(es)"), "{err}");
}

/// A shipped config's data sections (paths made absolute) with one model.
fn shipped_config(dir: &Path, name: &str, model: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo(&format!("configs/{name}.toml"))).expect("config");
    let data = &text[..text.find("[[models]]").expect("models")];
    let data = data.replace("../datasets/", &format!("{}/", repo("datasets")));
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, format!("{data}\n{model}")).expect("config");
    path
}

#[test]
fn multiclass_and_regression_predictions_equal_the_trained_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let data = PathBuf::from(repo("datasets/diamonds/diamonds.csv"));
    for (name, model) in [
        ("diamonds_cut", "[[models]]\nkind = \"gbdt\"\nnum_iterations = 5\n"),
        ("diamonds", "[[models]]\nkind = \"linear\"\nepochs = 1\n"),
    ] {
        let config = shipped_config(dir.path(), name, model);
        let bundle = dir.path().join(format!("{name}.safetensors"));
        let preds = dir.path().join(format!("{name}.parquet"));
        let (code, _, err) =
            kiln_at(&store, &["-q", "train", &config.display().to_string(), "--out", &bundle.display().to_string()]);
        assert_eq!(code, 0, "{err}");
        let args = [
            "-q",
            "predict",
            "--bundle",
            &bundle.display().to_string(),
            "--data",
            &data.display().to_string(),
            "--out",
            &preds.display().to_string(),
        ];
        let (code, _, err) = kiln_at(&store, &args.map(String::from).iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, 0, "{err}");
        let df = read_parquet(&preds);
        let saved = Bundle::read(&bundle).expect("bundle");
        let schema = &saved.manifest.schema;
        let table = kiln_data::load::load_for_schema(&data, schema, 5).expect("diamonds");
        let expected = TrainedModel::from_bundle(&saved).expect("model").predict(&table.df).expect("predict");
        assert_eq!(df.height(), 53_940);
        if schema.classes.is_empty() {
            let found = floats(&df, "predicted");
            assert!(found.iter().zip(&expected.values).all(|(a, b)| a.to_bits() == b.to_bits()), "{name}");
            continue;
        }
        let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
        let mut want: Vec<String> = schema.classes.iter().map(|c| format!("p_{c}")).collect();
        want.push("predicted".into());
        assert_eq!(names, want);
        for (k, class) in schema.classes.iter().enumerate() {
            let found = floats(&df, &format!("p_{class}"));
            let same = (0..expected.n_rows).all(|r| found[r].to_bits() == expected.row(r)[k].to_bits());
            assert!(same, "{name}: p_{class}");
        }
        let labels: Vec<String> = expected.argmax().into_iter().map(|k| schema.classes[k].clone()).collect();
        assert_eq!(texts(&df, "predicted"), labels, "{name}");
    }
}
