//! Gradient-boosted trees: Adult against the bar, binary, multiclass and regression smoke
//! tests on generated data, and save / load.

use kiln_core::rng::Rng;
use kiln_core::schema::{DType, Role, Schema, Task};
use kiln_data::synth::{SynthCase, SynthOptions, config_toml, synth};
use kiln_train::Error;
use kiln_train::baselines::gbdt::GbdtModel;
use kiln_train::baselines::prior::PriorModel;
use kiln_train::config::{GbdtCategorical, GbdtConfig, GbdtPlan};
use polars::prelude::{DataFrame, NamedFrom, Series};

use crate::common::{adult, column, fit_preprocessor, frame, positives, roc_auc, schema};

/// LightGBM reaches 0.927 on adult.test; kiln's GBDT must reach at least 0.925.
const ADULT_AUC_BAR: f64 = 0.925;

fn plan(config: &GbdtConfig) -> GbdtPlan {
    config.validate("models[0]").expect("valid gbdt config")
}

#[test]
fn adult_gbdt_reaches_the_auc_bar_and_round_trips() {
    let adult = adult();
    let config = GbdtConfig::default();
    let model =
        GbdtModel::fit(&plan(&config), adult.plan.project.seed, &adult.preprocessor, &adult.train, None, &adult.schema)
            .expect("fit");
    assert_eq!(model.seed, 42, "project.seed is used when the config sets none");
    let scores = model.predict(&adult.test).expect("predict");
    assert_eq!((scores.n_rows, scores.n_outputs), (16_281, 1));
    assert!(scores.values.iter().all(|p| (0.0..=1.0).contains(p)));
    let auc = roc_auc(&positives(&adult.test, &adult.schema), &scores.values).expect("auc");
    assert!(auc >= ADULT_AUC_BAR, "ROC AUC on adult.test is {auc:.4}, below {ADULT_AUC_BAR}");

    let bytes = model.to_bytes().expect("save");
    let loaded = GbdtModel::from_bytes(&bytes).expect("load");
    assert_eq!(loaded.n_trees(), model.n_trees());
    assert_eq!((loaded.seed, &loaded.config), (42, &config));
    assert_eq!(loaded.predict(&adult.test).expect("predict").values, scores.values, "identical after load");
}

/// LightGBM's own predictions for the rows of `df`, from the model text kiln converted.
fn lightgbm_predictions(model: &GbdtModel, df: &DataFrame) -> Vec<f64> {
    let booster = lightgbm3::Booster::from_string(model.library_model().expect("fitted here")).expect("booster");
    let encoded = kiln_data::fit::encode(model.preprocessor(), df, &model.schema).expect("encode");
    let rows: Vec<f64> = (0..encoded.n_rows).flat_map(|row| encoded.feature_row(row).map(f64::from)).collect();
    booster.predict(&rows, encoded.width() as i32, true).expect("LightGBM predicts")
}

/// kiln's trees (kiln-core's own traversal) give exactly LightGBM's predictions, bit for bit,
/// on every Adult test row, with categories as ordered codes and as LightGBM's native sets.
#[test]
fn kiln_trees_predict_exactly_what_lightgbm_predicts_on_adult() {
    let adult = adult();
    for categorical in [GbdtCategorical::Codes, GbdtCategorical::Native] {
        let config = GbdtConfig { categorical, ..GbdtConfig::default() };
        let model =
            GbdtModel::fit(&plan(&config), 42, &adult.preprocessor, &adult.train, None, &adult.schema).expect("fit");
        assert_eq!((model.rounds, model.n_trees()), (100, 100));
        let kiln = model.predict(&adult.test).expect("predict").values;
        let library = lightgbm_predictions(&model, &adult.test);
        assert_eq!(kiln.len(), 16_281);
        let differ = kiln.iter().zip(&library).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differ, 0, "{categorical:?}: {differ} rows differ from LightGBM");
        if categorical == GbdtCategorical::Native {
            assert!(model.forest().decision_type.iter().any(|d| d & 1 == 1), "native sets were used");
        }
    }
}

