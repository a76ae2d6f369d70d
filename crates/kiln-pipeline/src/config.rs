//! The whole config file: every section any crate consumes, composed here.
//!
//! Each section's struct belongs to the crate that uses it; this module only parses the file
//! (unknown keys are errors naming the key and the file) and hands the sections on.

use std::path::{Path, PathBuf};

use kiln_core::preprocess::PreprocessConfig;
use kiln_data::config::{ColumnsConfig, DataConfig, ProjectConfig, SplitConfig, ValidationConfig};
use kiln_data::plan::{DataPlan, DataSections};
use kiln_eval::plan::{EvalPlan, PlanColumns};
use serde::Deserialize;

use crate::error::Error;
use crate::retrain::config::RetrainPlan;

/// A parsed config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub project: ProjectConfig,
    pub data: DataConfig,
    pub columns: ColumnsConfig,
    #[serde(default)]
    pub validation: ValidationConfig,
    #[serde(default)]
    pub split: SplitConfig,
    #[serde(default)]
    pub preprocess: PreprocessConfig,
    /// `[[models]]`: the models to train and compare.
    #[serde(default)]
    pub models: Vec<kiln_train::config::ModelConfig>,
    /// `[evaluation]`: metrics, slices, intervals.
    #[serde(default)]
    pub evaluation: kiln_eval::config::EvaluationConfig,
    /// `[acceptance]`: the gates a model must pass to ship.
    #[serde(default)]
    pub acceptance: kiln_eval::config::AcceptanceConfig,
    /// `[monitoring]`: how `kiln monitor` judges new rows against the model's references.
    #[serde(default)]
    pub monitoring: kiln_monitor::config::MonitoringConfig,
    /// `[retrain]`: how `kiln retrain` builds, judges and registers a challenger.
    #[serde(default)]
    pub retrain: Option<crate::retrain::config::RetrainConfig>,
    /// `[rollout]`: how `kiln rollout` moves a challenger from shadow to champion.
    #[serde(default)]
    pub rollout: crate::rollout::RolloutConfig,
}

/// A loaded config: its path, the raw text and the checked data plan.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub path: PathBuf,
    pub text: String,
    pub config: RunConfig,
    pub plan: DataPlan,
    /// `[retrain]` checked (its defaults when the section is absent).
    pub retrain: RetrainPlan,
}

/// Read, parse and check a config file.
pub fn load(path: &Path) -> Result<LoadedConfig, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| kiln_data::Error::ConfigRead { path: path.to_path_buf(), source })?;
    parse(path, &text)
}

/// Parse and check config text that came from `path`: the data sections into a `DataPlan`,
/// `[evaluation]` and `[acceptance]` into an `EvalPlan` (their errors name the key).
pub fn parse(path: &Path, text: &str) -> Result<LoadedConfig, Error> {
    let config: RunConfig = toml::from_str(text)
        .map_err(|source| kiln_data::Error::ConfigParse { path: path.to_path_buf(), source: Box::new(source) })?;
    let sections = DataSections {
        project: config.project.clone(),
        data: config.data.clone(),
        columns: config.columns.clone(),
        validation: config.validation.clone(),
        split: config.split.clone(),
        preprocess: config.preprocess.clone(),
    };
    let plan = DataPlan::new(path, sections)?;
    check_evaluation(&config, &plan)
        .map_err(|source| Error::EvaluationConfig { path: path.to_path_buf(), source: Box::new(source) })?;
    config.rollout.plan()?;
    let columns: Vec<&str> = plan.configured_columns().collect();
    let retrain = RetrainPlan::new(&config.retrain.clone().unwrap_or_default(), config.project.task, &columns)
        .map_err(|p| Error::RetrainConfig { path: path.to_path_buf(), key: p.key, problem: p.problem })?;
    Ok(LoadedConfig { path: path.to_path_buf(), text: text.to_string(), config, plan, retrain })
}

/// Check `[evaluation]` and `[acceptance]` against the task and the columns of the plan.
fn check_evaluation(config: &RunConfig, plan: &DataPlan) -> Result<EvalPlan, kiln_eval::Error> {
    let columns: Vec<(&str, bool)> =
        plan.configured_columns().map(|c| (c, plan.dtype(c).is_some_and(|d| d.is_numeric()))).collect();
    let protected: Vec<&str> = plan.protected_columns().collect();
    let segments: Vec<&str> = config.columns.segment.iter().map(String::as_str).collect();
    let columns = PlanColumns { columns: &columns, protected: &protected, segments: &segments };
    EvalPlan::new(config.project.task, config.evaluation.clone(), config.acceptance.clone(), &columns)
}
