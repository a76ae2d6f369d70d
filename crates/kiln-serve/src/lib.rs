//! kiln-serve
