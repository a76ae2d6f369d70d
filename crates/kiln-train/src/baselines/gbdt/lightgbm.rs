//! A thin safe layer over LightGBM's C API (`lightgbm3-sys`, which builds LightGBM 4.7 from
//! source): a dataset from column-major f64 features, boosting round by round with early
//! stopping on a validation set, and the fitted model in LightGBM's text format. This module
//! holds kiln-train's only unsafe code; every call's contract is stated where it is made.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_int};
use std::ptr;

use lightgbm3_sys as sys;

use crate::error::{Error, Result};

/// Rows of features (column-major, `n_rows × n_cols`) and their labels.
pub(crate) struct Data<'a> {
    pub features: &'a [f64],
    pub n_rows: usize,
    pub n_cols: usize,
    pub labels: &'a [f32],
}

/// A fitted model: LightGBM's text, and the boosting rounds it holds.
pub(crate) struct Fitted {
    pub model: String,
    pub rounds: usize,
}

/// The last error LightGBM recorded on this thread, after a call returned non-zero.
fn check(doing: &'static str, code: c_int) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    // SAFETY: LGBM_GetLastError returns a pointer to LightGBM's thread-local, NUL-terminated
    // message buffer, valid until the next API call on this thread; it is copied at once.
    let message = unsafe { CStr::from_ptr(sys::LGBM_GetLastError()) }.to_string_lossy().into_owned();
    Err(Error::Gbdt { doing, message })
}

fn c_string(doing: &'static str, text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::Gbdt { doing, message: "a parameter holds a NUL byte".into() })
}

fn count(doing: &'static str, n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::Gbdt { doing, message: format!("{n} is more than LightGBM's 2^31 - 1") })
}

/// A LightGBM dataset (binned features and labels), freed on drop.
struct Dataset {
    handle: sys::DatasetHandle,
}

impl Drop for Dataset {
    fn drop(&mut self) {
        // SAFETY: `handle` came from LGBM_DatasetCreateFromMat and is freed once, here, after
        // the booster that used it (Booster's fields drop after its own Drop).
        unsafe { sys::LGBM_DatasetFree(self.handle) };
    }
}

impl Dataset {
    fn new(data: &Data<'_>, params: &CString, reference: Option<&Dataset>) -> Result<Self> {
        let doing = "binning the features";
        let (n_rows, n_cols) = (count(doing, data.n_rows)?, count(doing, data.n_cols)?);
        if data.features.len() != data.n_rows * data.n_cols || data.labels.len() != data.n_rows || data.n_rows == 0 {
            return Err(Error::Gbdt { doing, message: "the features, labels and row count disagree".into() });
        }
        let mut handle = ptr::null_mut();
        // SAFETY: `features` holds n_rows × n_cols f64 values laid out column-major
        // (is_row_major = 0), all alive for the call; LightGBM copies what it keeps. `params` is
        // NUL-terminated; `reference` is a live dataset handle or null.
        check(doing, unsafe {
            sys::LGBM_DatasetCreateFromMat(
                data.features.as_ptr().cast(),
                sys::C_API_DTYPE_FLOAT64 as c_int,
                n_rows,
                n_cols,
                0,
                params.as_ptr(),
                reference.map_or(ptr::null_mut(), |r| r.handle),
                &mut handle,
            )
        })?;
        let dataset = Self { handle };
        // SAFETY: `labels` holds n_rows f32 values, alive for the call (LightGBM copies them);
        // the field name is NUL-terminated.
        check("setting the labels", unsafe {
            sys::LGBM_DatasetSetField(
                dataset.handle,
                c"label".as_ptr(),
                data.labels.as_ptr().cast(),
                n_rows,
                sys::C_API_DTYPE_FLOAT32 as c_int,
            )
        })?;
        Ok(dataset)
    }
}

/// A booster over its training (and validation) data, freed before them on drop.
struct Booster {
    handle: sys::BoosterHandle,
    _train: Dataset,
    valid: Option<Dataset>,
}

impl Drop for Booster {
    fn drop(&mut self) {
        // SAFETY: `handle` came from LGBM_BoosterCreate and is freed once, here.
        unsafe { sys::LGBM_BoosterFree(self.handle) };
    }
}

