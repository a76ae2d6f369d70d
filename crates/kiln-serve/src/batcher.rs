//! Adaptive batching over the inference path: the requests waiting for one model version are
//! scored in one call of [`kiln_core::model::Model::predict_batch`]. A lone request is scored
//! at once; when others are already queued, a worker gathers them (up to `max_rows` rows,
//! waiting at most `max_wait_us` for more) and scores them together. The queue is bounded:
//! a full queue refuses the request (the server answers 503) instead of growing.
//!
//! A row's score does not depend on the rows scored with it (kiln-core scores a row alone
//! and inside a batch to the same bits), so batching never changes an answer.
//!
//! After the answers are sent, a worker adds the scored rows to its route's live drift
//! sketch (when it has one): the sketch costs the requests nothing but a scoring thread's
//! time.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_core::columns::{Batch, Values};
use tokio::sync::oneshot;

use crate::config::Batching;
use crate::drift::LiveDrift;
use crate::source::Loaded;

/// Faults an operator (or a test) injects into one served model's scoring, to drill the
/// breaker: scoring fails, is slowed down, or returns NaN; in every version it serves, or in
/// one registry version only (a rollout's challenger, say).
#[derive(Debug, Default)]
pub struct Faults {
    pub fail: AtomicBool,
    pub delay_ms: AtomicU64,
    pub non_finite: AtomicBool,
    /// The version the faults hit; 0: every version.
    pub version: AtomicI64,
}

/// The settings of [`Faults`] as JSON (`PUT /admin/models/{name}/faults`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSettings {
    pub fail: bool,
    pub delay_ms: u64,
    pub non_finite: bool,
    /// Only this registry version is hit (absent: every version the model serves).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl Faults {
    pub fn set(&self, settings: FaultSettings) {
        self.fail.store(settings.fail, Ordering::Relaxed);
        self.delay_ms.store(settings.delay_ms, Ordering::Relaxed);
        self.non_finite.store(settings.non_finite, Ordering::Relaxed);
        self.version.store(settings.version.unwrap_or(0), Ordering::Relaxed);
    }

    pub fn get(&self) -> FaultSettings {
        FaultSettings {
            fail: self.fail.load(Ordering::Relaxed),
            delay_ms: self.delay_ms.load(Ordering::Relaxed),
            non_finite: self.non_finite.load(Ordering::Relaxed),
            version: Some(self.version.load(Ordering::Relaxed)).filter(|v| *v != 0),
        }
    }

    /// The faults that hit a model of registry version `version` now.
    pub fn for_version(&self, version: i64) -> FaultSettings {
        let settings = self.get();
        if settings.version.is_some_and(|v| v != version) { FaultSettings::default() } else { settings }
    }
}

/// What a request gets back: its rows' scores (`n_rows × n_outputs`), or why scoring failed.
pub type Reply = Result<Vec<f64>, String>;

struct Job {
    batch: Arc<Batch>,
    reply: oneshot::Sender<Reply>,
}

/// The queue and scoring threads of one loaded model version.
#[derive(Debug)]
pub struct Batcher {
    sender: SyncSender<Job>,
}

/// The queue is full.
#[derive(Debug)]
pub struct QueueFull;

/// Called with the rows of every scored batch (for the batch-size histogram).
pub type BatchObserver = Arc<dyn Fn(usize) + Send + Sync>;

impl Batcher {
    /// Start `settings.workers` scoring threads for `loaded`, fed by a queue of `queue`
    /// requests. The threads end when the batcher is dropped and its queue is empty, so a
    /// model that is swapped out still answers every request it accepted.
    pub fn start(
        loaded: Arc<Loaded>,
        settings: &Batching,
        queue: usize,
        faults: Arc<Faults>,
        observe: BatchObserver,
        drift: Option<Arc<LiveDrift>>,
    ) -> Self {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..settings.workers {
            let worker = Worker {
                loaded: loaded.clone(),
                receiver: receiver.clone(),
                max_rows: settings.max_rows,
                max_wait: Duration::from_micros(settings.max_wait_us),
                faults: faults.clone(),
                observe: observe.clone(),
                drift: drift.clone(),
            };
            let name = format!("kiln-score-{}-{i}", loaded.resolved.version);
            let spawned = std::thread::Builder::new().name(name).spawn(move || worker.run());
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a scoring thread");
            }
        }
        Self { sender }
    }

    /// Queue `batch` and wait for its scores (an error when the queue is full).
    pub async fn score(&self, batch: Arc<Batch>) -> Result<Reply, QueueFull> {
        let receiver = self.submit(batch)?;
        Ok(receiver.await.unwrap_or_else(|_| Err("the scoring thread stopped".into())))
    }

    /// Queue `batch` for scoring; the receiver gets its scores.
    pub fn submit(&self, batch: Arc<Batch>) -> Result<oneshot::Receiver<Reply>, QueueFull> {
        let (reply, receiver) = oneshot::channel();
        match self.sender.try_send(Job { batch, reply }) {
            Ok(()) => Ok(receiver),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(QueueFull),
        }
    }
}

