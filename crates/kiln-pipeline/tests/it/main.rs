//! kiln-pipeline tests: the stages run in order on the shipped Adult data and on generated
//! data, each stage's result checked against values computed independently of the pipeline.

mod feedback;
mod ingest;
mod prepare;
mod retrain;
mod stages;

use std::path::{Path, PathBuf};

use kiln_data::synth::{SynthCase, SynthOptions};
use kiln_pipeline::config::LoadedConfig;

/// The shipped Adult config.
fn adult_config() -> LoadedConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/adult.toml");
    kiln_pipeline::config::load(&path).expect("configs/adult.toml loads")
}

/// A generated binary dataset of `rows` rows in `dir` and its config (key-hash split: 20%
/// test, 10% of the rest validation) followed by `extra` TOML.
fn synth_project(dir: &Path, rows: usize, extra: &str) -> PathBuf {
    let opts =
        SynthOptions { case: SynthCase::Default, rows, seed: 11, shift: 0.0, positive_rate: 0.3, missing_rate: 0.03 };
    let data = dir.join("s.csv");
    let mut df = kiln_data::synth::synth(&opts).expect("synth");
    kiln_data::write::write_table(&data, kiln_data::config::FileFormat::Csv, &mut df).expect("write data");
    let config = dir.join("s.toml");
    let text = kiln_data::synth::config_toml("s.csv", &opts) + extra;
    std::fs::write(&config, text).expect("write config");
    config
}
