//! The edit session of one open dashboard: the working copy the page draws
//! from, its undo history, the version it was loaded (or last saved) at,
//! and whether it differs from what the server holds.
//!
//! Every edit goes through [`EditSession::apply`], which runs a function on
//! the working copy (one of `vigil_shared::dashboard::layout`'s, or "put
//! this edited panel back") inside `History::edit`, so every edit can be
//! undone and a failed edit leaves the copy as it was. Editors never touch
//! the session: they hand a value back and the page applies it.
//!
//! Row toggles in view mode are not edits (Grafana does not ask to save
//! them): [`EditSession::view_change`] applies them to the working copy and
//! to the saved baseline alike, outside the history.

use leptos::prelude::*;
use vigil_shared::dashboard::Dashboard;
use vigil_shared::dashboard::history::History;

/// The page's editing state; `Copy`, so closures and children take it by
/// value (it lives as long as the dashboard view that created it).
#[derive(Debug, Clone, Copy)]
pub struct EditSession {
    /// The working copy: what the page draws.
    pub dashboard: RwSignal<Dashboard>,
    /// The document as the server holds it (loaded or last saved): dirty
    /// means the working copy differs from it.
    baseline: RwSignal<Dashboard>,
    history: StoredValue<History>,
    can_undo: RwSignal<bool>,
    can_redo: RwSignal<bool>,
    /// The version the working copy is based on (`None`: never saved); a
    /// save sends it, so the server refuses a save based on an old one.
    pub version: RwSignal<Option<i64>>,
    /// Edit mode is on (the toolbar, drag handles and panel menus show).
    pub editing: RwSignal<bool>,
    /// The last edit that was refused, for the toolbar to show.
    pub error: RwSignal<Option<String>>,
}

impl EditSession {
    /// A session on `dashboard` as loaded; its `version` is read from it.
    pub fn new(dashboard: Dashboard, editing: bool) -> EditSession {
        let version = version_of(&dashboard);
        EditSession {
            baseline: RwSignal::new(dashboard.clone()),
            dashboard: RwSignal::new(dashboard),
            history: StoredValue::new(History::default()),
            can_undo: RwSignal::new(false),
            can_redo: RwSignal::new(false),
            version: RwSignal::new(version),
            editing: RwSignal::new(editing),
            error: RwSignal::new(None),
        }
    }

    /// Applies `edit` to the working copy as one undoable step. A refused
    /// edit leaves the copy unchanged and its message in [`Self::error`].
    pub fn apply<T, E: std::fmt::Display>(&self, edit: impl FnOnce(&mut Dashboard) -> Result<T, E>) -> Option<T> {
        let mut result = None;
        let mut failure = None;
        self.history.update_value(|history| {
            // `update` notifies even when the edit changed nothing; the
            // check keeps a no-op from redrawing the page.
            let mut next = self.dashboard.get_untracked();
            match history.edit(&mut next, edit) {
                Ok(out) => {
                    result = Some(out);
                    if self.dashboard.with_untracked(|d| *d != next) {
                        self.dashboard.set(next);
                    }
                }
                Err(e) => failure = Some(e.to_string()),
            }
        });
        self.error.set(failure);
        self.sync();
        result
    }

    /// Puts an editor's result in place of the working copy, as one step.
    pub fn replace(&self, dashboard: Dashboard) {
        self.apply(|d| {
            *d = dashboard;
            Ok::<(), std::convert::Infallible>(())
        });
    }

    /// A change that is not an edit (a row toggled in view mode): applied
    /// to the working copy and the baseline, outside the history.
    pub fn view_change<E>(&self, change: impl Fn(&mut Dashboard) -> Result<(), E>) {
        let mut next = self.dashboard.get_untracked();
        if change(&mut next).is_ok() {
            self.dashboard.set(next);
            self.baseline.update(|b| {
                let _ = change(b);
            });
        }
    }

    /// Drops every edit since the last save ("Exit edit" → discard).
    pub fn discard(&self) {
        self.dashboard.set(self.baseline.get_untracked());
        self.history.set_value(History::default());
        self.sync();
        self.error.set(None);
    }

    pub fn undo(&self) {
        self.history.update_value(|h| {
            self.dashboard.update(|d| {
                h.undo(d);
            })
        });
        self.sync();
    }

    pub fn redo(&self) {
        self.history.update_value(|h| {
            self.dashboard.update(|d| {
                h.redo(d);
            })
        });
        self.sync();
    }

    fn sync(&self) {
        let (undo, redo) = self.history.with_value(|h| (h.can_undo(), h.can_redo()));
        if self.can_undo.get_untracked() != undo {
            self.can_undo.set(undo);
        }
        if self.can_redo.get_untracked() != redo {
            self.can_redo.set(redo);
        }
    }

    pub fn can_undo(&self) -> bool {
        self.can_undo.get()
    }

