//! The tensors a bundle holds: raw little-endian bytes with an element type and a shape, and
//! the specs a manifest uses to say which tensors it requires.
//!
//! Must not know about models: the architecture decides which tensors it needs
//! (`Architecture::required_tensors`), this module only stores and converts them.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Element type of a bundle tensor. Bundles use only these three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TensorDtype {
    /// 32-bit float: model weights and the preprocessor's numeric state.
    F32,
    /// Bytes: a model stored in its library's own format (`gbdt.model`).
    U8,
    /// 64-bit signed integer: indices and counts.
    I64,
    /// 64-bit float: tree thresholds and leaf values, kept at their training library's precision.
    F64,
}

impl TensorDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            TensorDtype::F32 => 4,
            TensorDtype::U8 => 1,
            TensorDtype::I64 | TensorDtype::F64 => 8,
        }
    }

    /// The name safetensors uses (`F32`, `U8`, `I64`, `F64`).
    pub fn as_str(self) -> &'static str {
        match self {
            TensorDtype::F32 => "F32",
            TensorDtype::U8 => "U8",
            TensorDtype::I64 => "I64",
            TensorDtype::F64 => "F64",
        }
    }

    pub(crate) fn to_safetensors(self) -> safetensors::Dtype {
        match self {
            TensorDtype::F32 => safetensors::Dtype::F32,
            TensorDtype::U8 => safetensors::Dtype::U8,
            TensorDtype::I64 => safetensors::Dtype::I64,
            TensorDtype::F64 => safetensors::Dtype::F64,
        }
    }

    pub(crate) fn from_safetensors(dtype: safetensors::Dtype) -> Option<Self> {
        match dtype {
            safetensors::Dtype::F32 => Some(TensorDtype::F32),
            safetensors::Dtype::U8 => Some(TensorDtype::U8),
            safetensors::Dtype::I64 => Some(TensorDtype::I64),
            safetensors::Dtype::F64 => Some(TensorDtype::F64),
            _ => None,
        }
    }
}

impl fmt::Display for TensorDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tensor: element type, shape (row-major) and its little-endian bytes.
///
/// The fields are public; a buffer whose length does not match `shape` and `dtype` is refused
/// when the bundle is written ([`Error::TensorSize`]) or converted ([`Error::TensorConversion`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorData {
    pub dtype: TensorDtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl TensorData {
    /// An F32 tensor of `shape` from row-major `values`.
    pub fn from_f32(shape: Vec<usize>, values: &[f32]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self { dtype: TensorDtype::F32, shape, bytes }
    }

    /// An I64 tensor of `shape` from row-major `values`.
    pub fn from_i64(shape: Vec<usize>, values: &[i64]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self { dtype: TensorDtype::I64, shape, bytes }
    }

    /// An F64 tensor of `shape` from row-major `values`.
    pub fn from_f64(shape: Vec<usize>, values: &[f64]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self { dtype: TensorDtype::F64, shape, bytes }
    }

    /// A rank-1 U8 tensor holding `bytes` (a model file, a text blob).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self { dtype: TensorDtype::U8, shape: vec![bytes.len()], bytes }
    }

    /// Number of elements: the product of the shape (1 for a scalar).
    pub fn n_elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the byte buffer has exactly the length that `shape` and `dtype` call for.
    pub fn is_consistent(&self) -> bool {
        self.expected_len() == Some(self.bytes.len())
    }

    /// The values of an F32 tensor, row-major.
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        self.check_convertible(TensorDtype::F32)?;
        Ok(self.bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("chunks of 4 bytes"))).collect())
    }

    /// The values of an I64 tensor, row-major.
    pub fn to_i64(&self) -> Result<Vec<i64>> {
        self.check_convertible(TensorDtype::I64)?;
        Ok(self.bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("chunks of 8 bytes"))).collect())
    }

    /// The values of an F64 tensor, row-major.
    pub fn to_f64(&self) -> Result<Vec<f64>> {
        self.check_convertible(TensorDtype::F64)?;
        Ok(self.bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8 bytes"))).collect())
    }

    /// The bytes of a U8 tensor.
    pub fn as_u8(&self) -> Result<&[u8]> {
        self.check_convertible(TensorDtype::U8)?;
        Ok(&self.bytes)
    }

    pub(crate) fn expected_len(&self) -> Option<usize> {
        self.shape.iter().try_fold(self.dtype.size(), |acc, &dim| acc.checked_mul(dim))
    }

    fn check_convertible(&self, wanted: TensorDtype) -> Result<()> {
        if self.dtype != wanted || !self.is_consistent() {
            return Err(Error::TensorConversion {
                wanted,
                dtype: self.dtype,
                shape: self.shape.clone(),
                n_bytes: self.bytes.len(),
            });
        }
        Ok(())
    }
}

