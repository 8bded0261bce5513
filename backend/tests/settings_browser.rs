//! Dashboard settings, the variables editor and the JSON model in a real
//! browser, opened by Grafana's `editview=` parameter on a stored
//! dashboard: a bad default range is refused by field; title, tags and a
//! new custom variable (with its preview) are applied and show on the
//! page; a query variable's preview lists the server's label values; the
//! JSON model refuses a broken edit with its JSON path, applies a good one,
//! and exports `<title>.json`.
//!
//! Needs `chromium` and `chromium-driver` and a vigil built with the app
//! embedded (`cargo xtask test` does both).

mod browser_support;
mod common;

use std::time::Duration;

use browser_support::Browser;
use common::{Vigil, eventually};
use serde_json::{Value, json};
use thirtyfour::prelude::*;

fn assert_ui_embedded() {
    assert!(
        vigil::web::ui_is_embedded(),
        "the dashboard app is not built into vigil: run `cargo xtask test` (it builds dist/ with trunk before compiling the tests)"
    );
}

async fn text_of(driver: &WebDriver, css: &str) -> WebDriverResult<String> {
    driver.query(By::Css(css)).first().await?.text().await
}

/// Replaces the text of an input or text area as typing would end.
async fn set_value(driver: &WebDriver, css: &str, text: &str) -> WebDriverResult<()> {
    driver
        .execute(
            "const el = document.querySelector(arguments[0]);
             el.value = arguments[1];
             el.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![Value::from(css), Value::from(text)],
        )
        .await?;
    Ok(())
}

