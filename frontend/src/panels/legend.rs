//! The graph legend: each series' name beside its colour, the calcs the
//! dashboard asks for (last, min, max, mean, …) inline or as table columns,
//! and Grafana's click behaviour: a click isolates a series (a second click
//! on the isolated one shows all again); Ctrl/Cmd/Shift-click toggles one.
//! Names are text nodes: series labels never become markup.

use std::collections::HashSet;

use leptos::prelude::*;

use super::data::SeriesData;
use super::options::{FieldOptions, LegendOptions};
use super::render::{Rgb, calc_name, format_value, reduce};

/// One legend entry, its calcs already formatted.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendItem {
    pub key: String,
    pub name: String,
    pub colour: String,
    /// (calc display name, formatted value), in the dashboard's order.
    pub calcs: Vec<(String, String)>,
}

impl LegendItem {
    pub fn new(s: &SeriesData, key: String, colour: Rgb, calcs: &[String], field: &FieldOptions) -> LegendItem {
        LegendItem {
            key,
            name: s.name.clone(),
            colour: colour.css(),
            calcs: calcs
                .iter()
                .map(|c| {
                    let value = reduce(c, &s.points)
                        .map_or_else(|| "-".to_owned(), |v| format_value(v, &field.unit, field.decimals));
                    (calc_name(c).to_owned(), value)
                })
                .collect(),
        }
    }
}

/// What a click on `key` does to the hidden set, as Grafana does it.
pub fn toggle(hidden: &HashSet<String>, all: &[String], key: &str, additive: bool) -> HashSet<String> {
    let mut next = hidden.clone();
    if additive {
        if !next.remove(key) {
            next.insert(key.to_owned());
        }
        return next;
    }
    let isolated = !hidden.contains(key) && all.iter().filter(|k| *k != key).all(|k| hidden.contains(k));
    if isolated && all.len() > 1 { HashSet::new() } else { all.iter().filter(|k| *k != key).cloned().collect() }
}

#[component]
pub fn Legend(
    items: Signal<Vec<LegendItem>>,
    hidden: RwSignal<HashSet<String>>,
    options: LegendOptions,
) -> impl IntoView {
    let click = move |key: String, ev: web_sys::MouseEvent| {
        let all: Vec<String> = items.get_untracked().into_iter().map(|i| i.key).collect();
        let additive = ev.ctrl_key() || ev.meta_key() || ev.shift_key();
        hidden.update(|h| *h = toggle(h, &all, &key, additive));
    };
    let headers: Vec<String> = options.calcs.iter().map(|c| calc_name(c).to_owned()).collect();
    if options.table {
        view! {
            <table class="legend legend-table">
                <thead><tr><th></th>{headers.into_iter().map(|h| view! { <th>{h}</th> }).collect_view()}</tr></thead>
                <tbody>
                    <For each=move || items.get() key=|item| (item.key.clone(), item.calcs.clone()) let:item>
                        {
                            let key = item.key.clone();
                            let is_hidden = {
                                let key = key.clone();
                                move || hidden.get().contains(&key)
                            };
                            view! {
                                <tr class="legend-item" class:hidden=is_hidden on:click=move |ev| click(key.clone(), ev)>
                                    <td><span class="swatch" style:background-color=item.colour.clone()></span>
                                        <span class="series-labels">{item.name.clone()}</span></td>
                                    {item.calcs.iter().map(|(_, v)| view! { <td class="legend-value">{v.clone()}</td> }).collect_view()}
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
        }
        .into_any()
    } else {
        view! {
            <ul class="legend">
                <For each=move || items.get() key=|item| (item.key.clone(), item.calcs.clone()) let:item>
                    {
                        let key = item.key.clone();
                        let is_hidden = {
                            let key = key.clone();
                            move || hidden.get().contains(&key)
                        };
                        view! {
                            <li class="legend-item" class:hidden=is_hidden on:click=move |ev| click(key.clone(), ev)>
                                <span class="swatch" style:background-color=item.colour.clone()></span>
                                <span class="series-labels">{item.name.clone()}</span>
                                {item.calcs.iter().map(|(n, v)| view! {
                                    <span class="legend-calc">{format!("{n}: ")}<span class="legend-value">{v.clone()}</span></span>
                                }).collect_view()}
                            </li>
                        }
                    }
                </For>
            </ul>
        }
        .into_any()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn set(keys: &[&str]) -> HashSet<String> {
        keys.iter().map(|k| (*k).to_owned()).collect()
    }

    #[wasm_bindgen_test]
    fn clicks_isolate_and_toggle_like_grafana() {
        let all: Vec<String> = ["a", "b", "c"].iter().map(|k| (*k).to_owned()).collect();
        let cases: &[(&[&str], &str, bool, &[&str])] = &[
            // Click isolates.
            (&[], "a", false, &["b", "c"]),
            // Clicking the isolated one shows all.
            (&["b", "c"], "a", false, &[]),
            // Clicking another while one is isolated isolates that one.
            (&["b", "c"], "b", false, &["a", "c"]),
            // Ctrl-click toggles one.
            (&[], "b", true, &["b"]),
            (&["b"], "b", true, &[]),
        ];
        for (hidden, key, additive, want) in cases {
            assert_eq!(toggle(&set(hidden), &all, key, *additive), set(want), "{hidden:?} click {key} {additive}");
        }
    }
}
