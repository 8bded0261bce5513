//! Panels: a component per panel type, each fetching its own data, and the
//! pure drawing code they share.

pub mod data;
pub mod draw;
pub mod timeseries;
