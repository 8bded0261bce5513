//! The import page in a real browser (`/dashboard/import`): reached from
//! the dashboard list; a broken JSON is refused with its JSON path and the
//! Import button stays off; a dashboard full of script pasted in is shown
//! as text in the summary, imported, opened, and runs none of its script;
//! importing it again is refused with the overwrite offer, which then
//! replaces it; and a file chosen through the file input is imported into
//! the chosen folder.
//!
//! Needs `chromium` and `chromium-driver` and a vigil built with the app
//! embedded (`cargo xtask test` does both).

mod browser_support;
mod common;

use std::time::Duration;

use browser_support::{Browser, XSS_TITLE, check_no_script, xss_dashboard};
use common::{Vigil, eventually};
use serde_json::{Value, json};
use thirtyfour::prelude::*;

fn assert_ui_embedded() {
    assert!(
        vigil::web::ui_is_embedded(),
        "the dashboard app is not built into vigil: run `cargo xtask test` (it builds dist/ with trunk before compiling the tests)"
    );
}

/// Puts `text` into the JSON area as a paste does: the whole value at once,
/// then one `input` event.
async fn paste(driver: &WebDriver, text: &str) -> WebDriverResult<()> {
    driver
        .execute(
            "const area = document.getElementById('import-json');
             area.value = arguments[0];
             area.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![Value::from(text)],
        )
        .await?;
    Ok(())
}

async fn text_of(driver: &WebDriver, id: &str) -> WebDriverResult<String> {
    driver.query(By::Id(id)).first().await?.text().await
}

/// Waits until the browser is on a dashboard page and returns its path.
async fn wait_for_dashboard(driver: &WebDriver, what: &str) -> String {
    eventually(Duration::from_secs(20), what, || async {
        let url = driver.current_url().await.ok()?;
        url.path().starts_with("/d/").then(|| url.path().to_owned())
    })
    .await
}

