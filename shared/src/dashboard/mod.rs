//! Dashboards: the Grafana-compatible model and the pure logic the dashboard
//! app and the dashboard store share.
//!
//! Everything here is computation on values (no clock, no I/O, no DOM), so it
//! compiles for wasm32 and is tested natively and in the browser alike. Where
//! Grafana's behaviour is the contract (import of old dashboards, time math,
//! interval rounding, variable formatting, unit formatting) the module doc of
//! each file names the Grafana source it follows.
//!
//! - [`model`] — the dashboard JSON (serde), import normalisation and limits.
//! - [`time`] — `now-6h`, `now/d`, quick ranges, zoom-out, refresh intervals.
//! - [`interval`] — step, `$__interval`, `$__rate_interval`, `$__range`.
//! - [`variables`] — template variables: queries, regex filter, interpolation.
//! - [`render`] — legend names, colours, units, reductions, thresholds,
//!   per-pixel downsampling.
//! - [`url`] — `from`, `to`, `refresh`, `var-*` in the URL query.
//! - [`share`] — the self-contained share link (`/share#v1.…`).
//! - [`layout`] — editing the grid: move, resize, add, rows, keyboard steps.
//! - [`history`] — undo and redo of edits.

pub mod history;
pub mod interval;
pub mod layout;
pub mod model;
pub mod overrides;
pub mod render;
pub mod share;
pub mod time;
pub mod url;
pub mod variables;

pub use model::{Dashboard, DashboardError, GridPos, Panel, Target};
