//! Headless Chromium for the browser tests and the dashboard bench:
//! Debian's chromium driven through chromedriver (thirtyfour), each on a
//! free port with its own profile folder, all stopped on drop.
//!
//! Needs `chromium` and `chromium-driver` (`cargo xtask setup
//! --test-packages` installs them).

#![allow(dead_code)] // The tests and the bench use different parts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thirtyfour::prelude::*;

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port on 127.0.0.1");
    listener.local_addr().expect("local address").port()
}

/// chromedriver on a free port, killed on drop.
pub struct ChromeDriver {
    child: Child,
    pub port: u16,
}

impl ChromeDriver {
    /// Starts chromedriver with `tmp` as its and its browser's temporary
    /// folder: both leave `org.chromium.Chromium.scoped_dir.*` folders
    /// there that nobody removes when the processes are killed, so they
    /// must land in the test's own profile folder, removed on drop.
    pub fn start(tmp: &Path) -> ChromeDriver {
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned());
        for (path, package) in [(binary.as_str(), "chromium-driver"), (CHROMIUM, "chromium")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install it with `apt-get install -y {package}` (or run `cargo xtask setup --test-packages`)"
            );
        }
        let port = free_port();
        std::fs::create_dir_all(tmp).unwrap_or_else(|e| panic!("cannot create {}: {e}", tmp.display()));
        let child = Command::new(&binary)
            .env("TMPDIR", tmp)
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
pub struct BrowserProfile(pub PathBuf);

impl Drop for BrowserProfile {
    fn drop(&mut self) {
        // The pattern is this test's unique profile path: only its own
        // browser processes match.
        let _ = Command::new("pkill").arg("-f").arg(self.0.as_os_str()).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A headless Chromium session; quits and cleans up on drop (also when a
/// test fails half-way).
pub struct Browser {
    pub driver: WebDriver,
    _profile: BrowserProfile,
    _chromedriver: ChromeDriver,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width`×`height`
    /// window.
    pub async fn start(width: u32, height: u32) -> WebDriverResult<Browser> {
        let unique = format!(
            "vigil-chromium-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        );
        let profile = BrowserProfile(std::env::temp_dir().join(unique));
        std::fs::create_dir_all(&profile.0).expect("create the browser profile folder");
        let chromedriver = ChromeDriver::start(&profile.0.join("tmp"));
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
            // performance.memory reports real figures only with this.
            "--enable-precise-memory-info",
            // So the heap bench can collect garbage before it reads the heap.
            "--js-flags=--expose-gc",
        ] {
            caps.add_arg(arg)?;
        }
        caps.add_arg(&format!("--window-size={width},{height}"))?;
        caps.add_arg(&format!("--user-data-dir={}", profile.0.display()))?;
        let driver = WebDriver::new(format!("http://127.0.0.1:{}", chromedriver.port), caps).await?;
        Ok(Browser { driver, _profile: profile, _chromedriver: chromedriver })
    }

    /// Ends the session politely (the drop kills whatever is left).
    pub async fn quit(self) {
        let Browser { driver, _profile, _chromedriver } = self;
        let _ = driver.quit().await;
    }
}

/// Counts the pixels of a panel's canvas in the colour of its first series
/// (its legend swatch's colour, give or take antialiasing): only the series
/// line is drawn in it. The argument is the panel frame's selector
/// (`#panel-0`); -1 without canvas, -2 without legend swatch.
pub const COUNT_COLOURED_PIXELS: &str = r#"
const canvas = document.querySelector(arguments[0] + ' canvas');
if (!canvas) { return -1; }
const swatch = document.querySelector(arguments[0] + ' .legend .swatch');
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

/// Every panel body's state on the page: (frame id, data-state,
/// data-series, data-points, error text).
pub const PANEL_STATES: &str = r#"
return Array.from(document.querySelectorAll('section.panel')).map(frame => {
  const body = frame.querySelector('[data-state]');
  const error = frame.querySelector('.panel-error');
  return [
    frame.id,
    body ? body.getAttribute('data-state') : 'none',
    body ? Number(body.getAttribute('data-series') || 0) : 0,
    body ? Number(body.getAttribute('data-points') || 0) : 0,
    error ? error.textContent : '',
  ];
});
"#;

/// One panel as [`PANEL_STATES`] reports it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct PanelReport(pub String, pub String, pub u64, pub u64, pub String);

pub async fn panel_reports(driver: &WebDriver) -> WebDriverResult<Vec<PanelReport>> {
    driver.execute(PANEL_STATES, Vec::new()).await?.convert()
}

/// A title that runs script if it ever reaches the DOM as HTML.
pub const XSS_TITLE: &str = r#"<img src=x onerror="window.__xss=1">"#;

/// A dashboard full of script (uid `xss-test`): the title, a text panel
/// (`#panel-1`) with `<script>`, `javascript:` links and an `onerror`
/// image, and HTML in a legend format. Shared by the share-link and the
/// import tests.
pub fn xss_dashboard() -> Value {
    json!({"uid": "xss-test", "title": XSS_TITLE, "time": {"from": "now-15m", "to": "now"},
    "panels": [
        {"id": 1, "type": "text", "title": XSS_TITLE, "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
         "options": {"mode": "markdown", "content":
            "<script>window.__xss=1</script>\n\n[click](javascript:window.__xss=1)\n\n<img src=x onerror=\"window.__xss=1\">\n\n<a href=\"javascript:window.__xss=1\">html link</a>"}},
        {"id": 2, "type": "timeseries", "title": "Legend", "gridPos": {"x": 12, "y": 0, "w": 12, "h": 8},
         "targets": [{"refId": "A", "expr": "up", "legendFormat": "<b onmouseover=\"window.__xss=1\">{{job}}</b>"}]}
    ]})
}

/// `window.__xss`, or null while no script from a dashboard has run.
pub async fn xss_flag(driver: &WebDriver) -> WebDriverResult<Value> {
    Ok(driver
        .execute("return typeof window.__xss === 'undefined' ? null : window.__xss;", vec![])
        .await?
        .json()
        .clone())
}

/// Clicks every link of the text panel (a `javascript:` one would run
/// there), then checks nothing ran and the title is shown as text.
pub async fn check_no_script(driver: &WebDriver, how: &str) -> WebDriverResult<()> {
    let title = driver.query(By::Css("#panel-1 .panel-title")).first().await?;
    assert_eq!(title.text().await?, XSS_TITLE, "{how}: the title should appear as text");
    for link in driver.find_all(By::Css("#panel-1 a")).await? {
        let _ = link.click().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(xss_flag(driver).await?, Value::Null, "{how}: script from the dashboard ran");
    let images = driver.find_all(By::Css("img[src='x']")).await?;
    assert!(images.is_empty(), "{how}: an <img> from the dashboard was inserted as HTML");
    Ok(())
}