async fn get_json(vigil: &Vigil, path: &str) -> Value {
    let answer = reqwest::get(vigil.url(path)).await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert!(answer.status().is_success(), "GET {path}: HTTP {}", answer.status());
    answer.json().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

#[tokio::test]
async fn import_by_paste_and_upload_runs_no_script() -> WebDriverResult<()> {
    assert_ui_embedded();
    let vigil = Vigil::start_scraping_itself();
    let browser = Browser::start(1400, 1000).await?;
    let outcome = check(&browser.driver, &vigil).await;
    browser.quit().await;
    outcome
}

async fn check(driver: &WebDriver, vigil: &Vigil) -> WebDriverResult<()> {
    // From the list to the import page.
    driver.goto(vigil.url("/dashboards")).await?;
    driver.query(By::Id("dashboard-import-link")).first().await?.click().await?;
    let area = driver.query(By::Id("import-json")).first().await?;
    assert_eq!(driver.current_url().await?.path(), "/dashboard/import");

    // Broken JSON, typed: the error names the JSON path; Import stays off.
    area.send_keys(r#"{"title": "Broken", "panels": [{"type": "stat", "gridPos": {"x": 0, "w": "wide"}}]}"#).await?;
    let error = text_of(driver, "import-error").await?;
    assert!(error.contains("panels[0].gridPos.w"), "the error should name the JSON path: {error:?}");
    assert!(error.contains("line 1"), "the error should give the line: {error:?}");
    let submit = driver.query(By::Id("import-submit")).first().await?;
    assert!(!submit.is_enabled().await?, "Import must be off while the JSON is refused");
    // A syntax error: line and column.
    paste(driver, "{\n  \"title\": \"x\",\n  \"panels\": [\n").await?;
    let error = text_of(driver, "import-error").await?;
    assert!(error.contains("line 4"), "a syntax error should give its line: {error:?}");

    // A dashboard full of script, pasted: the summary shows the title as text.
    paste(driver, &serde_json::to_string_pretty(&xss_dashboard()).unwrap_or_default()).await?;
    assert_eq!(text_of(driver, "import-title").await?, XSS_TITLE);
    assert_eq!(text_of(driver, "import-uid").await?, "xss-test");
    assert_eq!(text_of(driver, "import-panels").await?, "2");
    assert!(driver.find_all(By::Css("img[src='x']")).await?.is_empty(), "the summary inserted HTML");
    driver.query(By::Id("import-submit")).first().await?.click().await?;
    let path = wait_for_dashboard(driver, "the imported dashboard to open").await;
    assert!(path.starts_with("/d/xss-test"), "opened {path}");
    driver.query(By::Id("panel-1")).first().await?;
    let heading = driver.query(By::Css(".dashboard-title")).first().await?.text().await?;
    assert_eq!(heading, XSS_TITLE, "the dashboard title should appear as text");
    check_no_script(driver, "import page").await?;
    let saved = get_json(vigil, "/api/dashboards/uid/xss-test").await;
    assert_eq!(saved["dashboard"]["title"], XSS_TITLE, "stored verbatim: escaping is the renderer's job");
    assert_eq!(saved["meta"]["version"], 1);

    // The same again: refused (same uid), then overwritten on request.
    driver.goto(vigil.url("/dashboard/import")).await?;
    driver.query(By::Id("import-json")).first().await?;
    paste(driver, &xss_dashboard().to_string()).await?;
    driver.query(By::Id("import-submit")).first().await?.click().await?;
    let conflict = text_of(driver, "import-conflict").await?;
    assert!(conflict.contains("already exists"), "{conflict:?}");
    driver.query(By::Id("import-overwrite")).first().await?.click().await?;
    wait_for_dashboard(driver, "the overwritten dashboard to open").await;
    let saved = get_json(vigil, "/api/dashboards/uid/xss-test").await;
    assert_eq!(saved["meta"]["version"], 2, "overwrite should make a new version of the same dashboard");
    assert_eq!(xss_flag_after_load(driver).await?, Value::Null);

    // Upload: a file chosen in the file input, into a folder.
    let created = reqwest::Client::new()
        .post(vigil.url("/api/folders"))
        .json(&json!({"uid": "imported", "title": "Imported"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /api/folders: {e}"));
    assert!(created.status().is_success(), "create folder: HTTP {}", created.status());
    let dir = common::temp_dir("import-browser");
    let file = dir.join("uploaded.json");
    let uploaded = json!({"uid": "uploaded", "title": "Uploaded board", "id": 4242,
        "panels": [{"id": 1, "type": "stat", "title": "Targets up", "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4},
                    "targets": [{"refId": "A", "expr": "count(up)"}]}]});
    std::fs::write(&file, uploaded.to_string()).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    driver.goto(vigil.url("/dashboard/import")).await?;
    let input = driver.query(By::Id("import-file")).first().await?;
    input.send_keys(file.display().to_string()).await?;
    let title = eventually(Duration::from_secs(10), "the uploaded file's summary", || async {
        let text = text_of(driver, "import-title").await.ok()?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert_eq!(title, "Uploaded board");
    let folder = driver.query(By::Css("#import-folder option[value='imported']")).first().await?;
    folder.click().await?;
    driver.query(By::Id("import-submit")).first().await?.click().await?;
    let path = wait_for_dashboard(driver, "the uploaded dashboard to open").await;
    assert!(path.starts_with("/d/uploaded"), "opened {path}");
    let saved = get_json(vigil, "/api/dashboards/uid/uploaded").await;
    assert_eq!(saved["meta"]["folderUid"], "imported", "the chosen folder");
    assert_ne!(saved["dashboard"]["id"], 4242, "an import never takes the file's id");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `window.__xss` after the dashboard page has drawn its panels.
async fn xss_flag_after_load(driver: &WebDriver) -> WebDriverResult<Value> {
    driver.query(By::Id("panel-1")).first().await?;
    browser_support::xss_flag(driver).await
}