/// Early stopping on the validation rows keeps the best round, and fewer trees than the cap.
#[test]
fn early_stopping_keeps_the_best_round() {
    let schema = generated_schema(Task::Regression);
    let (train, valid) = (generated(2_000, 11, true), generated(500, 12, true));
    let preprocessor = fit_preprocessor(&train, &schema);
    let config = GbdtConfig { num_iterations: 2_000, early_stopping_rounds: Some(10), ..GbdtConfig::default() };
    let model = GbdtModel::fit(&plan(&config), 42, &preprocessor, &train, Some(&valid), &schema).expect("fit");
    assert!(model.rounds < 2_000 && model.rounds > 10, "{} rounds", model.rounds);
    assert_eq!(model.n_trees(), model.rounds);
    let library = lightgbm_predictions(&model, &valid);
    assert_eq!(model.predict(&valid).expect("predict").values, library);
}

/// The synthetic binary data of kiln-data, with its companion config's schema.
fn synth_binary(rows: usize) -> (DataFrame, Schema) {
    let opts = SynthOptions { rows, ..SynthOptions::default() };
    let df = synth(&opts).expect("synth");
    let path = std::path::Path::new("synth.toml");
    let plan = kiln_data::plan::DataPlan::from_toml(path, &config_toml("synth.csv", &opts)).expect("plan");
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let schema = plan.schema(&names).expect("schema");
    (df, schema)
}

#[test]
fn binary_on_synthetic_data_is_deterministic_and_beats_chance() {
    let (df, schema) = synth_binary(5_000);
    let (train, test) = (df.slice(0, 4_000), df.slice(4_000, 1_000));
    let preprocessor = fit_preprocessor(&train, &schema);
    let config = GbdtConfig { num_iterations: 50, seed: Some(3), ..GbdtConfig::default() };
    let a = GbdtModel::fit(&plan(&config), 42, &preprocessor, &train, None, &schema).expect("fit");
    let b = GbdtModel::fit(&plan(&config), 42, &preprocessor, &train, None, &schema).expect("fit again");
    assert_eq!(a.seed, 3);
    let scores = a.predict(&test).expect("predict");
    assert_eq!(scores.values, b.predict(&test).expect("predict").values, "same data and seed, same model");
    let auc = roc_auc(&positives(&test, &schema), &scores.values).expect("auc");
    // 4,000 training rows of a noisy logistic label: well above chance (0.5), not near 1.
    assert!(auc > 0.72, "{auc}");
}

/// Three classes from a noisy linear score of `x1` and the category `c`; `x2` is noise.
fn generated(rows: usize, seed: u64, regression: bool) -> DataFrame {
    let mut rng = Rng::new(seed);
    let (mut x1, mut x2, mut c, mut y_class, mut y_value) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..rows {
        let a = rng.normal();
        let b = rng.normal();
        let category = ["a", "b", "c", "d"][rng.below(4) as usize];
        let shift = match category {
            "a" => 0.8,
            "d" => -0.8,
            _ => 0.0,
        };
        let z = a + shift + 0.3 * rng.normal();
        y_class.push(if z < -0.5 {
            "low"
        } else if z < 0.5 {
            "mid"
        } else {
            "high"
        });
        y_value.push(3.0 * a + 2.0 * shift + b * b + 0.1 * rng.normal());
        x1.push((rng.uniform() > 0.02).then_some(a));
        x2.push(b);
        c.push((rng.uniform() > 0.02).then_some(category));
    }
    let target = if regression { Series::new("y".into(), &y_value) } else { Series::new("y".into(), &y_class) };
    frame(vec![Series::new("x1".into(), &x1), Series::new("x2".into(), &x2), Series::new("c".into(), &c), target])
}

fn generated_schema(task: Task) -> Schema {
    let (target, classes): (DType, &[&str]) =
        if task == Task::Regression { (DType::Float, &[]) } else { (DType::String, &["low", "mid", "high"]) };
    schema(
        task,
        vec![
            column("x1", DType::Float, Role::Numeric),
            column("x2", DType::Float, Role::Numeric),
            column("c", DType::String, Role::Categorical),
            column("y", target, Role::Target),
        ],
        classes,
    )
}

