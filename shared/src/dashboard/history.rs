//! Undo and redo of dashboard edits.
//!
//! Snapshots, not inverse operations: a dashboard is at most a few hundred
//! kilobytes and edits are human-paced, so keeping whole copies is cheap and
//! makes every edit undoable, including ones no inverse was written for
//! (a JSON edit, a panel's options). The stack is bounded so a long session
//! cannot grow without limit; the oldest edits fall off first.

use std::collections::VecDeque;

use super::Dashboard;

/// How many edits can be undone by default.
pub const DEFAULT_DEPTH: usize = 100;

/// The edit history of one dashboard.
#[derive(Debug, Clone)]
pub struct History {
    undo: VecDeque<Dashboard>,
    redo: Vec<Dashboard>,
    depth: usize,
}

impl Default for History {
    fn default() -> Self {
        History::new(DEFAULT_DEPTH)
    }
}

impl History {
    /// An empty history keeping at most `depth` (at least one) edits.
    pub fn new(depth: usize) -> History {
        History { undo: VecDeque::new(), redo: Vec::new(), depth: depth.max(1) }
    }

    /// Applies `edit` to `dash`. If it succeeds and changed anything, the
    /// state before it can be undone and the redo stack is cleared (a new
    /// edit starts a new branch); if it fails, `dash` is left as it was.
    pub fn edit<T, E>(
        &mut self,
        dash: &mut Dashboard,
        edit: impl FnOnce(&mut Dashboard) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut next = dash.clone();
        let out = edit(&mut next)?;
        if next != *dash {
            let before = std::mem::replace(dash, next);
            if self.undo.len() == self.depth {
                self.undo.pop_front();
            }
            self.undo.push_back(before);
            self.redo.clear();
        }
        Ok(out)
    }

    /// Goes back one edit; false when there is nothing to undo.
    pub fn undo(&mut self, dash: &mut Dashboard) -> bool {
        match self.undo.pop_back() {
            Some(before) => {
                self.redo.push(std::mem::replace(dash, before));
                true
            }
            None => false,
        }
    }

    /// Reapplies the last undone edit; false when there is none.
    pub fn redo(&mut self, dash: &mut Dashboard) -> bool {
        match self.redo.pop() {
            Some(after) => {
                self.undo.push_back(std::mem::replace(dash, after));
                true
            }
            None => false,
        }
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::layout::{self, LayoutError};

    fn dash() -> Dashboard {
        let json = r#"{"title":"t","panels":[
            {"id":1,"type":"a","gridPos":{"x":0,"y":0,"w":12,"h":4}},
            {"id":2,"type":"a","gridPos":{"x":12,"y":0,"w":12,"h":4}}]}"#;
        match Dashboard::from_json(json) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    fn xs(d: &Dashboard) -> Vec<(Option<i64>, u32, u32)> {
        d.panels.iter().map(|p| (p.id, p.grid().x, p.grid().y)).collect()
    }

    #[test]
    fn undo_redo_walks_the_edits() {
        let mut d = dash();
        let original = d.clone();
        let mut h = History::default();
        assert!(!h.can_undo() && !h.can_redo());
        assert_eq!(h.edit(&mut d, |d| layout::move_panel(d, 2, 0, 0)), Ok(()));
        let moved = d.clone();
        assert_eq!(h.edit(&mut d, |d| layout::add_panel(d, Default::default())), Ok(3));
        let added = d.clone();
        assert_eq!(d.panels.len(), 3);

        // Steps: (action, expected state, can undo, can redo).
        let steps: [(&str, &Dashboard, bool, bool); 5] = [
            ("undo", &moved, true, true),
            ("undo", &original, false, true),
            ("undo", &original, false, true),
            ("redo", &moved, true, true),
            ("redo", &added, true, false),
        ];
        for (i, (action, want, can_undo, can_redo)) in steps.into_iter().enumerate() {
            let did = if action == "undo" { h.undo(&mut d) } else { h.redo(&mut d) };
            assert_eq!(did, i != 2, "step {i} {action}");
            assert_eq!(xs(&d), xs(want), "step {i} {action}");
            assert_eq!(&d, want, "step {i}");
            assert_eq!((h.can_undo(), h.can_redo()), (can_undo, can_redo), "step {i}");
        }
    }

    #[test]
    fn a_new_edit_clears_redo_and_failures_and_no_ops_are_not_recorded() {
        let mut d = dash();
        let mut h = History::default();
        assert_eq!(h.edit(&mut d, |d| layout::remove_panel(d, 1).map(|_| ())), Ok(()));
        assert!(h.undo(&mut d));
        assert!(h.can_redo());
        assert_eq!(h.edit(&mut d, |d| layout::resize_panel(d, 1, 6, 4)), Ok(()));
        assert!(!h.can_redo(), "a new edit starts a new branch");
        let before = d.clone();
        assert_eq!(h.edit(&mut d, |d| layout::move_panel(d, 42, 0, 0)), Err(LayoutError::NoSuchPanel(42)));
        assert_eq!(h.edit(&mut d, |d| layout::move_panel(d, 1, 0, 0)), Ok(()));
        assert_eq!(d, before);
        assert!(h.undo(&mut d));
        assert!(!h.undo(&mut d), "the failed and the no-op edit left nothing to undo");
        assert_eq!(d, dash());
    }

    #[test]
    fn depth_is_bounded() {
        let mut d = dash();
        let mut h = History::new(3);
        for w in 1..=5 {
            assert_eq!(h.edit(&mut d, |d| layout::resize_panel(d, 1, w, 4)), Ok(()));
        }
        let mut undone = 0;
        while h.undo(&mut d) {
            undone += 1;
        }
        assert_eq!(undone, 3);
        assert_eq!(d.panels.iter().find(|p| p.id == Some(1)).map(|p| p.grid().w), Some(2));
    }
}
