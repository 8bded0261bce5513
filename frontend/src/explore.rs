//! The Explore-like page's graph: fetches a range query for the last
//! `range_seconds`, refreshes every 5 seconds, and hands the result to the
//! panel renderers as a [`PanelState`]. A drag-select on the graph zooms
//! to the selected window (and stops the refresh, as Grafana's absolute
//! ranges do).
//!
//! The app shell (branch `app`) replaces this page; it is kept small so
//! the panel frame and fetching it shows are easy to carry over.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, RangeQuery};
use crate::panels::data::{PanelData, PanelState, SeriesData};
use crate::panels::{PanelBody, timeseries_panel};

const REFRESH: Duration = Duration::from_secs(5);
/// About one point per this many CSS pixels of a typical graph.
const POINTS: i64 = 900;

#[component]
pub fn ExploreGraph(expr: ReadSignal<String>, range_seconds: i64) -> impl IntoView {
    let state = RwSignal::new(PanelState::Loading);
    // An absolute window from a zoom; `None` follows "now".
    let zoomed = RwSignal::new(None::<(i64, i64)>);
    // Each fetch takes a number; only the newest may write its result, so a
    // slow answer for an old expression never overwrites a newer one.
    let generation = StoredValue::new(0u64);

    let refresh = move || {
        let expr_now = expr.get_untracked();
        let this = generation.get_value() + 1;
        generation.set_value(this);
        let window = zoomed.get_untracked();
        spawn_local(async move {
            let (start, end) = window.map_or_else(
                || {
                    let end = (js_sys::Date::now() / 1000.0).ceil() as i64;
                    (end - range_seconds, end)
                },
                |(from, to)| (from / 1000, (to + 999) / 1000),
            );
            let step_seconds = ((end - start) / POINTS).max(1);
            let query = RangeQuery { expr: expr_now, start, end, step_seconds };
            let result = api::query_range(&query).await;
            if generation.get_value() != this {
                return;
            }
            state.set(match result {
                Ok(series) => PanelState::Ready(PanelData {
                    series: series
                        .into_iter()
                        .map(|s| SeriesData {
                            ref_id: "A".to_owned(),
                            name: s.metric.to_string(),
                            points: s.values.iter().map(|p| (p.timestamp_ms, p.value)).collect(),
                            labels: s.metric,
                        })
                        .collect(),
                    start_ms: start * 1000,
                    end_ms: end * 1000,
                }),
                Err(message) => PanelState::Error(message),
            });
        });
    };

    // A new expression or zoom fetches at once (this also runs the first fetch).
    Effect::new(move |_| {
        expr.track();
        zoomed.track();
        refresh();
    });
    if let Ok(handle) = set_interval_with_handle(
        move || {
            if zoomed.get_untracked().is_none() {
                refresh();
            }
        },
        REFRESH,
    ) {
        on_cleanup(move || handle.clear());
    }
    let on_zoom = Callback::new(move |window: (i64, i64)| zoomed.set(Some(window)));
    let range_text = move || match zoomed.get() {
        Some((from, to)) => {
            format!("{} – {} UTC · zoomed", crate::panels::axes::full_time(from), crate::panels::axes::full_time(to))
        }
        None => format!("last {} · refreshes every 5s", describe_range(range_seconds)),
    };
    view! {
        <section class="panel" id="panel-0" data-type="timeseries">
            <div class="panel-header">
                <span class="panel-title">{move || expr.get()}</span>
                <span class="panel-range">
                    {range_text}
                    {move || zoomed.get().map(|_| view! {
                        <button class="link-button" on:click=move |_| zoomed.set(None)>"back to live"</button>
                    })}
                </span>
            </div>
            <div class="panel-frame-body">
                <PanelBody panel=timeseries_panel(0, "") state=state on_zoom=on_zoom />
            </div>
        </section>
    }
}

/// "15 minutes", "30 seconds", "2 hours".
fn describe_range(seconds: i64) -> String {
    let (n, unit) = if seconds % 3600 == 0 {
        (seconds / 3600, "hour")
    } else if seconds % 60 == 0 {
        (seconds / 60, "minute")
    } else {
        (seconds, "second")
    };
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}
