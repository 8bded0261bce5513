//! Small private stand-ins for what other branches provide, so the app's
//! call sites are written against the real shapes today:
//! `vigil_shared::dashboard` (branch `model`: the dashboard model, time
//! expressions, Grafana's interval rules, variable interpolation, legend
//! formatting) and `panels::PanelBody` (branch `panels`). Each is replaced
//! by the real thing when that branch lands on main; nothing here is meant
//! to stay.

pub mod dashboard;
pub mod panel_body;
