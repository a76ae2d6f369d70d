//! Inference with kiln-core alone: every model kind trained on Adult, written to a bundle
//! file, read back and rebuilt by `kiln_core::model::Model::from_bundle` (no training code),
//! then scoring the plain columns of adult.test exactly as `TrainedModel::predict` does:
//! identical for prior, rules and gradient-boosted trees, within 1e-6 for the networks (whose
//! inference forward pass is also checked against training's own forward pass in evaluation
//! mode).

use kiln_core::model::Model;
use kiln_data::fit::{feature_columns, with_refs};
use kiln_train::config::{ModelsSection, PlannedModel};
use kiln_train::session::{TrainingData, fit_model};
use kiln_train::trained::TrainedModel;

use crate::common::{Adult, Reloaded, adult, fit_and_reload};

/// One model of each kind, small enough to train in seconds.
const MODELS: &str = r#"
[[models]]
kind = "prior"

[[models]]
kind = "rules"
default = { score = 0.05 }

[[models.rules]]
when = [
  { column = "marital_status", op = "in", value = ["Married-civ-spouse", "Married-AF-spouse"] },
  { column = "education_num", op = ">=", value = 13 },
]
score = 0.70

[[models.rules]]
when = [{ column = "workclass", op = "missing" }, { column = "age", op = "<", value = 30 }]
score = 0.02

[[models.rules]]
when = [{ column = "occupation", op = "!=", value = "Exec-managerial" }, { column = "hours_per_week", op = "<=", value = 20 }]
score = 0.03

[[models.rules]]
when = [{ column = "native_country", op = "not_in", value = ["United-States"] }, { column = "capital_loss", op = ">", value = 0 }]
score = 0.4

[[models]]
kind = "linear"
epochs = 2

[[models]]
kind = "gbdt"
num_iterations = 30

[[models]]
kind = "mlp"
name = "mlp_layer_norm"
hidden = [32, 32]
activation = "gelu"
norm = "layer"
residual = true
epochs = 2
batch_size = 512

[[models]]
kind = "mlp"
name = "mlp_batch_norm"
hidden = [32, 16]
activation = "silu"
norm = "batch"
epochs = 2
batch_size = 512

[[models]]
kind = "mlp"
name = "mlp_tanh"
hidden = [16]
activation = "tanh"
epochs = 1
batch_size = 512

[[models]]
kind = "resnet"
name = "resnet_one_hot"
d_block = 32
epochs = 2
batch_size = 512

[[models]]
kind = "resnet"
name = "resnet_embeddings"
d_block = 32
n_blocks = 2
embedding_dim = 4
epochs = 2
batch_size = 512
"#;

fn planned(data: &Adult, name: &str) -> PlannedModel {
    let plan = toml::from_str::<ModelsSection>(MODELS).expect("parse").validate(&data.schema).expect("valid");
    plan.models.into_iter().find(|m| m.name == name).expect("a model of that name")
}

/// Fit `name`, write its bundle, load it with kiln-core only; the largest difference between
/// kiln-core's scores of adult.test and `TrainedModel::predict`'s.
fn core_difference(name: &str) -> f64 {
    let data = adult();
    let Reloaded { model, predictions: trained, bundle, .. } = fit_and_reload(&data, &planned(&data, name), "core");
    let core = Model::from_bundle(&bundle).expect("kiln-core rebuilds the model");
    assert_eq!(core.kind(), model.kind());
    assert_eq!(core.n_outputs(), trained.n_outputs);
    let columns = feature_columns(&data.test, &data.schema).expect("columns");
    let scores = with_refs(&columns, |refs| core.predict(refs)).expect("kiln-core predicts");
    assert_eq!(scores.len(), trained.values.len());
    assert_eq!(scores.len(), 16_281 * trained.n_outputs);
    scores.iter().zip(&trained.values).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}

#[test]
fn prior_rules_and_gbdt_score_identically_through_kiln_core() {
    for name in ["prior", "rules", "gbdt"] {
        assert_eq!(core_difference(name), 0.0, "{name}");
    }
}

#[test]
fn linear_and_mlps_score_within_1e6_through_kiln_core() {
    for name in ["linear", "mlp_layer_norm", "mlp_batch_norm", "mlp_tanh"] {
        let difference = core_difference(name);
        assert!(difference <= 1e-6, "{name}: kiln-core differs by {difference:e}");
    }
}

#[test]
fn resnets_score_within_1e6_through_kiln_core() {
    for name in ["resnet_one_hot", "resnet_embeddings"] {
        let difference = core_difference(name);
        assert!(difference <= 1e-6, "{name}: kiln-core differs by {difference:e}");
    }
}

/// kiln-core's inference forward pass against training's forward pass in evaluation mode, on
/// every network kind trained on Adult (raw outputs, before the sigmoid).
#[test]
fn inference_forward_matches_the_training_forward_in_evaluation_mode() {
    let data = adult();
    for name in ["linear", "mlp_layer_norm", "mlp_batch_norm", "mlp_tanh", "resnet_one_hot", "resnet_embeddings"] {
        let planned = planned(&data, name);
        let (model, _, _) = fit_model(
            &planned,
            &TrainingData {
                schema: &data.schema,
                preprocessor: &data.preprocessor,
                train: &data.train,
                valid: &data.valid,
                seed: 7,
            },
            None,
            &mut |_: &kiln_train::nn::EpochStats| {},
        )
        .expect("fit");
        let TrainedModel::Neural(neural) = model else { panic!("{name} is a network") };
        let encoded = kiln_data::fit::encode(&neural.preprocessor, &data.test, &data.schema).expect("encode");
        let inference = neural.model.outputs(&encoded).expect("inference pass");
        let training = neural.model.training_pass_outputs(&encoded).expect("training pass");
        assert_eq!(inference.len(), training.len());
        let difference = inference.iter().zip(&training).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(difference <= 1e-6, "{name}: the passes differ by {difference:e}");
    }
}
