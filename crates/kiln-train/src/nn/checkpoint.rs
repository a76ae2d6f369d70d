//! Training checkpoints: everything the neural training loop needs to continue a fit
//! bit-identically after the process stopped.
//!
//! A checkpoint holds the current and the best weights (every tensor of
//! [`NeuralModel::named_tensors`], so tensors added to the model are saved without changes
//! here), AdamW's step count and moments, the shuffle and dropout generators' states, the row
//! order of the last shuffle, the epoch and step counters, the best metric and its epoch (the
//! patience counter is `epoch - best_epoch`), whether training has ended, and the history of
//! [`EpochStats`].
//!
//! # File format (`kiln.checkpoint.v1`)
//!
//! A `kiln_core::container` file: safetensors tensors `model.<name>` and `best.<name>` (f32,
//! the current and best weights), `adam.m.<slot>` and `adam.v.<slot>` (f32, AdamW's moments)
//! and `order` (i64, the row order), and a typed JSON header with the scalars. Floats that must
//! survive exactly (the best metric, the history) are stored as their IEEE bits. The header's
//! `checksum` is `kiln_core::hash::content_hash` over the header (with an empty checksum) and
//! every tensor's name and bytes, so a damaged byte anywhere is noticed. Files are written
//! atomically (temporary file + rename).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_core::bundle::{Architecture, TensorData};
use kiln_core::container::{self, Format, Tensors};
use kiln_core::hash::content_hash;
use kiln_core::schema::Task;
use serde::{Deserialize, Serialize};

use super::model::NeuralModel;
use super::train::EpochStats;
use crate::error::{Error, Result};

/// The format this build writes and reads.
pub const CHECKPOINT_FORMAT: Format = container::CHECKPOINT;

/// Where a fit saves its state, how often, and whether it continues from a saved one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointSpec {
    /// The checkpoint file (replaced atomically at each save).
    pub path: PathBuf,
    /// Save after every `every` epochs (at least 1), and always after the last one.
    pub every: usize,
    /// Continue from the checkpoint at `path` when the file exists.
    pub resume: bool,
}

/// The training loop's whole state after an epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainState {
    /// Hash of the task, architecture, parameters, seed and data the fit was started with; a
    /// checkpoint only continues a fit with the same fingerprint.
    pub fingerprint: String,
    /// The weights after the last completed epoch.
    pub model: NeuralModel,
    /// The weights of the best epoch so far (before any target rescaling).
    pub best_model: NeuralModel,
    /// The best validation metric so far (NaN before the first epoch).
    pub best_metric: f64,
    /// The epoch of `best_model` (1-based; 0 before the first epoch).
    pub best_epoch: usize,
    /// Completed epochs.
    pub epoch: usize,
    /// Optimizer steps taken (the learning-rate schedule's position).
    pub step: usize,
    /// Training has ended (epoch budget, patience or time budget); nothing is left to run.
    pub finished: bool,
    /// Training ended before the epoch budget.
    pub stopped_early: bool,
    /// AdamW's step count.
    pub adam_step: u64,
    /// AdamW's first moments, one per entry of the model's trainable tensors.
    pub adam_first: Vec<Vec<f32>>,
    /// AdamW's second moments.
    pub adam_second: Vec<Vec<f32>>,
    /// The shuffle generator's state.
    pub shuffle_rng: [u64; 4],
    /// The dropout generator's state.
    pub dropout_rng: [u64; 4],
    /// The training rows in the order of the last shuffle (each epoch shuffles it again).
    pub order: Vec<usize>,
    /// One entry per completed epoch.
    pub history: Vec<EpochStats>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format_version: String,
    fingerprint: String,
    task: Task,
    architecture: Architecture,
    best_metric_bits: u64,
    best_epoch: usize,
    epoch: usize,
    step: usize,
    finished: bool,
    stopped_early: bool,
    adam_step: u64,
    n_adam: usize,
    shuffle_rng: [u64; 4],
    dropout_rng: [u64; 4],
    /// `[epoch, train_loss, valid_metric, samples_per_sec, seconds]`, floats as IEEE bits.
    history: Vec<[u64; 5]>,
    /// See the module docs; empty while it is computed.
    checksum: String,
}

impl container::Header for Header {
    const FORMAT: &'static Format = &CHECKPOINT_FORMAT;

    fn format_version(&self) -> &str {
        &self.format_version
    }
}

/// The checksum of a header (its own `checksum` ignored) and the tensors.
fn checksum(header: &mut Header, tensors: &Tensors) -> String {
    let saved = std::mem::take(&mut header.checksum);
    let json = serde_json::to_vec(&*header).expect("a checkpoint header always serializes to JSON");
    header.checksum = saved;
    let mut parts: Vec<&[u8]> = vec![&json];
    for (name, tensor) in tensors {
        parts.push(name.as_bytes());
        parts.push(&tensor.bytes);
    }
    content_hash(&parts)
}

