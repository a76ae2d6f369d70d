//! Device selection: the [`DeviceSpec`] a config or the command line names, and [`resolve`],
//! the one place that turns it into the device a run uses.
//!
//! `cuda` and `cuda:N` always parse, so that a config stays valid on every build; resolving
//! them fails with a rebuild hint until kiln is built with CUDA support. `auto` logs what it
//! picked. Must not print: the choice is reported through `tracing`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A device as named by a user: `auto`, `cpu`, `cuda` (the first GPU) or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// The best device this build and machine have.
    #[default]
    Auto,
    Cpu,
    /// The CUDA GPU with this index.
    Cuda(usize),
    /// The CPU through the candle tensor backend instead of kiln's native CPU trainer: for
    /// comparing the two paths (`cpu-candle`; slower than `cpu`, not listed in the help).
    CpuCandle,
}

/// The device a run uses, after [`resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolvedDevice {
    Cpu,
    Cuda(usize),
}

/// Turn a spec into a device, as a build without CUDA support sees it: `auto` picks the CPU and
/// says so, `cpu-candle` is the CPU, and `cuda`/`cuda:N` fail with [`Error::CudaNotCompiled`].
/// Training goes through `kiln_train::backend::Backend::select`, which opens CUDA devices in a
/// build with the `cuda` feature and falls back to this otherwise.
pub fn resolve(spec: DeviceSpec) -> Result<ResolvedDevice> {
    match spec {
        DeviceSpec::Cpu | DeviceSpec::CpuCandle => Ok(ResolvedDevice::Cpu),
        DeviceSpec::Auto => {
            tracing::info!(device = "cpu", "device auto picked cpu: this build of kiln has no CUDA support");
            Ok(ResolvedDevice::Cpu)
        }
        DeviceSpec::Cuda(_) => Err(Error::CudaNotCompiled { device: spec.to_string() }),
    }
}

impl FromStr for DeviceSpec {
    type Err = Error;

    /// Parse `auto`, `cpu`, `cuda` or `cuda:N` (N a GPU index); surrounding spaces and letter
    /// case are ignored.
    fn from_str(text: &str) -> Result<Self> {
        let normalized = text.trim().to_ascii_lowercase();
        let invalid = || Error::ParseDevice { text: text.to_string() };
        match normalized.as_str() {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cpu-candle" => Ok(DeviceSpec::CpuCandle),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            other => {
                let index = other.strip_prefix("cuda:").ok_or_else(invalid)?;
                if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                index.parse().map(DeviceSpec::Cuda).map_err(|_overflow| invalid())
            }
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::CpuCandle => f.write_str("cpu-candle"),
            DeviceSpec::Cuda(index) => write!(f, "cuda:{index}"),
        }
    }
}

impl fmt::Display for ResolvedDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolvedDevice::Cpu => f.write_str("cpu"),
            ResolvedDevice::Cuda(index) => write!(f, "cuda:{index}"),
        }
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = Error;

    fn try_from(text: String) -> Result<Self> {
        text.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(spec: DeviceSpec) -> Self {
        spec.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_accepted_form() {
        let table = [
            ("auto", DeviceSpec::Auto),
            ("cpu", DeviceSpec::Cpu),
            ("cuda", DeviceSpec::Cuda(0)),
            ("cuda:0", DeviceSpec::Cuda(0)),
            ("cuda:3", DeviceSpec::Cuda(3)),
            ("cuda:12", DeviceSpec::Cuda(12)),
            (" CPU ", DeviceSpec::Cpu),
            ("Cuda:1", DeviceSpec::Cuda(1)),
            ("cpu-candle", DeviceSpec::CpuCandle),
        ];
        for (text, expected) in table {
            assert_eq!(text.parse::<DeviceSpec>().expect(text), expected, "{text}");
        }
    }

    #[test]
    fn rejects_everything_else_naming_the_text() {
        for text in [
            "",
            "gpu",
            "cuda:",
            "cuda:x",
            "cuda:-1",
            "cuda:+1",
            "cuda:1:2",
            "cuda0",
            "metal",
            "cuda:99999999999999999999999",
        ] {
            let err = text.parse::<DeviceSpec>().expect_err(text);
            assert!(matches!(&err, Error::ParseDevice { text: t } if t == text), "{text}: {err:?}");
            let message = err.to_string();
            assert!(message.contains(&format!("`{text}`")), "{message}");
            assert!(message.contains("hint: use one of auto, cpu, cuda, cuda:N"), "{message}");
        }
    }

    #[test]
    fn display_round_trips() {
        for spec in [DeviceSpec::Auto, DeviceSpec::Cpu, DeviceSpec::CpuCandle, DeviceSpec::Cuda(0), DeviceSpec::Cuda(7)]
        {
            assert_eq!(spec.to_string().parse::<DeviceSpec>().expect("round trip"), spec);
        }
        assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
        assert_eq!(ResolvedDevice::Cuda(1).to_string(), "cuda:1");
        assert_eq!(ResolvedDevice::Cpu.to_string(), "cpu");
    }

    #[test]
    fn serde_uses_the_text_form() {
        assert_eq!(serde_json::to_string(&DeviceSpec::Cuda(1)).expect("json"), r#""cuda:1""#);
        let spec: DeviceSpec = serde_json::from_str(r#""auto""#).expect("parse");
        assert_eq!(spec, DeviceSpec::Auto);
        let err = serde_json::from_str::<DeviceSpec>(r#""tpu""#).expect_err("tpu");
        assert!(err.to_string().contains("unknown device `tpu`"), "{err}");
    }

    #[test]
    fn resolve_without_cuda_support() {
        assert_eq!(resolve(DeviceSpec::Cpu).expect("cpu"), ResolvedDevice::Cpu);
        assert_eq!(resolve(DeviceSpec::Auto).expect("auto"), ResolvedDevice::Cpu);
        let err = resolve(DeviceSpec::Cuda(1)).expect_err("no cuda in this build");
        assert!(matches!(&err, Error::CudaNotCompiled { device } if device == "cuda:1"));
        assert!(err.to_string().contains("hint: rebuild with `cargo build --release --features cuda`"), "{err}");
    }
}
