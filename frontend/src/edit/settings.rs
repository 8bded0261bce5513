//! Dashboard settings (`editview=settings`): the dashboard-wide fields a
//! user edits outside the grid — title and tags.
//!
//! The component edits a copy of the dashboard it is given and hands the
//! whole dashboard back through `on_apply`; it never touches the edit
//! session, so the session records the change as one undo step.
//!
//! Element ids (stable, used by the browser tests):
//! - `settings-title`: the title input;
//! - `settings-tag-input`, `settings-tag-add`: new tag text and its button;
//!   each chip is a `.settings-tag` with a `.settings-tag-remove` button;
//! - `settings-apply`, `settings-cancel`: hand the dashboard back / close.

use leptos::prelude::*;
use vigil_shared::dashboard::Dashboard;

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

#[component]
pub fn DashboardSettings(
    dashboard: Dashboard,
    on_apply: Callback<Dashboard>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let draft = RwSignal::new(dashboard);
    let new_tag = RwSignal::new(String::new());
    let add = move || {
        let text = new_tag.get_untracked();
        let mut added = false;
        draft.update(|d| added = add_tag(&mut d.tags, &text));
        if added {
            new_tag.set(String::new());
        }
    };
    view! {
        <div class="edit-view settings" id="dashboard-settings">
            <h2>"Settings"</h2>
            <label class="field">
                <span class="field-label">"Title"</span>
                <input
                    id="settings-title"
                    type="text"
                    prop:value=move || draft.with(|d| d.title.clone())
                    on:input=move |ev| draft.update(|d| d.title = event_target_value(&ev))
                />
            </label>
            <div class="field">
                <span class="field-label">"Tags"</span>
                <span class="tags">
                    {move || {
                        draft
                            .with(|d| d.tags.clone())
                            .into_iter()
                            .map(|tag| {
                                let t = tag.clone();
                                view! {
                                    <span class="tag-chip settings-tag">
                                        {tag}
                                        <button
                                            class="settings-tag-remove"
                                            title="Remove this tag"
                                            on:click=move |_| draft.update(|d| d.tags.retain(|x| *x != t))
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
            <div class="edit-actions">
                <button id="settings-apply" class="primary" on:click=move |_| on_apply.run(draft.get_untracked())>
                    "Apply"
                </button>
                <button id="settings-cancel" on:click=move |_| on_cancel.run(())>"Cancel"</button>
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
}
