//! The variables editor, the settings' second tab: the dashboard's template
//! variables as a list (add, edit, duplicate, delete, move up and down) and
//! one form for the variable being edited, with the fields its kind has —
//! Grafana's variable editor for query, custom, interval, constant and
//! textbox variables — and a preview of its values.
//!
//! The form is a [`VariableForm`] read from and written back to the
//! [`Variable`], so fields the editor does not show (`current`, `options`,
//! `datasource`, anything in `extra`) survive an edit. Validation
//! ([`validate_all`]) names the variable and the field: an empty, invalid,
//! reserved or duplicate name; an empty query, a PromQL expression that
//! does not parse (checked when the query holds no `$variable`, since a
//! variable's value can be any text), a bad regex, a bad interval. The
//! preview asks the server through [`crate::variables::load_options`], the
//! code the dashboard page uses, over the range in the settings, with the
//! other variables at their saved selection (for chained queries).
//!
//! Element ids (stable, used by the browser tests):
//! - `variables-list` (a table; each row `.variable-row` with
//!   `data-name`), `variable-add`; per row the buttons `.variable-edit`,
//!   `.variable-duplicate`, `.variable-up`, `.variable-down`,
//!   `.variable-delete`;
//! - the form: `variable-name`, `variable-label`, `variable-hide`,
//!   `variable-kind`, `variable-query`, `variable-regex`, `variable-sort`,
//!   `variable-refresh`, `variable-multi`, `variable-include-all`,
//!   `variable-all-value`, `variable-auto`, `variable-auto-count`,
//!   `variable-auto-min`, `variable-done` (back to the list);
//! - a field's error is `variable-<field>-error` (`name`, `query`, `regex`,
//!   `auto-min`);
//! - `variable-preview` (button), `variable-preview-values` (one
//!   `.preview-value` per option), `variable-preview-error`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Map, Value};
use vigil_shared::dashboard::interval::parse_interval_ms;
use vigil_shared::dashboard::model::{TimeRange, Variable, VariableKind, VariableOption};
use vigil_shared::dashboard::variables::{ResolvedVariable, VariableQuery, options_from_values, parse_variable_query};

use super::settings::set_extra as set;
use crate::timepicker::{now_ms, resolve};
use crate::variables::{VarState, load_options};

/// Grafana's `sort` choices.
const SORTS: &[(u8, &str)] = &[
    (0, "Disabled"),
    (1, "Alphabetical (asc)"),
    (2, "Alphabetical (desc)"),
    (3, "Numerical (asc)"),
    (4, "Numerical (desc)"),
    (5, "Alphabetical (case-insensitive, asc)"),
    (6, "Alphabetical (case-insensitive, desc)"),
    (7, "Natural (asc)"),
    (8, "Natural (desc)"),
];
/// Grafana's `refresh` choices for query variables.
const REFRESHES: &[(u8, &str)] = &[(1, "On dashboard load"), (2, "On time range change")];
/// Grafana's `hide` choices.
const HIDES: &[(u8, &str)] = &[(0, "Label and value"), (1, "Value only"), (2, "Nothing (hidden)")];
/// The kinds the editor creates (others are kept but shown read-only).
const KINDS: &[(&str, &str)] = &[
    ("query", "Query"),
    ("custom", "Custom"),
    ("interval", "Interval"),
    ("constant", "Constant"),
    ("textbox", "Text box"),
];

/// One variable as the form holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct VariableForm {
    pub name: String,
    pub label: String,
    pub hide: u8,
    pub kind: VariableKind,
    /// The query, the comma list (custom, interval) or the value (constant,
    /// textbox).
    pub query: String,
    pub regex: String,
    pub sort: u8,
    pub refresh: u8,
    pub multi: bool,
    pub include_all: bool,
    /// `""` means every option joined.
    pub all_value: String,
    pub auto: bool,
    pub auto_count: u64,
    pub auto_min: String,
}

