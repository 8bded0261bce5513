//! The save dialog: a message, "Save" (based on the version the session was
//! loaded at, never overwriting), and the dashboard's saved versions with
//! "Restore".
//!
//! A save based on an old version is refused by the server with 412; the
//! dialog then shows the server's message and offers "Reload" (discard the
//! edits and open the saved dashboard) or "Save as a copy" (the working
//! copy under a new uid, titled "… (copy)"), so nothing typed is lost.
//!
//! Element ids: `#save-dialog`, `#save-message`, `#save-submit`,
//! `#save-cancel`, `#save-status`, `#save-error`, `#save-conflict` (with
//! `#save-reload` and `#save-copy`), `#versions` with one
//! `li.version[data-version=N]` per version and its `.version-restore`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;

use super::session::{EditSession, as_copy};
use super::settings::take_folder;
use crate::api::{self, SaveError};

#[component]
pub fn SaveDialog(session: EditSession, on_close: Callback<()>) -> impl IntoView {
    let message = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let conflict = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let uid = session.dashboard.with_untracked(|d| d.uid.clone()).filter(|_| session.version.get_untracked().is_some());

    let nav = navigate.clone();
    let save = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let mut document = session.for_save();
        let folder = take_folder(&mut document);
        let was_new = session.version.get_untracked().is_none();
        let nav = nav.clone();
        spawn_local(async move {
            match api::save_dashboard(&document, folder.as_deref(), &message.get_untracked()).await {
                Ok(saved) => {
                    session.saved(saved.version, saved.uid.clone(), saved.id);
                    on_close.run(());
                    if was_new {
                        nav(&open_url(&saved), Default::default());
                    }
                }
                Err(SaveError { status: 412, message, .. }) => conflict.set(Some(message)),
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    let save_copy = move |_| {
        busy.set(true);
        let mut copy = as_copy(session.dashboard.get_untracked());
        let folder = take_folder(&mut copy);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::save_dashboard(&copy, folder.as_deref(), &message.get_untracked()).await {
                Ok(saved) => {
                    // The copy holds the edits; the original is untouched.
                    session.discard();
                    on_close.run(());
                    navigate(&open_url(&saved), Default::default());
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    let reload = move |_| {
        let _ = window().location().reload();
    };

    let versions = uid.clone().map(|uid| {
        let list = LocalResource::new(move || {
            let uid = uid.clone();
            async move { api::versions(&uid).await }
        });
        let restore_uid = session.dashboard.with_untracked(|d| d.uid.clone()).unwrap_or_default();
        view! {
            <h3>"Versions"</h3>
            {move || match list.get() {
                None => view! { <p class="muted">"Loading versions…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="save-error">{format!("Cannot list the versions: {e}")}</p> }.into_any(),
                Some(Ok(versions)) => {
                    let restore_uid = restore_uid.clone();
                    view! {
                        <ul id="versions" class="versions">
                            {versions
                                .into_iter()
                                .map(|v| {
                                    let restore_uid = restore_uid.clone();
                                    let restore = move |_| {
                                        let uid = restore_uid.clone();
                                        busy.set(true);
                                        spawn_local(async move {
                                            match api::restore_version(&uid, v.version).await {
                                                Ok(_) => {
                                                    let _ = window().location().reload();
                                                }
                                                Err(e) => error.set(Some(e.message)),
                                            }
                                            busy.set(false);
                                        });
                                    };
                                    let current = session.version.get_untracked() == Some(v.version);
                                    view! {
                                        <li class="version" data-version=v.version.to_string()>
                                            <span class="version-number">{format!("v{}", v.version)}</span>
                                            <span class="version-created">{v.created}</span>
                                            <span class="version-message">{v.message}</span>
                                            {(!current)
                                                .then(|| {
                                                    view! {
                                                        <button class="version-restore" on:click=restore>"Restore"</button>
                                                    }
                                                })}
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }
            }}
        }
    });

    view! {
        <div class="modal-backdrop">
            <div class="modal" id="save-dialog" role="dialog" aria-label="Save dashboard">
                <h2>"Save dashboard"</h2>
                <label class="save-message">
                    "Message"
                    <textarea
                        id="save-message"
                        rows="2"
                        prop:value=move || message.get()
                        on:input=move |ev| message.set(event_target_value(&ev))
                    ></textarea>
                </label>
                {move || error.get().map(|e| view! { <p class="save-error" id="save-error">{e}</p> })}
                {move || {
                    conflict
                        .get()
                        .map(|m| {
                            view! {
                                <div class="save-conflict" id="save-conflict">
                                    <p>
                                        {m}
                                        ". Someone saved this dashboard after you opened it: reload it (your edits are dropped) or save yours as a copy."
                                    </p>
                                    <button id="save-reload" on:click=reload>"Reload"</button>
                                    <button id="save-copy" disabled=move || busy.get() on:click=save_copy.clone()>
                                        "Save as a copy"
                                    </button>
                                </div>
                            }
                        })
                }}
                <div class="modal-actions">
                    <button id="save-submit" class="primary" disabled=move || busy.get() on:click=save>"Save"</button>
                    <button id="save-cancel" on:click=move |_| on_close.run(())>"Cancel"</button>
                    <span id="save-status">{move || busy.get().then_some("Saving…")}</span>
                </div>
                {versions}
            </div>
        </div>
    }
}

/// Where a saved dashboard opens.
fn open_url(saved: &api::Saved) -> String {
    if saved.url.is_empty() { format!("/d/{}", saved.uid) } else { saved.url.clone() }
}
