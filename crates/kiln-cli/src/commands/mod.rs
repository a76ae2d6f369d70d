//! One module per command group.

mod checkpoints;
pub mod data;
pub mod eval;
pub mod evaluation;
pub mod init;
pub(crate) mod pipeline;
pub mod run;
pub mod track;
pub mod train;
