//! `kind = "gbdt"`: gradient-boosted trees trained by LightGBM (its C API, built from source
//! with the crate) and stored in kiln's own tree format (`kiln_core::model::gbdt`).
//!
//! Every default is LightGBM's own default, so that kiln's trees are the model a team would
//! get from `lightgbm.LGBMClassifier()` on the same encoded rows. The keys that trade quality
//! for time say what they cost in their documentation; none of them is capped silently.

use serde::{Deserialize, Serialize};

use super::invalid;
use crate::error::Result;
use kiln_core::schema::Task;

/// How categorical columns reach the trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GbdtCategorical {
    /// One integer code per column (categories ranked by training frequency, `__other__` = 0),
    /// split as an ordered number.
    #[default]
    Codes,
    /// The same codes declared categorical to LightGBM, which splits them into sets of
    /// categories (its `categorical_feature`).
    Native,
}

/// The `[[models]]` table of `kind = "gbdt"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GbdtConfig {
    /// Unique model name (default: the kind).
    pub name: Option<String>,
    /// Boosting rounds (default 100). Training time grows about linearly with the rounds;
    /// fewer rounds underfit: on Adult's test file, 25 rounds score 0.919 ROC AUC, 50 rounds
    /// 0.926, 100 rounds 0.927 (`benches/RESULTS.md`). With `early_stopping_rounds` this is the
    /// upper bound.
    pub num_iterations: usize,
    /// Shrinkage of each tree (default 0.1). Smaller rates need proportionally more rounds.
    pub learning_rate: f64,
    /// Leaves per tree (default 31); trees grow leaf-wise, best split first.
    pub num_leaves: usize,
    /// Depth limit (default: none; the leaf count bounds the trees).
    pub max_depth: Option<usize>,
    /// Fewest training rows in a leaf (default 20).
    pub min_data_in_leaf: usize,
    /// L2 penalty on leaf values (default 0).
    pub lambda_l2: f64,
    /// Share of features each tree may split on (default 1: all).
    pub feature_fraction: f64,
    /// Share of rows each tree is fitted on (default 1: all; below 1, rows are resampled every
    /// round). It speeds training up roughly in proportion, at some cost in quality.
    pub bagging_fraction: f64,
    /// Histogram bins per numeric feature (default 255, in [2, 4096]). Fewer bins train faster
    /// and coarsen the thresholds.
    pub max_bin: u32,
    /// How categorical columns are split (default `codes`).
    pub categorical: GbdtCategorical,
    /// Stop when the validation split's loss has not improved for this many rounds, and keep
    /// the best round (default: off, all `num_iterations` rounds are kept).
    pub early_stopping_rounds: Option<usize>,
    /// Training threads (default: every core). The trees do not depend on it (LightGBM runs
    /// deterministic and column-wise; checked on Adult with 1 and 2 threads).
    pub threads: Option<usize>,
    /// Seed of the library's sampling (default: `project.seed`).
    pub seed: Option<u64>,
}

impl Default for GbdtConfig {
    fn default() -> Self {
        Self {
            name: None,
            num_iterations: 100,
            learning_rate: 0.1,
            num_leaves: 31,
            max_depth: None,
            min_data_in_leaf: 20,
            lambda_l2: 0.0,
            feature_fraction: 1.0,
            bagging_fraction: 1.0,
            max_bin: 255,
            categorical: GbdtCategorical::Codes,
            early_stopping_rounds: None,
            threads: None,
            seed: None,
        }
    }
}

/// A checked [`GbdtConfig`]: what [`crate::baselines::gbdt::GbdtModel::fit`] accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct GbdtPlan {
    config: GbdtConfig,
}

impl GbdtPlan {
    pub fn config(&self) -> &GbdtConfig {
        &self.config
    }

    /// The configured seed, or `default_seed` (the project seed).
    pub fn seed_or(&self, default_seed: u64) -> u64 {
        self.config.seed.unwrap_or(default_seed)
    }

