//! Dashboard settings (`editview=settings`): the dashboard-wide fields a
//! user edits outside the grid, as Grafana's settings view has them —
//! title, description, tags, folder, default time range and refresh,
//! timezone, graph tooltip, editable — and the variables editor
//! ([`super::variables_editor`]) on its own tab.
//!
//! The component edits a copy of the dashboard it is given and hands the
//! whole dashboard back through `on_apply`, only once every field is valid;
//! it never touches the edit session, so the session records the change as
//! one undo step.
//!
//! The folder is not part of Grafana's dashboard JSON but of the save
//! request (`folderUid` beside `dashboard`). So that it can travel through
//! the `Dashboard → Dashboard` contract, the settings read and write it in
//! the dashboard's `extra` map under [`FOLDER_KEY`]: the edit session puts
//! the loaded folder there with [`with_folder`] and takes it out before
//! saving with [`take_folder`] (absent means "unchanged").
//!
//! Element ids (stable, used by the browser tests):
//! - tabs: `settings-tab-general`, `settings-tab-variables`;
//! - `settings-title`, `settings-description`, `settings-folder` (a select),
//!   `settings-time-from`, `settings-time-to`, `settings-refresh` (select),
//!   `settings-timezone` (select), `settings-graph-tooltip` (select),
//!   `settings-editable` (checkbox);
//! - `settings-tag-input`, `settings-tag-add`: new tag text and its button;
//!   each chip is a `.settings-tag` with a `.settings-tag-remove` button;
//! - a field's error is `settings-<field>-error` (`title`, `time-from`,
//!   `time-to`, `refresh`); `settings-errors` sums up what blocks Apply;
//! - `settings-apply`, `settings-cancel`: hand the dashboard back / close.

use leptos::prelude::*;
use serde_json::{Map, Value};
use vigil_shared::dashboard::Dashboard;
use vigil_shared::dashboard::model::TimeRange;
use vigil_shared::dashboard::time::{REFRESH_INTERVALS, parse_refresh, parse_time, resolve_range};

use super::variables_editor::{VariablesEditor, validate_all};
use crate::api;
use crate::timepicker::now_ms;

/// Where the chosen folder's uid travels in `Dashboard::extra` between the
/// settings and the save request (`""` is General).
pub const FOLDER_KEY: &str = "folderUid";

/// The dashboard with its folder recorded for the settings (see the module
/// doc); the edit session calls this with the folder the dashboard was
/// loaded from (`meta.folderUid`).
pub fn with_folder(mut dashboard: Dashboard, folder_uid: &str) -> Dashboard {
    dashboard.extra.insert(FOLDER_KEY.to_owned(), Value::from(folder_uid));
    dashboard
}

/// Removes the folder from the dashboard before it is saved and returns it
/// (`None` if the settings never set one): the save request's `folderUid`.
pub fn take_folder(dashboard: &mut Dashboard) -> Option<String> {
    match dashboard.extra.remove(FOLDER_KEY) {
        Some(Value::String(uid)) => Some(uid),
        _ => None,
    }
}

/// Writes `key` into an `extra` map, unless the map lacks it and `value` is
/// the default Grafana assumes when it is absent: reading a form then
/// writing it back changes nothing.
pub(super) fn set_extra(extra: &mut Map<String, Value>, key: &str, value: Value, default: Value) {
    if extra.contains_key(key) || value != default {
        extra.insert(key.to_owned(), value);
    }
}

/// Grafana's `graphTooltip` choices.
const GRAPH_TOOLTIPS: &[(u8, &str)] = &[(0, "Default"), (1, "Shared crosshair"), (2, "Shared tooltip")];
/// Grafana's timezone choices (`""` follows the user's preference, which
/// in Vigil is the browser's).
const TIMEZONES: &[(&str, &str)] =
    &[("", "Default"), ("browser", "Browser time"), ("utc", "Coordinated Universal Time")];

/// The general settings as the form holds them, read from and written to a
/// [`Dashboard`]; what the model does not type lives in its `extra` map
/// under Grafana's keys (`description`, `graphTooltip`, `editable`).
#[derive(Debug, Clone, PartialEq)]
pub struct GeneralForm {
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    /// `None` when the dashboard carries no [`FOLDER_KEY`].
    pub folder_uid: Option<String>,
    pub from: String,
    pub to: String,
    /// `""` for off.
    pub refresh: String,
    pub timezone: String,
    pub graph_tooltip: u8,
    pub editable: bool,
}