impl safetensors::View for &TensorData {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype.to_safetensors()
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// A tensor a manifest requires: its name, element type and shape, where `None` is a
/// dimension of any size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: TensorDtype,
    pub shape: Vec<Option<usize>>,
}

impl TensorSpec {
    /// An F32 tensor of exactly `shape`.
    pub fn f32(name: impl Into<String>, shape: &[usize]) -> Self {
        Self { name: name.into(), dtype: TensorDtype::F32, shape: shape.iter().copied().map(Some).collect() }
    }

    /// Whether `shape` fits this spec.
    pub fn matches_shape(&self, shape: &[usize]) -> bool {
        self.shape.len() == shape.len()
            && self.shape.iter().zip(shape).all(|(want, &got)| want.is_none_or(|w| w == got))
    }
}

/// `[2, 3]`, for error messages.
pub(crate) fn show_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// `[2, ?]`, for error messages (`?` is any size).
pub(crate) fn show_shape_spec(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.map_or_else(|| "?".to_string(), |d| d.to_string())).collect();
    format!("[{}]", dims.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_and_i64_round_trip_through_little_endian_bytes() {
        let t = TensorData::from_f32(vec![2, 2], &[1.0, -2.5, 0.0, f32::MAX]);
        assert_eq!(t.bytes.len(), 16);
        assert_eq!(&t.bytes[..4], &1.0f32.to_le_bytes());
        assert_eq!(t.to_f32().expect("f32"), vec![1.0, -2.5, 0.0, f32::MAX]);
        let i = TensorData::from_i64(vec![3], &[-1, 0, i64::MAX]);
        assert_eq!(i.to_i64().expect("i64"), vec![-1, 0, i64::MAX]);
        let b = TensorData::from_bytes(b"tree".to_vec());
        assert_eq!(b.shape, vec![4]);
        assert_eq!(b.as_u8().expect("u8"), b"tree");
    }

    #[test]
    fn scalar_has_one_element() {
        let t = TensorData::from_f32(vec![], &[7.0]);
        assert_eq!(t.n_elements(), 1);
        assert_eq!(t.to_f32().expect("scalar"), vec![7.0]);
    }

    #[test]
    fn wrong_dtype_or_length_is_refused() {
        let bytes = TensorData::from_bytes(vec![0; 8]);
        let err = bytes.to_f32().expect_err("u8 is not f32");
        assert!(matches!(err, Error::TensorConversion { wanted: TensorDtype::F32, dtype: TensorDtype::U8, .. }));
        assert_eq!(err.to_string(), "cannot read a U8 tensor of shape [8] (8 bytes) as F32");

        let short = TensorData::from_f32(vec![3], &[1.0, 2.0]);
        assert!(!short.is_consistent());
        assert!(matches!(short.to_f32(), Err(Error::TensorConversion { n_bytes: 8, .. })));
    }

    #[test]
    fn spec_matches_wildcards() {
        let spec = TensorSpec { name: "gbdt.model".into(), dtype: TensorDtype::U8, shape: vec![None] };
        assert!(spec.matches_shape(&[10]));
        assert!(!spec.matches_shape(&[2, 5]));
        assert!(TensorSpec::f32("w", &[2, 3]).matches_shape(&[2, 3]));
        assert!(!TensorSpec::f32("w", &[2, 3]).matches_shape(&[3, 2]));
        assert_eq!(show_shape_spec(&[Some(2), None]), "[2, ?]");
        assert_eq!(show_shape(&[]), "[]");
    }
}
