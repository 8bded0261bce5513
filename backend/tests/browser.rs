//! The browser end-to-end tests: Debian's headless Chromium, driven through
//! chromedriver, loads the dashboard app from a real `vigil` process.
//! Explore draws Vigil's own data (the panel says it drew points, and the
//! canvas really has coloured line pixels); a dashboard created through
//! Grafana's API is listed, opens, every panel draws (or shows its own
//! error), and the time range follows the picker, the URL, reload and back.
//!
//! Needs `chromium` and `chromium-driver` (`cargo xtask test` installs them)
//! and a vigil built with the app embedded (`cargo xtask test` builds it).

mod browser_support;
mod common;

use std::time::{Duration, Instant};

use browser_support::{Browser, COUNT_COLOURED_PIXELS, PanelReport, panel_reports};
use common::Vigil;
use serde_json::{Value, json};
use thirtyfour::prelude::*;

fn assert_ui_embedded() {
    assert!(
        vigil::web::ui_is_embedded(),
        "the dashboard app is not built into vigil: run `cargo xtask test` (it builds dist/ with trunk before compiling the tests)"
    );
}

#[tokio::test]
async fn explore_panel_draws_live_data() -> WebDriverResult<()> {
    assert_ui_embedded();
    let vigil = Vigil::start_scraping_itself();
    let started = Instant::now();
    let browser = Browser::start(1280, 900).await?;
    eprintln!("browser session started in {:?}", started.elapsed());
    let outcome = check_explore(&browser.driver, &vigil).await;
    eprintln!("explore checks done after {:?}", started.elapsed());
    browser.quit().await;
    outcome
}