impl GeneralForm {
    pub fn read(d: &Dashboard) -> GeneralForm {
        let extra_str = |key: &str| d.extra.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        GeneralForm {
            title: d.title.clone(),
            description: extra_str("description"),
            tags: d.tags.clone(),
            folder_uid: d.extra.get(FOLDER_KEY).and_then(Value::as_str).map(str::to_owned),
            from: d.time.from.clone(),
            to: d.time.to.clone(),
            refresh: d.refresh.clone().unwrap_or_default(),
            timezone: d.timezone.clone().unwrap_or_default(),
            graph_tooltip: d.extra.get("graphTooltip").and_then(Value::as_u64).map_or(0, |n| n.min(2) as u8),
            editable: d.extra.get("editable").and_then(Value::as_bool).unwrap_or(true),
        }
    }

    /// Writes the form into `d`, leaving everything else as it was; a
    /// setting the dashboard lacked is written only when it differs from
    /// Grafana's default, so opening and applying the settings changes
    /// nothing.
    pub fn write(&self, d: &mut Dashboard) {
        d.title = self.title.trim().to_owned();
        d.tags = self.tags.clone();
        d.time = TimeRange { from: self.from.trim().to_owned(), to: self.to.trim().to_owned() };
        d.refresh = Some(self.refresh.trim().to_owned()).filter(|r| !r.is_empty());
        d.timezone = Some(self.timezone.clone()).filter(|t| !t.is_empty());
        if self.description.trim().is_empty() {
            d.extra.remove("description");
        } else {
            d.extra.insert("description".to_owned(), Value::from(self.description.clone()));
        }
        if let Some(uid) = &self.folder_uid {
            d.extra.insert(FOLDER_KEY.to_owned(), Value::from(uid.clone()));
        }
        set_extra(&mut d.extra, "graphTooltip", Value::from(self.graph_tooltip), Value::from(0));
        set_extra(&mut d.extra, "editable", Value::from(self.editable), Value::from(true));
    }

    /// What keeps the form from being applied, by field (`title`,
    /// `time-from`, `time-to`, `refresh`): the ids' suffixes.
    pub fn validate(&self, now: i64) -> Vec<(&'static str, String)> {
        let mut errors = Vec::new();
        if self.title.trim().is_empty() {
            errors.push(("title", "a dashboard needs a title".to_owned()));
        }
        let from = parse_time(self.from.trim(), false, now);
        let to = parse_time(self.to.trim(), true, now);
        if let Err(e) = &from {
            errors.push(("time-from", e.to_string()));
        }
        if let Err(e) = &to {
            errors.push(("time-to", e.to_string()));
        }
        if from.is_ok() && to.is_ok() {
            let range = TimeRange { from: self.from.trim().to_owned(), to: self.to.trim().to_owned() };
            if let Err(e) = resolve_range(&range, now) {
                errors.push(("time-from", e.to_string()));
            }
        }
        if let Err(e) = parse_refresh(&self.refresh) {
            errors.push(("refresh", e.to_string()));
        }
        errors
    }
}

/// Adds `tag` (trimmed) to `tags` unless it is empty or already there;
/// whether it was added.
pub fn add_tag(tags: &mut Vec<String>, tag: &str) -> bool {
    let tag = tag.trim();
    if tag.is_empty() || tags.iter().any(|t| t == tag) {
        return false;
    }
    tags.push(tag.to_owned());
    true
}

/// The choices of a select: `choices` plus `current` when it is not one of
/// them (a dashboard may carry any refresh or timezone), so showing the
/// form never changes the value.
fn choices_with(choices: Vec<(String, String)>, current: &str) -> Vec<(String, String)> {
    let mut all = choices;
    if !all.iter().any(|(v, _)| v == current) {
        all.push((current.to_owned(), current.to_owned()));
    }
    all
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    General,
    Variables,
}

