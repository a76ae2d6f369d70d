//! The kernel launches, the one place in kiln with `unsafe` code: `cudarc`'s
//! `LaunchArgs::launch` is `unsafe` because the compiler cannot check a kernel's argument list or
//! its memory accesses. Each function below pushes exactly the arguments of one kernel of
//! `kernels/*.cu`, in the order and with the types of its C signature, and states why the
//! kernel stays inside the buffers it is given.
#![allow(unsafe_code)]

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, CudaView, CudaViewMut, LaunchConfig, PushKernelArg};

use super::{DeviceLists, cuda_err};
use crate::Error;
use crate::reference::adamw::Scalars;

/// Arguments of `sliced_rows` besides its outputs.
pub(super) struct RowsArgs<'a> {
    pub labels: &'a CudaSlice<u8>,
    pub scores: &'a CudaSlice<f64>,
    pub weights: &'a CudaSlice<f64>,
    pub has_weights: i32,
    pub ids: &'a CudaSlice<u32>,
    pub n_slicings: u32,
    pub n_rows: u32,
    pub n_groups: u32,
    pub threshold: f64,
    pub use_shared: i32,
}

/// `sliced_rows(labels, scores, weights, has_weights, ids, n_slicings, n_rows, n_groups,
/// threshold, use_shared, sums, counts)`.
pub(super) fn sliced_rows(
    stream: &CudaStream,
    f: &CudaFunction,
    cfg: LaunchConfig,
    a: &RowsArgs<'_>,
    sums: &mut CudaSlice<f64>,
    counts: &mut CudaSlice<u64>,
) -> Result<(), Error> {
    let mut b = stream.launch_builder(f);
    b.arg(a.labels).arg(a.scores).arg(a.weights).arg(&a.has_weights).arg(a.ids);
    b.arg(&a.n_slicings).arg(&a.n_rows).arg(&a.n_groups).arg(&a.threshold).arg(&a.use_shared);
    b.arg(sums).arg(counts);
    // SAFETY: the arguments match the kernel's signature one for one. The caller uploads
    // `labels` and `scores` with `n_rows` entries, `weights` with `n_rows` entries when
    // `has_weights` (else the kernel never reads it), `ids` with `n_slicings * n_rows` entries,
    // each below `n_groups` (`Prepared::new` validated the codes and `offsets[s] + code` is
    // below `n_groups`), `sums` with `6 * n_groups` and `counts` with `n_groups` entries; with
    // `use_shared`, `cfg.shared_mem_bytes` is `56 * n_groups`, the dynamic shared memory the
    // kernel indexes.
    unsafe { b.launch(cfg) }.map(drop).map_err(cuda_err("launch sliced_rows"))
}

/// `sliced_auc(records, loss, weights, has_weights, chunk_start, n_chunks, partials)`.
pub(super) fn sliced_auc(
    stream: &CudaStream,
    f: &CudaFunction,
    cfg: LaunchConfig,
    l: &DeviceLists,
    partials: &mut CudaSlice<f64>,
) -> Result<(), Error> {
    let mut b = stream.launch_builder(f);
    b.arg(&l.records).arg(&l.loss).arg(&l.weights).arg(&l.has_weights).arg(&l.chunk_start).arg(&l.n_chunks);
    b.arg(partials);
    // SAFETY: the arguments match the kernel's signature. `DeviceLists` comes from one
    // `Prepared`: `chunk_start` has `n_chunks + 1` increasing entries ending at the length of
    // `records`; every record's row bits are below the row count, the length of `loss` (and of
    // `weights` when `has_weights`), which the kernel indexes by row; `partials` has
    // `6 * n_chunks` entries. The block size is `KILN_SCAN_THREADS` (256), which the kernel's
    // shared arrays assume.
    unsafe { b.launch(cfg) }.map(drop).map_err(cuda_err("launch sliced_auc"))
}

/// `sliced_combine(partials, group_chunk, n_chunks, n_groups, sums)`.
pub(super) fn sliced_combine(
    stream: &CudaStream,
    f: &CudaFunction,
    cfg: LaunchConfig,
    l: &DeviceLists,
    partials: &CudaSlice<f64>,
    sums: &mut CudaSlice<f64>,
) -> Result<(), Error> {
    let mut b = stream.launch_builder(f);
    b.arg(partials).arg(&l.group_chunk).arg(&l.n_chunks).arg(&l.n_groups).arg(sums);
    // SAFETY: the arguments match the kernel's signature; `group_chunk` has `n_groups + 1`
    // entries up to `n_chunks`, `partials` `6 * n_chunks` and `sums` `6 * n_groups`; threads
    // past `n_groups` return at once.
    unsafe { b.launch(cfg) }.map(drop).map_err(cuda_err("launch sliced_combine"))
}

/// `bootstrap_chunks(records, loss, weights, has_weights, chunk_start, n_chunks,
/// first_replicate, k0, k1, cdf, partials)`.
pub(super) fn bootstrap_chunks(
    stream: &CudaStream,
    f: &CudaFunction,
    cfg: LaunchConfig,
    l: &DeviceLists,
    (first_replicate, key): (u32, [u32; 2]),
    cdf: &CudaSlice<f64>,
    partials: &mut CudaSlice<f64>,
) -> Result<(), Error> {
    let mut b = stream.launch_builder(f);
    b.arg(&l.records).arg(&l.loss).arg(&l.weights).arg(&l.has_weights).arg(&l.chunk_start).arg(&l.n_chunks);
    b.arg(&first_replicate).arg(&key[0]).arg(&key[1]).arg(cdf).arg(partials);
    // SAFETY: the arguments match the kernel's signature. The lists are as for `sliced_auc`;
    // `cdf` holds the 20 entries the kernel copies, the last one 1.0, so the Poisson inversion
    // stops inside the table; `partials` holds `6 * n_chunks` entries for each of the
    // `cfg.grid_dim.0` replicates of the launch; the block size is 256.
    unsafe { b.launch(cfg) }.map(drop).map_err(cuda_err("launch bootstrap_chunks"))
}

