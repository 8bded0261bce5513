//! Vigil's shared core: everything the server and the browser must agree on.
//!
//! Architecture invariant: this crate knows nothing of tokio, axum, HTTP or the
//! DOM. It is compiled natively for the `vigil` binary and to wasm32 for the
//! dashboard app, so a query parses identically in both places.

pub mod dashboard;
pub mod model;
pub mod promql;
