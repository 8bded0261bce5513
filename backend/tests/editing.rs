//! Editing a dashboard end to end, in headless Chromium against a real
//! vigil scraping itself (so queries have data): create a dashboard, add a
//! panel, type a broken query and see the editor's inline error, fix it
//! and see the preview and the panel draw data,
//! drag its header and its corner with real pointer actions, save, check
//! the stored `gridPos`, reload and see the same layout, undo and redo from
//! the keyboard and the toolbar, lose a save race to a second browser and
//! keep the edits as a copy, then open the share link in a fresh profile.
//!
//! Needs `chromium` and `chromium-driver` and a vigil built with the app
//! embedded (`cargo xtask test` does both).

mod browser_support;
mod common;

use std::time::{Duration, Instant};

use browser_support::{Browser, panel_reports};
use common::Vigil;
use serde_json::Value;
use thirtyfour::prelude::*;

fn assert_ui_embedded() {
    assert!(
        vigil::web::ui_is_embedded(),
        "the dashboard app is not built into vigil: run `cargo xtask test` (it builds dist/ with trunk before compiling the tests)"
    );
}

/// Polls `check` (which reads the page) until it gives `Some`.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> WebDriverResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = WebDriverResult<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `data-grid` of a panel frame: "x,y,w,h".
async fn grid_of(driver: &WebDriver, id: &str) -> WebDriverResult<Option<String>> {
    match driver.find(By::Id(id)).await {
        Ok(e) => e.attr("data-grid").await,
        Err(_) => Ok(None),
    }
}