/// `bootstrap_combine(partials, group_chunk, n_chunks, n_groups, replicates, sums)`.
pub(super) fn bootstrap_combine(
    stream: &CudaStream,
    f: &CudaFunction,
    cfg: LaunchConfig,
    l: &DeviceLists,
    replicates: u32,
    partials: &CudaSlice<f64>,
    sums: &mut CudaSlice<f64>,
) -> Result<(), Error> {
    let mut b = stream.launch_builder(f);
    b.arg(partials).arg(&l.group_chunk).arg(&l.n_chunks).arg(&l.n_groups).arg(&replicates).arg(sums);
    // SAFETY: the arguments match the kernel's signature; `partials` holds `6 * n_chunks` and
    // `sums` `6 * n_groups` entries for each of `replicates` (at most the batch they were
    // allocated for); threads past `replicates * n_groups` return at once.
    unsafe { b.launch(cfg) }.map(drop).map_err(cuda_err("launch bootstrap_combine"))
}

/// Arguments of `loss_grad` besides its outputs.
pub(super) struct LossArgs<'a, 'b> {
    pub outputs: &'a CudaView<'b, f32>,
    pub targets: &'a CudaView<'b, f32>,
    pub weights: &'a CudaView<'b, f32>,
    pub rows: u32,
    pub n_outputs: u32,
    pub task: i32,
}

/// `loss_grad(z, targets, weights, rows, n_outputs, task, grad, loss_acc)`.
pub(super) fn loss_grad(
    stream: &CudaStream,
    f: &CudaFunction,
    cfg: LaunchConfig,
    a: &LossArgs<'_, '_>,
    grad: &mut CudaSlice<f32>,
    loss_acc: &mut CudaSlice<f64>,
) -> Result<(), Error> {
    let mut b = stream.launch_builder(f);
    b.arg(a.outputs).arg(a.targets).arg(a.weights).arg(&a.rows).arg(&a.n_outputs).arg(&a.task);
    b.arg(grad).arg(loss_acc);
    // SAFETY: the arguments match the kernel's signature. The caller checked that `outputs` and
    // `grad` hold `rows * n_outputs` entries (below 2³²), `targets` and `weights` `rows`, and
    // `loss_acc` at least one; for task 0 and 2 `n_outputs` is 1, and for task 1 the kernel
    // reads `out[cls]` only for a target class the trainer validated below `n_outputs`. The
    // block size is `KILN_LOSS_THREADS` (1024), which the kernel's shared array assumes.
    unsafe { b.launch(cfg) }.map(drop).map_err(cuda_err("launch loss_grad"))
}

/// `sq_norm_partial(g, n, partials)`.
pub(super) fn sq_norm_partial(
    stream: &CudaStream,
    f: &CudaFunction,
    cfg: LaunchConfig,
    grads: &CudaView<'_, f32>,
    n: u64,
    partials: &mut CudaViewMut<'_, f64>,
) -> Result<(), Error> {
    let mut b = stream.launch_builder(f);
    b.arg(grads).arg(&n).arg(partials);
    // SAFETY: the arguments match the kernel's signature; `grads` holds `n` entries and the
    // grid-stride loop stays below `n`; `partials` holds at least `cfg.grid_dim.0` entries (the
    // caller checked `NORM_BLOCKS`); the block size is `KILN_NORM_THREADS` (256).
    unsafe { b.launch(cfg) }.map(drop).map_err(cuda_err("launch sq_norm_partial"))
}

/// Arguments of `clip_adamw` besides the tensors and the step's scalars.
pub(super) struct ClipAdamWArgs<'a> {
    pub n: u64,
    pub decay: i32,
    pub partials: &'a CudaSlice<f64>,
    pub n_partials: u32,
    pub max_norm: f64,
}

/// The tensors of one `clip_adamw` launch: parameters, gradients, first and second moments.
pub(super) type AdamWTensors<'a, 'b, 'c> =
    (&'a mut CudaViewMut<'b, f32>, &'a CudaView<'c, f32>, &'a mut CudaSlice<f32>, &'a mut CudaSlice<f32>);

/// `clip_adamw(params, grads, m, v, n, decay, beta1, beta2, eps, step_size, sqrt_correction2,
/// shrink, partials, n_partials, max_norm)`.
pub(super) fn clip_adamw(
    stream: &CudaStream,
    f: &CudaFunction,
    cfg: LaunchConfig,
    (params, grads, m, v): AdamWTensors<'_, '_, '_>,
    s: &Scalars,
    a: &ClipAdamWArgs<'_>,
) -> Result<(), Error> {
    let mut b = stream.launch_builder(f);
    b.arg(params).arg(grads).arg(m).arg(v).arg(&a.n).arg(&a.decay);
    b.arg(&s.beta1).arg(&s.beta2).arg(&s.eps).arg(&s.step_size).arg(&s.sqrt_correction2).arg(&s.shrink);
    b.arg(a.partials).arg(&a.n_partials).arg(&a.max_norm);
    // SAFETY: the arguments match the kernel's signature; the caller checked that `params` and
    // `grads` hold `n` entries and `m`, `v` at least `n`, so the grid-stride loop stays inside
    // all four; `partials` holds at least `n_partials` entries, which thread 0 of each block
    // reads in order.
    unsafe { b.launch(cfg) }.map(drop).map_err(cuda_err("launch clip_adamw"))
}