impl Booster {
    fn new(train: Dataset, valid: Option<Dataset>, params: &CString) -> Result<Self> {
        let mut handle = ptr::null_mut();
        // SAFETY: `train` is a live dataset that the booster keeps until it is freed (the
        // datasets are fields of Booster, dropped after it); `params` is NUL-terminated.
        check("setting up boosting", unsafe { sys::LGBM_BoosterCreate(train.handle, params.as_ptr(), &mut handle) })?;
        let booster = Self { handle, _train: train, valid };
        if let Some(valid) = &booster.valid {
            // SAFETY: both handles are live; the validation dataset outlives the booster.
            check("adding the validation rows", unsafe {
                sys::LGBM_BoosterAddValidData(booster.handle, valid.handle)
            })?;
        }
        Ok(booster)
    }

    /// One boosting round; false when no tree could be grown (training is over).
    fn round(&self) -> Result<bool> {
        let mut finished: c_int = 0;
        // SAFETY: live booster handle; `finished` is a valid out pointer.
        check("boosting a round", unsafe { sys::LGBM_BoosterUpdateOneIter(self.handle, &mut finished) })?;
        Ok(finished == 0)
    }

    /// The first metric on the validation rows (the configured loss).
    fn validation_loss(&self) -> Result<f64> {
        let mut n: c_int = 0;
        // SAFETY: live booster handle; `n` is a valid out pointer.
        check("counting the metrics", unsafe { sys::LGBM_BoosterGetEvalCounts(self.handle, &mut n) })?;
        let mut values = vec![0.0f64; n.max(1) as usize];
        let mut written: c_int = 0;
        // SAFETY: `values` has room for the `n` metrics LightGBM writes for data index 1 (the
        // first validation set).
        check("scoring the validation rows", unsafe {
            sys::LGBM_BoosterGetEval(self.handle, 1, &mut written, values.as_mut_ptr())
        })?;
        Ok(values[0])
    }

    /// The model's first `rounds` rounds as LightGBM's text.
    fn model_text(&self, rounds: usize) -> Result<String> {
        let doing = "saving the trees";
        let rounds = count(doing, rounds)?;
        let mut len: i64 = 0;
        let mut buffer: Vec<u8> = Vec::new();
        loop {
            // SAFETY: `buffer` has `buffer.len()` writable bytes, which LightGBM never exceeds;
            // it reports the length it needs in `len`.
            check(doing, unsafe {
                sys::LGBM_BoosterSaveModelToString(
                    self.handle,
                    0,
                    rounds,
                    0,
                    buffer.len() as i64,
                    &mut len,
                    buffer.as_mut_ptr().cast(),
                )
            })?;
            if (len as usize) <= buffer.len() {
                break;
            }
            buffer = vec![0; len as usize];
        }
        buffer.truncate((len as usize).saturating_sub(1));
        String::from_utf8(buffer).map_err(|_| Error::Gbdt { doing, message: "the model text is not UTF-8".into() })
    }
}

/// Fit with LightGBM's `params` for at most `rounds` rounds; with `early_stop` (validation rows
/// and a patience), stop once their loss has not improved for `patience` rounds and keep the
/// best round.
pub(crate) fn fit(
    params: &str,
    train: &Data<'_>,
    rounds: usize,
    early_stop: Option<(&Data<'_>, usize)>,
) -> Result<Fitted> {
    let params = c_string("reading the parameters", params)?;
    let train_set = Dataset::new(train, &params, None)?;
    let valid_set = match early_stop {
        Some((valid, _)) => Some(Dataset::new(valid, &params, Some(&train_set))?),
        None => None,
    };
    let booster = Booster::new(train_set, valid_set, &params)?;
    let mut best = (f64::INFINITY, 0);
    let mut done = 0;
    while done < rounds && booster.round()? {
        done += 1;
        if let Some((_, patience)) = early_stop {
            let loss = booster.validation_loss()?;
            if loss < best.0 {
                best = (loss, done);
            } else if done - best.1 >= patience {
                break;
            }
        }
    }
    let kept = if booster.valid.is_some() { best.1.max(1) } else { done.max(1) };
    Ok(Fitted { model: booster.model_text(kept)?, rounds: kept })
}
