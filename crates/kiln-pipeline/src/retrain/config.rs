//! `[retrain]`: how `kiln retrain` assembles its dataset, holds out the judging rows, decides
//! whether to run, and judges the challenger. Parsed with the rest of the config (unknown keys
//! are named), then checked into a [`RetrainPlan`] whose errors name the key.

use std::time::Duration;

use kiln_core::schema::Task;
use kiln_eval::metrics::Metric;
use serde::{Deserialize, Serialize};

/// `[retrain]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainConfig {
    /// Logged rows taken, by request time, counted back from the retraining ("30d").
    #[serde(default = "default_window")]
    pub window: String,
    /// Hold out the labelled rows of the last `judge` (by request time) to judge on ("3d").
    #[serde(default)]
    pub judge: Option<String>,
    /// Or hold out this share of the most recent labelled rows (default 0.3).
    #[serde(default)]
    pub judge_share: Option<f64>,
    /// Fewer judging rows than this: no retraining (nothing could be judged).
    #[serde(default = "default_min_judge_rows")]
    pub min_judge_rows: usize,
    /// Retrain only when at least this many labels arrived since the champion was trained.
    #[serde(default)]
    pub min_new_labels: u64,
    /// Retrain only when `kiln monitor`'s drift verdict on the recent log says drift.
    #[serde(default)]
    pub on_drift: bool,
    /// The schedule of `kiln retrain --every` when the flag gives none ("1d").
    #[serde(default = "default_every")]
    pub every: String,
    /// Non-inferiority margin: the challenger passes when the lower bound of
    /// (challenger − champion) on the metric is above −margin.
    #[serde(default = "default_margin")]
    pub margin: f64,
    /// The metric tested (default the task's primary metric, e.g. roc_auc).
    #[serde(default)]
    pub metric: Option<String>,
    /// One-sided level of the non-inferiority test.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Columns whose groups are tested one by one (default the `[evaluation]` slices' columns,
    /// else the segment columns).
    #[serde(default)]
    pub segments: Option<Vec<String>>,
}

impl Default for RetrainConfig {
    fn default() -> Self {
        Self {
            window: default_window(),
            judge: None,
            judge_share: None,
            min_judge_rows: default_min_judge_rows(),
            min_new_labels: 0,
            on_drift: false,
            every: default_every(),
            margin: default_margin(),
            metric: None,
            alpha: default_alpha(),
            segments: None,
        }
    }
}

fn default_window() -> String {
    "30d".into()
}
fn default_min_judge_rows() -> usize {
    200
}
fn default_every() -> String {
    "1d".into()
}
fn default_margin() -> f64 {
    0.01
}
fn default_alpha() -> f64 {
    0.05
}

/// Which labelled rows are held out to judge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JudgeBy {
    /// The rows of the last span of time before the newest labelled row.
    Span(Duration),
    /// The newest share of the labelled rows.
    Share(f64),
}

/// `[retrain]` checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainPlan {
    pub window: Duration,
    pub judge: JudgeBy,
    pub min_judge_rows: usize,
    pub min_new_labels: u64,
    pub on_drift: bool,
    pub every: Duration,
    pub margin: f64,
    pub metric: Metric,
    pub alpha: f64,
    /// Empty: the `[evaluation]` slices' columns, else the segment columns.
    pub segments: Vec<String>,
}

/// A `[retrain]` key that does not hold: the key and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    pub key: &'static str,
    pub problem: String,
}

