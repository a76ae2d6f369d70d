//! Neural models through a real bundle file: trained on Adult by `session::fit_model` as the
//! binary does, written with the run's preprocessor in the manifest, read back and rebuilt by
//! `TrainedModel::from_bundle`, then scoring adult.test exactly as before the round trip (batch
//! norm's running statistics and the ResNet's embeddings and index encoding included).

use kiln_train::config::{MlpConfig, ModelSpec, Norm, PlannedModel, ResnetConfig};
use kiln_train::trained::TrainedModel;

fn round_trip(name: &str, spec: ModelSpec) {
    let data = crate::common::adult();
    let planned = PlannedModel { name: name.to_string(), spec };
    let reloaded = crate::common::fit_and_reload(&data, &planned, "nn-bundle");
    assert!(reloaded.report.is_some_and(|r| !r.epochs.is_empty()));
    let loaded = TrainedModel::from_bundle(&reloaded.bundle).expect("from bundle");
    assert_eq!(loaded.kind(), reloaded.model.kind());
    assert_eq!(
        loaded.predict(&data.test).expect("predict"),
        reloaded.predictions,
        "{name}: predictions after the round trip"
    );
}

#[test]
fn batch_norm_mlp_bundle_predicts_identically_after_reload() {
    let config =
        MlpConfig { hidden: vec![32, 32], epochs: 2, batch_size: 512, norm: Norm::Batch, ..MlpConfig::default() };
    round_trip("mlp_batch_norm", ModelSpec::Mlp(config));
}

#[test]
fn embedding_resnet_bundle_predicts_identically_after_reload() {
    let config =
        ResnetConfig { d_block: 32, epochs: 2, batch_size: 512, embedding_dim: Some(4), ..ResnetConfig::default() };
    round_trip("resnet_embeddings", ModelSpec::Resnet(config));
}