#[component]
pub fn DashboardSettings(
    dashboard: Dashboard,
    on_apply: Callback<Dashboard>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let form = RwSignal::new(GeneralForm::read(&dashboard));
    let vars = RwSignal::new(dashboard.templating.list.clone());
    let range = Signal::derive(move || form.with(|f| TimeRange { from: f.from.clone(), to: f.to.clone() }));
    let base = StoredValue::new(dashboard);
    let tab = RwSignal::new(Tab::General);
    // Field errors show once Apply was tried, then follow the typing.
    let tried = RwSignal::new(false);
    let errors = Memo::new(move |_| if tried.get() { form.with(|f| f.validate(now_ms())) } else { Vec::new() });
    let var_errors = Memo::new(move |_| if tried.get() { vars.with(|v| validate_all(v)) } else { Vec::new() });
    let apply = move |_| {
        tried.set(true);
        // Show the tab with the error; setting the tab it is already on
        // would rebuild it and close the variable being edited, with the
        // error under its field.
        let show = |which: Tab| {
            if tab.get_untracked() != which {
                tab.set(which);
            }
        };
        if !errors.get_untracked().is_empty() {
            show(Tab::General);
            return;
        }
        if !var_errors.get_untracked().is_empty() {
            show(Tab::Variables);
            return;
        }
        let mut d = base.get_value();
        form.with_untracked(|f| f.write(&mut d));
        d.templating.list = vars.get_untracked();
        on_apply.run(d);
    };
    let tab_button = move |id: &'static str, which: Tab, label: &'static str| {
        view! {
            <button
                id=id
                class="tab"
                class:active=move || tab.get() == which
                on:click=move |_| tab.set(which)
            >
                {label}
            </button>
        }
    };
    view! {
        <div class="edit-view settings" id="dashboard-settings">
            <h2>"Settings"</h2>
            <div class="tabs">
                {tab_button("settings-tab-general", Tab::General, "General")}
                {tab_button("settings-tab-variables", Tab::Variables, "Variables")}
            </div>
            {move || match tab.get() {
                Tab::General => view! { <GeneralTab form=form errors=errors /> }.into_any(),
                Tab::Variables => view! { <VariablesEditor vars=vars range=range errors=var_errors /> }.into_any(),
            }}
            {move || {
                let count = errors.with(Vec::len) + var_errors.with(Vec::len);
                (count > 0)
                    .then(|| {
                        view! {
                            <div id="settings-errors" class="page-error">
                                {format!("{count} field(s) need fixing before Apply.")}
                            </div>
                        }
                    })
            }}
            <div class="edit-actions">
                <button id="settings-apply" class="primary" on:click=apply>
                    "Apply"
                </button>
                <button id="settings-cancel" on:click=move |_| on_cancel.run(())>"Cancel"</button>
            </div>
        </div>
    }
}

