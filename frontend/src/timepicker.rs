//! The time picker: quick relative ranges (Last 5 minutes … Last 30 days,
//! today so far, …), absolute from/to inputs, zoom out, and the
//! auto-refresh picker. It holds no state of its own: the range lives in
//! the URL (`from`, `to`, `refresh`), so reload, back and forward work and
//! a link reopens the same view; the picker only proposes changes.

use leptos::prelude::*;

use crate::standin::dashboard::{now_ms, parse_duration, parse_time};

/// Grafana's quick ranges: (from, to, label).
pub const QUICK_RANGES: &[(&str, &str, &str)] = &[
    ("now-5m", "now", "Last 5 minutes"),
    ("now-15m", "now", "Last 15 minutes"),
    ("now-30m", "now", "Last 30 minutes"),
    ("now-1h", "now", "Last 1 hour"),
    ("now-3h", "now", "Last 3 hours"),
    ("now-6h", "now", "Last 6 hours"),
    ("now-12h", "now", "Last 12 hours"),
    ("now-24h", "now", "Last 24 hours"),
    ("now-2d", "now", "Last 2 days"),
    ("now-7d", "now", "Last 7 days"),
    ("now-30d", "now", "Last 30 days"),
    ("now/d", "now/d", "Today"),
    ("now/d", "now", "Today so far"),
    ("now-1d/d", "now-1d/d", "Yesterday"),
    ("now/w", "now", "This week so far"),
];

/// The auto-refresh choices; `""` is off.
pub const REFRESH_INTERVALS: &[&str] = &["", "5s", "10s", "30s", "1m", "5m", "15m", "30m", "1h"];

/// A range as the URL holds it: time expressions or epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRange {
    pub from: String,
    pub to: String,
}

impl RawRange {
    /// The range in epoch milliseconds now; `None` when either end does
    /// not parse or the range is empty.
    pub fn resolve(&self, now: i64) -> Option<(i64, i64)> {
        let from = parse_time(&self.from, now, false)?;
        let to = parse_time(&self.to, now, true)?;
        (from < to).then_some((from, to))
    }

    /// How the picker's button names the range.
    pub fn label(&self) -> String {
        if let Some((_, _, label)) = QUICK_RANGES.iter().find(|(f, t, _)| *f == self.from && *t == self.to) {
            return (*label).to_owned();
        }
        format!("{} to {}", display_time(&self.from), display_time(&self.to))
    }

    /// Twice as wide around the same centre, as Grafana's zoom out (Ctrl+Z);
    /// the end never moves past now.
    pub fn zoomed_out(&self, now: i64) -> Option<RawRange> {
        let (from, to) = self.resolve(now)?;
        let span = to - from;
        let (from, to) = (from - span / 2, (to + span / 2).min(now));
        Some(RawRange { from: from.to_string(), to: to.to_string() })
    }
}

/// An absolute time (epoch ms) shown as local `YYYY-MM-DD HH:MM:SS`;
/// expressions such as `now-6h` as they are.
pub fn display_time(expr: &str) -> String {
    if expr.is_empty() || !expr.bytes().all(|b| b.is_ascii_digit()) {
        return expr.to_owned();
    }
    let Ok(ms) = expr.parse::<f64>() else { return expr.to_owned() };
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes(),
        d.get_seconds()
    )
}

/// What a user typed into an absolute field, as the URL stores it: time
/// expressions unchanged, dates as epoch milliseconds. `None` if unreadable.
pub fn read_input(text: &str, round_up: bool) -> Option<String> {
    let text = text.trim();
    if text.starts_with("now") {
        return parse_time(text, now_ms(), round_up).map(|_| text.to_owned());
    }
    // `2024-05-01 10:00:00` is local time, as displayed.
    let iso = text.replacen(' ', "T", 1);
    parse_time(&iso, now_ms(), round_up).map(|ms| ms.to_string())
}

/// The refresh interval in ms; `None` for off or unreadable.
pub fn refresh_ms(refresh: &str) -> Option<i64> {
    Some(refresh).filter(|r| !r.is_empty()).and_then(parse_duration).filter(|ms| *ms > 0)
}

#[component]
pub fn TimePicker(
    range: Signal<RawRange>,
    refresh: Signal<String>,
    on_range: Callback<RawRange>,
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
    let apply = move || {
        match (read_input(&from_text.get_untracked(), false), read_input(&to_text.get_untracked(), true)) {
            (Some(from), Some(to)) => {
                let candidate = RawRange { from, to };
                if candidate.resolve(now_ms()).is_some() {
                    open.set(false);
                    on_range.run(candidate);
                } else {
                    input_error.set(Some("“From” must be before “To”".to_owned()));
                }
            }
            _ => input_error.set(Some("Use now-6h, now/d or 2024-05-01 10:00:00".to_owned())),
        }
    };
    view! {
        <div class="timepicker">
            <button
                id="timepicker-zoom-out"
                class="tp-button"
                title="Zoom out (twice the range)"
                on:click=move |_| {
                    if let Some(wider) = range.get_untracked().zoomed_out(now_ms()) {
                        on_range.run(wider);
                    }
                }
            >
                "−"
            </button>
            <button id="timepicker-open" class="tp-button tp-range" on:click=move |_| open.update(|o| *o = !*o)>
                {move || range.get().label()}
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
                {REFRESH_INTERVALS
                    .iter()
                    .map(|r| {
                        let label = if r.is_empty() { "Off" } else { r };
                        view! { <option value=*r>{label}</option> }
                    })
                    .collect_view()}
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
                            .map(|(from, to, label)| {
                                let pick = RawRange { from: (*from).to_owned(), to: (*to).to_owned() };
                                view! {
                                    <li>
                                        <button
                                            class="tp-quick-range"
                                            data-from=*from
                                            data-to=*to
                                            on:click=move |_| {
                                                open.set(false);
                                                on_range.run(pick.clone());
                                            }
                                        >
                                            {*label}
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
