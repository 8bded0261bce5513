//! Editing a dashboard: the edit session that the dashboard page holds
//! while in edit mode (the working copy, its undo history, the version it
//! was loaded at), and the editors it opens: the panel editor, the
//! dashboard settings with the variables editor, and the JSON view.
//!
//! Every editor takes a value (a `Panel` or a `Dashboard`) and hands the
//! edited value back through a callback; only the session mutates the
//! working copy, so every change goes through one undo history. The layout
//! arithmetic (grid moves, push-down, compaction, rows) and the history
//! live in `vigil_shared::dashboard::{layout, history}`, shared with tests
//! that run natively.

pub mod json;
pub mod panel_editor;
pub mod query_editor;
pub mod save;
pub mod session;
pub mod settings;
pub mod variables_editor;
