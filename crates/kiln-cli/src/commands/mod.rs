//! One module per command group.

pub mod data;
pub mod eval;
pub mod feedback;
pub mod init;
pub mod lineage;
pub mod mlflow;
pub mod monitor;
pub mod monitor_log;
pub mod report;
pub mod retrain;
pub mod rollout;
pub mod run;
pub mod store;
pub mod track;
pub mod train;
