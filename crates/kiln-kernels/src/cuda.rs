//! The kernels on a CUDA GPU (feature `cuda`): the PTX that `build.rs` compiled with nvcc,
//! loaded into a [`Gpu`] and launched through `cudarc`. Every launch goes through the small
//! `launch` module, the only code of kiln with `unsafe` (a kernel launch cannot be checked by
//! the compiler); everything else here is safe host code: uploads, launch shapes, downloads.

mod launch;
pub mod train;

/// The cudarc types of this API (the release candle uses), for callers that hold device memory.
pub use cudarc::driver::{CudaContext, CudaSlice, CudaStream, CudaView, CudaViewMut};

use std::sync::Arc;

use crate::Error;
use crate::reference::bootstrap::{GroupSums, POISSON1_CDF, SUMS_FIELDS};
use crate::reference::philox::seed_key;
use crate::reference::prep::Prepared;
use cudarc::driver::{CudaFunction, LaunchConfig};
use cudarc::nvrtc::Ptx;

const SLICED_PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/sliced_eval.ptx"));
const BOOTSTRAP_PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/bootstrap.ptx"));

/// Threads per block of the chunk kernels (`KILN_SCAN_THREADS` in `kernels/scan_common.cuh`).
const SCAN_THREADS: u32 = 256;
/// Fields of a group's row sums in `sliced_rows` (tn, fp, fn, tp, log loss, Brier).
const ROW_SUMS: usize = 6;
/// The most bytes of chunk partial sums the bootstrap keeps on the device at once.
const PARTIALS_BYTES: usize = 512 << 20;
/// The largest grid `y` dimension.
const MAX_GRID_Y: u32 = 65_535;

fn cuda_err(what: &str) -> impl Fn(cudarc::driver::DriverError) -> Error + '_ {
    move |e| Error::Cuda(format!("{what}: {e}"))
}

/// One GPU with kiln's kernels loaded.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    sliced_rows: CudaFunction,
    sliced_auc: CudaFunction,
    sliced_combine: CudaFunction,
    bootstrap_chunks: CudaFunction,
    bootstrap_combine: CudaFunction,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu").field("ordinal", &self.ctx.ordinal()).finish_non_exhaustive()
    }
}

/// The prepared lists of an evaluation, uploaded once for any number of launches.
#[derive(Debug)]
pub struct DeviceLists {
    records: CudaSlice<u32>,
    loss: CudaSlice<f64>,
    weights: CudaSlice<f64>,
    has_weights: i32,
    chunk_start: CudaSlice<u32>,
    group_chunk: CudaSlice<u32>,
    n_chunks: u32,
    n_groups: u32,
}

impl Gpu {
    /// Opens GPU `ordinal` and loads the kernels (the driver JIT-compiles the PTX on first use).
    pub fn new(ordinal: usize) -> Result<Self, Error> {
        let ctx = CudaContext::new(ordinal).map_err(cuda_err("open the GPU"))?;
        let stream = ctx.default_stream();
        let load = |ptx: &str, names: &[&str]| -> Result<Vec<CudaFunction>, Error> {
            let module = ctx.load_module(Ptx::from_src(ptx)).map_err(cuda_err("load a kernel module"))?;
            names.iter().map(|n| module.load_function(n).map_err(cuda_err(n))).collect()
        };
        let mut sliced = load(SLICED_PTX, &["sliced_rows", "sliced_auc", "sliced_combine"])?.into_iter();
        let mut boot = load(BOOTSTRAP_PTX, &["bootstrap_chunks", "bootstrap_combine"])?.into_iter();
        let missing = || Error::Cuda("a kernel is missing from its module".into());
        Ok(Self {
            sliced_rows: sliced.next().ok_or_else(missing)?,
            sliced_auc: sliced.next().ok_or_else(missing)?,
            sliced_combine: sliced.next().ok_or_else(missing)?,
            bootstrap_chunks: boot.next().ok_or_else(missing)?,
            bootstrap_combine: boot.next().ok_or_else(missing)?,
            ctx,
            stream,
        })
    }

    /// The stream every launch of this `Gpu` goes on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The GPU's name as the driver reports it.
    pub fn name(&self) -> String {
        self.ctx.name().unwrap_or_else(|e| format!("unknown GPU ({e})"))
    }

    /// Waits for all queued work.
    pub fn synchronize(&self) -> Result<(), Error> {
        self.stream.synchronize().map_err(cuda_err("synchronize"))
    }

