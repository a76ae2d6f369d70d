//! Integration tests of kiln-track, each on a real SQLite file in a temporary folder.

mod audit;
mod faults;
mod lineage;
mod query;
mod registry;
mod rollout;
mod runs;
mod scale;
mod store_open;
mod support;
