//! The panel editor: the dashboard page opens it for `editPanel=<id>` and
//! gets the edited panel back through `on_apply` (or nothing, through
//! `on_cancel`). It edits a copy of the panel in a signal and never touches
//! the edit session: the session puts what comes back into the working copy
//! through its undo history.
//!
//! Element ids (stable, for tests): `panel-editor` (the root),
//! `panel-editor-title`, `panel-editor-expr-<i>` (the i-th target's
//! expression), `panel-editor-apply`, `panel-editor-discard`.

use leptos::prelude::*;
use vigil_shared::dashboard::Panel;
use vigil_shared::dashboard::model::TimeRange;
use vigil_shared::dashboard::variables::ResolvedVariable;

/// Edits `panel`; hands the edited panel to `on_apply`, or calls
/// `on_cancel` to close without change. `vars` and `range` are the
/// dashboard's, for the live preview.
#[component]
pub fn PanelEditor(
    panel: Panel,
    vars: Signal<Vec<ResolvedVariable>>,
    range: Signal<TimeRange>,
    on_apply: Callback<Panel>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    // Not read yet: the live preview will use them.
    let _ = (vars, range);
    let edited = RwSignal::new(panel);
    let target_count = edited.with_untracked(|p| p.targets.len());
    let targets = (0..target_count)
        .map(|i| {
            view! {
                <label class="field">
                    <span>{move || edited.with(|p| p.targets.get(i).map(|t| t.ref_id.clone()).unwrap_or_default())}</span>
                    <textarea
                        id=format!("panel-editor-expr-{i}")
                        class="mono"
                        spellcheck="false"
                        prop:value=move || edited.with(|p| p.targets.get(i).map(|t| t.expr.clone()).unwrap_or_default())
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            edited.update(|p| {
                                if let Some(t) = p.targets.get_mut(i) {
                                    t.expr = text;
                                }
                            });
                        }
                    ></textarea>
                </label>
            }
        })
        .collect_view();
    view! {
        <div class="panel-editor" id="panel-editor" role="dialog" aria-label="Edit panel">
            <label class="field">
                <span>"Title"</span>
                <input
                    id="panel-editor-title"
                    type="text"
                    prop:value=move || edited.with(|p| p.title.clone())
                    on:input=move |ev| edited.update(|p| p.title = event_target_value(&ev))
                />
            </label>
            {targets}
            <div class="panel-editor-actions">
                <button id="panel-editor-discard" type="button" on:click=move |_| on_cancel.run(())>
                    "Discard"
                </button>
                <button
                    id="panel-editor-apply"
                    type="button"
                    class="primary"
                    on:click=move |_| on_apply.run(edited.get_untracked())
                >
                    "Apply"
                </button>
            </div>
        </div>
    }
}
