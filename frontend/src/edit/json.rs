//! The dashboard's JSON model (`editview=json`): the dashboard as indented
//! JSON in a text area; "Apply" parses it with the shared
//! [`Dashboard::from_json`] (limits, migration) and hands the result back,
//! or shows why not — the JSON path of the culprit and, for syntax and
//! type errors, the line and column.
//!
//! Element ids (stable, used by the browser tests):
//! - `json-model-text`: the text area;
//! - `json-model-error`: the validation message (absent when valid);
//! - `json-model-apply`, `json-model-cancel`.

use leptos::prelude::*;
use vigil_shared::dashboard::Dashboard;
use vigil_shared::dashboard::model::DashboardError;

/// The message shown for a refused JSON: the path first, as the user
/// looks for it, then what is wrong, then where.
pub fn error_message(err: &DashboardError) -> String {
    match err {
        DashboardError::Json { path, message, line, column } => {
            format!("at {path} (line {line}, column {column}): {message}")
        }
        DashboardError::Limit { path, what, limit } => format!("at {path}: {what} exceed the limit of {limit}"),
        DashboardError::Invalid { path, message } => format!("at {path}: {message}"),
        other => other.to_string(),
    }
}

#[component]
pub fn JsonModel(dashboard: Dashboard, on_apply: Callback<Dashboard>, on_cancel: Callback<()>) -> impl IntoView {
    let text = RwSignal::new(dashboard.to_json_pretty());
    let error = RwSignal::new(None::<String>);
    let apply = move |_| match Dashboard::from_json(&text.get_untracked()) {
        Ok(parsed) => {
            error.set(None);
            on_apply.run(parsed);
        }
        Err(e) => error.set(Some(error_message(&e))),
    };
    view! {
        <div class="edit-view json-model" id="json-model">
            <h2>"JSON model"</h2>
            <textarea
                id="json-model-text"
                class="json-text mono"
                spellcheck="false"
                rows="30"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
            ></textarea>
            {move || error.get().map(|e| view! { <div id="json-model-error" class="page-error">{e}</div> })}
            <div class="edit-actions">
                <button id="json-model-apply" class="primary" on:click=apply>"Apply"</button>
                <button id="json-model-cancel" on:click=move |_| on_cancel.run(())>"Cancel"</button>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn errors_name_the_json_path_and_position() {
        let cases = [
            (r#"{"title": "a", "panels": [{"gridPos": {"x": "left"}}]}"#, "at panels[0].gridPos.x (line 1"),
            ("{\n  \"title\": \"a\",\n  \"tags\": [1,\n", "(line 4, column 0)"),
            (r#"{"title": "a", "templating": {"list": 3}}"#, "at templating.list"),
        ];
        for (input, wanted) in cases {
            let err = Dashboard::from_json(input).expect_err(input);
            let message = error_message(&err);
            assert!(message.contains(wanted), "{input}: {message:?} lacks {wanted:?}");
        }
    }
}
