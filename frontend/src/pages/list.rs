//! The dashboard list (`/`, `/dashboards`): every dashboard from
//! `/api/search`, grouped by folder, filtered as you type by title and by
//! tag chips. The filter lives in the URL (`query`, `tag`), so it survives
//! reload and back. "Import" (`dashboard-import-link`) leads to
//! [`super::import`].

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{set, use_query_writer};
use crate::api::{self, SearchHit};

/// Whether `hit` passes the filter: every word of `text` in its title
/// (case-insensitive) and every tag in `tags`.
pub fn matches(hit: &SearchHit, text: &str, tags: &[String]) -> bool {
    let title = hit.title.to_lowercase();
    text.split_whitespace().all(|word| title.contains(&word.to_lowercase()))
        && tags.iter().all(|t| hit.tags.contains(t))
}

/// Dashboards by folder title ("General" for the root), sorted by title.
pub fn by_folder(hits: &[SearchHit]) -> BTreeMap<String, Vec<SearchHit>> {
    let mut folders: BTreeMap<String, Vec<SearchHit>> = BTreeMap::new();
    for hit in hits.iter().filter(|h| h.kind != "dash-folder") {
        let folder = hit.folder_title.clone().filter(|f| !f.is_empty()).unwrap_or_else(|| "General".to_owned());
        folders.entry(folder).or_default().push(hit.clone());
    }
    for list in folders.values_mut() {
        list.sort_by_key(|h| h.title.to_lowercase());
    }
    folders
}

#[component]
pub fn DashboardList() -> impl IntoView {
    let hits = LocalResource::new(api::search);
    let query = use_query_map();
    let write = use_query_writer();
    let text = Memo::new(move |_| query.with(|q| q.get("query")).unwrap_or_default());
    let tags = Memo::new(move |_| query.with(|q| q.get_all("tag")).unwrap_or_default());
    let write_text = write.clone();
    let toggle_tag = Callback::new(move |tag: String| {
        let mut now = tags.get_untracked();
        if let Some(i) = now.iter().position(|t| *t == tag) {
            now.remove(i);
        } else {
            now.push(tag);
        }
        write(vec![("tag".to_owned(), now)], false);
    });
    view! {
        <div class="page dashboard-list">
            <div class="page-header">
                <h1>"Dashboards"</h1>
                <a id="dashboard-import-link" class="button" href="/dashboard/import">"Import"</a>
            </div>
            <div class="search-bar">
                <input
                    id="dashboard-search"
                    type="search"
                    placeholder="Search dashboards by title"
                    prop:value=move || text.get()
                    on:input=move |ev| write_text(vec![set("query", event_target_value(&ev))], true)
                />
                <div class="active-tags">
                    {move || {
                        tags.get()
                            .into_iter()
                            .map(|tag| {
                                let t = tag.clone();
                                view! {
                                    <button class="tag-chip active" on:click=move |_| toggle_tag.run(t.clone())>
                                        {tag}
                                        " ×"
                                    </button>
                                }
                            })
                            .collect_view()
                    }}
                </div>
            </div>
            {move || match hits.get() {
                None => view! { <p class="page-loading">"Loading dashboards…"</p> }.into_any(),
                Some(Err(e)) => view! { <div class="page-error">{format!("Cannot list dashboards: {e}")}</div> }.into_any(),
                Some(Ok(all)) => {
                    let (text, tags) = (text.get(), tags.get());
                    let shown: Vec<SearchHit> = all.into_iter().filter(|h| matches(h, &text, &tags)).collect();
                    if shown.iter().all(|h| h.kind == "dash-folder") {
                        return view! { <p class="empty">"No dashboard matches."</p> }.into_any();
                    }
                    by_folder(&shown)
                        .into_iter()
                        .map(|(folder, list)| {
                            view! {
                                <section class="folder">
                                    <h2 class="folder-title">{folder}</h2>
                                    <ul class="dashboards">
                                        {list
                                            .into_iter()
                                            .map(|hit| {
                                                let href = if hit.url.starts_with("/d/") {
                                                    hit.url.clone()
                                                } else {
                                                    format!("/d/{}", api::encode(&hit.uid))
                                                };
                                                view! {
                                                    <li class="dashboard-item" data-uid=hit.uid.clone()>
                                                        <a class="dashboard-link" href=href>{hit.title.clone()}</a>
                                                        <span class="tags">
                                                            {hit
                                                                .tags
                                                                .iter()
                                                                .map(|tag| {
                                                                    let t = tag.clone();
                                                                    view! {
                                                                        <button class="tag-chip" on:click=move |_| toggle_tag.run(t.clone())>
                                                                            {tag.clone()}
                                                                        </button>
                                                                    }
                                                                })
                                                                .collect_view()}
                                                        </span>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                </section>
                            }
                        })
                        .collect_view()
                        .into_any()
                }
            }}
        </div>
    }
}