#[test]
fn multiclass_smoke_probabilities_sum_to_one_and_beat_the_prior() {
    let schema = generated_schema(Task::Multiclass);
    let (train, test) = (generated(3_000, 1, false), generated(1_000, 2, false));
    let preprocessor = fit_preprocessor(&train, &schema);
    let config = GbdtConfig { num_iterations: 60, ..GbdtConfig::default() };
    let model = GbdtModel::fit(&plan(&config), 42, &preprocessor, &train, None, &schema).expect("fit");
    let scores = model.predict(&test).expect("predict");
    assert_eq!((scores.n_rows, scores.n_outputs), (1_000, 3));
    for row in 0..scores.n_rows {
        let sum: f64 = scores.row(row).iter().sum();
        assert!((sum - 1.0).abs() < 1e-9, "row {row} sums to {sum}");
    }
    let truth = kiln_train::target::read_target(&test, &schema).expect("target");
    let kiln_train::target::Target::Classes { index, .. } = truth else { panic!("classes") };
    let accuracy = |predicted: Vec<usize>| {
        predicted.iter().zip(&index).filter(|(p, t)| **p == **t as usize).count() as f64 / index.len() as f64
    };
    let prior = PriorModel::fit(&train, &schema).expect("prior").predict(&test);
    let (model_accuracy, prior_accuracy) = (accuracy(scores.argmax()), accuracy(prior.argmax()));
    assert!(model_accuracy > prior_accuracy + 0.3, "gbdt {model_accuracy} vs prior {prior_accuracy}");

    let loaded = GbdtModel::from_bytes(&model.to_bytes().expect("save")).expect("load");
    assert_eq!(loaded.predict(&test).expect("predict"), scores);
    assert_eq!(scores.values, lightgbm_predictions(&model, &test), "softmax as LightGBM computes it");
}

#[test]
fn regression_smoke_error_is_well_below_the_spread() {
    let schema = generated_schema(Task::Regression);
    let (train, test) = (generated(3_000, 3, true), generated(1_000, 4, true));
    let preprocessor = fit_preprocessor(&train, &schema);
    let config = GbdtConfig { num_iterations: 100, ..GbdtConfig::default() };
    let model = GbdtModel::fit(&plan(&config), 42, &preprocessor, &train, None, &schema).expect("fit");
    let scores = model.predict(&test).expect("predict");
    assert_eq!((scores.n_rows, scores.n_outputs), (1_000, 1));
    let truth = test.column("y").expect("y").as_materialized_series().f64().expect("f64").clone();
    let truth: Vec<f64> = truth.iter().flatten().collect();
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    let rmse = |pred: &[f64]| {
        (pred.iter().zip(&truth).map(|(p, t)| (p - t) * (p - t)).sum::<f64>() / truth.len() as f64).sqrt()
    };
    let spread = rmse(&vec![mean; truth.len()]);
    assert!(rmse(&scores.values) < 0.5 * spread, "rmse {} vs spread {spread}", rmse(&scores.values));

    let loaded = GbdtModel::from_bytes(&model.to_bytes().expect("save")).expect("load");
    assert_eq!(loaded.predict(&test).expect("predict"), scores);
}

#[test]
fn prediction_needs_the_feature_columns_and_saved_bytes_are_checked() {
    let schema = generated_schema(Task::Regression);
    let train = generated(500, 5, true);
    let preprocessor = fit_preprocessor(&train, &schema);
    let model = GbdtModel::fit(
        &plan(&GbdtConfig { num_iterations: 10, ..GbdtConfig::default() }),
        42,
        &preprocessor,
        &train,
        None,
        &schema,
    )
    .expect("fit");
    let without_c = train.drop("c").expect("drop");
    assert!(matches!(model.predict(&without_c), Err(Error::Encode(_))));
    let bytes = model.to_bytes().expect("save");
    let text = String::from_utf8(bytes).expect("JSON text");
    let other = text.replacen("kiln.trees.v1", "kiln.trees.v0", 1);
    assert!(matches!(GbdtModel::from_bytes(other.as_bytes()), Err(Error::Format { .. })));
    assert!(matches!(GbdtModel::from_bytes(b"{}"), Err(Error::Deserialize { .. })));
}

