//! Editing the 24-column grid the way Grafana's does: move, resize, add,
//! duplicate, remove panels; add, collapse, expand and move rows.
//!
//! Grafana lays panels out with react-grid-layout (`verticalCompact: true`,
//! 24 columns). Every edit here ends the way a drop ends there: the edited
//! panel takes its new place, panels it overlaps are pushed down below it
//! (and those they then overlap, recursively), and the whole layout is
//! compacted upwards with the same [`compact`] the importer uses, so a
//! layout edited here is one Grafana would draw identically.
//!
//! The functions work on the top-level `panels` (rows included, as Grafana's
//! grid sees them); the panels inside a collapsed row are not on the grid and
//! cannot be moved until the row is expanded.

use thiserror::Error;

use super::model::{GRID_COLUMNS, MAX_PANELS, compact};
use super::{Dashboard, GridPos, Panel};

/// Why an edit was refused; the dashboard is then unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LayoutError {
    #[error("no panel with id {0} on the grid")]
    NoSuchPanel(i64),
    #[error("panel {0} is not a row")]
    NotARow(i64),
    #[error("a dashboard holds at most {limit} panels")]
    TooManyPanels { limit: usize },
}

/// A keyboard step: one grid cell in a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Up,
    Down,
    Left,
    Right,
}

fn index(dash: &Dashboard, id: i64) -> Result<usize, LayoutError> {
    dash.panels.iter().position(|p| p.id == Some(id)).ok_or(LayoutError::NoSuchPanel(id))
}

fn overlaps(a: GridPos, b: GridPos) -> bool {
    a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
}

/// Keeps a position on the grid: at least one cell, at most the grid's width.
fn clamp(mut g: GridPos) -> GridPos {
    g.w = g.w.clamp(1, GRID_COLUMNS);
    g.h = g.h.max(1);
    g.x = g.x.min(GRID_COLUMNS - g.w);
    g
}

/// Puts panel `i` at `g`, pushes what it overlaps below it (recursively, as
/// react-grid-layout's `moveElementAwayFromCollision`), then compacts.
fn place(dash: &mut Dashboard, i: usize, g: GridPos) {
    let panels = &mut dash.panels;
    panels[i].grid_pos = Some(clamp(g));
    // Collisions are resolved in reading order, each pushed panel pushing
    // what it then overlaps before the next one is looked at, as the
    // recursion in react-grid-layout does.
    let mut order: Vec<usize> = (0..panels.len()).filter(|&j| j != i).collect();
    order.sort_by_key(|&j| (panels[j].grid().y, panels[j].grid().x));
    push_away(panels, &order, i, i);
    // Compaction floats the edited panel up too, as in Grafana: dropped
    // below the last panel, it comes to rest against it.
    compact(panels);
}

/// Pushes every panel overlapping `pusher` to just below it, recursively.
/// The depth is bounded by the panel count (at most [`MAX_PANELS`] small
/// frames); each push moves a panel strictly down and the edited panel
/// `fixed` never moves, so it ends.
fn push_away(panels: &mut [Panel], order: &[usize], pusher: usize, fixed: usize) {
    for &j in order {
        let p = panels[pusher].grid();
        let mut g = panels[j].grid();
        if j != pusher && j != fixed && overlaps(p, g) {
            g.y = p.y + p.h;
            panels[j].grid_pos = Some(g);
            push_away(panels, order, j, fixed);
        }
    }
}

/// Moves a panel's top-left corner to `(x, y)`, clamped to the grid.
pub fn move_panel(dash: &mut Dashboard, id: i64, x: u32, y: u32) -> Result<(), LayoutError> {
    let i = index(dash, id)?;
    let g = dash.panels[i].grid();
    place(dash, i, GridPos { x, y, ..g });
    Ok(())
}

/// Resizes a panel by its bottom-right corner: at least 1×1, within the grid.
pub fn resize_panel(dash: &mut Dashboard, id: i64, w: u32, h: u32) -> Result<(), LayoutError> {
    let i = index(dash, id)?;
    let g = dash.panels[i].grid();
    let w = w.clamp(1, GRID_COLUMNS - g.x.min(GRID_COLUMNS - 1));
    place(dash, i, GridPos { w, h, ..g });
    Ok(())
}