impl VariableForm {
    pub fn read(v: &Variable) -> VariableForm {
        VariableForm {
            name: v.name.clone(),
            label: v.label.clone().unwrap_or_default(),
            hide: v.hide(),
            kind: v.kind.clone(),
            query: v.query.clone(),
            regex: v.regex.clone(),
            sort: v.sort(),
            refresh: v.refresh(),
            multi: v.multi,
            include_all: v.include_all,
            all_value: v.all_value.clone().unwrap_or_default(),
            auto: v.extra.get("auto").and_then(Value::as_bool).unwrap_or(false),
            auto_count: v.extra.get("auto_count").and_then(Value::as_u64).unwrap_or(30),
            auto_min: v.extra.get("auto_min").and_then(Value::as_str).unwrap_or("10s").to_owned(),
        }
    }

    /// `base` with the form's fields written in; what the form does not
    /// hold is kept. A setting at its default is written only if `base`
    /// had it, so reading then writing changes nothing.
    pub fn write(&self, base: &Variable) -> Variable {
        let mut v = base.clone();
        v.name = self.name.trim().to_owned();
        v.label = Some(self.label.clone()).filter(|l| !l.is_empty());
        v.kind = self.kind.clone();
        v.query = self.query.clone();
        v.regex = self.regex.clone();
        v.multi = self.multi;
        v.include_all = self.include_all;
        v.all_value = Some(self.all_value.clone()).filter(|a| !a.is_empty() && self.include_all);
        set(&mut v.extra, "hide", Value::from(self.hide), Value::from(0));
        set(&mut v.extra, "sort", Value::from(self.sort), Value::from(0));
        set(&mut v.extra, "refresh", Value::from(self.refresh), Value::from(0));
        if self.kind == VariableKind::Interval {
            set(&mut v.extra, "auto", Value::from(self.auto), Value::from(false));
            set(&mut v.extra, "auto_count", Value::from(self.auto_count), Value::from(30));
            set(&mut v.extra, "auto_min", Value::from(self.auto_min.clone()), Value::from("10s"));
        }
        v
    }
}

/// A new variable of Grafana's defaults: a query refreshed on load.
pub fn new_variable(existing: &[Variable]) -> Variable {
    let name = (0..).map(|i| format!("query{i}")).find(|n| existing.iter().all(|v| v.name != *n)).unwrap_or_default();
    let mut extra = Map::new();
    extra.insert("refresh".to_owned(), Value::from(1));
    Variable {
        kind: VariableKind::Query,
        name,
        label: None,
        query: String::new(),
        regex: String::new(),
        multi: false,
        include_all: false,
        all_value: None,
        current: None,
        options: Vec::new(),
        datasource: None,
        extra,
    }
}

/// A copy named `copy_of_<name>` (then `_2`, `_3`… while taken), as
/// Grafana names duplicates.
pub fn duplicate(existing: &[Variable], index: usize) -> Option<Variable> {
    let mut copy = existing.get(index)?.clone();
    let stem = format!("copy_of_{}", copy.name);
    copy.name = std::iter::once(stem.clone())
        .chain((2..).map(|i| format!("{stem}_{i}")))
        .find(|n| existing.iter().all(|v| v.name != *n))
        .unwrap_or(stem);
    Some(copy)
}

/// Moves `vars[index]` one place up (`-1`) or down (`1`); nothing at the
/// ends. The order matters: a variable's query may use those before it.
pub fn move_variable(vars: &mut [Variable], index: usize, step: isize) {
    if let Some(other) = index.checked_add_signed(step).filter(|o| *o < vars.len() && index < vars.len()) {
        vars.swap(index, other);
    }
}

/// Whether a query holds a variable reference (`$x`, `${x}`, `[[x]]`), in
/// which case it cannot be checked before interpolation.
fn has_variables(query: &str) -> bool {
    query.contains('$') || query.contains("[[")
}

