//! The query editor and the panel editor in a real browser (Debian's
//! headless Chromium through chromedriver) against a real `vigil` that
//! scrapes itself: the query parses in the browser as you type, the
//! error's span is underlined where the parser says, completion offers the
//! server's metric names and label values and inserts them with the
//! keyboard, and Format rewrites the query with the shared printer.
//!
//! Needs `chromium` and `chromium-driver` (`cargo xtask test` installs them)
//! and a vigil built with the app embedded (`cargo xtask test` builds it).

mod browser_support;
mod common;

use std::time::Duration;

use browser_support::Browser;
use common::{Vigil, eventually};
use thirtyfour::prelude::*;

fn assert_ui_embedded() {
    assert!(
        vigil::web::ui_is_embedded(),
        "the dashboard app is not built into vigil: run `cargo xtask test` (it builds dist/ with trunk before compiling the tests)"
    );
}

#[tokio::test]
async fn explore_query_editor_parses_completes_and_formats() -> WebDriverResult<()> {
    assert_ui_embedded();
    let vigil = Vigil::start_scraping_itself();
    let browser = Browser::start(1280, 900).await?;
    let outcome = check_query_editor(&browser.driver, &vigil).await;
    browser.quit().await;
    outcome
}

/// The textarea's value, as the page holds it.
async fn value(driver: &WebDriver) -> WebDriverResult<String> {
    Ok(driver.query(By::Id("expr")).first().await?.value().await?.unwrap_or_default())
}

/// Empties the editor and types `text` into it.
async fn retype(driver: &WebDriver, text: &str) -> WebDriverResult<WebElement> {
    let input = driver.query(By::Id("expr")).first().await?;
    input.clear().await?;
    input.send_keys(text).await?;
    Ok(input)
}

/// The completion popup's items: (label, insert, kind, selected).
async fn completions(driver: &WebDriver) -> WebDriverResult<Vec<(String, String, String, bool)>> {
    let mut out = Vec::new();
    for item in driver.find_all(By::Css("#expr-completions li.completion-item")).await? {
        let label = item.find(By::ClassName("completion-label")).await?.text().await?;
        let insert = item.attr("data-insert").await?.unwrap_or_default();
        let kind = item.attr("data-kind").await?.unwrap_or_default();
        let selected = item.attr("aria-selected").await?.as_deref() == Some("true");
        out.push((label, insert, kind, selected));
    }
    Ok(out)
}

