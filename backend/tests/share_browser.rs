//! Share links and hostile dashboards in a real browser: a link printed by
//! `vigil share` opens in a fresh Chromium profile (no stored dashboard, no
//! server state) with its panels and time range; a damaged link gets the
//! clear message; and a dashboard full of script (title, text panel,
//! `javascript:` link, HTML in a legend format), opened both from a share
//! link and after an import through the API, runs none of it and shows the
//! strings as text.
//!
//! Needs `chromium` and `chromium-driver` and a vigil built with the app
//! embedded (`cargo xtask test` does both).

mod browser_support;
mod common;

use std::process::Command;

use browser_support::{Browser, check_no_script, xss_dashboard};
use common::Vigil;
use serde_json::{Value, json};
use thirtyfour::prelude::*;

fn assert_ui_embedded() {
    assert!(
        vigil::web::ui_is_embedded(),
        "the dashboard app is not built into vigil: run `cargo xtask test` (it builds dist/ with trunk before compiling the tests)"
    );
}

/// `vigil share FILE --url BASE` for `dashboard`, as a script would run it.
fn share_link(dashboard: &Value, base: &str, extra: &[&str]) -> String {
    let dir = common::temp_dir("share-browser");
    let file = dir.join("dash.json");
    std::fs::write(&file, dashboard.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("share")
        .arg(&file)
        .args(["--url", base])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run vigil share: {e}"));
    assert!(out.status.success(), "vigil share failed: {}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn plain_dashboard() -> Value {
    json!({"uid": "never-stored", "title": "Shared vigil", "time": {"from": "now-6h", "to": "now"},
    "panels": [
        {"id": 1, "type": "timeseries", "title": "Up series", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
         "targets": [{"refId": "A", "expr": "up"}]},
        {"id": 2, "type": "stat", "title": "Up count", "gridPos": {"x": 12, "y": 0, "w": 12, "h": 8},
         "targets": [{"refId": "A", "expr": "count(up)"}]}
    ]})
}

#[tokio::test]
async fn share_links_open_read_only_and_never_run_script() -> WebDriverResult<()> {
    assert_ui_embedded();
    let vigil = Vigil::start_scraping_itself();
    let base = vigil.url("");
    let base = base.trim_end_matches('/');
    let browser = Browser::start(1400, 1000).await?;
    let outcome = check(&browser.driver, &vigil, base).await;
    browser.quit().await;
    outcome
}

async fn check(driver: &WebDriver, vigil: &Vigil, base: &str) -> WebDriverResult<()> {
    // A dashboard the server has never stored, from the link alone.
    let link = share_link(&plain_dashboard(), base, &["--from", "now-3h", "--to", "now"]);
    driver.goto(&link).await?;
    driver.query(By::Id("share-banner")).first().await?;
    for id in ["panel-1", "panel-2"] {
        driver.query(By::Id(id)).first().await?;
    }
    let range = driver.query(By::Id("share-range")).first().await?.text().await?;
    assert!(range.contains('3'), "the link's range (3 hours) should be shown, got {range:?}");
    let titles: Vec<String> = {
        let mut v = Vec::new();
        for t in driver.find_all(By::Css(".panel-title")).await? {
            v.push(t.text().await?);
        }
        v
    };
    assert_eq!(titles, ["Up series", "Up count"]);
    let stored = reqwest::get(vigil.url("/api/dashboards/uid/never-stored")).await.map(|r| r.status().as_u16()).ok();
    assert_eq!(stored, Some(404), "opening a share link must not store anything");

    // Damaged and truncated links: the clear message, no dashboard.
    let Some((_, fragment)) = link.split_once('#') else { panic!("{link} has no fragment") };
    let truncated = format!("{base}/share#{}", &fragment[..fragment.len() / 2]);
    let corrupt = format!("{base}/share#v1.{}", "A".repeat(80));
    for (bad, needle) in
        [(truncated.as_str(), "cut short"), (corrupt.as_str(), "damaged"), (&format!("{base}/share#v9.abc"), "v9")]
    {
        // A hash-only change does not reload the page; a fresh load does.
        driver.goto("about:blank").await?;
        driver.goto(bad).await?;
        let message = driver.query(By::Id("share-error")).first().await?.text().await?;
        assert!(message.contains("Cannot open this share link") && message.contains(needle), "{bad}: {message}");
        assert!(driver.find_all(By::Css(".panel")).await?.is_empty());
    }

    // Script in a dashboard, from a link…
    driver.goto("about:blank").await?;
    driver.goto(&share_link(&xss_dashboard(), base, &[])).await?;
    check_no_script(driver, "share link").await?;

    // …and after an import through the API.
    let created = reqwest::Client::new()
        .post(vigil.url("/api/dashboards/db"))
        .json(&json!({"dashboard": xss_dashboard(), "overwrite": true}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /api/dashboards/db: {e}"));
    assert!(created.status().is_success(), "import failed: {:?}", created.text().await);
    driver.goto(vigil.url("/d/xss-test")).await?;
    check_no_script(driver, "import").await?;
    Ok(())
}