/// What is wrong with each variable: (index, field, message), field being
/// the id suffix (`name`, `query`, `regex`, `auto-min`).
pub fn validate_all(vars: &[Variable]) -> Vec<(usize, &'static str, String)> {
    let mut errors = Vec::new();
    for (i, v) in vars.iter().enumerate() {
        let name = v.name.trim();
        if name.is_empty() {
            errors.push((i, "name", "a variable needs a name".to_owned()));
        } else if name.starts_with("__") {
            errors.push((i, "name", "names starting with __ are reserved for Grafana's global variables".to_owned()));
        } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            errors.push((i, "name", "only letters, digits and _ are allowed in variable names".to_owned()));
        } else if vars[..i].iter().any(|o| o.name.trim() == name) {
            errors.push((i, "name", format!("another variable is already named {name:?}")));
        }
        match v.kind {
            VariableKind::Query => {
                if let Some(message) = query_error(&v.name, &v.query) {
                    errors.push((i, "query", message));
                }
                if let Err(e) = options_from_values(&[], &v.regex, 0) {
                    errors.push((i, "regex", e.to_string()));
                }
            }
            VariableKind::Custom if v.query.trim().is_empty() => {
                errors.push((i, "query", "give at least one value (a,b,c)".to_owned()));
            }
            VariableKind::Interval => {
                let bad: Vec<&str> = v
                    .query
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && parse_interval_ms(s).is_err())
                    .collect();
                if v.query.trim().is_empty() {
                    errors.push((i, "query", "give at least one interval (1m,10m,1h)".to_owned()));
                } else if !bad.is_empty() {
                    errors.push((i, "query", format!("not an interval: {}", bad.join(", "))));
                }
                let form = VariableForm::read(v);
                if form.auto && parse_interval_ms(&form.auto_min).is_err() {
                    errors.push((i, "auto-min", format!("{:?} is not an interval", form.auto_min)));
                }
            }
            _ => {}
        }
    }
    errors
}

/// Why a query variable's query cannot run, if it cannot: empty, or a
/// PromQL part that does not parse.
fn query_error(name: &str, query: &str) -> Option<String> {
    let parsed = match parse_variable_query(name, query) {
        Ok(q) => q,
        Err(e) => return Some(e.to_string()),
    };
    if has_variables(query) {
        return None;
    }
    let expr = match parsed {
        VariableQuery::LabelValues { matcher: Some(m), .. } | VariableQuery::LabelNames { matcher: Some(m) } => m,
        VariableQuery::QueryResult { expr } | VariableQuery::Series { expr } => expr,
        _ => return None,
    };
    // Positions are within the expression, which is quoted when it is a
    // part of the query.
    vigil_shared::promql::parser::parse(&expr).err().map(|e| {
        let at = e.describe(&expr);
        if expr.trim() == query.trim() { at } else { format!("in {expr:?}: {at}") }
    })
}

