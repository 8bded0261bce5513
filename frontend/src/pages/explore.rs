//! Explore (`/explore?expr=…&from=…&to=…&refresh=…`, and `/?expr=…` as
//! before): an ad-hoc PromQL query drawn as a graph and listed as a table
//! of its latest values. The query is typed in the shared
//! [`QueryEditor`](crate::edit::query_editor::QueryEditor): it parses in the
//! browser as you type, with the same parser as the server, underlines the
//! error's span before anything is sent, completes names and formats.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_query_map;
use vigil_shared::model::api::{QueryData, format_value};

use super::{set, use_query_writer};
use crate::AppContext;
use crate::edit::query_editor::QueryEditor;
use crate::fetching::{self, PanelSlot};
use crate::panels::PanelBody;
use crate::timepicker::{TimePicker, now_ms, refresh_ms, resolve};
use vigil_shared::dashboard::model::TimeRange;
use vigil_shared::dashboard::{Panel, Target};

/// The expression shown when the URL names none.
pub const DEFAULT_EXPR: &str = "scrape_duration_seconds";

/// The explore graph as a panel of the dashboard model.
fn explore_panel(expr: &str) -> Panel {
    let mut panel = crate::panels::timeseries_panel(0, expr);
    panel.targets.push(Target { ref_id: "A".to_owned(), expr: expr.to_owned(), ..Target::default() });
    panel
}

/// One row of the table: the series' labels and latest value.
type Row = (String, String);

#[component]
pub fn ExplorePage() -> impl IntoView {
    let ctx = expect_context::<AppContext>();
    let query = use_query_map();
    let write = use_query_writer();
    let expr = Memo::new(move |_| {
        query.with(|q| q.get("expr")).filter(|e| !e.trim().is_empty()).unwrap_or_else(|| DEFAULT_EXPR.to_owned())
    });
    let range = Memo::new(move |_| {
        query.with(|q| TimeRange {
            from: q.get("from").unwrap_or_else(|| "now-1h".to_owned()),
            to: q.get("to").unwrap_or_else(|| "now".to_owned()),
        })
    });
    let refresh = Memo::new(move |_| query.with(|q| q.get("refresh")).unwrap_or_default());
    let draft = RwSignal::new(expr.get_untracked());
    // Back and forward change the expression under the input.
    Effect::new(move |_| draft.set(expr.get()));

    let slot = PanelSlot::new();
    let table = RwSignal::new(None::<Result<Vec<Row>, String>>);
    let tick = RwSignal::new(0u64);
    let controller = StoredValue::new_local(None::<web_sys::AbortController>);
    Effect::new(move |_| {
        let (text, raw) = (expr.get(), range.get());
        tick.track();
        if let Some(previous) = controller.get_value() {
            previous.abort();
        }
        let Ok(abort) = web_sys::AbortController::new() else { return };
        controller.set_value(Some(abort.clone()));
        let Some((from, to)) = resolve(&raw, now_ms()) else {
            slot.state
                .set(crate::panels::data::PanelState::Error(format!("invalid time range {} to {}", raw.from, raw.to)));
            return;
        };
        let width = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("panel-0"))
            .map_or(1200, |e| e.client_width().max(100) as u32);
        let plan = fetching::plan(&[(explore_panel(&text), width)], from, to, &[], ctx.scrape_ms.get_untracked());
        let slots = HashMap::from([(0, slot)]);
        spawn_local(async move { fetching::run(plan, slots, abort.signal(), || ()).await });
        let signal = controller.get_value().map(|c| c.signal());
        spawn_local(async move {
            let rows = crate::api::instant_query(&text, to / 1000).await.map(rows_of);
            if signal.is_none_or(|s| !s.aborted()) {
                table.set(Some(rows));
            }
        });
    });
    let timer = StoredValue::new(None::<leptos::leptos_dom::helpers::IntervalHandle>);
    Effect::new(move |_| {
        if let Some(old) = timer.get_value() {
            old.clear();
        }
        timer.set_value(None);
        if let Some(ms) = refresh_ms(&refresh.get())
            && let Ok(handle) = set_interval_with_handle(
                move || tick.update(|t| *t += 1),
                std::time::Duration::from_millis(ms.max(1000)),
            )
        {
            timer.set_value(Some(handle));
        }
    });
    on_cleanup(move || {
        if let Some(handle) = timer.try_get_value().flatten() {
            handle.clear();
        }
        if let Some(c) = controller.try_get_value().flatten() {
            c.abort();
        }
    });

    let write_run = write.clone();
    let run = move || write_run(vec![set("expr", draft.get_untracked().trim().to_owned())], false);
    let run_on_enter = run.clone();
    let write_range = write.clone();
    let on_range = Callback::new(move |r: TimeRange| write_range(vec![set("from", r.from), set("to", r.to)], false));
    let write_refresh = write.clone();
    let on_refresh = Callback::new(move |r: String| {
        write_refresh(vec![("refresh".to_owned(), if r.is_empty() { Vec::new() } else { vec![r] })], false);
    });
    let on_zoom = Callback::new(move |(from, to): (i64, i64)| {
        write(vec![set("from", from.to_string()), set("to", to.to_string())], false);
    });
    view! {
        <div class="page explore">
            <div class="dashboard-toolbar">
                <h1>"Explore"</h1>
                <TimePicker
                    range=range.into()
                    refresh=refresh.into()
                    on_range=on_range
                    on_refresh=on_refresh
                    on_reload=Callback::new(move |()| tick.update(|t| *t += 1))
                />
            </div>
            <form
                class="query-bar"
                on:submit=move |ev| {
                    ev.prevent_default();
                    run();
                }
            >
                <QueryEditor id="expr" value=draft on_submit=Callback::new(move |()| run_on_enter()) />
                <button type="submit">"Run"</button>
            </form>
            <section class="panel explore-panel" id="panel-0" data-type="timeseries">
                <header class="panel-header">
                    <span class="panel-title">{move || expr.get()}</span>
                    {move || slot.loading.get().then(|| view! { <span class="panel-spinner" title="Loading"></span> })}
                </header>
                <div class="explore-body">
                    {move || {
                        let panel = crate::panels::timeseries_panel(0, &expr.get());
                        view! { <PanelBody panel=panel state=slot.state on_zoom=on_zoom /> }
                    }}
                </div>
            </section>
            <ResultTable rows=table.into() />
        </div>
    }
}

