//! kiln-core integration tests: bundles written to and read from real files in temporary
//! folders, inference from a bundle file with kiln-core alone, reference distributions on hand-worked data, and device specs.

mod bundle_errors;
mod bundle_roundtrip;
mod common;
mod device;
mod inference;
mod python_check;
mod reference;
mod rng_known_answers;