/// The synthetic case that reproduces the failure of the old trees (`kiln data synth --case
/// interactions`: high-cardinality categorical columns whose pairs carry the label, 6%
/// positives) holds kiln's GBDT, at its defaults, within 0.003 ROC AUC and 0.005 log loss of
/// LightGBM's defaults on the same split, as saved by `scripts/fixtures/gbdt_lightgbm.py`
/// (LightGBM 0.829; logistic regression 0.754; the old trees 0.801 with a log loss worse than
/// the prior's).
#[test]
fn interactions_case_is_within_the_margin_of_the_lightgbm_fixture() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/gbdt_lightgbm_interactions.json")).expect("fixture JSON");
    let data = &fixture["data"];
    let opts = SynthOptions {
        rows: data["rows"].as_u64().expect("rows") as usize,
        seed: data["seed"].as_u64().expect("seed"),
        ..SynthOptions::for_case(SynthCase::Interactions)
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut df = synth(&opts).expect("synth");
    let csv = dir.path().join("synth.csv");
    kiln_data::write::write_table(&csv, kiln_data::config::FileFormat::Csv, &mut df).expect("write csv");
    let config = dir.path().join("synth.toml");
    let text = config_toml("synth.csv", &opts);
    std::fs::write(&config, &text).expect("write config");
    let data_plan = kiln_data::plan::DataPlan::from_toml(&config, &text).expect("plan");
    let file = kiln_data::load::load(&data_plan, kiln_data::load::Source::Train, 5).expect("load");
    let split = kiln_data::split::assign(&data_plan.split, data_plan.split_seed, &file, 0).expect("split");
    let part = |p| split.select(&file.df, p).expect("part");
    let (train, test) = (part(kiln_data::split::Part::Train), part(kiln_data::split::Part::Test));
    let expected = &data["split"];
    assert_eq!(train.height() as u64, expected["train"]["rows"].as_u64().expect("rows"), "the fixture's split");
    assert_eq!(test.height() as u64, expected["test"]["rows"].as_u64().expect("rows"), "the fixture's split");

    let preprocessor =
        kiln_data::fit::fit_preprocessor(&data_plan.preprocess, &train, &file.schema).expect("preprocessor");
    let model = GbdtModel::fit(
        &plan(&GbdtConfig::default()),
        data_plan.project.seed,
        &preprocessor,
        &train,
        None,
        &file.schema,
    )
    .expect("fit");
    let p = model.predict(&test).expect("predict").values;
    assert_eq!(p, lightgbm_predictions(&model, &test), "kiln's trees score as LightGBM does");
    let y = positives(&test, &file.schema);
    let auc = roc_auc(&y, &p).expect("auc");
    let log_loss =
        -y.iter().zip(&p).map(|(t, p)| if *t { p.ln() } else { (1.0 - p).ln() }).sum::<f64>() / p.len() as f64;
    let reference = &fixture["lightgbm"]["test"];
    let (lgbm_auc, lgbm_loss) =
        (reference["roc_auc"].as_f64().expect("auc"), reference["log_loss"].as_f64().expect("loss"));
    assert!(auc >= lgbm_auc - 0.003, "kiln ROC AUC {auc:.4}, LightGBM {lgbm_auc:.4}");
    assert!(log_loss <= lgbm_loss + 0.005, "kiln log loss {log_loss:.4}, LightGBM {lgbm_loss:.4}");
    let logistic = fixture["logistic_one_hot"]["test"]["roc_auc"].as_f64().expect("logistic auc");
    assert!(auc > logistic + 0.05, "the trees' lead over a linear model is the point of the case: {auc} vs {logistic}");
}
