//! A generator of realistic synthetic runs (parameters, metric series, artifacts, data hashes)
//! for benchmarks and scale tests. Writes rows directly in large transactions; it takes no run
//! locks and appends nothing to the audit log.

use crate::db::params;

use crate::error::Result;
use crate::hashing::sha256_hex;
use crate::store::Store;
use crate::time::format_compact;

/// Metric series each synthetic run logs; the flag says whether higher is better.
pub const SYNTH_METRICS: [(&str, bool); 10] = [
    ("auc", true),
    ("accuracy", true),
    ("f1", true),
    ("precision", true),
    ("recall", true),
    ("log_loss", false),
    ("brier", false),
    ("ece", false),
    ("train_loss", false),
    ("val_loss", false),
];

/// Steps in each synthetic metric series.
pub const SYNTH_STEPS: u64 = 20;

const RUNS_PER_TRANSACTION: usize = 2_000;
const N_DATASETS: u64 = 50;
const MODELS: [&str; 4] = ["gbdt", "mlp", "linear", "rules"];
const OPTIMIZERS: [&str; 3] = ["adam", "adamw", "sgd"];

/// Adds `n_runs` synthetic runs to `store`, deterministic in `seed`: about 20 parameters,
/// [`SYNTH_METRICS`] each with [`SYNTH_STEPS`] steps, 3 artifacts and data / schema / split
/// hashes drawn from 50 datasets per run; 90 % finished, 7 % failed, 3 % interrupted. Start
/// times are one minute apart (plus jitter), ending at the present.
pub fn fill_store(store: &Store, n_runs: usize, seed: u64) -> Result<()> {
    let mut rng = SplitMix64(seed);
    let now = crate::time::now_ms();
    let n_runs_i64 = i64::try_from(n_runs).unwrap_or(i64::MAX);
    let first_start = now - n_runs_i64.saturating_mul(60_000);
    let mut run_index = 0_usize;
    while run_index < n_runs {
        let batch_end = (run_index + RUNS_PER_TRANSACTION).min(n_runs);
        store.write("generate synthetic runs", |tx| {
            let insert_run = "INSERT INTO runs (id, name, command, status, config, config_hash, data_hash,
                    schema_hash, split_hash, git_commit, git_dirty, seed, device, kiln_version,
                    pid, host, started_ms, ended_ms, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18, ?19)";
            let insert_param = "INSERT INTO params (run, key, value) VALUES (?1, ?2, ?3)";
            let insert_metric = "INSERT INTO metrics (run, key, step, value) VALUES (?1, ?2, ?3, ?4)";
            let insert_artifact = "INSERT INTO artifacts (run, path, sha256, size_bytes, logged_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)";
            for index in run_index..batch_end {
                let offset = i64::try_from(index).unwrap_or(i64::MAX).saturating_mul(60_000);
                let started_ms = first_start + offset + rng.below(59_000).cast_signed();
                let ended_ms = started_ms + 1_000 + rng.below(600_000).cast_signed();
                let id = format!("{}-{:06x}", format_compact(started_ms), rng.next() & 0xff_ffff);
                let model = MODELS[rng.pick(MODELS.len())];
                let dataset = rng.below(N_DATASETS);
                let run_seed = rng.below(10_000);
                let status_draw = rng.below(100);
                let (status, error) = match status_draw {
                    0..90 => ("finished", None),
                    90..97 => ("failed", Some("training diverged: loss is NaN")),
                    _ => ("interrupted", Some("process stopped without ending the run")),
                };
                let params = synth_params(&mut rng, model, run_seed);
                let config = params.iter().map(|(key, value)| format!("{key} = \"{value}\"\n")).collect::<String>();
                let pk = tx.insert_returning(
                    insert_run,
                    params![
                        id,
                        format!("churn-{model}"),
                        if rng.below(4) == 0 { "evaluate" } else { "train" },
                        status,
                        config,
                        sha256_hex(config.as_bytes()),
                        sha256_hex(format!("dataset-{dataset}").as_bytes()),
                        sha256_hex(format!("schema-{}", dataset % 5).as_bytes()),
                        sha256_hex(format!("split-{dataset}-{}", run_seed % 3).as_bytes()),
                        &sha256_hex(format!("commit-{}", index / 50).as_bytes())[..40],
                        rng.below(10) == 0,
                        run_seed.cast_signed(),
                        if model == "mlp" { "cuda:0" } else { "cpu" },
                        "0.1.0",
                        10_000 + rng.below(50_000).cast_signed(),
                        "synth-host",
                        started_ms,
                        ended_ms,
                        error,
                    ],
                    "pk",
                )?;
                for (key, value) in &params {
                    tx.execute(insert_param, params![pk, key, value])?;
                }
                let quality = rng.unit();
                for (key, higher_is_better) in SYNTH_METRICS {
                    let (start, end) = if higher_is_better {
                        (0.5, 0.6 + 0.39 * quality)
                    } else {
                        (1.0, 0.05 + 0.5 * (1.0 - quality))
                    };
                    for step in 0..SYNTH_STEPS {
                        let progress = (step + 1) as f64 / SYNTH_STEPS as f64;
                        let noise = (rng.unit() - 0.5) * 0.01;
                        let value = start + (end - start) * progress.sqrt() + noise;
                        tx.execute(insert_metric, params![pk, key, step.cast_signed(), value])?;
                    }
                }
                for (path, size) in
                    [("model.safetensors", 2_000_000), ("report.json", 40_000), ("predictions.csv", 900_000)]
                {
                    tx.execute(
                        insert_artifact,
                        params![
                            pk,
                            format!("runs/{id}/{path}"),
                            sha256_hex(format!("{id}/{path}").as_bytes()),
                            size + rng.below(1_000).cast_signed(),
                            ended_ms,
                        ],
                    )?;
                }
            }
            Ok(())
        })?;
        run_index = batch_end;
    }
    Ok(())
}

