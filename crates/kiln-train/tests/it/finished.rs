//! Finished-model files through a real file: a model trained on Adult, saved with the run's
//! manifest and loaded back, predicts adult.test exactly as before; files of another kind or a
//! damaged file are refused with typed errors naming the file.

use kiln_core::bundle::Bundle;
use kiln_core::container;
use kiln_train::Error;
use kiln_train::config::{ModelSpec, PlannedModel, ResnetConfig};
use kiln_train::finished::{self, Finished};

use crate::common::{adult, fit_and_reload};

fn saved_resnet() -> (tempfile::TempDir, std::path::PathBuf, crate::common::Reloaded, crate::common::Adult) {
    let data = adult();
    // Embeddings: the model's preprocessor (index encoding) differs from the run's.
    let config =
        ResnetConfig { d_block: 16, epochs: 1, batch_size: 512, embedding_dim: Some(4), ..ResnetConfig::default() };
    let planned = PlannedModel { name: "resnet".into(), spec: ModelSpec::Resnet(config) };
    let reloaded = fit_and_reload(&data, &planned, "finished");
    let (architecture, tensors) = reloaded.model.to_bundle_parts(1).expect("parts");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("resnet.model.safetensors");
    let model = kiln_train::trained::TrainedModel::from_bundle(&reloaded.bundle).expect("model");
    let finished = Finished { model, architecture, tensors, seconds: 1.25 };
    finished::save(&path, reloaded.bundle.manifest.clone(), &finished).expect("save");
    (dir, path, reloaded, data)
}

#[test]
fn a_finished_model_round_trips_and_predicts_as_before() {
    let (dir, path, reloaded, data) = saved_resnet();
    let loaded = finished::load(&path).expect("load").expect("the file exists");
    let (architecture, tensors) = reloaded.model.to_bundle_parts(1).expect("parts");
    assert_eq!((loaded.architecture, loaded.tensors, loaded.seconds), (architecture, tensors, 1.25));
    assert_eq!(loaded.model.predict(&data.test).expect("predict"), reloaded.predictions);
    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names, ["resnet.model.safetensors"], "no temporary file is left");
    assert!(finished::load(&dir.path().join("absent")).expect("absent").is_none());
}

#[test]
fn a_finished_model_file_is_not_a_bundle_and_a_bundle_is_not_one() {
    let (dir, path, reloaded, _) = saved_resnet();
    let err = Bundle::read(&path).expect_err("not a bundle");
    assert!(
        matches!(&err, kiln_core::Error::WrongFormat { found, expected, .. }
            if found == "kiln.finished.v1" && expected.name == container::BUNDLE.name),
        "{err:?}"
    );
    let bundle_path = dir.path().join("bundle.safetensors");
    reloaded.bundle.write(&bundle_path).expect("bundle");
    let err = finished::load(&bundle_path).expect_err("a bundle is not a finished model");
    assert!(
        matches!(&err, Error::FinishedFile(kiln_core::Error::WrongFormat { found, .. }) if found == "kiln.bundle.v1"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("bundle.safetensors")
            && message.contains(
                "hint: pass a finished-model file in its place, or delete the file to train this model again"
            ),
        "{message}"
    );

    let bytes = std::fs::read(&path).expect("bytes");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    let err = finished::load(&path).expect_err("truncated");
    assert!(matches!(&err, Error::FinishedFile(kiln_core::Error::ParseFile { .. })), "{err:?}");
    assert!(err.to_string().contains("hint: the file may be truncated or corrupt; delete the file"), "{err}");
}
