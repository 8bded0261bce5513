//! The table panel: one row per series (an instant vector's samples, or a
//! range's last point), its labels as columns and its value formatted with
//! the unit. Clicking a header sorts by that column, numbers as numbers;
//! a second click reverses. Built from DOM text nodes, never markup.

use std::cmp::Ordering;

use leptos::prelude::*;

use super::axes::full_time;
use super::data::PanelData;
use super::options::{FieldOptions, field_options};
use super::render::{format_value, reduce};
use super::{Drawn, Panel};

/// A cell: the text shown, and the number it sorts by when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub number: Option<f64>,
}

impl Cell {
    fn text(text: &str) -> Cell {
        Cell { text: text.to_owned(), number: text.trim().parse().ok().filter(|v: &f64| !v.is_nan()) }
    }
}

/// Header and rows: `Time`, every label name (the metric name first, as
/// `__name__`), `Value`.
pub fn build(data: &PanelData, field: &FieldOptions) -> (Vec<String>, Vec<Vec<Cell>>) {
    let mut names: Vec<String> = data.series.iter().flat_map(|s| s.labels.iter().map(|l| l.name.clone())).collect();
    names.sort_by(|a, b| (a != "__name__").cmp(&(b != "__name__")).then(a.cmp(b)));
    names.dedup();
    let mut header = vec!["Time".to_owned()];
    header.extend(names.iter().cloned());
    header.push("Value".to_owned());
    let rows = data
        .series
        .iter()
        .map(|s| {
            let last = s.points.iter().rev().find(|p| p.1.is_finite()).or(s.points.last());
            let mut row = vec![match last {
                Some((t, _)) => Cell { text: full_time(*t), number: Some(*t as f64) },
                None => Cell::text(""),
            }];
            row.extend(names.iter().map(|n| Cell::text(s.labels.get(n).unwrap_or(""))));
            let value = reduce("last", &s.points);
            row.push(Cell {
                text: value.map_or_else(String::new, |v| format_value(v, &field.unit, field.decimals)),
                number: value,
            });
            row
        })
        .collect();
    (header, rows)
}

/// Orders cells: numbers before text and numerically among themselves,
/// text naturally (digit runs compared as numbers, then case-insensitive).
pub fn compare(a: &Cell, b: &Cell) -> Ordering {
    match (a.number, b.number) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => natural(&a.text, &b.text),
    }
}

/// "node10" after "node9".
fn natural(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (a.peek().copied(), b.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let take = |it: &mut std::iter::Peekable<std::str::Chars>| {
                    let mut digits = String::new();
                    while let Some(c) = it.peek().copied().filter(char::is_ascii_digit) {
                        digits.push(c);
                        it.next();
                    }
                    digits
                };
                let (da, db) = (take(&mut a), take(&mut b));
                let (ta, tb) = (da.trim_start_matches('0'), db.trim_start_matches('0'));
                let order = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb)).then_with(|| da.len().cmp(&db.len()));
                if order != Ordering::Equal {
                    return order;
                }
            }
            (Some(x), Some(y)) => {
                let order = x.to_lowercase().cmp(y.to_lowercase()).then(x.cmp(&y));
                if order != Ordering::Equal {
                    return order;
                }
                a.next();
                b.next();
            }
        }
    }
}

/// Sorts rows by `column` (stable, so equal rows keep their order).
pub fn sort_rows(rows: &mut [Vec<Cell>], column: usize, descending: bool) {
    rows.sort_by(|x, y| {
        let order = match (x.get(column), y.get(column)) {
            (Some(a), Some(b)) => compare(a, b),
            _ => Ordering::Equal,
        };
        if descending { order.reverse() } else { order }
    });
}