#[component]
pub fn VariablesEditor(
    vars: RwSignal<Vec<Variable>>,
    /// The range the preview asks over (the settings' default range).
    range: Signal<TimeRange>,
    errors: Memo<Vec<(usize, &'static str, String)>>,
) -> impl IntoView {
    // The variable being edited; `None` shows the list.
    let editing = RwSignal::new(None::<usize>);
    let list = move || {
        let rows = vars.with(|all| {
            all.iter()
                .enumerate()
                .map(|(i, v)| (i, v.name.clone(), String::from(v.kind.clone()), v.query.clone()))
                .collect::<Vec<_>>()
        });
        let last = rows.len().saturating_sub(1);
        view! {
            <table id="variables-list" class="data-table">
                <thead>
                    <tr>
                        <th>"Variable"</th>
                        <th>"Type"</th>
                        <th>"Definition"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|(i, name, kind, query)| {
                            let has_error = move || errors.with(|e| e.iter().any(|(j, _, _)| *j == i));
                            view! {
                                <tr class="variable-row" class:has-error=has_error data-name=name.clone()>
                                    <td class="mono">{format!("${name}")}</td>
                                    <td>{kind}</td>
                                    <td class="mono">{query}</td>
                                    <td class="row-actions">
                                        <button class="variable-edit" on:click=move |_| editing.set(Some(i))>"Edit"</button>
                                        <button
                                            class="variable-duplicate"
                                            on:click=move |_| {
                                                vars.update(|all| {
                                                    if let Some(copy) = duplicate(all, i) {
                                                        all.insert(i + 1, copy);
                                                    }
                                                })
                                            }
                                        >
                                            "Duplicate"
                                        </button>
                                        <button class="variable-up" disabled=i == 0 on:click=move |_| vars.update(|all| move_variable(all, i, -1))>
                                            "↑"
                                        </button>
                                        <button class="variable-down" disabled=i == last on:click=move |_| vars.update(|all| move_variable(all, i, 1))>
                                            "↓"
                                        </button>
                                        <button
                                            class="variable-delete"
                                            on:click=move |_| {
                                                vars.update(|all| {
                                                    if i < all.len() {
                                                        all.remove(i);
                                                    }
                                                })
                                            }
                                        >
                                            "Delete"
                                        </button>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <button
                id="variable-add"
                on:click=move |_| {
                    let mut at = 0;
                    vars.update(|all| {
                        all.push(new_variable(all));
                        at = all.len() - 1;
                    });
                    editing.set(Some(at));
                }
            >
                "New variable"
            </button>
        }
    };
    // Only a change of the variable edited rebuilds the form, not each
    // edit of the list it writes to.
    let shown = Memo::new(move |_| editing.get().filter(|i| vars.with(|all| *i < all.len())));
    view! {
        <div class="variables-editor">
            {move || match shown.get() {
                Some(i) => {
                    view! { <VariableFormView vars=vars index=i range=range errors=errors on_done=Callback::new(move |()| editing.set(None)) /> }
                        .into_any()
                }
                _ => list().into_any(),
            }}
        </div>
    }
}

/// The edit form of `vars[index]`.
#[component]
fn VariableFormView(
    vars: RwSignal<Vec<Variable>>,
    index: usize,
    range: Signal<TimeRange>,
    errors: Memo<Vec<(usize, &'static str, String)>>,
    on_done: Callback<()>,
) -> impl IntoView {
    let form = RwSignal::new(vars.with_untracked(|all| all.get(index).map(VariableForm::read)));
    // Every change of the form is written to the list at once, so the
    // list, the validation and Apply always see it.
    let edit = move |change: &dyn Fn(&mut VariableForm)| {
        let Some(mut f) = form.get_untracked() else { return };
        change(&mut f);
        vars.update(|all| {
            if let Some(v) = all.get_mut(index) {
                *v = f.write(v);
            }
        });
        form.set(Some(f));
    };
    let get = move |read: fn(&VariableForm) -> String| move || form.with(|f| f.as_ref().map(read).unwrap_or_default());
    let flag = move |read: fn(&VariableForm) -> bool| move || form.with(|f| f.as_ref().is_some_and(read));
    // Memos, so the blocks that depend on them are rebuilt only when they
    // change, not on every keystroke (which would take the focus away).
    let kind_memo = Memo::new(move |_| form.with(|f| f.as_ref().map(|f| f.kind.clone()).unwrap_or_default()));
    let kind = move || kind_memo.get();
    let include_all = Memo::new(move |_| form.with(|f| f.as_ref().is_some_and(|f| f.include_all)));
    let error = move |field: &'static str| {
        move || {
            errors
                .with(|all| all.iter().find(|(i, f, _)| *i == index && *f == field).map(|(_, _, m)| m.clone()))
                .map(|m| view! { <div class="field-error" id=format!("variable-{field}-error")>{m}</div> })
        }
    };
    let preview = RwSignal::new(None::<Result<Vec<VariableOption>, String>>);
    let loading = RwSignal::new(false);
    let run_preview = move |_| {
        let all = vars.get_untracked();
        let Some(var) = all.get(index).cloned() else { return };
        let Some((start, end)) = resolve(&range.get_untracked(), now_ms()) else {
            preview.set(Some(Err("the default time range does not resolve; fix it on the General tab".to_owned())));
            return;
        };
        // The other variables at their saved selection, for chained queries.
        let others: Vec<ResolvedVariable> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, v)| ResolvedVariable::resolve(v, v.options.clone(), None))
            .collect();
        loading.set(true);
        spawn_local(async move {
            let answer = load_options(&VarState::new(var), &others, start, end).await;
            preview.set(Some(answer));
            loading.set(false);
        });
    };
    let select = move |id: &'static str,
                       choices: &'static [(u8, &'static str)],
                       read: fn(&VariableForm) -> u8,
                       write: fn(&mut VariableForm, u8)| {
        view! {
            <select
                id=id
                on:change=move |ev| {
                    let value = event_target_value(&ev).parse().unwrap_or(0);
                    edit(&|f| write(f, value))
                }
            >
                {choices
                    .iter()
                    .map(|(value, label)| {
                        let value = *value;
                        view! {
                            <option value=value.to_string() selected=move || form.with(|f| f.as_ref().map(read) == Some(value))>
                                {*label}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        }
    };
    let checkbox = move |id: &'static str,
                         label: &'static str,
                         read: fn(&VariableForm) -> bool,
                         write: fn(&mut VariableForm, bool)| {
        view! {
            <label class="field checkbox">
                <input
                    id=id
                    type="checkbox"
                    prop:checked=flag(read)
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        edit(&|f| write(f, on))
                    }
                />
                <span class="field-label">{label}</span>
            </label>
        }
    };
    let selection = move || {
        let k = kind();
        matches!(k, VariableKind::Query | VariableKind::Custom).then(|| {
            view! {
                <div class="field-row">
                    {checkbox("variable-multi", "Multi-value", |f| f.multi, |f, v| f.multi = v)}
                    {checkbox("variable-include-all", "Include All option", |f| f.include_all, |f, v| f.include_all = v)}
                    {move || {
                        include_all
                            .get()
                            .then(|| {
                                view! {
                                    <label class="field">
                                        <span class="field-label">"Custom all value"</span>
                                        <input
                                            id="variable-all-value"
                                            type="text"
                                            placeholder="blank = auto"
                                            prop:value=get(|f| f.all_value.clone())
                                            on:input=move |ev| {
                                                let text = event_target_value(&ev);
                                                edit(&|f| f.all_value = text.clone())
                                            }
                                        />
                                    </label>
                                }
                            })
                    }}
                </div>
            }
        })
    };
    let query_label = move || match kind() {
        VariableKind::Query => "Query",
        VariableKind::Custom => "Values separated by comma",
        VariableKind::Interval => "Interval values",
        VariableKind::Constant => "Value",
        VariableKind::Textbox => "Default value",
        VariableKind::Other(_) => "Definition",
    };
    view! {
        <div class="variable-form">
            <div class="field-row">
                <label class="field">
                    <span class="field-label">"Name"</span>
                    <input
                        id="variable-name"
                        type="text"
                        prop:value=get(|f| f.name.clone())
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            edit(&|f| f.name = text.clone())
                        }
                    />
                    {error("name")}
                </label>
                <label class="field">
                    <span class="field-label">"Label"</span>
                    <input
                        id="variable-label"
                        type="text"
                        prop:value=get(|f| f.label.clone())
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            edit(&|f| f.label = text.clone())
                        }
                    />
                </label>
                <label class="field">
                    <span class="field-label">"Type"</span>
                    <select
                        id="variable-kind"
                        on:change=move |ev| {
                            let k = VariableKind::from(event_target_value(&ev));
                            preview.set(None);
                            edit(&|f| f.kind = k.clone())
                        }
                    >
                        {KINDS
                            .iter()
                            .map(|(value, label)| {
                                let k = VariableKind::from((*value).to_owned());
                                view! { <option value=*value selected=move || kind() == k>{*label}</option> }
                            })
                            .collect_view()}
                        {move || match kind() {
                            VariableKind::Other(name) => Some(view! { <option value=name.clone() selected=true>{name.clone()}</option> }),
                            _ => None,
                        }}
                    </select>
                </label>
                <label class="field">
                    <span class="field-label">"Show on dashboard"</span>
                    {select("variable-hide", HIDES, |f| f.hide, |f, v| f.hide = v)}
                </label>
            </div>
            <label class="field">
                <span class="field-label">{query_label}</span>
                <textarea
                    id="variable-query"
                    class="mono"
                    rows="2"
                    spellcheck="false"
                    prop:value=get(|f| f.query.clone())
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        edit(&|f| f.query = text.clone())
                    }
                ></textarea>
                {error("query")}
            </label>
            {move || {
                (kind() == VariableKind::Query)
                    .then(|| {
                        view! {
                            <div class="field-row">
                                <label class="field">
                                    <span class="field-label">"Regex"</span>
                                    <input
                                        id="variable-regex"
                                        class="mono"
                                        type="text"
                                        placeholder="/.*-(?<text>.*)-(?<value>.*)-.*/"
                                        prop:value=get(|f| f.regex.clone())
                                        on:input=move |ev| {
                                            let text = event_target_value(&ev);
                                            edit(&|f| f.regex = text.clone())
                                        }
                                    />
                                    {error("regex")}
                                </label>
                                <label class="field">
                                    <span class="field-label">"Sort"</span>
                                    {select("variable-sort", SORTS, |f| f.sort, |f, v| f.sort = v)}
                                </label>
                                <label class="field">
                                    <span class="field-label">"Refresh"</span>
                                    {select("variable-refresh", REFRESHES, |f| f.refresh, |f, v| f.refresh = v)}
                                </label>
                            </div>
                        }
                    })
            }}
            {move || {
                (kind() == VariableKind::Interval)
                    .then(|| {
                        view! {
                            <div class="field-row">
                                {checkbox("variable-auto", "Auto option", |f| f.auto, |f, v| f.auto = v)}
                                <label class="field">
                                    <span class="field-label">"Step count"</span>
                                    <input
                                        id="variable-auto-count"
                                        type="number"
                                        min="1"
                                        prop:value=get(|f| f.auto_count.to_string())
                                        on:input=move |ev| {
                                            let n = event_target_value(&ev).parse().unwrap_or(30);
                                            edit(&|f| f.auto_count = n)
                                        }
                                    />
                                </label>
                                <label class="field">
                                    <span class="field-label">"Min interval"</span>
                                    <input
                                        id="variable-auto-min"
                                        type="text"
                                        prop:value=get(|f| f.auto_min.clone())
                                        on:input=move |ev| {
                                            let text = event_target_value(&ev);
                                            edit(&|f| f.auto_min = text.clone())
                                        }
                                    />
                                    {error("auto-min")}
                                </label>
                            </div>
                        }
                    })
            }}
            {selection}
            <div class="variable-preview">
                <button id="variable-preview" on:click=run_preview disabled=move || loading.get()>
                    "Preview of values"
                </button>
                {move || loading.get().then(|| view! { <span class="page-loading">"Loading…"</span> })}
                {move || match preview.get() {
                    None => None,
                    Some(Err(e)) => Some(view! { <div id="variable-preview-error" class="error-text">{e}</div> }.into_any()),
                    Some(Ok(options)) => {
                        let count = options.len();
                        Some(
                            view! {
                                <div id="variable-preview-values" class="tags" data-count=count>
                                    {(count == 0).then_some("No values.")}
                                    {options
                                        .into_iter()
                                        .take(100)
                                        .map(|o| view! { <span class="tag-chip preview-value" title=o.value>{o.text}</span> })
                                        .collect_view()}
                                </div>
                            }
                                .into_any(),
                        )
                    }
                }}
            </div>
            <div class="edit-actions">
                <button id="variable-done" on:click=move |_| on_done.run(())>"Back to the list"</button>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn vars(json: &str) -> Vec<Variable> {
        match serde_json::from_str(json) {
            Ok(v) => v,
            Err(e) => panic!("{json}: {e}"),
        }
    }

    #[wasm_bindgen_test]
    fn form_round_trip_changes_nothing_and_keeps_unknown_fields() {
        let all = vars(
            r#"[
            {"type":"query","name":"job","query":"label_values(up, job)","regex":"/a.*/","sort":1,"refresh":2,
             "multi":true,"includeAll":true,"allValue":".*","current":{"text":"a","value":"a"},"datasource":"prom",
             "definition":"label_values(up, job)"},
            {"type":"custom","name":"env","query":"a,b","hide":2},
            {"type":"interval","name":"iv","query":"1m,5m","auto":true,"auto_count":10,"auto_min":"30s"},
            {"type":"interval","name":"iv2","query":"1m"},
            {"type":"constant","name":"c","query":"x"},
            {"type":"textbox","name":"t","query":"","label":"Filter"},
            {"type":"adhoc","name":"filters","filters":[]}
        ]"#,
        );
        for v in &all {
            assert_eq!(VariableForm::read(v).write(v), *v, "{}", v.name);
        }
    }

    #[wasm_bindgen_test]
    fn form_edits_reach_the_model() {
        let base = new_variable(&[]);
        let mut form = VariableForm::read(&base);
        form.name = " region ".into();
        form.query = "label_values(node_uname_info, region)".into();
        form.sort = 3;
        form.refresh = 2;
        form.include_all = true;
        form.all_value = ".*".into();
        form.hide = 1;
        let v = form.write(&base);
        assert_eq!(v.name, "region");
        assert_eq!((v.sort(), v.refresh(), v.hide()), (3, 2, 1));
        assert_eq!(v.all_value.as_deref(), Some(".*"));
        // A custom all value without "Include All" is not written.
        form.include_all = false;
        assert_eq!(form.write(&base).all_value, None);
        // Interval settings are written for interval variables only.
        form.kind = VariableKind::Interval;
        form.auto = true;
        let v = form.write(&base);
        assert_eq!(v.extra.get("auto"), Some(&Value::from(true)));
        assert_eq!(VariableForm::read(&v).auto_min, "10s");
    }

    #[wasm_bindgen_test]
    fn new_and_duplicate_pick_free_names() {
        let all = vars(r#"[{"name":"query0"},{"name":"copy_of_query0"}]"#);
        assert_eq!(new_variable(&all).name, "query1");
        assert_eq!(duplicate(&all, 0).map(|v| v.name).as_deref(), Some("copy_of_query0_2"));
        assert_eq!(duplicate(&all, 1).map(|v| v.name).as_deref(), Some("copy_of_copy_of_query0"));
        assert_eq!(duplicate(&all, 2), None);
    }

    #[wasm_bindgen_test]
    fn moves_stop_at_the_ends() {
        let names = |all: &[Variable]| all.iter().map(|v| v.name.clone()).collect::<Vec<_>>().join(",");
        // (index, step, the order after).
        let cases = [(0, -1, "a,b,c"), (0, 1, "b,a,c"), (2, 1, "a,b,c"), (2, -1, "a,c,b"), (5, -1, "a,b,c")];
        for (index, step, want) in cases {
            let mut all = vars(r#"[{"name":"a"},{"name":"b"},{"name":"c"}]"#);
            move_variable(&mut all, index, step);
            assert_eq!(names(&all), want, "moving {index} by {step}");
        }
    }

    #[wasm_bindgen_test]
    fn validation_names_variable_and_field() {
        // (variables, the expected (index, field) pairs, a word of the message).
        type Case<'a> = (&'a str, &'a [(usize, &'a str)], &'a str);
        let cases: &[Case] = &[
            (r#"[{"name":"job","query":"label_values(up, job)"}]"#, &[], ""),
            (r#"[{"name":"","query":"up"}]"#, &[(0, "name")], "needs a name"),
            (r#"[{"name":"__x","query":"up"}]"#, &[(0, "name")], "reserved"),
            (r#"[{"name":"a-b","query":"up"}]"#, &[(0, "name")], "letters"),
            (r#"[{"name":"a","query":"up"},{"type":"custom","name":"a","query":"x"}]"#, &[(1, "name")], "already"),
            (r#"[{"name":"a","query":"  "}]"#, &[(0, "query")], "empty"),
            (r#"[{"name":"a","query":"rate(up[5m]"}]"#, &[(0, "query")], "parse error"),
            (r#"[{"name":"a","query":"label_values(up{job=, job)"}]"#, &[(0, "query")], "parse error"),
            (r#"[{"name":"a","query":"query_result(sum by (x) (up))"}]"#, &[], ""),
            // Variables in the query: checked only once interpolated.
            (r#"[{"name":"a","query":"rate(up{job=\"$job\"}[$__interval]"}]"#, &[], ""),
            (r#"[{"name":"a","query":"up","regex":"/(/"}]"#, &[(0, "regex")], "regex"),
            (r#"[{"type":"custom","name":"a","query":""}]"#, &[(0, "query")], "at least one"),
            (r#"[{"type":"interval","name":"a","query":"1m,soon"}]"#, &[(0, "query")], "soon"),
            (r#"[{"type":"interval","name":"a","query":"1m","auto":true,"auto_min":"x"}]"#, &[(0, "auto-min")], "x"),
            (r#"[{"type":"constant","name":"a","query":""}]"#, &[], ""),
        ];
        for (json, want, word) in cases {
            let errors = validate_all(&vars(json));
            let got: Vec<(usize, &str)> = errors.iter().map(|(i, f, _)| (*i, *f)).collect();
            assert_eq!(got, *want, "{json}: {errors:?}");
            assert!(errors.iter().all(|(_, _, m)| m.contains(word)), "{json}: {errors:?} lacks {word:?}");
        }
    }
}