impl TrainState {
    /// Write the state to `path` atomically (temporary file in the same folder + rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let (header, tensors) = self.parts();
        container::write(path, &header, &tensors).map_err(Error::CheckpointFile)
    }

    /// Read a state written by [`TrainState::write`], checking its format and checksum.
    pub fn read(path: &Path) -> Result<Self> {
        let (header, tensors) = container::read::<Header>(path).map_err(Error::CheckpointFile)?;
        Self::from_parts(header, tensors)
            .map_err(|problem| Error::CheckpointCorrupt { path: path.to_path_buf(), problem })
    }

    /// The checkpoint file's bytes (as [`TrainState::write`] writes them).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let (header, tensors) = self.parts();
        container::to_bytes(Path::new("checkpoint"), &header, &tensors).map_err(Error::CheckpointFile)
    }

    /// A state from the bytes of the checkpoint file at `path` (which names it in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let (header, tensors) = container::from_bytes::<Header>(bytes, path).map_err(Error::CheckpointFile)?;
        Self::from_parts(header, tensors)
            .map_err(|problem| Error::CheckpointCorrupt { path: path.to_path_buf(), problem })
    }

    /// The header and tensors of the file.
    fn parts(&self) -> (Header, Tensors) {
        let mut tensors = Tensors::new();
        for (prefix, model) in [("model", &self.model), ("best", &self.best_model)] {
            for (name, shape, values) in model.named_tensors() {
                tensors.insert(format!("{prefix}.{name}"), TensorData::from_f32(shape, values));
            }
        }
        for (prefix, moments) in [("adam.m", &self.adam_first), ("adam.v", &self.adam_second)] {
            for (slot, values) in moments.iter().enumerate() {
                tensors.insert(format!("{prefix}.{slot}"), TensorData::from_f32(vec![values.len()], values));
            }
        }
        let order: Vec<i64> = self.order.iter().map(|&row| row as i64).collect();
        tensors.insert("order".to_string(), TensorData::from_i64(vec![order.len()], &order));
        let mut header = Header {
            format_version: CHECKPOINT_FORMAT.name.to_string(),
            fingerprint: self.fingerprint.clone(),
            task: self.model.task,
            architecture: self.model.architecture(),
            best_metric_bits: self.best_metric.to_bits(),
            best_epoch: self.best_epoch,
            epoch: self.epoch,
            step: self.step,
            finished: self.finished,
            stopped_early: self.stopped_early,
            adam_step: self.adam_step,
            n_adam: self.adam_first.len(),
            shuffle_rng: self.shuffle_rng,
            dropout_rng: self.dropout_rng,
            history: self
                .history
                .iter()
                .map(|e| {
                    let bits = [e.train_loss, e.valid_metric, e.samples_per_sec, e.seconds].map(f64::to_bits);
                    [e.epoch as u64, bits[0], bits[1], bits[2], bits[3]]
                })
                .collect(),
            checksum: String::new(),
        };
        header.checksum = checksum(&mut header, &tensors);
        (header, tensors)
    }

    /// A state from a file's header and tensors; the error says what is wrong with them.
    fn from_parts(mut header: Header, tensors: Tensors) -> Result<Self, String> {
        if checksum(&mut header, &tensors) != header.checksum {
            return Err("the checksum does not match (the file is damaged)".to_string());
        }
        let f32_of = |name: &str| -> Result<Vec<f32>, String> {
            let tensor = tensors.get(name).ok_or_else(|| format!("tensor `{name}` is missing"))?;
            tensor.to_f32().map_err(|e| format!("tensor `{name}`: {e}"))
        };
        let model = |prefix: &str| -> Result<NeuralModel, String> {
            let weights: BTreeMap<String, TensorData> = tensors
                .iter()
                .filter_map(|(name, tensor)| {
                    let name = name.strip_prefix(prefix)?.strip_prefix('.')?;
                    Some((name.to_string(), tensor.clone()))
                })
                .collect();
            NeuralModel::from_tensors(header.task, &header.architecture, &weights).map_err(|e| format!("{prefix}: {e}"))
        };
        let moments = |prefix: &str| -> Result<Vec<Vec<f32>>, String> {
            (0..header.n_adam).map(|slot| f32_of(&format!("{prefix}.{slot}"))).collect()
        };
        let order = tensors.get("order").ok_or_else(|| "tensor `order` is missing".to_string())?;
        let order = order
            .to_i64()
            .map_err(|e| format!("tensor `order`: {e}"))?
            .into_iter()
            .map(|row| usize::try_from(row).map_err(|_| format!("row index {row} in `order` is negative")))
            .collect::<Result<Vec<usize>, String>>()?;
        let history = header
            .history
            .iter()
            .map(|h| EpochStats {
                epoch: h[0] as usize,
                train_loss: f64::from_bits(h[1]),
                valid_metric: f64::from_bits(h[2]),
                samples_per_sec: f64::from_bits(h[3]),
                seconds: f64::from_bits(h[4]),
            })
            .collect();
        Ok(Self {
            model: model("model")?,
            best_model: model("best")?,
            adam_first: moments("adam.m")?,
            adam_second: moments("adam.v")?,
            order,
            fingerprint: header.fingerprint,
            best_metric: f64::from_bits(header.best_metric_bits),
            best_epoch: header.best_epoch,
            epoch: header.epoch,
            step: header.step,
            finished: header.finished,
            stopped_early: header.stopped_early,
            adam_step: header.adam_step,
            shuffle_rng: header.shuffle_rng,
            dropout_rng: header.dropout_rng,
            history,
        })
    }
}
