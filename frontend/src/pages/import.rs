//! The import page (`/dashboard/import`): a dashboard JSON pasted or read
//! from a file, checked in the browser with the shared
//! [`Dashboard::from_json`] (limits, migration of old Grafana dashboards,
//! errors by JSON path and line:column), summarised (title, uid, panels),
//! then saved into the chosen folder with `POST /api/dashboards/db`. When
//! the server refuses with 412 (a dashboard with the same uid, or the same
//! title in that folder) the page says so and offers to overwrite it.
//!
//! Safety: the JSON is data. The title and everything else shown here are
//! text nodes; the dashboard page renders imported titles as text and text
//! panels through the Markdown-to-DOM path, so a payload never runs
//! (`backend/tests/import_browser.rs` checks it).
//!
//! Element ids (stable, used by the browser tests):
//! - `import-json` (text area), `import-file` (`<input type=file>`);
//! - `import-summary` with `import-title`, `import-uid`, `import-panels`;
//!   `import-error` (why the JSON is refused);
//! - `import-folder` (select), `import-submit`;
//! - `import-conflict` (the 412 message) with `import-overwrite`;
//!   `import-failure` (any other failure of the save).

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use vigil_shared::dashboard::Dashboard;
use wasm_bindgen::JsCast;

use crate::api::{self, SaveError, js_message};
use crate::edit::json::error_message;
use crate::edit::settings::take_folder;

/// What the page shows of a dashboard about to be imported.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub title: String,
    pub uid: Option<String>,
    /// Panels, those inside rows included.
    pub panels: usize,
}

/// Reads a pasted or uploaded JSON into the dashboard to save: parsed and
/// migrated, without its `id` (an import makes a new dashboard or, with
/// overwrite, replaces one by uid or title) nor the editor's folder key.
pub fn prepare(text: &str) -> Result<(Dashboard, Summary), String> {
    if text.trim().is_empty() {
        return Err("paste a dashboard JSON or choose a file".to_owned());
    }
    let mut dashboard = Dashboard::from_json(text).map_err(|e| error_message(&e))?;
    dashboard.id = None;
    take_folder(&mut dashboard);
    let summary = Summary {
        title: dashboard.title.clone(),
        uid: dashboard.uid.clone().filter(|u| !u.is_empty()),
        panels: dashboard.all_panels().count(),
    };
    Ok((dashboard, summary))
}

/// The message for a refused import; 412s get the overwrite offer.
fn conflict_message(e: &SaveError) -> Option<String> {
    (e.status == 412).then(|| match e.kind.as_deref() {
        Some("name-exists") => format!("A dashboard with this title already exists in this folder ({}).", e.message),
        Some("version-mismatch") => format!("A dashboard with this uid already exists ({}).", e.message),
        _ => e.message.clone(),
    })
}

/// The text of the first file chosen in a file input.
async fn read_file(input: &web_sys::HtmlInputElement) -> Result<String, String> {
    let file = input.files().and_then(|f| f.get(0)).ok_or("no file chosen")?;
    let text = wasm_bindgen_futures::JsFuture::from(file.text()).await.map_err(|e| js_message(&e))?;
    text.as_string().ok_or_else(|| format!("{} is not text", file.name()))
}

