//! Gradient checks of every layer's backward pass against central finite differences, through
//! whole small networks (dense, each activation, layer and batch norm, dropout, residual, each
//! loss, the ResNet with and without categorical embeddings).

use kiln_core::rng::Rng;
use kiln_core::schema::Task;

use super::loss::loss_and_gradient;
use super::model::{NeuralArch, NeuralModel, TensorKind};
use super::net::Workspace;
use crate::config::{Activation, Norm};

const ROWS: usize = 5;
const N_INPUTS: usize = 4;

/// Categorical codes of the ResNets with embeddings: per row, one code per column of
/// cardinalities 3 and 4 (codes repeat across rows, and code 3 of the second column is unused).
const CODES: [u32; 10] = [2, 0, 0, 1, 2, 1, 1, 0, 0, 2];

fn small_model(task: Task, arch: NeuralArch, n_outputs: usize) -> NeuralModel {
    let mut model = NeuralModel::zeros(task, arch, N_INPUTS, n_outputs).expect("model");
    let mut rng = Rng::new(7);
    for (tensor, _) in model.tensors_mut() {
        tensor.iter_mut().for_each(|v| *v = (rng.normal() * 0.7) as f32);
    }
    model
}

/// The loss of `model` on fixed data, with dropout masks drawn from a copy of `rng`; and the
/// gradients, when `grads` is given.
fn loss(model: &NeuralModel, grads: Option<&mut NeuralModel>, targets: &[f32], dropout: f32, rng: &Rng) -> f64 {
    let mut data_rng = Rng::new(11);
    let inputs: Vec<f32> = (0..ROWS * N_INPUTS).map(|_| data_rng.normal() as f32).collect();
    let codes: &[u32] = if model.embeddings.is_empty() { &[] } else { &CODES };
    let mut workspace = Workspace::new(model, ROWS, true);
    workspace.load(&inputs, codes, ROWS);
    let mut masks = rng.clone();
    workspace.forward(model, ROWS, Some((dropout, &mut masks)), 1);
    let weights = [1.0, 0.5, 2.0, 1.0, 1.5];
    let (outputs, grad) = workspace.outputs_and_grad();
    let value = loss_and_gradient(model.task, outputs, model.n_outputs, targets, &weights, grad);
    if let Some(grads) = grads {
        workspace.backward(model, grads, ROWS, dropout > 0.0, 1);
    }
    value
}

fn check(task: Task, arch: NeuralArch, n_outputs: usize, targets: &[f32], dropout: f32) {
    let model = small_model(task, arch.clone(), n_outputs);
    let rng = Rng::new(3);
    let mut grads = model.clone();
    loss(&model, Some(&mut grads), targets, dropout, &rng);
    let analytic: Vec<Vec<f32>> = grads.tensors_mut().into_iter().map(|(t, _)| t.to_vec()).collect();
    let names: Vec<String> = model.named_tensors().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(analytic.len(), names.len() - 2 * model.running.len(), "every tensor but the buffers");
    let h = 1e-2f32;
    for (slot, name) in names.iter().take(analytic.len()).enumerate() {
        for (i, a) in analytic[slot].iter().enumerate() {
            let mut up = model.clone();
            up.tensors_mut()[slot].0[i] += h;
            let mut down = model.clone();
            down.tensors_mut()[slot].0[i] -= h;
            let numeric = (loss(&up, None, targets, dropout, &rng) - loss(&down, None, targets, dropout, &rng))
                / (2.0 * f64::from(h));
            let a = f64::from(*a);
            assert!(
                (numeric - a).abs() <= 2e-3 + 2e-2 * a.abs(),
                "{arch:?} {task:?}: d loss / d {name}[{i}] is {a}, finite differences give {numeric}"
            );
        }
    }
}

#[test]
fn linear_gradients_match_finite_differences() {
    check(Task::Binary, NeuralArch::Linear, 1, &[1.0, 0.0, 0.0, 1.0, 1.0], 0.0);
    check(Task::Multiclass, NeuralArch::Linear, 3, &[0.0, 2.0, 1.0, 1.0, 2.0], 0.0);
    check(Task::Regression, NeuralArch::Linear, 1, &[0.3, -1.2, 0.8, 2.0, 0.0], 0.0);
}

#[test]
fn mlp_gradients_match_finite_differences() {
    let mlp = |activation, norm, residual| NeuralArch::Mlp { hidden: vec![6, 6], activation, norm, residual };
    let binary = [1.0, 0.0, 0.0, 1.0, 1.0];
    for activation in [Activation::Relu, Activation::Gelu, Activation::Silu, Activation::Tanh] {
        check(Task::Binary, mlp(activation, Norm::None, false), 1, &binary, 0.0);
    }
    check(Task::Binary, mlp(Activation::Gelu, Norm::Layer, false), 1, &binary, 0.0);
    check(Task::Binary, mlp(Activation::Tanh, Norm::Layer, true), 1, &binary, 0.0);
    check(Task::Binary, mlp(Activation::Gelu, Norm::None, true), 1, &binary, 0.3);
    check(Task::Multiclass, mlp(Activation::Silu, Norm::Layer, true), 3, &[0.0, 2.0, 1.0, 1.0, 2.0], 0.2);
    check(Task::Regression, mlp(Activation::Tanh, Norm::None, false), 1, &[0.3, -1.2, 0.8, 2.0, 0.0], 0.0);
}

