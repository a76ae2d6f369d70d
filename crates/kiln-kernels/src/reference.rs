//! CPU references of the kernels, and the host preparation that the evaluation kernels share.

pub mod adamw;
pub mod bootstrap;
pub mod philox;
pub mod prep;
#[cfg(test)]
mod tests;
pub mod train_step;