fn rows_of(data: QueryData) -> Vec<Row> {
    match data {
        QueryData::Vector(series) => {
            series.into_iter().map(|s| (s.metric.to_string(), format_value(s.value.value))).collect()
        }
        QueryData::Scalar(p) => vec![("scalar".to_owned(), format_value(p.value))],
        QueryData::String(s) => vec![("string".to_owned(), s.value)],
        QueryData::Matrix(series) => series
            .into_iter()
            .map(|s| {
                let values: Vec<String> = s.values.iter().map(|p| format_value(p.value)).collect();
                (s.metric.to_string(), values.join(", "))
            })
            .collect(),
    }
}

#[component]
fn ResultTable(rows: Signal<Option<Result<Vec<Row>, String>>>) -> impl IntoView {
    move || {
        match rows.get() {
        None => view! { <p class="page-loading">"Loading table…"</p> }.into_any(),
        Some(Err(e)) => view! { <div class="table-error">{e}</div> }.into_any(),
        Some(Ok(rows)) if rows.is_empty() => view! { <p class="empty">"Empty query result"</p> }.into_any(),
        Some(Ok(rows)) => view! {
            <table class="data-table" id="explore-table">
                <thead>
                    <tr>
                        <th>"Series"</th>
                        <th>"Value"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|(labels, value)| view! { <tr><td class="mono">{labels}</td><td class="mono num">{value}</td></tr> })
                        .collect_view()}
                </tbody>
            </table>
        }
        .into_any(),
    }
    }
}