#[component]
pub fn TableBody(panel: Panel, data: Signal<Option<PanelData>>, drawn: RwSignal<Option<Drawn>>) -> impl IntoView {
    let field = field_options(&panel);
    // (column, descending); none until a header is clicked.
    let sort = RwSignal::new(None::<(usize, bool)>);
    let table = Memo::new(move |_| {
        let data = data.get()?;
        let (header, mut rows) = build(&data, &field);
        if let Some((column, descending)) = sort.get() {
            sort_rows(&mut rows, column, descending);
        }
        Some((header, rows, data.series.iter().map(|s| s.points.len()).sum::<usize>()))
    });
    Effect::new(move |_| {
        if let Some((_, rows, points)) = table.get() {
            drawn.set(Some(Drawn { series: rows.len(), points }));
        }
    });
    let click = move |column: usize| {
        sort.update(|s| {
            *s = match *s {
                Some((c, descending)) if c == column => Some((column, !descending)),
                _ => Some((column, false)),
            }
        })
    };
    // Numbers align right, except the time (column 0), which reads as text.
    view! {
        <div class="panel-table">
            {move || table.get().map(|(header, rows, _)| view! {
                <table>
                    <thead><tr>
                        {header.into_iter().enumerate().map(|(i, h)| {
                            let arrow = move || match sort.get() {
                                Some((c, false)) if c == i => " ▲",
                                Some((c, true)) if c == i => " ▼",
                                _ => "",
                            };
                            view! { <th on:click=move |_| click(i)>{h}{arrow}</th> }
                        }).collect_view()}
                    </tr></thead>
                    <tbody>
                        {rows.into_iter().map(|row| view! {
                            <tr>{row.into_iter().enumerate().map(|(i, c)| view! {
                                <td class:numeric={c.number.is_some() && i > 0}>{c.text}</td>
                            }).collect_view()}</tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panels::data::SeriesData;
    use vigil_shared::model::labels::Labels;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn compares_numbers_numerically_and_text_naturally() {
        let cases: &[(&str, &str, Ordering)] = &[
            ("9", "10", Ordering::Less),
            ("-1.5", "0.2", Ordering::Less),
            ("node9", "node10", Ordering::Less),
            ("node10", "Node10", Ordering::Greater),
            ("a", "B", Ordering::Less),
            ("5", "abc", Ordering::Less),
            ("x02", "x2", Ordering::Greater),
            ("same", "same", Ordering::Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(&Cell::text(a), &Cell::text(b)), *want, "{a} vs {b}");
        }
    }

    #[wasm_bindgen_test]
    fn builds_rows_and_sorts_by_any_column() {
        let s = |instance: &str, v: f64| SeriesData {
            ref_id: "A".into(),
            labels: Labels::from_pairs([("__name__", "up"), ("instance", instance)]),
            name: String::new(),
            points: vec![(1_700_000_000_000, v)],
        };
        let data =
            PanelData { series: vec![s("node10", 1.0), s("node9", 0.5), s("node2", 20.0)], start_ms: 0, end_ms: 0 };
        let field = FieldOptions {
            unit: "percent".into(),
            decimals: None,
            min: None,
            max: None,
            thresholds: crate::panels::render::default_thresholds(),
            fixed_colour: None,
            colour_by_thresholds: false,
        };
        let (header, mut rows) = build(&data, &field);
        assert_eq!(header, vec!["Time", "__name__", "instance", "Value"]);
        assert_eq!(rows[0][0].text, "2023-11-14 22:13:20");
        let column = |rows: &[Vec<Cell>], c: usize| rows.iter().map(|r| r[c].text.clone()).collect::<Vec<_>>();
        sort_rows(&mut rows, 2, false);
        assert_eq!(column(&rows, 2), vec!["node2", "node9", "node10"]);
        sort_rows(&mut rows, 3, true);
        let values: Vec<Option<f64>> = rows.iter().map(|r| r[3].number).collect();
        assert_eq!(values, vec![Some(20.0), Some(1.0), Some(0.5)]);
        assert!(rows.iter().all(|r| r[3].text.ends_with('%')), "formatted with the unit");
    }
}