struct Worker {
    loaded: Arc<Loaded>,
    receiver: Arc<Mutex<Receiver<Job>>>,
    max_rows: usize,
    max_wait: Duration,
    faults: Arc<Faults>,
    observe: BatchObserver,
    drift: Option<Arc<LiveDrift>>,
}

impl Worker {
    fn run(self) {
        while let Some(jobs) = self.gather() {
            self.score(jobs);
        }
    }

    /// The next jobs to score together; none once the queue is closed and empty.
    fn gather(&self) -> Option<Vec<Job>> {
        let receiver = self.receiver.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = receiver.recv().ok()?;
        let mut rows = first.batch.n_rows();
        let mut jobs = vec![first];
        let deadline = Instant::now() + self.max_wait;
        while rows < self.max_rows {
            let next = match receiver.try_recv() {
                Ok(job) => Some(job),
                // others were queued: wait a little for more
                Err(_) if jobs.len() > 1 => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    receiver.recv_timeout(left).ok()
                }
                Err(_) => None,
            };
            let Some(job) = next else { break };
            rows += job.batch.n_rows();
            jobs.push(job);
        }
        Some(jobs)
    }

    fn score(&self, jobs: Vec<Job>) {
        let batches: Vec<&Batch> = jobs.iter().map(|j| j.batch.as_ref()).collect();
        match concat(&batches) {
            Some(batch) => {
                (self.observe)(batch.n_rows());
                let n_outputs = self.loaded.model.n_outputs();
                match self.predict(&batch) {
                    Ok(scores) => {
                        let mut start = 0;
                        for job in jobs {
                            let end = start + job.batch.n_rows() * n_outputs;
                            let _ = job.reply.send(Ok(scores[start..end].to_vec()));
                            start = end;
                        }
                        self.sketch(&batch, &scores);
                    }
                    Err(e) => jobs.into_iter().for_each(|job| {
                        let _ = job.reply.send(Err(e.clone()));
                    }),
                }
            }
            // columns that differ between requests: score each alone
            None => {
                for job in jobs {
                    (self.observe)(job.batch.n_rows());
                    let reply = self.predict(&job.batch);
                    let scores = match (&self.drift, &reply) {
                        (Some(_), Ok(scores)) => Some(scores.clone()),
                        _ => None,
                    };
                    let _ = job.reply.send(reply);
                    if let Some(scores) = scores {
                        self.sketch(&job.batch, &scores);
                    }
                }
            }
        }
    }

    /// Add scored rows to the live drift sketch.
    fn sketch(&self, batch: &Batch, scores: &[f64]) {
        if let Some(drift) = &self.drift {
            drift.ingest(batch, scores, Instant::now());
        }
    }

    fn predict(&self, batch: &Batch) -> Reply {
        let faults = self.faults.for_version(self.loaded.resolved.version);
        if faults.delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(faults.delay_ms));
        }
        if faults.fail {
            return Err("scoring failed: a fault was injected into this model (PUT /admin/models/{name}/faults)".into());
        }
        let mut scores = self.loaded.model.predict_batch(batch).map_err(|e| e.to_string())?;
        if faults.non_finite {
            scores.iter_mut().for_each(|s| *s = f64::NAN);
        }
        Ok(scores)
    }
}

/// The rows of `batches` one after another, when they all have the same columns of the same
/// types in the same order.
pub fn concat(batches: &[&Batch]) -> Option<Batch> {
    let (first, rest) = batches.split_first()?;
    if rest.is_empty() {
        return Some((*first).clone());
    }
    let same = |b: &&Batch| {
        b.columns.len() == first.columns.len()
            && b.columns.iter().zip(&first.columns).all(|((n, v), (m, w))| n == m && v.dtype() == w.dtype())
    };
    if !rest.iter().all(same) {
        return None;
    }
    let columns = first
        .columns
        .iter()
        .enumerate()
        .map(|(i, (name, values))| {
            let mut joined = values.clone();
            for b in rest {
                append(&mut joined, &b.columns[i].1);
            }
            (name.clone(), joined)
        })
        .collect();
    Some(Batch::new(columns))
}

fn append(into: &mut Values, from: &Values) {
    match (into, from) {
        (Values::Int(a), Values::Int(b)) => a.extend_from_slice(b),
        (Values::Float(a), Values::Float(b)) => a.extend_from_slice(b),
        (Values::Text(a), Values::Text(b)) => a.extend_from_slice(b),
        (Values::Bool(a), Values::Bool(b)) => a.extend_from_slice(b),
        // concat checked the types first
        _ => {}
    }
}
