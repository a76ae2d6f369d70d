//! kiln-mlflow tests against a real `mlflow server` on loopback, read back with MLflow's own
//! Python client: what a store holds arrives whole, a second export duplicates nothing, and
//! each kind of failure is a typed error naming the server.

mod errors;
mod export;
mod server;