impl RetrainPlan {
    /// Check `config` for a `task` whose columns are `columns`.
    pub fn new(config: &RetrainConfig, task: Task, columns: &[&str]) -> Result<Self, KeyProblem> {
        let problem = |key: &'static str, problem: String| KeyProblem { key, problem };
        let duration =
            |key: &'static str, text: &str| kiln_monitor::config::parse_duration(text).map_err(|p| problem(key, p));
        let judge = match (&config.judge, config.judge_share) {
            (Some(_), Some(_)) => {
                return Err(problem("judge", "give either `judge = \"3d\"` or `judge_share = 0.3`, not both".into()));
            }
            (Some(text), None) => JudgeBy::Span(duration("judge", text)?),
            (None, share) => {
                let share = share.unwrap_or(0.3);
                if !(share > 0.0 && share < 1.0) {
                    return Err(problem("judge_share", format!("{share} is not a share in (0, 1), such as 0.3")));
                }
                JudgeBy::Share(share)
            }
        };
        if !(config.margin.is_finite() && config.margin >= 0.0) {
            return Err(problem("margin", format!("{} is not a non-negative number, such as 0.01", config.margin)));
        }
        if !(config.alpha > 0.0 && config.alpha < 0.5) {
            return Err(problem("alpha", format!("{} is not a level in (0, 0.5), such as 0.05", config.alpha)));
        }
        if config.min_judge_rows == 0 {
            return Err(problem("min_judge_rows", "must be at least 1".into()));
        }
        let metric = match &config.metric {
            None => kiln_eval::evaluate::primary_metric(task),
            Some(name) => Metric::parse(name).filter(|m| m.applies_to(task)).ok_or_else(|| {
                let names: Vec<&str> = Metric::for_task(task).iter().map(|m| m.name()).collect();
                problem(
                    "metric",
                    format!("`{name}` is not a metric of a {} task: use one of {}", task.as_str(), names.join(", ")),
                )
            })?,
        };
        let segments = config.segments.clone().unwrap_or_default();
        if let Some(unknown) = segments.iter().find(|s| !columns.contains(&s.as_str())) {
            return Err(problem("segments", format!("`{unknown}` is not a column of [columns]")));
        }
        Ok(Self {
            window: duration("window", &config.window)?,
            judge,
            min_judge_rows: config.min_judge_rows,
            min_new_labels: config.min_new_labels,
            on_drift: config.on_drift,
            every: duration("every", &config.every)?,
            margin: config.margin,
            metric,
            alpha: config.alpha,
            segments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<RetrainPlan, KeyProblem> {
        let config: RetrainConfig = toml::from_str(text).expect("parses");
        RetrainPlan::new(&config, Task::Binary, &["sex", "race", "age"])
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let p = plan("").expect("defaults");
        assert_eq!(p.window, Duration::from_secs(30 * 86_400));
        assert_eq!(p.judge, JudgeBy::Share(0.3));
        assert_eq!((p.min_judge_rows, p.min_new_labels, p.on_drift), (200, 0, false));
        assert_eq!(p.every, Duration::from_secs(86_400));
        assert_eq!((p.margin, p.alpha, p.metric), (0.01, 0.05, Metric::RocAuc));
        let p = plan("judge = \"3d\"\nmetric = \"log_loss\"\nsegments = [\"sex\"]").expect("set");
        assert_eq!(p.judge, JudgeBy::Span(Duration::from_secs(3 * 86_400)));
        assert_eq!((p.metric, p.segments), (Metric::LogLoss, vec!["sex".to_string()]));
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let cases = [
            ("judge = \"3d\"\njudge_share = 0.2", "judge"),
            ("judge_share = 1.5", "judge_share"),
            ("window = \"30\"", "window"),
            ("every = \"soon\"", "every"),
            ("judge = \"0d\"", "judge"),
            ("margin = -0.1", "margin"),
            ("alpha = 0.7", "alpha"),
            ("min_judge_rows = 0", "min_judge_rows"),
            ("metric = \"rmse\"", "metric"),
            ("segments = [\"zip\"]", "segments"),
        ];
        for (text, key) in cases {
            let err = plan(text).expect_err(text);
            assert_eq!(err.key, key, "{text}: {}", err.problem);
        }
        let unknown = toml::from_str::<RetrainConfig>("windw = \"3d\"").expect_err("unknown key");
        assert!(unknown.to_string().contains("windw"), "{unknown}");
    }
}
