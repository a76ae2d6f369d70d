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
//! ```text
//! "KILNCKPT" | version: u32 LE | header length: u64 LE | header (JSON) | payload | checksum
//! ```
//!
//! The header lists every payload section (name, dtype `f32` or `u64`, shape, byte offset and
//! length); the payload holds them little-endian, back to back. The checksum is the 64 hex
//! characters of `kiln_core::hash::content_hash` over everything before it. Floats that must
//! survive exactly (the best metric, the history) are stored as their IEEE bits. Files are
//! written atomically (temporary file + rename).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use kiln_core::bundle::{Architecture, TensorData};
use kiln_core::hash::content_hash;
use kiln_core::schema::Task;
use serde::{Deserialize, Serialize};

use super::model::NeuralModel;
use super::train::EpochStats;
use crate::error::{Error, Result};

/// The first bytes of every checkpoint file.
pub const CHECKPOINT_MAGIC: &[u8; 8] = b"KILNCKPT";
/// The format version this build writes and reads.
pub const CHECKPOINT_VERSION: u32 = 1;
const FORMAT: &str = "kiln.checkpoint.v1";
const CHECKSUM_LEN: usize = 64;

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
    format: String,
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
    sections: Vec<Section>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Section {
    name: String,
    dtype: String,
    shape: Vec<usize>,
    offset: usize,
    len: usize,
}

impl TrainState {
    /// Write the state to `path` atomically (temporary file in the same folder + rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        kiln_data::write::atomic_write(path, |file| {
            file.write_all(&bytes).map_err(|source| kiln_data::Error::Write { path: path.to_path_buf(), source })
        })
        .map_err(|source| Error::CheckpointWrite { path: path.to_path_buf(), source: Box::new(source) })
    }

    /// Read a state written by [`TrainState::write`], checking its format and checksum.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::CheckpointRead { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes).map_err(|problem| Error::CheckpointCorrupt { path: path.to_path_buf(), problem })
    }

    /// The checkpoint file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut payload = Vec::new();
        let mut sections = Vec::new();
        let mut push = |name: String, dtype: &str, shape: Vec<usize>, bytes: &[u8]| {
            sections.push(Section { name, dtype: dtype.to_string(), shape, offset: payload.len(), len: bytes.len() });
            payload.extend_from_slice(bytes);
        };
        for (prefix, model) in [("model", &self.model), ("best", &self.best_model)] {
            for (name, shape, values) in model.named_tensors() {
                push(format!("{prefix}.{name}"), "f32", shape, &f32_bytes(values));
            }
        }
        for (prefix, moments) in [("adam.m", &self.adam_first), ("adam.v", &self.adam_second)] {
            for (slot, values) in moments.iter().enumerate() {
                push(format!("{prefix}.{slot}"), "f32", vec![values.len()], &f32_bytes(values));
            }
        }
        let order: Vec<u8> = self.order.iter().flat_map(|row| (*row as u64).to_le_bytes()).collect();
        push("order".to_string(), "u64", vec![self.order.len()], &order);
        let header = Header {
            format: FORMAT.to_string(),
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
            sections,
        };
        let header = serde_json::to_vec(&header).map_err(|source| Error::Serialize { what: "checkpoint", source })?;
        let mut bytes = Vec::with_capacity(20 + header.len() + payload.len() + CHECKSUM_LEN);
        bytes.extend_from_slice(CHECKPOINT_MAGIC);
        bytes.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&payload);
        let checksum = content_hash(&[&bytes]);
        bytes.extend_from_slice(checksum.as_bytes());
        Ok(bytes)
    }

    /// A state from checkpoint bytes; the error says what is wrong with them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 20 + CHECKSUM_LEN || &bytes[..8] != CHECKPOINT_MAGIC {
            return Err("not a kiln checkpoint (the file is truncated or has another format)".to_string());
        }
        let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if content_hash(&[body]).as_bytes() != checksum {
            return Err("the checksum does not match (the file is truncated or damaged)".to_string());
        }
        let version = u32::from_le_bytes([body[8], body[9], body[10], body[11]]);
        if version != CHECKPOINT_VERSION {
            return Err(format!("format version {version}, this kiln reads version {CHECKPOINT_VERSION}"));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&body[12..20]);
        let header_len = usize::try_from(u64::from_le_bytes(len)).map_err(|_| "header too long".to_string())?;
        let header_end = 20usize.checked_add(header_len).filter(|end| *end <= body.len());
        let header_end = header_end.ok_or_else(|| "the header runs past the end of the file".to_string())?;
        let header: Header =
            serde_json::from_slice(&body[20..header_end]).map_err(|e| format!("unreadable header: {e}"))?;
        if header.format != FORMAT {
            return Err(format!("format `{}`, expected `{FORMAT}`", header.format));
        }
        let payload = &body[header_end..];
        let mut f32_sections = BTreeMap::new();
        let mut order = None;
        for section in &header.sections {
            let end = section.offset.checked_add(section.len).filter(|end| *end <= payload.len());
            let end = end.ok_or_else(|| format!("section `{}` runs past the end of the file", section.name))?;
            let data = &payload[section.offset..end];
            match section.dtype.as_str() {
                "f32" => {
                    let values: Vec<f32> =
                        data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                    f32_sections.insert(section.name.clone(), (section.shape.clone(), values));
                }
                "u64" if section.name == "order" => {
                    let rows = data
                        .chunks_exact(8)
                        .map(|b| {
                            let mut word = [0u8; 8];
                            word.copy_from_slice(b);
                            usize::try_from(u64::from_le_bytes(word)).map_err(|_| "a row index overflows".to_string())
                        })
                        .collect::<Result<Vec<usize>, String>>()?;
                    order = Some(rows);
                }
                other => return Err(format!("section `{}` has unknown dtype `{other}`", section.name)),
            }
        }
        let model = |prefix: &str| -> Result<NeuralModel, String> {
            let tensors: BTreeMap<String, TensorData> = f32_sections
                .iter()
                .filter_map(|(name, (shape, values))| {
                    let name = name.strip_prefix(prefix)?.strip_prefix('.')?;
                    Some((name.to_string(), TensorData::from_f32(shape.clone(), values)))
                })
                .collect();
            NeuralModel::from_tensors(header.task, &header.architecture, &tensors).map_err(|e| format!("{prefix}: {e}"))
        };
        let moments = |prefix: &str| -> Result<Vec<Vec<f32>>, String> {
            (0..header.n_adam)
                .map(|slot| {
                    let name = format!("{prefix}.{slot}");
                    f32_sections
                        .get(&name)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| format!("section `{name}` is missing"))
                })
                .collect()
        };
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
            order: order.ok_or_else(|| "section `order` is missing".to_string())?,
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

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
