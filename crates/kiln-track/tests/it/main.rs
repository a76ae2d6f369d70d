//! Integration tests of kiln-track, on both backends: a real SQLite file in a temporary folder,
//! and a fresh database on a real PostgreSQL server the binary starts (see `support`).

mod audit;
mod copy;
mod faults;
mod lineage;
mod pg;
mod query;
mod registry;
mod rollout;
mod runs;
mod scale;
mod store_open;
mod support;
