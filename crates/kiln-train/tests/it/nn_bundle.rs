//! Neural models through a real bundle file: trained on Adult by `session::fit_model` as the
//! binary does, written with the run's preprocessor in the manifest, read back and rebuilt by
//! `TrainedModel::from_bundle`, then scoring adult.test exactly as before the round trip (batch
//! norm's running statistics and the ResNet's embeddings and index encoding included).

use std::collections::BTreeMap;

use kiln_core::bundle::{Bundle, DataHashes, FORMAT_VERSION, Manifest, ReferenceDistributions};
use kiln_train::config::{MlpConfig, ModelSpec, Norm, PlannedModel, ResnetConfig};
use kiln_train::session::fit_model;
use kiln_train::trained::TrainedModel;

fn round_trip(name: &str, spec: ModelSpec) {
    let data = crate::common::adult();
    let planned = PlannedModel { name: name.to_string(), spec };
    let (model, report, _) = fit_model(
        &planned,
        42,
        &data.preprocessor,
        &data.train,
        &data.valid,
        &data.schema,
        None,
        &mut |_: &kiln_train::nn::EpochStats| {},
    )
    .expect("fit");
    assert!(report.is_some_and(|r| !r.epochs.is_empty()));
    let before = model.predict(&data.test).expect("predict");
    let (architecture, tensors) = model.to_bundle_parts(1).expect("bundle parts");
    let manifest = Manifest {
        format_version: FORMAT_VERSION.into(),
        task: data.schema.task,
        schema: data.schema.clone(),
        preprocessor: data.preprocessor.clone(),
        architecture,
        hyperparameters: serde_json::Value::Null,
        data: DataHashes { data_hash: "d".into(), schema_hash: "s".into(), split_hash: "p".into() },
        metrics: BTreeMap::new(),
        reference: ReferenceDistributions::default(),
        git_commit: None,
        git_dirty: false,
        kiln_version: "test".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        device: "cpu".into(),
    };
    let path = std::env::temp_dir().join(format!("kiln-train-{}-{name}.safetensors", std::process::id()));
    Bundle::new(manifest, tensors).write(&path).expect("write");
    let read = Bundle::read(&path);
    std::fs::remove_file(&path).ok();
    let loaded = TrainedModel::from_bundle(&read.expect("read")).expect("from bundle");
    assert_eq!(loaded.kind(), model.kind());
    assert_eq!(loaded.predict(&data.test).expect("predict"), before, "{name}: predictions after the round trip");
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