/// The error of one field, if any, under its input.
fn field_error(errors: Memo<Vec<(&'static str, String)>>, field: &'static str) -> impl IntoView {
    move || {
        errors.with(|all| all.iter().find(|(f, _)| *f == field).map(|(_, m)| m.clone())).map(|message| {
            view! { <div class="field-error" id=format!("settings-{field}-error")>{message}</div> }
        })
    }
}

/// A select over `choices` (value, label) showing `current`.
fn select_view(
    id: &'static str,
    choices: Vec<(String, String)>,
    current: impl Fn() -> String + Send + Sync + Copy + 'static,
    on_change: impl Fn(String) + 'static,
) -> impl IntoView {
    view! {
        <select id=id on:change=move |ev| on_change(event_target_value(&ev))>
            {choices
                .into_iter()
                .map(|(value, label)| {
                    let v = value.clone();
                    view! { <option value=value selected=move || current() == v>{label}</option> }
                })
                .collect_view()}
        </select>
    }
}

#[component]
fn GeneralTab(form: RwSignal<GeneralForm>, errors: Memo<Vec<(&'static str, String)>>) -> impl IntoView {
    let new_tag = RwSignal::new(String::new());
    let add = move || {
        let text = new_tag.get_untracked();
        let mut added = false;
        form.update(|f| added = add_tag(&mut f.tags, &text));
        if added {
            new_tag.set(String::new());
        }
    };
    let folders = LocalResource::new(api::folders);
    let refresh_choices = {
        let mut c = vec![(String::new(), "Off".to_owned())];
        c.extend(REFRESH_INTERVALS.iter().map(|r| ((*r).to_owned(), (*r).to_owned())));
        choices_with(c, &form.with_untracked(|f| f.refresh.clone()))
    };
    let timezone_choices = choices_with(
        TIMEZONES.iter().map(|(v, l)| ((*v).to_owned(), (*l).to_owned())).collect(),
        &form.with_untracked(|f| f.timezone.clone()),
    );
    let tooltip_choices: Vec<(String, String)> =
        GRAPH_TOOLTIPS.iter().map(|(v, l)| (v.to_string(), (*l).to_owned())).collect();
    view! {
        <div class="settings-general">
            <label class="field">
                <span class="field-label">"Title"</span>
                <input
                    id="settings-title"
                    type="text"
                    prop:value=move || form.with(|f| f.title.clone())
                    on:input=move |ev| form.update(|f| f.title = event_target_value(&ev))
                />
                {field_error(errors, "title")}
            </label>
            <label class="field">
                <span class="field-label">"Description"</span>
                <textarea
                    id="settings-description"
                    rows="2"
                    prop:value=move || form.with(|f| f.description.clone())
                    on:input=move |ev| form.update(|f| f.description = event_target_value(&ev))
                ></textarea>
            </label>
            <div class="field">
                <span class="field-label">"Tags"</span>
                <span class="tags">
                    {move || {
                        form.with(|f| f.tags.clone())
                            .into_iter()
                            .map(|tag| {
                                let t = tag.clone();
                                view! {
                                    <span class="tag-chip settings-tag">
                                        {tag}
                                        <button
                                            class="settings-tag-remove"
                                            title="Remove this tag"
                                            on:click=move |_| form.update(|f| f.tags.retain(|x| *x != t))
                                        >
                                            "×"
                                        </button>
                                    </span>
                                }
                            })
                            .collect_view()
                    }}
                </span>
                <input
                    id="settings-tag-input"
                    type="text"
                    placeholder="New tag"
                    prop:value=move || new_tag.get()
                    on:input=move |ev| new_tag.set(event_target_value(&ev))
                    on:keydown=move |ev| {
                        if ev.key() == "Enter" {
                            add();
                        }
                    }
                />
                <button id="settings-tag-add" on:click=move |_| add()>"Add"</button>
            </div>
            <label class="field">
                <span class="field-label">"Folder"</span>
                {move || match folders.get() {
                    None => view! { <span class="page-loading">"Loading folders…"</span> }.into_any(),
                    Some(Err(e)) => view! { <span class="error-text">{format!("Cannot list folders: {e}")}</span> }.into_any(),
                    Some(Ok(list)) => {
                        let mut choices = vec![(String::new(), "General".to_owned())];
                        choices.extend(list.into_iter().map(|f| (f.uid, f.title)));
                        let current = form.with_untracked(|f| f.folder_uid.clone().unwrap_or_default());
                        select_view(
                                "settings-folder",
                                choices_with(choices, &current),
                                move || form.with(|f| f.folder_uid.clone().unwrap_or_default()),
                                move |uid| form.update(|f| f.folder_uid = Some(uid)),
                            )
                            .into_any()
                    }
                }}
            </label>
            <h3>"Time options"</h3>
            <div class="field-row">
                <label class="field">
                    <span class="field-label">"From"</span>
                    <input
                        id="settings-time-from"
                        type="text"
                        prop:value=move || form.with(|f| f.from.clone())
                        on:input=move |ev| form.update(|f| f.from = event_target_value(&ev))
                    />
                    {field_error(errors, "time-from")}
                </label>
                <label class="field">
                    <span class="field-label">"To"</span>
                    <input
                        id="settings-time-to"
                        type="text"
                        prop:value=move || form.with(|f| f.to.clone())
                        on:input=move |ev| form.update(|f| f.to = event_target_value(&ev))
                    />
                    {field_error(errors, "time-to")}
                </label>
                <label class="field">
                    <span class="field-label">"Auto refresh"</span>
                    {select_view(
                        "settings-refresh",
                        refresh_choices,
                        move || form.with(|f| f.refresh.clone()),
                        move |r| form.update(|f| f.refresh = r),
                    )}
                    {field_error(errors, "refresh")}
                </label>
                <label class="field">
                    <span class="field-label">"Timezone"</span>
                    {select_view(
                        "settings-timezone",
                        timezone_choices,
                        move || form.with(|f| f.timezone.clone()),
                        move |tz| form.update(|f| f.timezone = tz),
                    )}
                </label>
            </div>
            <h3>"Panel options"</h3>
            <div class="field-row">
                <label class="field">
                    <span class="field-label">"Graph tooltip"</span>
                    {select_view(
                        "settings-graph-tooltip",
                        tooltip_choices,
                        move || form.with(|f| f.graph_tooltip.to_string()),
                        move |v| form.update(|f| f.graph_tooltip = v.parse().unwrap_or(0)),
                    )}
                </label>
                <label class="field checkbox">
                    <input
                        id="settings-editable"
                        type="checkbox"
                        prop:checked=move || form.with(|f| f.editable)
                        on:change=move |ev| form.update(|f| f.editable = event_target_checked(&ev))
                    />
                    <span class="field-label">"Editable"</span>
                </label>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn add_tag_trims_and_refuses_empty_and_duplicates() {
        let cases: &[(&[&str], &str, bool, &[&str])] = &[
            (&[], "prod", true, &["prod"]),
            (&["prod"], " db ", true, &["prod", "db"]),
            (&["prod"], "prod", false, &["prod"]),
            (&["prod"], "   ", false, &["prod"]),
        ];
        for (before, tag, added, after) in cases {
            let mut tags: Vec<String> = before.iter().map(|s| s.to_string()).collect();
            assert_eq!(add_tag(&mut tags, tag), *added, "adding {tag:?} to {before:?}");
            assert_eq!(tags, *after, "adding {tag:?} to {before:?}");
        }
    }

    fn dashboard(json: &str) -> Dashboard {
        match Dashboard::from_json(json) {
            Ok(d) => d,
            Err(e) => panic!("{json}: {e}"),
        }
    }

    #[wasm_bindgen_test]
    fn form_round_trip_keeps_the_dashboard_and_writes_edits() {
        let source = r#"{"title":"Hosts","tags":["a"],"time":{"from":"now-1h","to":"now"},"refresh":"30s",
            "timezone":"utc","description":"d","graphTooltip":1,"editable":false,"links":[{"title":"x"}]}"#;
        let original = dashboard(source);
        // Read then write unchanged: nothing moves, unknown fields included,
        // with the settings present or absent.
        for d in [&original, &dashboard(r#"{"title":"Bare"}"#)] {
            let mut same = d.clone();
            GeneralForm::read(d).write(&mut same);
            assert_eq!(same, *d);
        }
        // Each edit lands in its field and nothing else changes.
        let mut form = GeneralForm::read(&original);
        form.title = "  Nodes ".into();
        form.description = String::new();
        form.refresh = String::new();
        form.timezone = String::new();
        form.graph_tooltip = 2;
        form.editable = true;
        form.folder_uid = Some("f1".into());
        let mut edited = original.clone();
        form.write(&mut edited);
        assert_eq!(edited.title, "Nodes");
        assert_eq!(edited.refresh, None);
        assert_eq!(edited.timezone, None);
        assert_eq!(edited.extra.get("description"), None);
        assert_eq!(edited.extra.get("graphTooltip"), Some(&Value::from(2)));
        assert_eq!(edited.extra.get("editable"), Some(&Value::from(true)));
        assert_eq!(edited.extra.get("links"), original.extra.get("links"));
        assert_eq!(GeneralForm::read(&edited), GeneralForm { title: "Nodes".into(), ..form });
        // The folder travels in `extra` until the save takes it out.
        assert_eq!(take_folder(&mut edited).as_deref(), Some("f1"));
        assert_eq!(edited.extra.get(FOLDER_KEY), None);
        assert_eq!(take_folder(&mut with_folder(edited, "")).as_deref(), Some(""));
    }

    #[wasm_bindgen_test]
    fn validation_names_the_field() {
        let now = 1_709_214_330_250;
        let base = GeneralForm::read(&dashboard(r#"{"title":"t"}"#));
        // (edit, the fields in error).
        type Edit = fn(&mut GeneralForm);
        let cases: &[(Edit, &[&str])] = &[
            (|_| {}, &[]),
            (|f| f.title = "  ".into(), &["title"]),
            (|f| f.from = "yesterday-ish".into(), &["time-from"]),
            (|f| f.to = "now+".into(), &["time-to"]),
            (|f| (f.from, f.to) = ("now".into(), "now-1h".into()), &["time-from"]),
            (|f| f.refresh = "fast".into(), &["refresh"]),
            (|f| f.refresh = "1m".into(), &[]),
            (|f| f.from = "2024-01-01 00:00:00".into(), &[]),
        ];
        for (edit, fields) in cases {
            let mut form = base.clone();
            edit(&mut form);
            let errors = form.validate(now);
            let got: Vec<&str> = errors.iter().map(|(f, _)| *f).collect();
            assert_eq!(got, *fields, "{form:?}: {errors:?}");
        }
    }
}
