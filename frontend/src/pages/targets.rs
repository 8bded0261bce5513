//! Targets (`/targets`): every scrape target from `/api/v1/targets` by
//! scrape pool, with its health, labels, last scrape and last error.

use std::collections::BTreeMap;

use leptos::prelude::*;
use vigil_shared::model::api::ActiveTarget;

use crate::api;

#[component]
pub fn TargetsPage() -> impl IntoView {
    let targets = LocalResource::new(api::targets);
    view! {
        <div class="page targets">
            <h1>"Targets"</h1>
            {move || match targets.get() {
                None => view! { <p class="page-loading">"Loading targets…"</p> }.into_any(),
                Some(Err(e)) => view! { <div class="page-error">{format!("Cannot list targets: {e}")}</div> }.into_any(),
                Some(Ok(data)) => {
                    let mut pools: BTreeMap<String, Vec<ActiveTarget>> = BTreeMap::new();
                    for target in data.active_targets {
                        pools.entry(target.scrape_pool.clone()).or_default().push(target);
                    }
                    if pools.is_empty() {
                        return view! { <p class="empty">"No targets."</p> }.into_any();
                    }
                    pools
                        .into_iter()
                        .map(|(pool, targets)| {
                            let up = targets.iter().filter(|t| t.health == "up").count();
                            let total = targets.len();
                            view! {
                                <section class="pool" data-pool=pool.clone()>
                                    <h2>{format!("{pool} ({up}/{total} up)")}</h2>
                                    <table class="data-table">
                                        <thead>
                                            <tr>
                                                <th>"Endpoint"</th>
                                                <th>"State"</th>
                                                <th>"Labels"</th>
                                                <th>"Last scrape"</th>
                                                <th>"Duration"</th>
                                                <th>"Error"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {targets
                                                .into_iter()
                                                .map(|t| {
                                                    view! {
                                                        <tr class="target" data-health=t.health.clone()>
                                                            <td class="mono">{t.scrape_url}</td>
                                                            <td><span class=format!("health health-{}", t.health)>{t.health.to_uppercase()}</span></td>
                                                            <td class="mono">{t.labels.to_string()}</td>
                                                            <td>{t.last_scrape}</td>
                                                            <td class="num">{format!("{:.3} s", t.last_scrape_duration)}</td>
                                                            <td class="error-text">{t.last_error}</td>
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
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