#[component]
pub fn ImportPage() -> impl IntoView {
    let text = RwSignal::new(String::new());
    let parsed = Memo::new(move |_| text.with(|t| (!t.trim().is_empty()).then(|| prepare(t))));
    let folders = LocalResource::new(api::folders);
    let folder = RwSignal::new(String::new());
    let conflict = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let navigate = use_navigate();
    let submit = Callback::new(move |overwrite: bool| {
        let Some(Ok((dashboard, _))) = parsed.get_untracked() else { return };
        let folder_uid = folder.get_untracked();
        let navigate = navigate.clone();
        busy.set(true);
        spawn_local(async move {
            let answer = api::import_dashboard(&dashboard, &folder_uid, overwrite).await;
            busy.set(false);
            match answer {
                Ok(saved) => {
                    let url = if saved.url.starts_with("/d/") {
                        saved.url
                    } else {
                        format!("/d/{}", api::encode(&saved.uid))
                    };
                    navigate(&url, Default::default());
                }
                Err(e) => match conflict_message(&e) {
                    Some(message) => conflict.set(Some(message)),
                    None => failure.set(Some(e.message)),
                },
            }
        });
    });
    // A new text or folder clears the last answer of the server.
    Effect::new(move |_| {
        text.track();
        folder.track();
        conflict.set(None);
        failure.set(None);
    });
    let on_file = move |ev: leptos::ev::Event| {
        let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else { return };
        spawn_local(async move {
            match read_file(&input).await {
                Ok(content) => text.set(content),
                Err(e) => failure.set(Some(format!("Cannot read the file: {e}"))),
            }
        });
    };
    view! {
        <div class="page import-page">
            <h1>"Import dashboard"</h1>
            <p class="muted">"Paste a Grafana dashboard JSON or upload a .json file."</p>
            <label class="field">
                <span class="field-label">"Upload a file"</span>
                <input id="import-file" type="file" accept=".json,application/json" on:change=on_file />
            </label>
            <label class="field">
                <span class="field-label">"Dashboard JSON"</span>
                <textarea
                    id="import-json"
                    class="json-text mono"
                    spellcheck="false"
                    rows="16"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                ></textarea>
            </label>
            {move || match parsed.get() {
                None => None,
                Some(Err(e)) => Some(view! { <div id="import-error" class="page-error">{e}</div> }.into_any()),
                Some(Ok((_, summary))) => Some(
                    view! {
                        <dl id="import-summary" class="import-summary">
                            <dt>"Title"</dt>
                            <dd id="import-title">{summary.title}</dd>
                            <dt>"UID"</dt>
                            <dd id="import-uid" class="mono">{summary.uid.unwrap_or_else(|| "(new)".to_owned())}</dd>
                            <dt>"Panels"</dt>
                            <dd id="import-panels">{summary.panels}</dd>
                        </dl>
                    }
                        .into_any(),
                ),
            }}
            <label class="field">
                <span class="field-label">"Folder"</span>
                {move || match folders.get() {
                    None => view! { <span class="page-loading">"Loading folders…"</span> }.into_any(),
                    Some(Err(e)) => view! { <span class="error-text">{format!("Cannot list folders: {e}")}</span> }.into_any(),
                    Some(Ok(list)) => {
                        view! {
                            <select id="import-folder" on:change=move |ev| folder.set(event_target_value(&ev))>
                                <option value="" selected=move || folder.get().is_empty()>"General"</option>
                                {list
                                    .into_iter()
                                    .map(|f| {
                                        let uid = f.uid.clone();
                                        view! {
                                            <option value=f.uid selected=move || folder.get() == uid>{f.title}</option>
                                        }
                                    })
                                    .collect_view()}
                            </select>
                        }
                            .into_any()
                    }
                }}
            </label>
            <div class="edit-actions">
                <button
                    id="import-submit"
                    class="primary"
                    disabled=move || busy.get() || !matches!(parsed.get(), Some(Ok(_)))
                    on:click=move |_| submit.run(false)
                >
                    "Import"
                </button>
            </div>
            {move || {
                conflict
                    .get()
                    .map(|message| {
                        view! {
                            <div id="import-conflict" class="page-error">
                                {message}
                                <button id="import-overwrite" disabled=move || busy.get() on:click=move |_| submit.run(true)>
                                    "Overwrite it"
                                </button>
                            </div>
                        }
                    })
            }}
            {move || failure.get().map(|e| view! { <div id="import-failure" class="page-error">{e}</div> })}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn prepare_summarises_or_names_the_error() {
        let ok = r#"{"id": 7, "uid": "abc", "title": "<b>T</b>", "folderUid": "x",
            "panels": [{"type": "row", "panels": [{"type": "text"}]}, {"type": "stat"}]}"#;
        let (dashboard, summary) = match prepare(ok) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(summary, Summary { title: "<b>T</b>".into(), uid: Some("abc".into()), panels: 3 });
        assert_eq!(dashboard.id, None);
        assert!(!dashboard.extra.contains_key(crate::edit::settings::FOLDER_KEY));
        let cases = [
            ("", "paste a dashboard JSON"),
            ("{\"title\": ", "at title (line 1, column 10)"),
            (r#"{"panels": [{"gridPos": {"w": "wide"}}]}"#, "at panels[0].gridPos.w"),
        ];
        for (input, wanted) in cases {
            match prepare(input) {
                Ok(_) => panic!("{input:?} was accepted"),
                Err(e) => assert!(e.contains(wanted), "{input:?}: {e:?} lacks {wanted:?}"),
            }
        }
    }

    #[wasm_bindgen_test]
    fn only_412s_offer_overwrite() {
        let e = |status, kind: Option<&str>| SaveError { status, kind: kind.map(str::to_owned), message: "m".into() };
        assert!(conflict_message(&e(412, Some("name-exists"))).is_some_and(|m| m.contains("title")));
        assert!(conflict_message(&e(412, Some("version-mismatch"))).is_some_and(|m| m.contains("uid")));
        assert_eq!(conflict_message(&e(400, None)), None);
        assert_eq!(conflict_message(&e(0, None)), None);
    }
}