/// The keyboard way to move: one cell in `step`'s direction.
///
/// Left and right are one column. Up and down are "the next place that
/// changes the layout": one row down onto the panel below is undone by
/// compaction, so the panel moves on until it passes that panel (as a drag
/// must go past half of it in Grafana). Returns whether anything changed.
pub fn nudge(dash: &mut Dashboard, id: i64, step: Step) -> Result<bool, LayoutError> {
    let i = index(dash, id)?;
    let g = dash.panels[i].grid();
    let before = dash.panels.clone();
    let candidates: Vec<(u32, u32)> = match step {
        Step::Left => vec![(g.x.saturating_sub(1), g.y)],
        Step::Right => vec![(g.x + 1, g.y)],
        Step::Up => (0..g.y).rev().map(|y| (g.x, y)).collect(),
        Step::Down => {
            let bottom = dash.panels.iter().map(|p| p.grid().y + p.grid().h).max().unwrap_or(0);
            (g.y + 1..=bottom).map(|y| (g.x, y)).collect()
        }
    };
    for (x, y) in candidates {
        let mut trial = dash.clone();
        place(&mut trial, i, GridPos { x, y, ..g });
        if trial.panels != before {
            *dash = trial;
            return Ok(true);
        }
    }
    Ok(false)
}

/// The keyboard way to resize: one cell wider, narrower, taller or shorter
/// (`Right`/`Left` change the width, `Down`/`Up` the height).
pub fn resize_step(dash: &mut Dashboard, id: i64, step: Step) -> Result<bool, LayoutError> {
    let g = dash.panels[index(dash, id)?].grid();
    let (w, h) = match step {
        Step::Left => (g.w.saturating_sub(1), g.h),
        Step::Right => (g.w + 1, g.h),
        Step::Up => (g.w, g.h.saturating_sub(1)),
        Step::Down => (g.w, g.h + 1),
    };
    let before = dash.panels.clone();
    resize_panel(dash, id, w, h)?;
    Ok(dash.panels != before)
}

/// The smallest id no panel (nor a panel inside a row) uses, as Grafana's
/// `getNextPanelId`: one more than the largest.
pub fn next_panel_id(dash: &Dashboard) -> i64 {
    dash.all_panels().filter_map(|p| p.id).max().map_or(1, |m| m.saturating_add(1))
}

fn check_room(dash: &Dashboard) -> Result<(), LayoutError> {
    if dash.all_panels().count() >= MAX_PANELS {
        return Err(LayoutError::TooManyPanels { limit: MAX_PANELS });
    }
    Ok(())
}

/// Adds a panel at the top left, as Grafana's "Add panel" does (y = 0,
/// everything it overlaps pushed down), with a fresh id. Returns the id.
pub fn add_panel(dash: &mut Dashboard, mut panel: Panel) -> Result<i64, LayoutError> {
    check_room(dash)?;
    let id = next_panel_id(dash);
    panel.id = Some(id);
    let g = panel.grid_pos.unwrap_or(GridPos { x: 0, y: 0, w: 12, h: 8 });
    let g = GridPos { x: 0, y: 0, ..g };
    // First in the list, so that it wins the tie at y = 0 in compaction's
    // stable sort, as Grafana's `unshift` makes it win.
    dash.panels.insert(0, panel);
    place(dash, 0, g);
    Ok(id)
}

/// Duplicates a panel, placing the copy to its right if it fits there and
/// below it otherwise (Grafana's `duplicatePanel`). Returns the copy's id.
pub fn duplicate_panel(dash: &mut Dashboard, id: i64) -> Result<i64, LayoutError> {
    let i = index(dash, id)?;
    check_room(dash)?;
    let mut copy = dash.panels[i].clone();
    let new_id = next_panel_id(dash);
    copy.id = Some(new_id);
    // A duplicated collapsed row would share its panels' ids with the
    // original; they get fresh ones.
    let mut next = new_id;
    for inner in &mut copy.panels {
        next += 1;
        inner.id = Some(next);
    }
    let g = dash.panels[i].grid();
    let g = if g.x + g.w * 2 <= GRID_COLUMNS { GridPos { x: g.x + g.w, ..g } } else { GridPos { y: g.y + g.h, ..g } };
    dash.panels.insert(i + 1, copy);
    place(dash, i + 1, g);
    Ok(new_id)
}

