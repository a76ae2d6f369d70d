//! kiln-serve

pub mod predlog;
