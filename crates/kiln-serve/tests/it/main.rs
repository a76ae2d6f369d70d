//! kiln-serve tests without a trained model: the request forms, routing, the config and the
//! prediction log. The server itself is tested over HTTP with trained Adult bundles in
//! kiln-cli's tests.

mod config;
mod predlog;
mod protocol;
mod routing;