// Written against the editmode branch's `editview=` wiring and its ids
// (`#edit-json`, `[data-grid]`); not yet run. Remove the `ignore` once that
// branch is on main and this passes.
#[tokio::test]
#[ignore = "needs the dashboard page's edit mode (editmode branch) to open the editors"]
async fn settings_variables_and_json_apply_to_the_dashboard() -> WebDriverResult<()> {
    assert_ui_embedded();
    let vigil = Vigil::start_scraping_itself();
    let stored = json!({"uid": "settings-test", "title": "Before", "tags": ["old"],
        "time": {"from": "now-1h", "to": "now"},
        "panels": [{"id": 1, "type": "stat", "title": "Up", "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4},
                    "targets": [{"refId": "A", "expr": "count(up)"}]}]});
    let created = reqwest::Client::new()
        .post(vigil.url("/api/dashboards/db"))
        .json(&json!({"dashboard": stored}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /api/dashboards/db: {e}"));
    assert!(created.status().is_success(), "create: HTTP {}", created.status());
    let browser = Browser::start(1400, 1000).await?;
    let outcome = check(&browser.driver, &vigil).await;
    browser.quit().await;
    outcome
}

async fn check(driver: &WebDriver, vigil: &Vigil) -> WebDriverResult<()> {
    driver.goto(vigil.url("/d/settings-test?editview=settings")).await?;
    driver.query(By::Id("dashboard-settings")).first().await?;

    // A default range that does not parse: refused, by field.
    set_value(driver, "#settings-time-from", "yesterday-ish").await?;
    driver.query(By::Id("settings-apply")).first().await?.click().await?;
    let error = text_of(driver, "#settings-time-from-error").await?;
    assert!(error.contains("yesterday-ish"), "{error:?}");
    assert!(driver.query(By::Id("dashboard-settings")).exists().await?, "Apply must not close on an error");
    set_value(driver, "#settings-time-from", "now-3h").await?;

    // Title and a tag.
    set_value(driver, "#settings-title", "After").await?;
    driver.query(By::Id("settings-tag-input")).first().await?.send_keys("fresh").await?;
    driver.query(By::Id("settings-tag-add")).first().await?.click().await?;
    driver.query(By::Css(".settings-tag-remove")).first().await?.click().await?; // removes "old"

    // A custom variable, previewed; then a query variable previewed from the server.
    driver.query(By::Id("settings-tab-variables")).first().await?.click().await?;
    driver.query(By::Id("variable-add")).first().await?.click().await?;
    set_value(driver, "#variable-name", "env").await?;
    driver.query(By::Css("#variable-kind option[value='custom']")).first().await?.click().await?;
    set_value(driver, "#variable-query", "prod,staging").await?;
    driver.query(By::Id("variable-preview")).first().await?.click().await?;
    let values = text_of(driver, "#variable-preview-values").await?;
    assert!(values.contains("prod") && values.contains("staging"), "{values:?}");
    driver.query(By::Id("variable-done")).first().await?.click().await?;
    driver.query(By::Id("variable-add")).first().await?.click().await?;
    set_value(driver, "#variable-name", "job").await?;
    set_value(driver, "#variable-query", "label_values(up, job)").await?;
    driver.query(By::Id("variable-preview")).first().await?.click().await?;
    let values = text_of(driver, "#variable-preview-values").await?;
    assert!(values.contains("vigil"), "the server's job label values should be previewed: {values:?}");
    // A name taken twice is refused on Apply, by variable and field.
    set_value(driver, "#variable-name", "env").await?;
    driver.query(By::Id("settings-apply")).first().await?.click().await?;
    let error = text_of(driver, "#variable-name-error").await?;
    assert!(error.contains("already"), "{error:?}");
    set_value(driver, "#variable-name", "job").await?;
    driver.query(By::Id("settings-apply")).first().await?.click().await?;

    // Applied: the settings close, the page shows the new title and variables.
    eventually(Duration::from_secs(10), "the settings to close", || async {
        (!driver.query(By::Id("dashboard-settings")).nowait().exists().await.ok()?).then_some(())
    })
    .await;
    assert_eq!(text_of(driver, ".dashboard-title").await?, "After");
    driver.query(By::Id("var-env")).first().await?;
    driver.query(By::Id("var-job")).first().await?;

    // The JSON model shows the applied settings; a broken edit is refused by path.
    driver.query(By::Id("edit-json")).first().await?.click().await?;
    let text = driver.query(By::Id("json-model-text")).first().await?.prop("value").await?.unwrap_or_default();
    let shown: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("the JSON model is not JSON: {e}"));
    assert_eq!(shown["title"], "After");
    assert_eq!(shown["tags"], json!(["fresh"]));
    assert_eq!(shown["time"], json!({"from": "now-3h", "to": "now"}));
    let names: Vec<&str> = shown["templating"]["list"]
        .as_array()
        .map_or_else(Vec::new, |l| l.iter().filter_map(|v| v["name"].as_str()).collect());
    assert_eq!(names, ["env", "job"]);
    assert_eq!(shown["templating"]["list"][0]["query"], "prod,staging");
    let mut edited = shown.clone();
    edited["panels"][0]["gridPos"]["w"] = json!("wide");
    set_value(driver, "#json-model-text", &edited.to_string()).await?;
    driver.query(By::Id("json-model-apply")).first().await?.click().await?;
    let error = text_of(driver, "#json-model-error").await?;
    assert!(error.contains("panels[0].gridPos.w"), "{error:?}");
    edited["panels"][0]["gridPos"]["w"] = json!(12);
    edited["title"] = json!("From JSON");
    set_value(driver, "#json-model-text", &edited.to_string()).await?;
    driver.query(By::Id("json-model-export")).first().await?.click().await?;
    let status = text_of(driver, "#json-model-status").await?;
    assert_eq!(status, "Exported as From JSON.json.");
    driver.query(By::Id("json-model-apply")).first().await?.click().await?;
    eventually(Duration::from_secs(10), "the JSON model to close", || async {
        (!driver.query(By::Id("json-model")).nowait().exists().await.ok()?).then_some(())
    })
    .await;
    assert_eq!(text_of(driver, ".dashboard-title").await?, "From JSON");
    let grid = driver.query(By::Id("panel-1")).first().await?.attr("data-grid").await?.unwrap_or_default();
    assert!(grid.ends_with(",12,4"), "the panel should be 12 wide now: {grid}");
    Ok(())
}