/// Removes a panel (a row with the panels it holds when collapsed); the rest
/// floats up.
pub fn remove_panel(dash: &mut Dashboard, id: i64) -> Result<Panel, LayoutError> {
    let i = index(dash, id)?;
    let panel = dash.panels.remove(i);
    compact(&mut dash.panels);
    Ok(panel)
}

/// Adds an expanded row at the top, as Grafana's "Add row". Returns its id.
pub fn add_row(dash: &mut Dashboard, title: &str) -> Result<i64, LayoutError> {
    let row = Panel {
        kind: "row".into(),
        title: title.into(),
        collapsed: Some(false),
        grid_pos: Some(GridPos { x: 0, y: 0, w: GRID_COLUMNS, h: 1 }),
        ..Panel::default()
    };
    add_panel(dash, row)
}

fn is_row(p: &Panel) -> bool {
    p.kind == "row"
}

/// The indices of the panels an expanded row owns: those below it up to the
/// next row, in reading order (the layout is compact, so sorted).
fn owned(dash: &Dashboard, row: usize) -> Vec<usize> {
    let top = dash.panels[row].grid().y;
    let end =
        dash.panels.iter().filter(|p| is_row(p) && p.grid().y > top).map(|p| p.grid().y).min().unwrap_or(u32::MAX);
    (0..dash.panels.len())
        .filter(|&j| {
            j != row && !is_row(&dash.panels[j]) && dash.panels[j].grid().y > top && dash.panels[j].grid().y < end
        })
        .collect()
}

fn row_index(dash: &Dashboard, id: i64) -> Result<usize, LayoutError> {
    let i = index(dash, id)?;
    if is_row(&dash.panels[i]) { Ok(i) } else { Err(LayoutError::NotARow(id)) }
}

/// Collapses a row: the panels it owns go into its `panels`, keeping their
/// positions, and what was below floats up. Collapsing a collapsed row does
/// nothing.
pub fn collapse_row(dash: &mut Dashboard, id: i64) -> Result<(), LayoutError> {
    let i = row_index(dash, id)?;
    if dash.panels[i].collapsed == Some(true) {
        return Ok(());
    }
    let take = owned(dash, i);
    let mut kept = Vec::with_capacity(dash.panels.len());
    let mut inner = Vec::with_capacity(take.len());
    for (j, p) in std::mem::take(&mut dash.panels).into_iter().enumerate() {
        if take.contains(&j) { inner.push(p) } else { kept.push(p) }
    }
    dash.panels = kept;
    let i = index(dash, id)?;
    dash.panels[i].panels = inner;
    dash.panels[i].collapsed = Some(true);
    compact(&mut dash.panels);
    Ok(())
}

/// Expands a row: its panels come back right below it, keeping their
/// arrangement, and everything below the row moves down to make room (as
/// Grafana's `toggleRow`). Expanding an expanded row does nothing.
pub fn expand_row(dash: &mut Dashboard, id: i64) -> Result<(), LayoutError> {
    let i = row_index(dash, id)?;
    if dash.panels[i].collapsed != Some(true) {
        return Ok(());
    }
    let row_y = dash.panels[i].grid().y;
    let mut inner = std::mem::take(&mut dash.panels[i].panels);
    dash.panels[i].collapsed = Some(false);
    let top = inner.iter().map(|p| p.grid().y).min().unwrap_or(0);
    let mut bottom = row_y + 1;
    for p in &mut inner {
        let mut g = p.grid();
        g.y = g.y - top + row_y + 1;
        bottom = bottom.max(g.y + g.h);
        p.grid_pos = Some(g);
    }
    let room = bottom - (row_y + 1);
    for p in dash.panels.iter_mut() {
        let mut g = p.grid();
        if g.y > row_y {
            g.y += room;
            p.grid_pos = Some(g);
        }
    }
    dash.panels.extend(inner);
    compact(&mut dash.panels);
    Ok(())
}