    /// A copy of `v` on the device (one zero element for an empty `v`: no zero-byte allocations).
    fn upload<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        &self,
        v: &[T],
        what: &str,
    ) -> Result<CudaSlice<T>, Error> {
        if v.is_empty() {
            return self.zeros(1, what);
        }
        self.stream.clone_htod(v).map_err(cuda_err(what))
    }

    fn zeros<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        &self,
        n: usize,
        what: &str,
    ) -> Result<CudaSlice<T>, Error> {
        self.stream.alloc_zeros(n.max(1)).map_err(cuda_err(what))
    }

    fn download<T: cudarc::driver::DeviceRepr>(&self, s: &CudaSlice<T>, what: &str) -> Result<Vec<T>, Error> {
        self.stream.clone_dtoh(s).map_err(cuda_err(what))
    }

    /// Uploads prepared lists.
    pub fn upload_lists(&self, prep: &Prepared) -> Result<DeviceLists, Error> {
        let weights = match &prep.weights {
            Some(w) => self.upload(w, "upload weights")?,
            None => self.zeros(1, "allocate")?,
        };
        Ok(DeviceLists {
            records: self.upload(&prep.records, "upload records")?,
            loss: self.upload(&prep.loss, "upload losses")?,
            weights,
            has_weights: i32::from(prep.weights.is_some()),
            chunk_start: self.upload(&prep.chunk_start, "upload chunks")?,
            group_chunk: self.upload(&prep.group_chunk, "upload chunks")?,
            n_chunks: prep.n_chunks() as u32,
            n_groups: prep.n_groups as u32,
        })
    }

    /// Every group's unresampled ROC, weight, accuracy and log-loss sums (`sliced_auc`, then
    /// `sliced_combine`).
    pub fn point_sums(&self, lists: &DeviceLists) -> Result<Vec<GroupSums>, Error> {
        let mut partials = self.zeros::<f64>(lists.n_chunks as usize * SUMS_FIELDS, "allocate partial sums")?;
        let mut sums = self.zeros::<f64>(lists.n_groups as usize * SUMS_FIELDS, "allocate sums")?;
        if lists.n_chunks > 0 {
            let cfg = grid(lists.n_chunks.min(MAX_GRID_Y), 1, SCAN_THREADS);
            launch::sliced_auc(&self.stream, &self.sliced_auc, cfg, lists, &mut partials)?;
        }
        let cfg = grid(lists.n_groups.div_ceil(256).max(1), 1, 256);
        launch::sliced_combine(&self.stream, &self.sliced_combine, cfg, lists, &partials, &mut sums)?;
        let host = self.download(&sums, "download sums")?;
        Ok(host.chunks_exact(SUMS_FIELDS).take(lists.n_groups as usize).map(GroupSums::from_array).collect())
    }

    /// Every replicate's sums of every group, `out[r * n_groups + g]`, replicate `r` weighting
    /// rows by `poisson1_weight(row, r, seed_key(seed))`: equal to
    /// [`replicate_sums`](crate::reference::bootstrap::replicate_sums) up to the order of
    /// floating-point additions. Replicates run in batches that keep the chunk partial sums
    /// under 512 MiB; each batch is one `bootstrap_chunks` launch.
    pub fn bootstrap(&self, lists: &DeviceLists, replicates: u32, seed: u64) -> Result<Vec<GroupSums>, Error> {
        let key = seed_key(seed);
        let cdf = self.upload(&POISSON1_CDF, "upload the Poisson table")?;
        let per_replicate = (lists.n_chunks as usize * SUMS_FIELDS * 8).max(1);
        let batch = ((PARTIALS_BYTES / per_replicate).max(1) as u32).min(replicates.max(1));
        let mut partials = self.zeros::<f64>(batch as usize * lists.n_chunks as usize * SUMS_FIELDS, "allocate")?;
        let mut sums = self.zeros::<f64>(batch as usize * lists.n_groups as usize * SUMS_FIELDS, "allocate")?;
        let mut out = Vec::with_capacity(replicates as usize * lists.n_groups as usize);
        let mut first = 0u32;
        while first < replicates {
            let count = batch.min(replicates - first);
            if lists.n_chunks > 0 {
                let cfg = grid(count, lists.n_chunks.min(MAX_GRID_Y), SCAN_THREADS);
                launch::bootstrap_chunks(
                    &self.stream,
                    &self.bootstrap_chunks,
                    cfg,
                    lists,
                    (first, key),
                    &cdf,
                    &mut partials,
                )?;
            }
            let threads = count as usize * lists.n_groups as usize;
            let cfg = grid((threads.div_ceil(256) as u32).max(1), 1, 256);
            launch::bootstrap_combine(&self.stream, &self.bootstrap_combine, cfg, lists, count, &partials, &mut sums)?;
            let host = self.download(&sums, "download replicate sums")?;
            out.extend(host.chunks_exact(SUMS_FIELDS).take(threads).map(GroupSums::from_array));
            first += count;
        }
        Ok(out)
    }

    /// Every group's row sums on the GPU (`sliced_rows`), and its ROC AUC sums from the
    /// prepared lists: what `kiln_eval::scan::scan` computes, as raw sums.
    pub fn sliced_eval(
        &self,
        input: &RowInput<'_>,
        prep: &Prepared,
        lists: &DeviceLists,
    ) -> Result<Vec<GroupPoint>, Error> {
        let n = input.labels.len();
        let n_slicings = prep.offsets.len();
        if input.scores.len() != n
            || input.ids.len() != n * n_slicings
            || input.weights.is_some_and(|w| w.len() != n)
            || prep.n_rows != n
        {
            return Err(Error::Setting(format!(
                "row input: {n} labels, {} scores, {} ids for {n_slicings} slicings, lists of {} rows",
                input.scores.len(),
                input.ids.len(),
                prep.n_rows
            )));
        }
        let n_groups = prep.n_groups;
        let labels = self.upload(input.labels, "upload labels")?;
        let scores = self.upload(input.scores, "upload scores")?;
        let weights = match input.weights {
            Some(w) => self.upload(w, "upload weights")?,
            None => self.zeros(1, "allocate")?,
        };
        let ids = self.upload(input.ids, "upload codes")?;
        let mut sums = self.zeros::<f64>(n_groups * ROW_SUMS, "allocate row sums")?;
        let mut counts = self.zeros::<u64>(n_groups, "allocate counts")?;
        let shared = n_groups * (ROW_SUMS * 8 + 8);
        let use_shared = shared <= 48 << 10;
        if n > 0 && n_groups > 0 {
            let blocks = (n.div_ceil(256) as u32).clamp(1, 2048);
            let mut cfg = grid(blocks, 1, 256);
            cfg.shared_mem_bytes = if use_shared { shared as u32 } else { 0 };
            let rows = launch::RowsArgs {
                labels: &labels,
                scores: &scores,
                weights: &weights,
                has_weights: i32::from(input.weights.is_some()),
                ids: &ids,
                n_slicings: n_slicings as u32,
                n_rows: n as u32,
                n_groups: n_groups as u32,
                threshold: input.threshold,
                use_shared: i32::from(use_shared),
            };
            launch::sliced_rows(&self.stream, &self.sliced_rows, cfg, &rows, &mut sums, &mut counts)?;
        }
        let row_sums = self.download(&sums, "download row sums")?;
        let counts = self.download(&counts, "download counts")?;
        let auc = self.point_sums(lists)?;
        Ok((0..n_groups)
            .map(|i| {
                let r = &row_sums[i * ROW_SUMS..(i + 1) * ROW_SUMS];
                GroupPoint { cells: [r[0], r[1], r[2], r[3]], loss: r[4], brier: r[5], count: counts[i], ranks: auc[i] }
            })
            .collect())
    }
}

