//! The time picker: quick relative ranges (Last 5 minutes … Last 30 days,
//! today so far, …), absolute from/to inputs, zoom out, and the
//! auto-refresh picker. It holds no state of its own: the range lives in
//! the URL (`from`, `to`, `refresh`), so reload, back and forward work and
//! a link reopens the same view; the picker only proposes changes.

use leptos::prelude::*;
use vigil_shared::dashboard::model::TimeRange;
use vigil_shared::dashboard::time::{
    AbsoluteRange, QUICK_RANGES, REFRESH_INTERVALS, describe_range, format_time, parse_refresh, parse_time,
    resolve_range, zoom_out,
};

/// Milliseconds of now, in the browser.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// A range in epoch milliseconds now; `None` when either end does not
/// parse or the range is empty.
pub fn resolve(range: &TimeRange, now: i64) -> Option<(i64, i64)> {
    resolve_range(range, now).ok().filter(|r| r.from_ms < r.to_ms).map(|r| (r.from_ms, r.to_ms))
}

/// Twice as wide around the same centre, as Grafana's zoom out (Ctrl+Z);
/// the end never moves past now.
pub fn zoomed_out(range: &TimeRange, now: i64) -> Option<TimeRange> {
    let (from_ms, to_ms) = resolve(range, now)?;
    let wider = zoom_out(AbsoluteRange { from_ms, to_ms }, 2.0);
    Some(TimeRange { from: wider.from_ms.to_string(), to: wider.to_ms.min(now).to_string() })
}

/// An absolute time (epoch ms) as the inputs show it; expressions such as
/// `now-6h` as they are.
pub fn display_time(expr: &str) -> String {
    match expr.parse::<i64>() {
        Ok(ms) if !expr.starts_with("now") => format_time(ms),
        _ => expr.to_owned(),
    }
}

/// What a user typed into an absolute field, as the URL stores it: time
/// expressions unchanged, dates as epoch milliseconds. `None` if unreadable.
pub fn read_input(text: &str, round_up: bool) -> Option<String> {
    let text = text.trim();
    let ms = parse_time(text, round_up, now_ms()).ok()?;
    Some(if text.starts_with("now") { text.to_owned() } else { ms.to_string() })
}

/// The refresh interval in ms; `None` for off or unreadable.
pub fn refresh_ms(refresh: &str) -> Option<u64> {
    parse_refresh(refresh).ok().flatten()
}

#[component]
pub fn TimePicker(
    range: Signal<TimeRange>,
    refresh: Signal<String>,
    on_range: Callback<TimeRange>,
    on_refresh: Callback<String>,
    /// Re-run the queries now.
    on_reload: Callback<()>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let from_text = RwSignal::new(String::new());
    let to_text = RwSignal::new(String::new());
    let input_error = RwSignal::new(None::<String>);
    // The inputs show the current range whenever the menu opens.
    Effect::new(move |_| {
        if open.get() {
            let r = range.get_untracked();
            from_text.set(display_time(&r.from));
            to_text.set(display_time(&r.to));
            input_error.set(None);
        }
    });
    let apply =
        move || match (read_input(&from_text.get_untracked(), false), read_input(&to_text.get_untracked(), true)) {
            (Some(from), Some(to)) => {
                let candidate = TimeRange { from, to };
                if resolve(&candidate, now_ms()).is_some() {
                    open.set(false);
                    on_range.run(candidate);
                } else {
                    input_error.set(Some("“From” must be before “To”".to_owned()));
                }
            }
            _ => input_error.set(Some("Use now-6h, now/d or 2024-05-01 10:00:00 (UTC)".to_owned())),
        };
    view! {
        <div class="timepicker">
            <button
                id="timepicker-zoom-out"
                class="tp-button"
                title="Zoom out (twice the range)"
                on:click=move |_| {
                    if let Some(wider) = zoomed_out(&range.get_untracked(), now_ms()) {
                        on_range.run(wider);
                    }
                }
            >
                "−"
            </button>
            <button id="timepicker-open" class="tp-button tp-range" on:click=move |_| open.update(|o| *o = !*o)>
                {move || describe_range(&range.get())}
            </button>
            <button id="timepicker-reload" class="tp-button" title="Refresh now" on:click=move |_| on_reload.run(())>
                "⟳"
            </button>
            <select
                id="refresh-picker"
                class="tp-refresh"
                title="Auto-refresh"
                on:change=move |ev| on_refresh.run(event_target_value(&ev))
                prop:value=move || refresh.get()
            >
                <option value="">"Off"</option>
                {REFRESH_INTERVALS.iter().map(|r| view! { <option value=*r>{*r}</option> }).collect_view()}
            </select>
            <Show when=move || open.get()>
                <div class="tp-menu" id="timepicker-menu">
                    <form
                        class="tp-absolute"
                        on:submit=move |ev| {
                            ev.prevent_default();
                            apply();
                        }
                    >
                        <label>
                            "From"
                            <input
                                id="timepicker-from"
                                type="text"
                                prop:value=move || from_text.get()
                                on:input=move |ev| from_text.set(event_target_value(&ev))
                            />
                        </label>
                        <label>
                            "To"
                            <input
                                id="timepicker-to"
                                type="text"
                                prop:value=move || to_text.get()
                                on:input=move |ev| to_text.set(event_target_value(&ev))
                            />
                        </label>
                        <button id="timepicker-apply" type="submit">"Apply time range"</button>
                        {move || input_error.get().map(|e| view! { <p class="tp-error">{e}</p> })}
                    </form>
                    <ul class="tp-quick">
                        {QUICK_RANGES
                            .iter()
                            .map(|q| {
                                let pick = TimeRange { from: q.from.to_owned(), to: q.to.to_owned() };
                                view! {
                                    <li>
                                        <button
                                            class="tp-quick-range"
                                            data-from=q.from
                                            data-to=q.to
                                            on:click=move |_| {
                                                open.set(false);
                                                on_range.run(pick.clone());
                                            }
                                        >
                                            {q.display}
                                        </button>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </div>
            </Show>
        </div>
    }
}
