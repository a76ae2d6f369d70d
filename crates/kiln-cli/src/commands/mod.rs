//! One module per command group.

mod checkpoints;
pub mod data;
pub mod track;
pub mod train;