/// The rows of [`Gpu::sliced_eval`] in row order: labels (0/1), probabilities, optional
/// weights, and each row's accumulator in each slicing, slicing after slicing
/// (`ids[s * rows + row]`, the groups of all slicings numbered in order).
#[derive(Debug, Clone, Copy)]
pub struct RowInput<'a> {
    pub labels: &'a [u8],
    pub scores: &'a [f64],
    pub weights: Option<&'a [f64]>,
    pub ids: &'a [u32],
    /// A row is predicted positive when `score >= threshold`.
    pub threshold: f64,
}

/// One group's sums from [`Gpu::sliced_eval`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GroupPoint {
    /// Weights of (negative, predicted negative), (negative, predicted positive), (positive,
    /// predicted negative), (positive, predicted positive).
    pub cells: [f64; 4],
    /// Weighted sums of the log losses (scikit-learn's clipping) and squared errors.
    pub loss: f64,
    pub brier: f64,
    /// Rows, whatever their weight.
    pub count: u64,
    /// The ranking sums of the group's list (ROC AUC: `ranks.metrics()[2]`).
    pub ranks: GroupSums,
}

/// A launch shape: `x × y` blocks of `threads`.
fn grid(x: u32, y: u32, threads: u32) -> LaunchConfig {
    LaunchConfig { grid_dim: (x, y, 1), block_dim: (threads, 1, 1), shared_mem_bytes: 0 }
}