    pub fn can_redo(&self) -> bool {
        self.can_redo.get()
    }

    /// The working copy differs from what the server holds.
    pub fn dirty(&self) -> bool {
        self.dashboard.with(|d| self.baseline.with(|b| d != b))
    }

    /// The working copy was saved as `version` (with the uid and id the
    /// server gave it): it becomes the baseline; the history stays, so an
    /// edit made before the save can still be undone.
    pub fn saved(&self, version: i64, uid: String, id: Option<i64>) {
        self.dashboard.update(|d| {
            d.uid = Some(uid);
            if id.is_some() {
                d.id = id;
            }
            d.extra.insert("version".to_owned(), version.into());
        });
        self.baseline.set(self.dashboard.get_untracked());
        self.version.set(Some(version));
    }

    /// The document a save sends: the working copy stamped with the version
    /// it is based on.
    pub fn for_save(&self) -> Dashboard {
        let mut d = self.dashboard.get_untracked();
        match self.version.get_untracked() {
            Some(v) => {
                d.extra.insert("version".to_owned(), v.into());
            }
            None => {
                d.extra.remove("version");
            }
        }
        d
    }
}

/// The `version` a stored dashboard carries (Grafana's, in the untyped part).
pub fn version_of(dashboard: &Dashboard) -> Option<i64> {
    dashboard.extra.get("version").and_then(serde_json::Value::as_i64)
}

/// A copy of `dashboard` that can never overwrite it: no uid, id or
/// version, and a title saying it is a copy (Grafana's "Save as").
pub fn as_copy(mut dashboard: Dashboard) -> Dashboard {
    dashboard.uid = None;
    dashboard.id = None;
    dashboard.extra.remove("version");
    dashboard.title = format!("{} (copy)", dashboard.title);
    dashboard
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::dashboard::layout;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn dashboard() -> Dashboard {
        let json = r#"{"uid":"u","title":"t","version":3,"panels":[
            {"id":1,"type":"timeseries","gridPos":{"x":0,"y":0,"w":12,"h":8}},
            {"id":2,"type":"row","title":"r","gridPos":{"x":0,"y":8,"w":24,"h":1}},
            {"id":3,"type":"stat","gridPos":{"x":0,"y":9,"w":6,"h":4}}]}"#;
        Dashboard::from_json(json).unwrap_or_else(|e| panic!("{e}"))
    }

    fn grid(s: &EditSession, id: i64) -> Option<(u32, u32, u32, u32)> {
        s.dashboard.with_untracked(|d| {
            d.panels.iter().find(|p| p.id == Some(id)).map(|p| {
                let g = p.grid();
                (g.x, g.y, g.w, g.h)
            })
        })
    }

    #[wasm_bindgen_test]
    fn edits_undo_redo_and_dirtiness() {
        let owner = Owner::new();
        owner.with(|| {
            let s = EditSession::new(dashboard(), true);
            assert_eq!(s.version.get_untracked(), Some(3));
            assert!(!s.dirty() && !s.can_undo.get_untracked());
            s.apply(|d| layout::move_panel(d, 1, 6, 0));
            assert_eq!(grid(&s, 1), Some((6, 0, 12, 8)));
            assert!(s.dirty() && s.can_undo.get_untracked() && !s.can_redo.get_untracked());
            // A refused edit changes nothing and says why.
            assert_eq!(s.apply(|d| layout::move_panel(d, 99, 0, 0)), None);
            assert!(s.error.get_untracked().is_some_and(|e| e.contains("99")));
            assert_eq!(grid(&s, 1), Some((6, 0, 12, 8)));
            s.undo();
            assert_eq!(grid(&s, 1), Some((0, 0, 12, 8)));
            assert!(!s.dirty() && s.can_redo.get_untracked() && !s.can_undo.get_untracked());
            s.redo();
            assert_eq!(grid(&s, 1), Some((6, 0, 12, 8)));
            // Saving makes the copy the baseline, with the new version.
            s.saved(4, "u".into(), Some(7));
            assert!(!s.dirty());
            assert_eq!(s.version.get_untracked(), Some(4));
            assert_eq!(version_of(&s.for_save()), Some(4));
        });
    }

    #[wasm_bindgen_test]
    fn view_changes_are_not_edits() {
        let owner = Owner::new();
        owner.with(|| {
            let s = EditSession::new(dashboard(), false);
            s.view_change(|d| layout::collapse_row(d, 2));
            assert!(s.dashboard.with_untracked(|d| d.panels.iter().any(|p| p.collapsed == Some(true))));
            assert!(!s.dirty() && !s.can_undo.get_untracked());
        });
    }

    #[wasm_bindgen_test]
    fn a_copy_cannot_overwrite_the_original() {
        let copy = as_copy(dashboard());
        assert_eq!((copy.uid.as_deref(), copy.id, version_of(&copy)), (None, None, None));
        assert_eq!(copy.title, "t (copy)");
    }
}
