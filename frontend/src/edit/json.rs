//! The dashboard's JSON model (`editview=json`): the dashboard as indented
//! JSON in a text area; "Apply" parses it with the shared
//! [`Dashboard::from_json`] (limits, migration) and hands the result back,
//! or shows why not — the JSON path of the culprit and, for syntax and
//! type errors, the line and column. "Export" downloads the text as
//! `<title>.json` (a Blob and an object URL: nothing goes to the server);
//! "Copy" puts it on the clipboard.
//!
//! The folder the settings keep in `extra` ([`super::settings::FOLDER_KEY`])
//! is not shown: it is not part of Grafana's JSON. It is put back on Apply.
//!
//! Element ids (stable, used by the browser tests):
//! - `json-model-text`: the text area;
//! - `json-model-error`: the validation message (absent when valid);
//! - `json-model-status`: what Copy or Export did;
//! - `json-model-apply`, `json-model-export`, `json-model-copy`,
//!   `json-model-cancel`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_shared::dashboard::Dashboard;
use vigil_shared::dashboard::model::DashboardError;
use wasm_bindgen::JsCast;

use super::settings::{take_folder, with_folder};
use crate::api::js_message;

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

/// The file name an export gets: the title with the characters file
/// systems refuse replaced by `_`, `dashboard` when nothing is left.
pub fn export_file_name(title: &str) -> String {
    let name: String = title
        .trim()
        .chars()
        .map(|c| if c.is_control() || "/\\:*?\"<>|".contains(c) { '_' } else { c })
        .take(120)
        .collect();
    let name = name.trim_matches(|c: char| c == '.' || c.is_whitespace());
    format!("{}.json", if name.is_empty() { "dashboard" } else { name })
}

/// Offers `text` as a download named `file_name`: a Blob behind an object
/// URL, clicked through a detached `<a download>`.
pub fn download(file_name: &str, text: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(|e| js_message(&e))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| js_message(&e))?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| js_message(&e))?
        .dyn_into()
        .map_err(|_| "cannot make a link".to_owned())?;
    anchor.set_href(&url);
    anchor.set_download(file_name);
    anchor.click();
    // The click has started the download; the URL is no longer needed.
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// Writes `text` to the clipboard.
pub async fn copy_to_clipboard(text: &str) -> Result<(), String> {
    let clipboard = web_sys::window().ok_or("no window")?.navigator().clipboard();
    wasm_bindgen_futures::JsFuture::from(clipboard.write_text(text)).await.map(|_| ()).map_err(|e| js_message(&e))
}

#[component]
pub fn JsonModel(dashboard: Dashboard, on_apply: Callback<Dashboard>, on_cancel: Callback<()>) -> impl IntoView {
    let mut shown = dashboard;
    let folder = StoredValue::new(take_folder(&mut shown));
    let text = RwSignal::new(shown.to_json_pretty());
    let error = RwSignal::new(None::<String>);
    let status = RwSignal::new(None::<String>);
    let parse = move || match Dashboard::from_json(&text.get_untracked()) {
        Ok(parsed) => {
            error.set(None);
            Some(parsed)
        }
        Err(e) => {
            error.set(Some(error_message(&e)));
            None
        }
    };
    let apply = move |_| {
        if let Some(parsed) = parse() {
            let parsed = match folder.get_value() {
                Some(uid) => with_folder(parsed, &uid),
                None => parsed,
            };
            on_apply.run(parsed);
        }
    };
    let export = move |_| {
        // What is exported is what Apply would accept, so an export always
        // imports again.
        if let Some(parsed) = parse() {
            let name = export_file_name(&parsed.title);
            status.set(Some(match download(&name, &parsed.to_json_pretty()) {
                Ok(()) => format!("Exported as {name}."),
                Err(e) => format!("Cannot export: {e}"),
            }));
        }
    };
    let copy = move |_| {
        let content = text.get_untracked();
        spawn_local(async move {
            status.set(Some(match copy_to_clipboard(&content).await {
                Ok(()) => "Copied to the clipboard.".to_owned(),
                Err(e) => format!("Cannot copy: {e}"),
            }));
        });
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
            {move || status.get().map(|s| view! { <div id="json-model-status" class="muted">{s}</div> })}
            <div class="edit-actions">
                <button id="json-model-apply" class="primary" on:click=apply>"Apply"</button>
                <button id="json-model-export" on:click=export>"Export"</button>
                <button id="json-model-copy" on:click=copy>"Copy"</button>
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

    #[wasm_bindgen_test]
    fn export_names_are_safe_file_names() {
        let cases = [
            ("Node Exporter Full", "Node Exporter Full.json"),
            ("a/b\\c:d*e?f\"g<h>i|j", "a_b_c_d_e_f_g_h_i_j.json"),
            ("  ", "dashboard.json"),
            ("..", "dashboard.json"),
            ("<img src=x onerror=1>", "_img src=x onerror=1_.json"),
            ("tab\there", "tab_here.json"),
        ];
        for (title, want) in cases {
            assert_eq!(export_file_name(title), want, "{title:?}");
        }
    }
}
