//! The data model shared by server and browser: label sets and the JSON
//! shapes of the Prometheus HTTP API.

pub mod api;
pub mod labels;

pub use labels::{Label, Labels, METRIC_NAME};
