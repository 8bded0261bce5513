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
    pub fn start() -> ChromeDriver {
        ChromeDriver::start_with_temp(None)
    }

    /// Starts chromedriver with `TMPDIR` set to `temp` (when given): the
    /// browser it starts inherits it, so Chromium's own
    /// `org.chromium.Chromium.scoped_dir.*` folders land there instead of
    /// piling up in /tmp when a browser is killed before it cleans up.
    pub fn start_with_temp(temp: Option<&Path>) -> ChromeDriver {
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned());
        for (path, package) in [(binary.as_str(), "chromium-driver"), (CHROMIUM, "chromium")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install it with `apt-get install -y {package}` (or run `cargo xtask setup --test-packages`)"
            );
        }
        let port = free_port();
        let mut command = Command::new(&binary);
        if let Some(temp) = temp {
            command.env("TMPDIR", temp);
        }
        let child = command
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
        // Chromium's temporary folders go inside the profile folder, which
        // the drop removes.
        let temp = profile.0.join("tmp");
        std::fs::create_dir_all(&temp).expect("create the browser's temp folder");
        let user_data = profile.0.join("user-data");
        let chromedriver = ChromeDriver::start_with_temp(Some(&temp));
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
        caps.add_arg(&format!("--user-data-dir={}", user_data.display()))?;
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