/// Batch norm in training: the batch statistics depend on every row, so each input's gradient
/// flows through the mean and variance of the whole batch.
#[test]
fn batch_norm_gradients_match_finite_differences() {
    let mlp = |activation, residual| NeuralArch::Mlp { hidden: vec![6, 6], activation, norm: Norm::Batch, residual };
    let binary = [1.0, 0.0, 0.0, 1.0, 1.0];
    check(Task::Binary, mlp(Activation::Tanh, false), 1, &binary, 0.0);
    check(Task::Binary, mlp(Activation::Gelu, true), 1, &binary, 0.0);
    check(Task::Binary, mlp(Activation::Silu, false), 1, &binary, 0.3);
    check(Task::Multiclass, mlp(Activation::Tanh, true), 3, &[0.0, 2.0, 1.0, 1.0, 2.0], 0.2);
    check(Task::Regression, mlp(Activation::Gelu, false), 1, &[0.3, -1.2, 0.8, 2.0, 0.0], 0.0);
}

#[test]
fn resnet_gradients_match_finite_differences() {
    let resnet =
        |n_blocks| NeuralArch::ResNet { d_block: 5, d_hidden: 7, n_blocks, d_embedding: 0, cardinalities: Vec::new() };
    // (Widths whose ReLU inputs stay clear of 0 by more than the finite-difference step.)
    let binary = [1.0, 0.0, 0.0, 1.0, 1.0];
    check(Task::Binary, resnet(2), 1, &binary, 0.0);
    check(Task::Binary, resnet(2), 1, &binary, 0.25);
    let no_blocks =
        NeuralArch::ResNet { d_block: 6, d_hidden: 3, n_blocks: 0, d_embedding: 0, cardinalities: Vec::new() };
    check(Task::Binary, no_blocks, 1, &binary, 0.0);
    check(Task::Multiclass, resnet(1), 3, &[0.0, 2.0, 1.0, 1.0, 2.0], 0.2);
    check(Task::Regression, resnet(2), 1, &[0.3, -1.2, 0.8, 2.0, 0.0], 0.0);
}

/// The embedding tables' gradients (gather forward, scatter-add backward), through the whole
/// ResNet: rows sharing a code add up, an unused code gets none.
#[test]
fn resnet_embedding_gradients_match_finite_differences() {
    let resnet = |n_blocks, d_embedding| NeuralArch::ResNet {
        d_block: 5,
        d_hidden: 7,
        n_blocks,
        d_embedding,
        cardinalities: vec![3, 4],
    };
    let binary = [1.0, 0.0, 0.0, 1.0, 1.0];
    check(Task::Binary, resnet(1, 2), 1, &binary, 0.0);
    check(Task::Binary, resnet(2, 3), 1, &binary, 0.25);
    check(Task::Multiclass, resnet(1, 2), 3, &[0.0, 2.0, 1.0, 1.0, 2.0], 0.0);
    check(Task::Regression, resnet(0, 1), 1, &[0.3, -1.2, 0.8, 2.0, 0.0], 0.0);
    let mut grads = small_model(Task::Binary, resnet(1, 2), 1);
    loss(&small_model(Task::Binary, resnet(1, 2), 1), Some(&mut grads), &binary, 0.0, &Rng::new(3));
    assert_eq!(&grads.embeddings[1].weight[6..], [0.0, 0.0], "code 3 of the second column is unused");
}

/// The mutable walk of a model's tensors matches its named list: same order, lengths and kinds,
/// the buffers last.
#[test]
fn mutable_tensors_follow_the_named_list() {
    let archs = [
        NeuralArch::Linear,
        NeuralArch::Mlp { hidden: vec![6, 5], activation: Activation::Relu, norm: Norm::Batch, residual: false },
        NeuralArch::Mlp { hidden: vec![6], activation: Activation::Relu, norm: Norm::Layer, residual: false },
        NeuralArch::ResNet { d_block: 5, d_hidden: 7, n_blocks: 2, d_embedding: 2, cardinalities: vec![3, 4] },
    ];
    for arch in archs {
        let mut model = small_model(Task::Binary, arch.clone(), 1);
        let named: Vec<(usize, TensorKind)> = model
            .named_tensors()
            .into_iter()
            .zip(model.tensor_kinds())
            .map(|((_, shape, values), kind)| {
                assert_eq!(shape.iter().product::<usize>(), values.len(), "{arch:?}");
                (values.len(), kind)
            })
            .collect();
        let walked: Vec<(usize, TensorKind)> = model.all_tensors_mut().into_iter().map(|(t, k)| (t.len(), k)).collect();
        assert_eq!(named, walked, "{arch:?}");
        let n_trained = named.iter().filter(|(_, k)| *k != TensorKind::Buffer).count();
        assert!(named[n_trained..].iter().all(|(_, k)| *k == TensorKind::Buffer), "{arch:?}: buffers last");
        assert_eq!(model.tensors_mut().len(), n_trained);
    }
}