fn synth_params(rng: &mut SplitMix64, model: &str, run_seed: u64) -> Vec<(&'static str, String)> {
    let lr = [0.001, 0.003, 0.01, 0.03, 0.1][rng.pick(5)];
    vec![
        ("model", model.to_owned()),
        ("lr", lr.to_string()),
        ("batch_size", (32 << rng.below(5)).to_string()),
        ("epochs", (5 + rng.below(46)).to_string()),
        ("max_depth", (3 + rng.below(8)).to_string()),
        ("n_estimators", (100 * (1 + rng.below(10))).to_string()),
        ("l2", format!("{:.4}", rng.unit() * 0.1)),
        ("dropout", format!("{:.2}", rng.unit() * 0.5)),
        ("hidden", (64 << rng.below(4)).to_string()),
        ("layers", (1 + rng.below(4)).to_string()),
        ("optimizer", OPTIMIZERS[rng.pick(OPTIMIZERS.len())].to_owned()),
        ("scheduler", ["cosine", "linear", "constant"][rng.pick(3)].to_owned()),
        ("warmup_steps", (100 * rng.below(10)).to_string()),
        ("momentum", format!("{:.2}", 0.8 + rng.unit() * 0.19)),
        ("min_child_weight", (1 + rng.below(10)).to_string()),
        ("subsample", format!("{:.2}", 0.5 + rng.unit() * 0.5)),
        ("colsample", format!("{:.2}", 0.5 + rng.unit() * 0.5)),
        ("early_stopping", (5 + rng.below(20)).to_string()),
        ("class_weight", ["none", "balanced"][rng.pick(2)].to_owned()),
        ("seed", run_seed.to_string()),
    ]
}

/// SplitMix64: a small, fast, well-mixed generator (Steele, Lea and Flood 2014).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0; the modulo bias is irrelevant here).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).expect("index below a usize length")
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }
}
