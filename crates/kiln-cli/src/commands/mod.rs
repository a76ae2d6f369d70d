//! One module per command group.

mod checkpoints;
pub mod data;
pub mod eval;
pub(crate) mod pipeline;
pub mod run;
pub mod evaluation;
pub mod track;
pub mod train;
