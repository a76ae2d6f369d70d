//! One module per command group.

pub mod data;
pub mod track;
pub mod train;