async fn check_query_editor(driver: &WebDriver, vigil: &Vigil) -> WebDriverResult<()> {
    driver.goto(vigil.url("/explore?expr=up&from=now-5m")).await?;
    driver.query(By::Css("#panel-0 [data-state]")).first().await?;
    assert_eq!(value(driver).await?, "up");
    assert!(driver.find_all(By::ClassName("query-error")).await?.is_empty(), "`up` parses");

    // A broken query: the error's byte span, underlined in the mirror.
    // (text, span start, span end, underlined text)
    let cases = [("up{job=}", 7, 8, "}"), ("sum(rate(x[5m])) by (job) * on() é", 33, 35, "é")];
    for (text, start, end, marked) in cases {
        let input = retype(driver, text).await?;
        input.send_keys(Key::Escape).await?;
        let error = driver.query(By::Css("#expr-error.query-error")).first().await?;
        let at = |name: &'static str| {
            let error = error.clone();
            async move { Ok::<_, WebDriverError>(error.attr(name).await?.and_then(|v| v.parse::<usize>().ok())) }
        };
        assert_eq!((at("data-start").await?, at("data-end").await?), (Some(start), Some(end)), "{text}");
        assert!(error.text().await?.contains("parse error"), "{text}: {:?}", error.text().await?);
        let underlined = driver.query(By::Css(".query-mirror .error-span")).first().await?.text().await?;
        assert_eq!(underlined, marked, "{text}");
    }
    // Fixing it clears the error, without any request to the server.
    retype(driver, "up").await?.send_keys(Key::Escape).await?;
    eventually(Duration::from_secs(5), "the error to go", || async {
        driver.find_all(By::ClassName("query-error")).await.ok().filter(Vec::is_empty)
    })
    .await;

    // Metric names come from the server: `up` is offered for `u`, and the
    // keyboard picks it.
    let input = retype(driver, "u").await?;
    let items = eventually(Duration::from_secs(10), "metric names in the popup", || async {
        completions(driver).await.ok().filter(|items| items.iter().any(|(label, ..)| label == "up"))
    })
    .await;
    assert!(items.first().is_some_and(|first| first.3), "the first item is active: {items:?}");
    let index = items.iter().position(|(label, ..)| label == "up").unwrap_or_default();
    assert_eq!(items[index].2, "metric");
    for _ in 0..index {
        input.send_keys(Key::Down).await?;
    }
    let items = completions(driver).await?;
    assert!(items[index].3, "ArrowDown moved to `up`: {items:?}");
    input.send_keys(Key::Enter).await?;
    eventually(Duration::from_secs(5), "`up` inserted", || async { value(driver).await.ok().filter(|v| v == "up") })
        .await;

    // Functions come with their signature.
    retype(driver, "histogram_qu").await?;
    let detail = eventually(Duration::from_secs(5), "histogram_quantile offered", || async {
        let items = driver.find_all(By::Css("#expr-completions li[data-kind=function]")).await.ok()?;
        for item in items {
            if item.find(By::ClassName("completion-label")).await.ok()?.text().await.ok()? == "histogram_quantile" {
                return item.find(By::ClassName("completion-detail")).await.ok()?.text().await.ok();
            }
        }
        None
    })
    .await;
    assert_eq!(detail, "histogram_quantile(scalar, instant vector) -> instant vector");
    // Tab inserts the call with its parentheses.
    driver.query(By::Id("expr")).first().await?.send_keys(Key::Tab).await?;
    assert_eq!(value(driver).await?, "histogram_quantile()");

    // Label values of the metric before the braces, inserted quoted.
    let input = retype(driver, "up{job=\"vi").await?;
    eventually(Duration::from_secs(10), "the job label's values", || async {
        completions(driver).await.ok().filter(|items| items.iter().any(|(_, insert, ..)| insert == "\"vigil\""))
    })
    .await;
    input.send_keys(Key::Enter).await?;
    assert_eq!(value(driver).await?, "up{job=\"vigil\"");

    // Escape closes the popup.
    let input = retype(driver, "u").await?;
    eventually(Duration::from_secs(10), "the popup", || async {
        completions(driver).await.ok().filter(|items| !items.is_empty())
    })
    .await;
    input.send_keys(Key::Escape).await?;
    assert!(completions(driver).await?.is_empty(), "Escape closes the popup");

    // Format rewrites the query as the shared printer writes it, by button
    // and by Shift+Alt+F.
    retype(driver, "sum by(job)(rate(x[5m]))").await?.send_keys(Key::Escape).await?;
    driver.query(By::Id("expr-format")).first().await?.click().await?;
    assert_eq!(value(driver).await?, "sum by (job) (rate(x[5m]))");
    let input = retype(driver, "up{job='a'}+1").await?;
    input.send_keys(Key::Escape).await?;
    input.send_keys(Key::Shift + Key::Alt + "F").await?;
    assert_eq!(value(driver).await?, "up{job=\"a\"} + 1");
    // A broken query is left alone, with the parser's message.
    retype(driver, "sum(").await?.send_keys(Key::Escape).await?;
    driver.query(By::Id("expr-format")).first().await?.click().await?;
    assert_eq!(value(driver).await?, "sum(");
    assert!(driver.query(By::ClassName("query-format-error")).first().await?.text().await?.contains("parse error"));

    // Enter without a popup runs the query: it lands in the URL.
    retype(driver, "up>0").await?.send_keys(Key::Escape).await?;
    driver.query(By::Id("expr")).first().await?.send_keys(Key::Enter).await?;
    eventually(Duration::from_secs(5), "the query in the URL", || async {
        driver.current_url().await.ok().filter(|u| u.as_str().contains("expr=up%3E0"))
    })
    .await;
    Ok(())
}