async fn check_explore(driver: &WebDriver, vigil: &Vigil) -> WebDriverResult<()> {
    // The old address still opens Explore.
    driver.goto(vigil.url("/?expr=up&from=now-1m")).await?;
    driver.query(By::Css("#panel-0 [data-state]")).first().await?;
    assert!(driver.query(By::Id("expr")).first().await?.value().await?.as_deref() == Some("up"));

    // A one-minute range refreshed every second, so a few seconds of
    // self-scrapes span many pixels.
    driver.goto(vigil.url("/explore?expr=process_resident_memory_bytes&from=now-1m&refresh=1s")).await?;
    assert_eq!(driver.title().await?, "Vigil");

    // Wait until the graph has drawn at least five points of the self-scrape.
    let deadline = Instant::now() + Duration::from_secs(45);
    let body = loop {
        let body = driver.query(By::Css("#panel-0 [data-state]")).first().await?;
        let state = body.attr("data-state").await?.unwrap_or_default();
        let points: usize = body.attr("data-points").await?.and_then(|p| p.parse().ok()).unwrap_or(0);
        if state == "drawn" && points >= 5 {
            break body;
        }
        if Instant::now() > deadline {
            let error = match driver.query(By::ClassName("panel-error")).first().await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("panel never drew data: data-state={state:?} data-points={points} error={error:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(body.attr("data-series").await?.as_deref(), Some("1"), "one series: Vigil's own RSS");

    // The line grows with each 5 s refresh of a one-minute window (with
    // thin, crisp lines a few seconds of data is only a few dozen pixels),
    // so wait for it to reach a length that only a drawn series can have.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let coloured: i64 = driver.execute(COUNT_COLOURED_PIXELS, vec![json!("#panel-0")]).await?.convert()?;
        if coloured > 50 {
            break;
        }
        assert!(Instant::now() < deadline, "the canvas has only {coloured} coloured pixels: no series line was drawn");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The table lists the series with its labels, as text.
    let table = driver.query(By::Id("explore-table")).first().await?.text().await?;
    assert!(table.contains("job=\"vigil\""), "the table lacks the series labels: {table:?}");

    // The parser runs as you type: the error's span is underlined.
    let input = driver.query(By::Id("expr")).first().await?;
    input.clear().await?;
    input.send_keys("sum(rate(x[5m])").await?;
    let marked = driver.query(By::Css(".query-mirror .error-span")).first().await?;
    assert!(driver.query(By::Id("expr-error")).first().await?.text().await?.contains("parse error"));
    assert!(!marked.text().await?.is_empty() || marked.inner_html().await?.contains(' '));

    // Submitting a bad query shows the server's error inside the panel.
    input.clear().await?;
    input.send_keys("up{").await?;
    // Run, not Enter: Enter would pick from the completion popup if open.
    driver.query(By::Css(".query-bar button[type=submit]")).first().await?.click().await?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let state = body_state(driver, "#panel-0").await?;
        if state == "error" {
            let error = driver.query(By::Css("#panel-0 .panel-error")).first().await?.text().await?;
            assert!(error.contains("parse error"), "{error:?}");
            break;
        }
        assert!(Instant::now() < deadline, "a bad query never showed an error (state {state:?})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(driver.current_url().await?.as_str().contains("expr=up%7B"), "the query is in the URL");
    Ok(())
}

async fn body_state(driver: &WebDriver, frame: &str) -> WebDriverResult<String> {
    let body = driver.query(By::Css(format!("{frame} [data-state]"))).first().await?;
    Ok(body.attr("data-state").await?.unwrap_or_default())
}

/// A dashboard in Grafana's JSON: graphs of Vigil's own metrics, a stat,
/// one panel with a bad query, a query variable, and a collapsed row.
fn test_dashboard() -> Value {
    let target = |expr: &str| json!([{"refId": "A", "expr": expr, "legendFormat": "{{job}} {{instance}}"}]);
    json!({
        "uid": "e2e-vigil",
        "title": "E2E self-monitoring",
        "tags": ["vigil", "e2e"],
        "time": {"from": "now-15m", "to": "now"},
        "templating": {"list": [
            {"name": "job", "type": "query", "query": "label_values(up, job)", "multi": true, "includeAll": true,
             "current": {"value": ["$__all"]}}
        ]},
        "panels": [
            // Big points: Vigil has run only seconds of the 15 minutes shown,
            // so its line is a few pixels long; the points make the drawn
            // series countable (showPoints `auto` leaves dense points out).
            {"id": 1, "type": "timeseries", "title": "Memory of $job", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
             "fieldConfig": {"defaults": {"custom": {"showPoints": "always", "pointSize": 10}}},
             "targets": target("process_resident_memory_bytes{job=~\"$job\"}")},
            {"id": 2, "type": "timeseries", "title": "Scrape duration", "gridPos": {"x": 12, "y": 0, "w": 12, "h": 8},
             "targets": target("scrape_duration_seconds{job=~\"$job\"}")},
            {"id": 3, "type": "stat", "title": "Up", "gridPos": {"x": 0, "y": 8, "w": 6, "h": 4},
             "targets": target("up")},
            {"id": 4, "type": "timeseries", "title": "Broken", "gridPos": {"x": 6, "y": 8, "w": 18, "h": 4},
             "targets": target("sum(rate(up[5m])")},
            {"id": 5, "type": "row", "title": "More", "collapsed": true, "gridPos": {"x": 0, "y": 12, "w": 24, "h": 1},
             "panels": [
                {"id": 6, "type": "timeseries", "title": "Samples scraped", "gridPos": {"x": 0, "y": 13, "w": 24, "h": 6},
                 "targets": target("rate(scrape_samples_scraped[$__rate_interval])")}
             ]}
        ]
    })
}

/// Waits until no panel on the page is loading; returns their reports.
async fn settled_panels(driver: &WebDriver, count: usize) -> WebDriverResult<Vec<PanelReport>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reports = panel_reports(driver).await?;
        if reports.len() >= count && reports.iter().all(|r| r.1 == "drawn" || r.1 == "error") {
            return Ok(reports);
        }
        assert!(Instant::now() < deadline, "panels never settled: {reports:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `data-start` of a panel frame, in ms.
async fn panel_start(driver: &WebDriver, frame: &str) -> WebDriverResult<i64> {
    let start = driver.query(By::Css(frame)).first().await?.attr("data-start").await?;
    Ok(start.and_then(|s| s.parse().ok()).unwrap_or(0))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Asserts that the panel's data starts `span_ms` before now (within a
/// minute: the start is aligned to the step).
async fn assert_span(driver: &WebDriver, frame: &str, span_ms: i64, context: &str) -> WebDriverResult<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let start = panel_start(driver, frame).await?;
        let off = (now_ms() - span_ms - start).abs();
        if off < 60_000 {
            return Ok(());
        }
        assert!(Instant::now() < deadline, "{context}: the data starts {off} ms away from now-{span_ms}ms ({start})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn dashboard_lists_opens_draws_and_keeps_its_range_in_the_url() -> WebDriverResult<()> {
    assert_ui_embedded();
    let vigil = Vigil::start_scraping_itself();
    let client = reqwest::Client::new();
    let created = client
        .post(vigil.url("/api/dashboards/db"))
        .json(&json!({"dashboard": test_dashboard(), "overwrite": true}))
        .send()
        .await
        .expect("POST /api/dashboards/db");
    assert!(created.status().is_success(), "creating the dashboard failed: {:?}", created.text().await);
    // A few self-scrapes to draw.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let browser = Browser::start(1400, 1000).await?;
    let outcome = check_dashboard(&browser.driver, &vigil).await;
    browser.quit().await;
    outcome
}

async fn check_dashboard(driver: &WebDriver, vigil: &Vigil) -> WebDriverResult<()> {
    // The list shows it, and searching by title and by tag keeps it.
    driver.goto(vigil.url("/dashboards")).await?;
    let link = driver.query(By::Css("[data-uid='e2e-vigil'] a.dashboard-link")).first().await?;
    assert_eq!(link.text().await?, "E2E self-monitoring");
    driver.query(By::Id("dashboard-search")).first().await?.send_keys("self-mon").await?;
    driver.query(By::Css("[data-uid='e2e-vigil']")).first().await?;
    driver.query(By::Id("dashboard-search")).first().await?.send_keys("zzz").await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !driver.find_all(By::Css("[data-uid='e2e-vigil']")).await?.is_empty() {
        assert!(Instant::now() < deadline, "a search for a missing title still lists the dashboard");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver.goto(vigil.url("/dashboards")).await?;
    driver.query(By::Css("[data-uid='e2e-vigil'] a.dashboard-link")).first().await?.click().await?;

    // Every visible panel settles: the good ones drew series, the broken
    // one shows its own parse error while the others draw.
    let reports = settled_panels(driver, 4).await?;
    let by_id = |id: &str| reports.iter().find(|r| r.0 == id).cloned();
    for id in ["panel-1", "panel-2", "panel-3"] {
        let report = by_id(id).unwrap_or_else(|| panic!("{id} missing: {reports:?}"));
        assert_eq!(report.1, "drawn", "{report:?}");
        assert!(report.2 > 0 && report.3 > 0, "{id} drew no data: {report:?}");
    }
    let broken = by_id("panel-4").unwrap_or_else(|| panic!("panel-4 missing: {reports:?}"));
    assert_eq!(broken.1, "error", "{broken:?}");
    assert!(broken.4.contains("parse error"), "the panel shows the query's error: {broken:?}");
    assert!(by_id("panel-6").is_none(), "a collapsed row's panel is not drawn: {reports:?}");
    let coloured: i64 = driver.execute(COUNT_COLOURED_PIXELS, vec![json!("#panel-1")]).await?.convert()?;
    assert!(coloured > 50, "panel 1's canvas has only {coloured} coloured pixels");
    // The variable's value reached the title, as text.
    let title = driver.query(By::Css("#panel-1 .panel-title")).first().await?.text().await?;
    assert_eq!(title, "Memory of All", "All shows as All in titles, as in Grafana");
    assert_span(driver, "#panel-1", 15 * 60_000, "the dashboard's default range").await?;

    // Expanding the row draws its panel.
    driver.query(By::Css("#row-5 .row-toggle")).first().await?.click().await?;
    let reports = settled_panels(driver, 5).await?;
    let nested = reports.iter().find(|r| r.0 == "panel-6").cloned();
    assert!(nested.as_ref().is_some_and(|r| r.1 == "drawn"), "{reports:?}");

    // The picker changes the range: the URL and the queries follow.
    driver.query(By::Id("timepicker-open")).first().await?.click().await?;
    driver.query(By::Css(".tp-quick-range[data-from='now-5m']")).first().await?.click().await?;
    let url = driver.current_url().await?;
    assert!(url.as_str().contains("from=now-5m") && url.as_str().contains("to=now"), "{url}");
    assert_span(driver, "#panel-1", 5 * 60_000, "after picking the last 5 minutes").await?;

    // A variable choice goes into the URL too.
    driver.query(By::Css("#var-job option[value='vigil']")).first().await?.click().await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !driver.current_url().await?.as_str().contains("var-job=vigil") {
        assert!(Instant::now() < deadline, "the variable is not in the URL: {}", driver.current_url().await?);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Reload: same range, same variable.
    driver.refresh().await?;
    settled_panels(driver, 4).await?;
    assert_eq!(driver.query(By::Id("timepicker-open")).first().await?.text().await?, "Last 5 minutes");
    assert_span(driver, "#panel-1", 5 * 60_000, "after reload").await?;
    let selected: Vec<String> = driver
        .execute("return Array.from(document.querySelector('#var-job').selectedOptions).map(o => o.value);", Vec::new())
        .await?
        .convert()?;
    assert_eq!(selected, vec!["vigil".to_owned()]);

    // Back twice: before the variable, then before the range change.
    driver.back().await?;
    driver.back().await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while driver.current_url().await?.as_str().contains("from=now-5m") {
        assert!(Instant::now() < deadline, "back did not restore the range: {}", driver.current_url().await?);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_span(driver, "#panel-1", 15 * 60_000, "after back").await?;

    // The app marks when every panel has been drawn, for the bench.
    let marks: i64 = driver
        .execute("return performance.getEntriesByName('vigil:all-panels-drawn').length;", Vec::new())
        .await?
        .convert()?;
    assert!(marks >= 1, "no vigil:all-panels-drawn performance mark");

    // An unknown dashboard is an error page, not a blank one.
    driver.goto(vigil.url("/d/no-such-dashboard")).await?;
    let error = driver.query(By::Id("page-error")).first().await?.text().await?;
    assert!(error.contains("Cannot open this dashboard"), "{error:?}");
    Ok(())
}

/// Debian's node exporter on a free port, killed on drop.
struct NodeExporter {
    child: std::process::Child,
    port: u16,
}

impl NodeExporter {
    fn start() -> NodeExporter {
        const BINARY: &str = "/usr/bin/prometheus-node-exporter";
        assert!(
            std::path::Path::new(BINARY).exists(),
            "{BINARY} is missing: install it with `apt-get install -y prometheus-node-exporter` (or run `cargo xtask setup --test-packages`)"
        );
        let port = common::free_port();
        let child = std::process::Command::new(BINARY)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "node exporter did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        NodeExporter { child, port }
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Grafana export (Node Exporter Full, from grafana.com, in the
/// shared crate's test data) imported through Grafana's API opens without
/// an error page, its variables find the node, and every visible panel
/// settles without an error, most of them with data.
#[tokio::test]
async fn imported_grafana_dashboard_renders_real_node_exporter_data() -> WebDriverResult<()> {
    assert_ui_embedded();
    let node = NodeExporter::start();
    let port = common::free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        node.port
    );
    let vigil = Vigil::start(port, &config);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/dashboards/node-exporter-full.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let dashboard: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"));
    let created = reqwest::Client::new()
        .post(vigil.url("/api/dashboards/db"))
        .json(&json!({"dashboard": dashboard, "overwrite": true}))
        .send()
        .await
        .expect("POST /api/dashboards/db");
    assert!(created.status().is_success(), "importing failed: {:?}", created.text().await);
    // A few scrapes, so rates have two points.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let browser = Browser::start(1600, 1000).await?;
    let driver = &browser.driver;
    let outcome = async {
        driver.goto(vigil.url("/d/rYdddlPWk?from=now-5m&to=now")).await?;
        assert!(driver.find_all(By::Id("page-error")).await?.is_empty(), "the dashboard opened as an error page");
        let title = driver.query(By::ClassName("dashboard-title")).first().await?.text().await?;
        assert_eq!(title, "Node Exporter Full");
        // The variables found the scraped node.
        let node_option = driver.query(By::Css("#var-node option")).first().await?.attr("value").await?;
        assert_eq!(node_option, Some(format!("127.0.0.1:{}", node.port)));
        let reports = settled_panels(driver, 10).await?;
        let errors: Vec<&PanelReport> = reports.iter().filter(|r| r.1 == "error").collect();
        assert!(errors.is_empty(), "panels in error: {errors:?}");
        let with_data = reports.iter().filter(|r| r.2 > 0).count();
        assert!(with_data * 2 >= reports.len(), "only {with_data} of {} panels drew data: {reports:?}", reports.len());
        Ok::<(), WebDriverError>(())
    }
    .await;
    browser.quit().await;
    outcome
}