    /// Training threads: the configured count, or rayon's (every core by default).
    pub fn threads(&self) -> usize {
        self.config.threads.unwrap_or_else(rayon::current_num_threads)
    }

    /// LightGBM's parameter string for `task` (`n_classes` for multiclass), with the codes at
    /// feature columns `codes` (the last ones) declared categorical when so configured.
    pub fn lightgbm_params(&self, task: Task, n_classes: usize, seed: u64, codes: std::ops::Range<usize>) -> String {
        let c = &self.config;
        let objective = match task {
            Task::Binary => "objective=binary metric=binary_logloss".to_string(),
            Task::Multiclass => format!("objective=multiclass num_class={n_classes} metric=multi_logloss"),
            Task::Regression => "objective=regression metric=l2".to_string(),
        };
        let mut params = format!(
            "{objective} learning_rate={} num_leaves={} max_depth={} min_data_in_leaf={} lambda_l2={} \
             feature_fraction={} bagging_fraction={} bagging_freq={} max_bin={} seed={seed} num_threads={} \
             deterministic=true force_col_wise=true verbosity=-1",
            c.learning_rate,
            c.num_leaves,
            c.max_depth.map_or(-1, |d| d as i64),
            c.min_data_in_leaf,
            c.lambda_l2,
            c.feature_fraction,
            c.bagging_fraction,
            usize::from(c.bagging_fraction < 1.0),
            c.max_bin,
            self.threads(),
        );
        if c.categorical == GbdtCategorical::Native && !codes.is_empty() {
            let list: Vec<String> = codes.map(|i| i.to_string()).collect();
            params.push_str(&format!(" categorical_feature={}", list.join(",")));
        }
        params
    }
}

impl GbdtConfig {
    /// Check the hyperparameters; `prefix` is the table's key path (e.g. `models[1]`).
    pub fn validate(&self, prefix: &str) -> Result<GbdtPlan> {
        let key = |name: &str| format!("{prefix}.{name}");
        let counts: [(&str, usize, usize, &str); 4] = [
            ("num_iterations", self.num_iterations, 1_000_000, "100 is LightGBM's default"),
            ("num_leaves", self.num_leaves, 131_072, "31 is LightGBM's default"),
            ("min_data_in_leaf", self.min_data_in_leaf, usize::MAX, "20 is LightGBM's default"),
            ("max_bin", self.max_bin as usize, 4096, "255 is LightGBM's default"),
        ];
        let least = |name: &str| if name == "num_leaves" || name == "max_bin" { 2 } else { 1 };
        for (name, value, most, hint) in counts {
            if value < least(name) || value > most {
                return Err(invalid(&key(name), format!("is {value}"), hint));
            }
        }
        let shares = [
            ("learning_rate", self.learning_rate, "use a rate in (0, 1]; 0.1 is LightGBM's default"),
            ("feature_fraction", self.feature_fraction, "use a share in (0, 1]; 1 keeps every feature"),
            ("bagging_fraction", self.bagging_fraction, "use a share in (0, 1]; 1 keeps every row"),
        ];
        for (name, value, hint) in shares {
            if !(value > 0.0 && value <= 1.0) {
                return Err(invalid(&key(name), format!("is {value}"), hint));
            }
        }
        if !(self.lambda_l2 >= 0.0 && self.lambda_l2.is_finite()) {
            return Err(invalid(&key("lambda_l2"), format!("is {}", self.lambda_l2), "use a penalty of 0 or more"));
        }
        let positive = [
            ("max_depth", self.max_depth, "leave it out for no limit"),
            ("early_stopping_rounds", self.early_stopping_rounds, "10 to 50 rounds is usual"),
            ("threads", self.threads, "leave it out to use every core"),
        ];
        for (name, value, hint) in positive {
            if value == Some(0) {
                return Err(invalid(&key(name), "is 0".into(), hint));
            }
        }
        Ok(GbdtPlan { config: self.clone() })
    }
}