/// Moves a row with its panels so that the row starts at `y`: collapsed, it
/// is one cell high and carries its panels; expanded, it is collapsed, moved
/// and expanded again, so the panels follow it and others make room.
pub fn move_row(dash: &mut Dashboard, id: i64, y: u32) -> Result<(), LayoutError> {
    let i = row_index(dash, id)?;
    let was_expanded = dash.panels[i].collapsed != Some(true);
    if was_expanded {
        collapse_row(dash, id)?;
    }
    move_panel(dash, id, 0, y)?;
    if was_expanded {
        expand_row(dash, id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dashboard from `(id, kind, x, y, w, h)` rows, compacted as an
    /// import would.
    fn dash(panels: &[(i64, &str, u32, u32, u32, u32)]) -> Dashboard {
        let panels: Vec<_> = panels
            .iter()
            .map(|&(id, kind, x, y, w, h)| serde_json::json!({"id": id, "type": kind, "title": format!("p{id}"), "gridPos": {"x": x, "y": y, "w": w, "h": h}}))
            .collect();
        match Dashboard::from_json(&serde_json::json!({"title": "t", "panels": panels}).to_string()) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    /// `(id, x, y, w, h)` of every top-level panel, sorted by id.
    fn layout(d: &Dashboard) -> Vec<(i64, u32, u32, u32, u32)> {
        let mut v: Vec<_> = d
            .panels
            .iter()
            .map(|p| {
                let g = p.grid();
                (p.id.unwrap_or(-1), g.x, g.y, g.w, g.h)
            })
            .collect();
        v.sort();
        v
    }

    fn no_overlaps(d: &Dashboard) {
        for (i, a) in d.panels.iter().enumerate() {
            assert!(a.grid().x + a.grid().w <= GRID_COLUMNS, "{a:?} off the grid");
            for b in &d.panels[i + 1..] {
                assert!(!overlaps(a.grid(), b.grid()), "{:?} overlaps {:?}", a.id, b.id);
            }
        }
    }

    // Two columns: 1 over 2 on the left, 3 on the right.
    const TWO_COLUMNS: &[(i64, &str, u32, u32, u32, u32)] =
        &[(1, "timeseries", 0, 0, 12, 4), (2, "timeseries", 0, 4, 12, 4), (3, "stat", 12, 0, 12, 6)];

    #[test]
    fn moves_push_down_then_compact() {
        type Case = (&'static str, i64, u32, u32, Vec<(i64, u32, u32, u32, u32)>);
        let cases: Vec<Case> = vec![
            // Onto the right column's top: 3 is pushed below 1, then 2 (the
            // left column now empty below 1? no: 2 stays) floats up to 0.
            ("left top to the right", 1, 12, 0, vec![(1, 12, 0, 12, 4), (2, 0, 0, 12, 4), (3, 12, 4, 12, 6)]),
            // Dropped far below: floats back up against 3's column (empty left).
            ("far below floats up", 2, 0, 40, vec![(1, 0, 0, 12, 4), (2, 0, 4, 12, 4), (3, 12, 0, 12, 6)]),
            // Past the end of the grid: clamped to x = 24 - w.
            ("clamped to the grid", 1, 30, 0, vec![(1, 12, 0, 12, 4), (2, 0, 0, 12, 4), (3, 12, 4, 12, 6)]),
            // Onto 1's place: 1 pushed below 2, so they swap.
            ("swap in a column", 2, 0, 0, vec![(1, 0, 4, 12, 4), (2, 0, 0, 12, 4), (3, 12, 0, 12, 6)]),
            // Spanning both columns at the top: everything pushed below it.
            ("wide at the top", 3, 6, 0, vec![(1, 0, 6, 12, 4), (2, 0, 10, 12, 4), (3, 6, 0, 12, 6)]),
        ];
        for (name, id, x, y, want) in cases {
            let mut d = dash(TWO_COLUMNS);
            assert_eq!(move_panel(&mut d, id, x, y), Ok(()), "{name}");
            assert_eq!(layout(&d), want, "{name}");
            no_overlaps(&d);
        }
    }

    #[test]
    fn push_down_is_recursive() {
        // A column of three; a wide panel dropped on the top pushes 1, which
        // pushes 2, which pushes 4 (none of them overlapping the wide one
        // directly except 1).
        let mut d = dash(&[(1, "a", 0, 0, 6, 2), (2, "a", 0, 2, 6, 2), (4, "a", 0, 4, 6, 2), (5, "a", 6, 0, 18, 1)]);
        assert_eq!(resize_panel(&mut d, 5, 24, 3), Ok(()));
        // Width clamped to what is left right of x = 6.
        assert_eq!(layout(&d), vec![(1, 0, 0, 6, 2), (2, 0, 2, 6, 2), (4, 0, 4, 6, 2), (5, 6, 0, 18, 3)]);
        assert_eq!(move_panel(&mut d, 5, 0, 0), Ok(()));
        assert_eq!(layout(&d), vec![(1, 0, 3, 6, 2), (2, 0, 5, 6, 2), (4, 0, 7, 6, 2), (5, 0, 0, 18, 3)]);
        no_overlaps(&d);
    }

    #[test]
    fn resizes_clamp_and_push() {
        type Case = (&'static str, i64, u32, u32, Vec<(i64, u32, u32, u32, u32)>);
        let cases: Vec<Case> = vec![
            ("taller pushes the one below", 1, 12, 7, vec![(1, 0, 0, 12, 7), (2, 0, 7, 12, 4), (3, 12, 0, 12, 6)]),
            ("wider pushes the neighbour", 1, 13, 4, vec![(1, 0, 0, 13, 4), (2, 0, 4, 12, 4), (3, 12, 4, 12, 6)]),
            ("never below one cell", 1, 0, 0, vec![(1, 0, 0, 1, 1), (2, 0, 1, 12, 4), (3, 12, 0, 12, 6)]),
            ("never past column 24", 3, 99, 6, vec![(1, 0, 0, 12, 4), (2, 0, 4, 12, 4), (3, 12, 0, 12, 6)]),
        ];
        for (name, id, w, h, want) in cases {
            let mut d = dash(TWO_COLUMNS);
            assert_eq!(resize_panel(&mut d, id, w, h), Ok(()), "{name}");
            assert_eq!(layout(&d), want, "{name}");
            no_overlaps(&d);
        }
    }

    #[test]
    fn keyboard_steps() {
        type Case = (&'static str, i64, Step, bool, bool, Vec<(i64, u32, u32, u32, u32)>);
        let cases: Vec<Case> = vec![
            (
                "down passes the panel below",
                1,
                Step::Down,
                false,
                true,
                vec![(1, 0, 4, 12, 4), (2, 0, 0, 12, 4), (3, 12, 0, 12, 6)],
            ),
            (
                "up passes the panel above",
                2,
                Step::Up,
                false,
                true,
                vec![(1, 0, 4, 12, 4), (2, 0, 0, 12, 4), (3, 12, 0, 12, 6)],
            ),
            (
                "up at the top does nothing",
                1,
                Step::Up,
                false,
                false,
                vec![(1, 0, 0, 12, 4), (2, 0, 4, 12, 4), (3, 12, 0, 12, 6)],
            ),
            (
                "left at the edge does nothing",
                1,
                Step::Left,
                false,
                false,
                vec![(1, 0, 0, 12, 4), (2, 0, 4, 12, 4), (3, 12, 0, 12, 6)],
            ),
            // Now overlapping column 12, so 3 goes below it.
            (
                "right by one column",
                2,
                Step::Right,
                false,
                true,
                vec![(1, 0, 0, 12, 4), (2, 1, 4, 12, 4), (3, 12, 8, 12, 6)],
            ),
            ("one taller", 1, Step::Down, true, true, vec![(1, 0, 0, 12, 5), (2, 0, 5, 12, 4), (3, 12, 0, 12, 6)]),
            ("one narrower", 3, Step::Left, true, true, vec![(1, 0, 0, 12, 4), (2, 0, 4, 12, 4), (3, 12, 0, 11, 6)]),
            (
                "no wider past 24",
                3,
                Step::Right,
                true,
                false,
                vec![(1, 0, 0, 12, 4), (2, 0, 4, 12, 4), (3, 12, 0, 12, 6)],
            ),
        ];
        for (name, id, step, resize, changed, want) in cases {
            let mut d = dash(TWO_COLUMNS);
            let got = if resize { resize_step(&mut d, id, step) } else { nudge(&mut d, id, step) };
            assert_eq!(got, Ok(changed), "{name}");
            assert_eq!(layout(&d), want, "{name}");
            no_overlaps(&d);
        }
    }

    #[test]
    fn add_duplicate_remove() {
        let mut d = dash(TWO_COLUMNS);
        let added = add_panel(
            &mut d,
            Panel {
                kind: "timeseries".into(),
                grid_pos: Some(GridPos { x: 5, y: 9, w: 24, h: 2 }),
                ..Panel::default()
            },
        );
        assert_eq!(added, Ok(4));
        assert_eq!(layout(&d), vec![(1, 0, 2, 12, 4), (2, 0, 6, 12, 4), (3, 12, 2, 12, 6), (4, 0, 0, 24, 2)]);
        // Room to the right of 1? 0 + 12 * 2 <= 24: yes, so the copy goes
        // there and pushes 3 down.
        assert_eq!(duplicate_panel(&mut d, 1), Ok(5));
        assert_eq!(
            layout(&d),
            vec![(1, 0, 2, 12, 4), (2, 0, 6, 12, 4), (3, 12, 6, 12, 6), (4, 0, 0, 24, 2), (5, 12, 2, 12, 4)]
        );
        // 3 is at x = 12: no room right, so below.
        assert_eq!(duplicate_panel(&mut d, 3), Ok(6));
        assert_eq!(layout(&d)[5], (6, 12, 12, 12, 6));
        assert_eq!(d.panels.iter().find(|p| p.id == Some(6)).map(|p| p.kind.as_str()), Some("stat"));
        assert_eq!(remove_panel(&mut d, 4).map(|p| p.id), Ok(Some(4)));
        assert_eq!(
            layout(&d),
            vec![(1, 0, 0, 12, 4), (2, 0, 4, 12, 4), (3, 12, 4, 12, 6), (5, 12, 0, 12, 4), (6, 12, 10, 12, 6)]
        );
        assert_eq!(remove_panel(&mut d, 4), Err(LayoutError::NoSuchPanel(4)));
        assert_eq!(move_panel(&mut d, 99, 0, 0), Err(LayoutError::NoSuchPanel(99)));
        no_overlaps(&d);
    }

    fn row_layout() -> Dashboard {
        dash(&[
            (1, "row", 0, 0, 24, 1),
            (2, "a", 0, 1, 12, 4),
            (3, "a", 12, 1, 12, 6),
            (4, "row", 0, 7, 24, 1),
            (5, "a", 0, 8, 24, 3),
        ])
    }

    #[test]
    fn rows_collapse_expand_and_move() {
        let mut d = row_layout();
        assert_eq!(collapse_row(&mut d, 1), Ok(()));
        assert_eq!(layout(&d), vec![(1, 0, 0, 24, 1), (4, 0, 1, 24, 1), (5, 0, 2, 24, 3)]);
        let inner: Vec<_> = d.panels[0].panels.iter().map(|p| p.id).collect();
        assert_eq!(inner, vec![Some(2), Some(3)]);
        assert_eq!(d.panels[0].collapsed, Some(true));

        // A panel added while the row is collapsed takes an id past the
        // hidden ones.
        assert_eq!(next_panel_id(&d), 6);

        assert_eq!(expand_row(&mut d, 1), Ok(()));
        assert_eq!(d, row_layout_expanded());
        assert_eq!(layout(&d), layout(&row_layout()));

        // The second row moved to the top carries panel 5 with it; the first
        // row and its panels go below.
        assert_eq!(move_row(&mut d, 4, 0), Ok(()));
        assert_eq!(
            layout(&d),
            vec![(1, 0, 4, 24, 1), (2, 0, 5, 12, 4), (3, 12, 5, 12, 6), (4, 0, 0, 24, 1), (5, 0, 1, 24, 3)]
        );
        no_overlaps(&d);

        // Collapsed, a row moves as one cell with its panels inside.
        assert_eq!(collapse_row(&mut d, 1), Ok(()));
        assert_eq!(move_row(&mut d, 1, 0), Ok(()));
        assert_eq!(layout(&d), vec![(1, 0, 0, 24, 1), (4, 0, 1, 24, 1), (5, 0, 2, 24, 3)]);
        assert_eq!(d.panels[0].panels.len(), 2);
        assert_eq!(collapse_row(&mut d, 5), Err(LayoutError::NotARow(5)));
    }

    fn row_layout_expanded() -> Dashboard {
        let mut d = row_layout();
        for p in &mut d.panels {
            if p.kind == "row" && p.id == Some(1) {
                p.collapsed = Some(false);
            }
        }
        d
    }

    #[test]
    fn add_row_goes_on_top() {
        let mut d = row_layout();
        assert_eq!(add_row(&mut d, "New row"), Ok(6));
        assert_eq!(d.panels[0].id, Some(6));
        assert_eq!(d.panels[0].grid(), GridPos { x: 0, y: 0, w: 24, h: 1 });
        assert_eq!(d.panels[1].grid().y, 1);
        no_overlaps(&d);
    }
}
