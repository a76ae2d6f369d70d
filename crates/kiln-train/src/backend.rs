//! Which trainer and device fit the neural models: kiln's native CPU trainer ([`crate::nn::fit`])
//! or the candle trainer ([`crate::nn::candle::fit`]) on a CPU or CUDA device, at f32 or bf16
//! precision. Baselines and gradient-boosted trees always run on the CPU.
//!
//! [`Backend::select`] turns a `--device` spec into a backend:
//! - `cpu`: the native trainer (faster than candle on the CPU);
//! - `cpu-candle`: candle on the CPU (for comparing the two paths, or bf16 without a GPU);
//! - `cuda`, `cuda:N`: candle on that GPU; a build without the `cuda` feature fails with a
//!   rebuild hint;
//! - `auto`: the first GPU when the build has the `cuda` feature and the device opens, else
//!   the native trainer; it logs what it picked.
//!
//! bf16 (`--precision bf16`) needs candle: asked of the native trainer it fails with
//! [`Error::Bf16NeedsCandle`].

use std::fmt;
use std::str::FromStr;

use candle_core::Device;
use kiln_core::device::DeviceSpec;

use crate::error::{Error, Result};
use crate::nn::{self, EpochStats, FitInput, NeuralModel, TrainObserver, TrainReport};

/// The number format of the forward matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// f32 everywhere.
    #[default]
    F32,
    /// bf16 matrix products (weights and activations cast for each product, gradients back to
    /// f32); f32 master weights, optimizer state, norms, activations and loss.
    Bf16,
}

impl FromStr for Precision {
    type Err = String;

    /// `f32` or `bf16` (letter case ignored).
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(format!("unknown precision `{text}`\nhint: use f32 or bf16")),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

/// A trainer, its device and its precision.
#[derive(Debug, Clone)]
pub struct Backend {
    kind: Kind,
    precision: Precision,
}

#[derive(Debug, Clone)]
enum Kind {
    Native,
    Candle { device: Device, label: String },
}

impl Backend {
    /// kiln's native CPU trainer (f32).
    pub fn native() -> Self {
        Self { kind: Kind::Native, precision: Precision::F32 }
    }

    /// The candle trainer on `device` (a CPU or CUDA device) at `precision`.
    pub fn candle(device: Device, precision: Precision) -> Self {
        let label = match device.location() {
            candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
            candle_core::DeviceLocation::Cpu => "cpu-candle".to_string(),
            candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
        };
        Self { kind: Kind::Candle { device, label }, precision }
    }

    /// The backend a `--device` spec and `--precision` ask for (see the module docs).
    pub fn select(spec: DeviceSpec, precision: Precision) -> Result<Self> {
        let backend = match spec {
            DeviceSpec::Cpu => Self::native(),
            DeviceSpec::CpuCandle => Self::candle(Device::Cpu, precision),
            DeviceSpec::Cuda(index) => Self::candle(open_cuda(index)?, precision),
            DeviceSpec::Auto => auto(precision)?,
        };
        if precision == Precision::Bf16 && backend.precision != Precision::Bf16 {
            return Err(Error::Bf16NeedsCandle { device: spec.to_string() });
        }
        Ok(backend)
    }

    /// What a run records as its device: `cpu`, `cpu-candle` or `cuda:N`.
    pub fn label(&self) -> &str {
        match &self.kind {
            Kind::Native => "cpu",
            Kind::Candle { label, .. } => label,
        }
    }

    /// The precision of the forward matrix products.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The candle device, or `None` for the native trainer.
    pub fn device(&self) -> Option<&Device> {
        match &self.kind {
            Kind::Native => None,
            Kind::Candle { device, .. } => Some(device),
        }
    }

    /// Train a neural model with this backend, as [`nn::fit`].
    pub fn fit(
        &self,
        input: &FitInput<'_>,
        mut progress: impl FnMut(&EpochStats),
    ) -> Result<(NeuralModel, TrainReport)> {
        self.fit_with(input, &mut progress)
    }

    /// [`Backend::fit`] with checkpoints and an observer, as [`nn::fit_with`]: both trainers
    /// write and resume the same checkpoint format.
    pub fn fit_with(
        &self,
        input: &FitInput<'_>,
        observer: &mut dyn TrainObserver,
    ) -> Result<(NeuralModel, TrainReport)> {
        match &self.kind {
            Kind::Native => nn::fit_with(input, observer),
            Kind::Candle { device, .. } => nn::candle::fit_with(device, self.precision, input, observer),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(index: usize) -> Result<Device> {
    Device::new_cuda(index)
        .map_err(|source| Error::CudaOpen { device: format!("cuda:{index}"), source: Box::new(source) })
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(index: usize) -> Result<Device> {
    match kiln_core::device::resolve(DeviceSpec::Cuda(index)) {
        Err(e) => Err(Error::Device(e)),
        Ok(_) => Err(Error::Device(kiln_core::Error::CudaNotCompiled { device: format!("cuda:{index}") })),
    }
}

/// `auto`: the first GPU when this build has CUDA and it opens, else the native CPU trainer.
#[cfg(feature = "cuda")]
fn auto(precision: Precision) -> Result<Backend> {
    match Device::new_cuda(0) {
        Ok(device) => {
            tracing::info!(device = "cuda:0", "device auto picked cuda:0");
            Ok(Backend::candle(device, precision))
        }
        Err(e) => {
            tracing::info!(device = "cpu", error = %e, "device auto picked cpu: no CUDA device opened");
            Ok(Backend::native())
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn auto(_precision: Precision) -> Result<Backend> {
    kiln_core::device::resolve(DeviceSpec::Auto).map_err(Error::Device)?;
    Ok(Backend::native())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_parses() {
        assert_eq!("bf16".parse::<Precision>(), Ok(Precision::Bf16));
        assert_eq!(" F32".parse::<Precision>(), Ok(Precision::F32));
        let err = "fp8".parse::<Precision>().expect_err("fp8");
        assert!(err.contains("`fp8`") && err.contains("hint: use f32 or bf16"), "{err}");
    }

    #[test]
    fn cpu_is_native_and_cpu_candle_is_candle() {
        let cpu = Backend::select(DeviceSpec::Cpu, Precision::F32).expect("cpu");
        assert!(cpu.device().is_none());
        assert_eq!(cpu.label(), "cpu");
        let candle = Backend::select(DeviceSpec::CpuCandle, Precision::Bf16).expect("cpu-candle");
        assert!(candle.device().is_some_and(Device::is_cpu));
        assert_eq!((candle.label(), candle.precision()), ("cpu-candle", Precision::Bf16));
    }

    #[test]
    fn bf16_on_the_native_trainer_is_refused() {
        let err = Backend::select(DeviceSpec::Cpu, Precision::Bf16).expect_err("bf16 on cpu");
        let message = err.to_string();
        assert!(message.contains("bf16 precision needs the candle backend"), "{message}");
        assert!(message.contains("--device cpu-candle"), "{message}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_rebuild() {
        let err = Backend::select(DeviceSpec::Cuda(1), Precision::F32).expect_err("no cuda");
        let chain = err.to_string();
        assert!(chain.contains("hint: rebuild with `cargo build --release --features cuda`"), "{chain}");
        assert_eq!(Backend::select(DeviceSpec::Auto, Precision::F32).expect("auto").label(), "cpu");
    }
}
