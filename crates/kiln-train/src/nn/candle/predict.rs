//! Inference of a trained [`NeuralModel`] on a candle device: the same forward pass the candle
//! trainer uses, in evaluation mode, for comparing a bundle's predictions on a GPU with the
//! CPU's (`kiln_core::model`).

use candle_core::{Device, Tensor};
use kiln_core::preprocess::Encoded;

use super::candle_err;
use super::net::{Net, Params, upload_codes};
use crate::backend::Precision;
use crate::error::Result;
use crate::nn::model::{NeuralModel, check_inputs, to_predictions};
use crate::predictions::Predictions;

/// Rows per forward pass on the device.
const BATCH: usize = 8192;

/// The model's predictions for `data` (encoded as the model's network needs), computed on
/// `device` in f32. Architectures the candle trainer does not cover (batch norm) are refused
/// with the trainer's error.
pub fn predict_on(device: &Device, model: &NeuralModel, data: &Encoded) -> Result<Predictions> {
    check_inputs(model.n_inputs, &model.arch, data)?;
    let net = Net::new(&model.arch, Precision::F32)?;
    let params = Params::upload(model, device)?;
    let values = params.detached();
    let err = candle_err("predicting on the device");
    let x = Tensor::from_slice(&data.dense, (data.n_rows, data.n_dense), device).map_err(&err)?;
    let codes = upload_codes(data, &model.arch, device).map_err(&err)?;
    let mut outputs: Vec<f32> = Vec::with_capacity(data.n_rows * model.n_outputs);
    for start in (0..data.n_rows).step_by(BATCH) {
        let len = BATCH.min(data.n_rows - start);
        let rows = x.narrow(0, start, len).map_err(&err)?;
        let batch_codes = codes.as_ref().map(|c| c.narrow(1, start, len)).transpose().map_err(&err)?;
        let out = net.forward(&values, params.n_dense(), (&rows, batch_codes.as_ref()), None).map_err(&err)?;
        outputs.extend(out.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(&err)?);
    }
    Ok(to_predictions(model.task, &outputs, model.n_outputs))
}
