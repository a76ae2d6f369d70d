//! kiln-serve tests without a trained model: the request forms, routing, the config, the
//! prediction log, and live drift over HTTP with bundles built from generated rows. The server itself is tested over HTTP with trained Adult bundles in
//! kiln-cli's tests.

mod config;
mod drift;
mod protocol;
mod routing;