async fn wait_grid(driver: &WebDriver, id: &str, want: &str, context: &str) -> WebDriverResult<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = grid_of(driver, id).await?;
        if got.as_deref() == Some(want) {
            return Ok(());
        }
        assert!(Instant::now() < deadline, "{context}: {id} is at {got:?}, expected {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The panel's state once settled: (data-state, series, error text).
async fn settled(driver: &WebDriver, frame: &str) -> WebDriverResult<(String, u64, String)> {
    wait_for(&format!("{frame} to settle"), || async {
        let reports = panel_reports(driver).await?;
        Ok(reports.into_iter().find(|r| r.0 == frame && (r.1 == "drawn" || r.1 == "error")).map(|r| (r.1, r.2, r.4)))
    })
    .await
}

/// The panel's box relative to the grid's: (left, top, width, height).
async fn panel_box(driver: &WebDriver, id: &str) -> WebDriverResult<Vec<f64>> {
    driver
        .execute(
            "const g = document.getElementById('dashboard-grid').getBoundingClientRect();
             const p = document.getElementById(arguments[0]).getBoundingClientRect();
             return [p.left - g.left, p.top - g.top, p.width, p.height].map(Math.round);",
            vec![Value::from(id)],
        )
        .await?
        .convert()
}

/// Types into the panel editor's first query, replacing what is there.
async fn set_query(driver: &WebDriver, text: &str) -> WebDriverResult<()> {
    let field = driver.query(By::Id("panel-editor-expr-0")).first().await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

async fn click(driver: &WebDriver, css: &str) -> WebDriverResult<()> {
    driver.query(By::Css(css)).first().await?.click().await
}

async fn api_dashboard(vigil: &Vigil, uid: &str) -> Value {
    let answer = reqwest::get(vigil.url(&format!("/api/dashboards/uid/{uid}"))).await.expect("GET the dashboard");
    assert_eq!(answer.status(), 200, "GET /api/dashboards/uid/{uid}");
    answer.json().await.expect("dashboard JSON")
}

/// The uid in a `/d/<uid>/…` address.
fn uid_of(url: &str) -> Option<String> {
    let rest = url.split("/d/").nth(1)?;
    Some(rest.split(['/', '?', '#']).next()?.to_owned()).filter(|u| !u.is_empty())
}

#[tokio::test]
async fn a_dashboard_is_built_dragged_saved_and_shared() -> WebDriverResult<()> {
    assert_ui_embedded();
    let vigil = Vigil::start_scraping_itself();
    let browser = Browser::start(1400, 1000).await?;
    let outcome = check(&browser.driver, &vigil).await;
    browser.quit().await;
    outcome
}

async fn check(driver: &WebDriver, vigil: &Vigil) -> WebDriverResult<()> {
    // A new dashboard opens in edit mode; "Add panel" adds panel 1 at the
    // top left and opens its editor. (The last 5 minutes: the server has
    // only just started scraping, and a 6-hour range's coarse steps would
    // not reach its first samples yet.)
    driver.goto(vigil.url("/dashboard/new?from=now-5m&to=now")).await?;
    click(driver, "#edit-add-panel").await?;
    driver.query(By::Id("panel-editor")).first().await?;
    assert!(driver.current_url().await?.as_str().contains("editPanel=1"));
    wait_grid(driver, "panel-1", "0,0,12,8", "the new panel").await?;

    // A broken query: the editor shows the parse error inline, as typed.
    set_query(driver, "rate(up[5m]").await?;
    let error = driver.query(By::Id("panel-editor-expr-0-error")).first().await?;
    let message = error.text().await?;
    assert!(message.contains("parse error") || message.contains("unclosed"), "the inline error: {message:?}");
    // Fixed, the error goes and the editor's preview draws the data of the
    // self-scrape.
    set_query(driver, "up").await?;
    wait_for("the inline error to go", || async {
        Ok(driver.find(By::Id("panel-editor-expr-0-error")).await.is_err().then_some(()))
    })
    .await?;
    wait_for("the preview to draw data", || async {
        let body = driver.find(By::Css("#panel-editor-preview [data-state]")).await;
        let Ok(body) = body else { return Ok(None) };
        let state = body.attr("data-state").await?;
        let series: u64 = body.attr("data-series").await?.and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok((state.as_deref() == Some("drawn") && series > 0).then_some(()))
    })
    .await?;
    click(driver, "#panel-editor-apply").await?;
    // On the dashboard, the panel draws the same data.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (state, series, error) = settled(driver, "panel-1").await?;
        if state == "drawn" && series > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the panel never drew data: {state} {series} {error}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(!driver.current_url().await?.as_str().contains("editPanel"), "Apply closes the editor");

    // Drag the header 6 columns right, then the corner 4 columns right and
    // 2 rows down: x 0 → 6, w 12 → 16, h 8 → 10.
    let width: f64 =
        driver.execute("return document.getElementById('dashboard-grid').clientWidth;", vec![]).await?.convert()?;
    let column = (width + 8.0) / 24.0;
    let title = driver.query(By::Css("#panel-1 .panel-title")).first().await?;
    driver
        .action_chain()
        .move_to_element_center(&title)
        .click_and_hold()
        .move_by_offset((6.0 * column).round() as i64, 5)
        .release()
        .perform()
        .await?;
    wait_grid(driver, "panel-1", "6,0,12,8", "after dragging the header").await?;
    let corner = driver.query(By::Css("#panel-1 .panel-resize")).first().await?;
    driver
        .action_chain()
        .move_to_element_center(&corner)
        .click_and_hold()
        .move_by_offset((4.0 * column).round() as i64, 2 * 38)
        .release()
        .perform()
        .await?;
    wait_grid(driver, "panel-1", "6,0,16,10", "after dragging the corner").await?;
    let dragged_box = panel_box(driver, "panel-1").await?;

    // Save: the first save creates the dashboard and opens /d/<uid>.
    click(driver, "#edit-save").await?;
    driver.query(By::Id("save-message")).first().await?.send_keys("first layout").await?;
    click(driver, "#save-submit").await?;
    let uid = wait_for("the saved dashboard's address", || async { Ok(uid_of(driver.current_url().await?.as_str())) })
        .await?;
    let saved = api_dashboard(vigil, &uid).await;
    let panel = &saved["dashboard"]["panels"][0];
    assert_eq!(panel["gridPos"], serde_json::json!({"x": 6, "y": 0, "w": 16, "h": 10}), "{saved}");
    assert_eq!(panel["targets"][0]["expr"], "up");
    assert_eq!(saved["meta"]["version"].as_i64().or(saved["dashboard"]["version"].as_i64()), Some(1), "{saved}");

    // Reload: the same layout, in the same place.
    driver.refresh().await?;
    wait_grid(driver, "panel-1", "6,0,16,10", "after reload").await?;
    settled(driver, "panel-1").await?;
    assert_eq!(panel_box(driver, "panel-1").await?, dragged_box, "the panel's box after reload");

    // Keyboard and undo/redo: a focused panel moves with the arrows.
    click(driver, "#edit-start").await?;
    let undo = driver.query(By::Id("edit-undo")).first().await?;
    assert!(!undo.is_enabled().await?, "nothing to undo yet");
    driver.execute("document.getElementById('panel-1').focus();", vec![]).await?;
    driver.action_chain().send_keys(Key::Right).perform().await?;
    wait_grid(driver, "panel-1", "7,0,16,10", "after ArrowRight").await?;
    driver.action_chain().key_down(Key::Control).send_keys("z").key_up(Key::Control).perform().await?;
    wait_grid(driver, "panel-1", "6,0,16,10", "after Ctrl+Z").await?;
    driver
        .action_chain()
        .key_down(Key::Control)
        .key_down(Key::Shift)
        .send_keys("z")
        .key_up(Key::Shift)
        .key_up(Key::Control)
        .perform()
        .await?;
    wait_grid(driver, "panel-1", "7,0,16,10", "after Ctrl+Shift+Z").await?;
    click(driver, "#edit-undo").await?;
    wait_grid(driver, "panel-1", "6,0,16,10", "after the Undo button").await?;
    click(driver, "#edit-redo").await?;
    wait_grid(driver, "panel-1", "7,0,16,10", "after the Redo button").await?;

    // Someone else saves first, in another browser.
    let other = Browser::start(1400, 1000).await?;
    let raced = race(&other.driver, vigil, &uid).await;
    other.quit().await;
    raced?;
    // Our save is based on version 1: refused with the server's message,
    // and the edits survive as a copy.
    click(driver, "#edit-save").await?;
    driver.query(By::Id("save-message")).first().await?.send_keys("moved right").await?;
    click(driver, "#save-submit").await?;
    let conflict = driver.query(By::Id("save-conflict")).first().await?.text().await?;
    assert!(conflict.contains("changed by someone else"), "{conflict}");
    assert_eq!(driver.query(By::Id("save-message")).first().await?.value().await?.as_deref(), Some("moved right"));
    click(driver, "#save-copy").await?;
    let copy_uid = wait_for("the copy's address", || async {
        Ok(uid_of(driver.current_url().await?.as_str()).filter(|u| *u != uid))
    })
    .await?;
    let copy = api_dashboard(vigil, &copy_uid).await;
    assert_eq!(copy["dashboard"]["title"], "New dashboard (copy)");
    assert_eq!(copy["dashboard"]["panels"][0]["gridPos"]["x"], 7, "{copy}");
    let original = api_dashboard(vigil, &uid).await;
    assert_eq!(original["dashboard"]["panels"][0]["gridPos"]["x"], 0, "the other save stands: {original}");

    // The share link opens in a fresh profile with the same panels and range.
    driver.goto(vigil.url(&format!("/d/{copy_uid}?from=now-15m&to=now"))).await?;
    wait_grid(driver, "panel-1", "7,0,16,10", "the copy").await?;
    click(driver, "#share-open").await?;
    let link = driver.query(By::Id("share-url")).first().await?.value().await?.unwrap_or_default();
    assert!(link.contains("/share#v1."), "{link}");
    let range = driver.query(By::Id("timepicker-open")).first().await?.text().await?;
    let fresh = Browser::start(1400, 1000).await?;
    let shared = check_share(&fresh.driver, &link, &range).await;
    fresh.quit().await;
    shared?;
    rows_menus_and_versions(driver, vigil, &copy_uid).await
}

/// On the saved copy (panel 1 at 7,0,16,10): duplicate, rows, remove,
/// then a second version and a restore of the first.
async fn rows_menus_and_versions(driver: &WebDriver, vigil: &Vigil, uid: &str) -> WebDriverResult<()> {
    click(driver, "#edit-start").await?;
    // The copy does not fit to the right (7 + 2 × 16 > 24): it goes below.
    click(driver, "#panel-1 .panel-duplicate").await?;
    wait_grid(driver, "panel-2", "7,10,16,10", "the duplicate").await?;
    // A new row goes on top and pushes the panels down; collapsed, it
    // takes them in; undone, they are back.
    click(driver, "#edit-add-row").await?;
    driver.query(By::Id("row-3")).first().await?;
    wait_grid(driver, "panel-1", "7,1,16,10", "below the new row").await?;
    click(driver, "#row-3 .row-toggle").await?;
    wait_for("the collapsed row to hide its panels", || async {
        Ok(driver.find(By::Id("panel-1")).await.is_err().then_some(()))
    })
    .await?;
    assert_eq!(driver.query(By::Id("row-3")).first().await?.attr("data-collapsed").await?.as_deref(), Some("true"));
    click(driver, "#edit-undo").await?;
    wait_grid(driver, "panel-1", "7,1,16,10", "after undoing the collapse").await?;
    click(driver, "#panel-2 .panel-remove").await?;
    wait_for("the removed panel to go", || async { Ok(driver.find(By::Id("panel-2")).await.is_err().then_some(())) })
        .await?;
    // Version 2, then the dialog lists both and restores the first.
    click(driver, "#edit-save").await?;
    click(driver, "#save-submit").await?;
    wait_for("version 2", || async {
        Ok((api_dashboard(vigil, uid).await["dashboard"]["version"] == 2).then_some(()))
    })
    .await?;
    let stored = api_dashboard(vigil, uid).await;
    let kinds: Vec<&str> =
        stored["dashboard"]["panels"].as_array().into_iter().flatten().filter_map(|p| p["type"].as_str()).collect();
    assert_eq!(kinds, vec!["row", "timeseries"], "{stored}");
    click(driver, "#edit-save").await?;
    let versions = wait_for("the versions list", || async {
        let items = driver.find_all(By::Css("#versions li.version")).await?;
        Ok((items.len() == 2).then_some(items.len()))
    })
    .await?;
    assert_eq!(versions, 2);
    click(driver, "#versions li.version[data-version='1'] .version-restore").await?;
    wait_for("the restored version", || async {
        Ok((api_dashboard(vigil, uid).await["dashboard"]["version"] == 3).then_some(()))
    })
    .await?;
    wait_grid(driver, "panel-1", "7,0,16,10", "after restoring version 1").await?;
    assert!(driver.find(By::Id("row-3")).await.is_err(), "version 1 had no row");
    Ok(())
}

/// The other user: opens the dashboard, moves the panel to the left edge
/// and saves (version 2).
async fn race(driver: &WebDriver, vigil: &Vigil, uid: &str) -> WebDriverResult<()> {
    driver.goto(vigil.url(&format!("/d/{uid}"))).await?;
    wait_grid(driver, "panel-1", "6,0,16,10", "the other browser").await?;
    click(driver, "#edit-start").await?;
    driver.execute("document.getElementById('panel-1').focus();", vec![]).await?;
    for _ in 0..6 {
        driver.action_chain().send_keys(Key::Left).perform().await?;
    }
    wait_grid(driver, "panel-1", "0,0,16,10", "the other browser's move").await?;
    click(driver, "#edit-save").await?;
    click(driver, "#save-submit").await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while api_dashboard(vigil, uid).await["dashboard"]["version"] != 2 {
        assert!(Instant::now() < deadline, "the other browser's save did not land");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn check_share(driver: &WebDriver, link: &str, range: &str) -> WebDriverResult<()> {
    driver.goto(link).await?;
    driver.query(By::Id("share-banner")).first().await?;
    wait_grid(driver, "panel-1", "7,0,16,10", "the shared dashboard").await?;
    assert_eq!(driver.query(By::Id("timepicker-open")).first().await?.text().await?, range);
    // Data: the server started seconds ago, so the first answer may hold
    // no step yet that sees a sample; "Refresh now" asks again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (state, series, error) = settled(driver, "panel-1").await?;
        assert_eq!(state, "drawn", "{error}");
        if series > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the shared panel never drew data: {:?}", panel_reports(driver).await?);
        tokio::time::sleep(Duration::from_millis(500)).await;
        click(driver, "#timepicker-reload").await?;
    }
    assert!(driver.find(By::Id("edit-start")).await.is_err(), "a share link is read-only");
    Ok(())
}
