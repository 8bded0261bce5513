//! The browser end-to-end test: Debian's headless Chromium, driven through
//! chromedriver, loads the dashboard app from a real `vigil` process and
//! checks that the time-series panel drew Vigil's own data: the panel says
//! it drew points, and the canvas really has coloured line pixels on it.
//!
//! Needs `chromium` and `chromium-driver` (`cargo xtask test` installs them)
//! and a vigil built with the app embedded (`cargo xtask test` builds it).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Vigil, free_port, temp_dir};
use thirtyfour::prelude::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a free port, killed on drop.
struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    fn start() -> ChromeDriver {
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned());
        for (path, package) in [(binary.as_str(), "chromium-driver"), (CHROMIUM, "chromium")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install it with `apt-get install -y {package}` (or run `cargo xtask setup --test-packages`)"
            );
        }
        let port = free_port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let driver = ChromeDriver { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser's profile folder. On drop it ends every Chromium process
/// started with it (a failed assertion skips `quit`, and killing
/// chromedriver leaves the browser running) and removes the folder.
struct BrowserProfile(std::path::PathBuf);

impl Drop for BrowserProfile {
    fn drop(&mut self) {
        let _ = Command::new("pkill").arg("-f").arg(self.0.as_os_str()).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Counts pixels of the canvas in the colour of the first series (its
/// legend swatch's colour, give or take antialiasing): only the series line
/// is drawn in it. -1 without canvas, -2 without legend swatch.
const COUNT_COLOURED_PIXELS: &str = r#"
const canvas = document.getElementById('panel-0-canvas');
if (!canvas) { return -1; }
const swatch = document.querySelector('#panel-0 .legend .swatch');
if (!swatch) { return -2; }
const rgb = getComputedStyle(swatch).backgroundColor.match(/\d+/g).map(Number);
const ctx = canvas.getContext('2d');
const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
let coloured = 0;
for (let i = 0; i < data.length; i += 4) {
  if (data[i + 3] < 128) continue;
  const d = Math.abs(data[i] - rgb[0]) + Math.abs(data[i + 1] - rgb[1]) + Math.abs(data[i + 2] - rgb[2]);
  if (d < 30) coloured++;
}
return coloured;
"#;

#[tokio::test]
async fn dashboard_panel_draws_live_data() -> WebDriverResult<()> {
    assert!(
        vigil::web::ui_is_embedded(),
        "the dashboard app is not built into vigil: run `cargo xtask test` (it builds dist/ with trunk before compiling the tests)"
    );
    let vigil = Vigil::start_scraping_itself();
    let chromedriver = ChromeDriver::start();

    let profile = BrowserProfile(temp_dir("vigil-chromium"));
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM)?;
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ] {
        caps.add_arg(arg)?;
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.0.display()))?;
    let started = Instant::now();
    let driver = WebDriver::new(format!("http://127.0.0.1:{}", chromedriver.port), caps).await?;
    eprintln!("browser session started in {:?}", started.elapsed());

    let outcome = check_panel(&driver, &vigil).await;
    eprintln!("panel checks done after {:?}", started.elapsed());
    let _ = driver.quit().await;
    outcome
}

async fn check_panel(driver: &WebDriver, vigil: &Vigil) -> WebDriverResult<()> {
    // A one-minute range, so a few seconds of self-scrapes span many pixels.
    driver.goto(vigil.url("/?expr=process_resident_memory_bytes&from=now-1m")).await?;
    assert_eq!(driver.title().await?, "Vigil");

    // The panel refreshes every few seconds; wait until it has drawn at
    // least five points of the self-scrape.
    let deadline = Instant::now() + Duration::from_secs(45);
    let panel = loop {
        // The panel body (frontend/src/panels) reports what it drew.
        let panel = driver.find(By::Css("#panel-0 .panel-body")).await?;
        let state = panel.attr("data-state").await?.unwrap_or_default();
        let points: usize = panel.attr("data-points").await?.and_then(|p| p.parse().ok()).unwrap_or(0);
        if state == "drawn" && points >= 5 {
            break panel;
        }
        if Instant::now() > deadline {
            let error = match driver.find(By::ClassName("panel-error")).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("panel never drew data: data-state={state:?} data-points={points} error={error:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(panel.attr("data-series").await?.as_deref(), Some("1"), "one series: Vigil's own RSS");

    let coloured: i64 = driver.execute(COUNT_COLOURED_PIXELS, Vec::new()).await?.convert()?;
    assert!(coloured > 50, "the canvas has only {coloured} coloured pixels: no series line was drawn");

    let legend = panel.text().await?;
    assert!(legend.contains("job=\"vigil\""), "legend lacks the series labels: {legend:?}");

    // The expression box drives the panel: a query for a missing metric
    // draws no series, and a bad one shows the parser's error.
    let input = driver.find(By::Id("expr")).await?;
    input.clear().await?;
    input.send_keys("up{\n").await?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let state = panel.attr("data-state").await?.unwrap_or_default();
        if state == "error" {
            let error = driver.find(By::ClassName("panel-error")).await?.text().await?;
            assert!(error.contains("parse error"), "{error:?}");
            break;
        }
        assert!(Instant::now() < deadline, "a bad query never showed an error (state {state:?})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
