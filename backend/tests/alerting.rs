//! Alerting end to end: a `vigil` evaluating an alerting rule every second
//! sends the alert to Debian's real `prometheus-alertmanager`, where
//! `amtool alert query` finds it with Vigil's labels, external labels and
//! annotations; when the rule stops firing, the resolution reaches
//! Alertmanager too.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Vigil, eventually, free_port, temp_dir};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const AMTOOL: &str = "/usr/bin/amtool";

fn require(tool: &str) {
    assert!(
        Path::new(tool).exists(),
        "{tool} is missing: install it with `apt-get install prometheus-alertmanager` (or run `cargo xtask test`, which does)"
    );
}

/// A running Alertmanager, killed by PID when dropped.
struct Alertmanager {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Alertmanager {
    fn start(config: &str) -> Alertmanager {
        require(ALERTMANAGER);
        let dir = temp_dir("vigil-am");
        std::fs::write(dir.join("alertmanager.yml"), config).expect("write alertmanager.yml");
        let port = free_port();
        let child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No gossip: a lone instance on this machine.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-alertmanager");
        Alertmanager { child, port, dir }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `amtool alert query` with extra arguments, as JSON.
    fn query(&self, args: &[&str]) -> Option<serde_json::Value> {
        require(AMTOOL);
        let output = Command::new(AMTOOL)
            .arg(format!("--alertmanager.url={}", self.url()))
            .args(["-o", "json", "alert", "query"])
            .args(args)
            .output()
            .expect("run amtool");
        if !output.status.success() {
            return None;
        }
        serde_json::from_slice(&output.stdout).ok()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const AM_CONFIG: &str = "route:\n  receiver: nobody\n  group_wait: 1s\nreceivers:\n  - name: nobody\n";

#[tokio::test]
async fn alerts_reach_the_real_alertmanager_and_resolve() {
    let am = Alertmanager::start(AM_CONFIG);
    let port = free_port();
    let dir = temp_dir("vigil-alerting");
    // Fires at once; a reload later makes it stop.
    let rules = r#"groups:
  - name: g
    rules:
      - alert: VigilTestAlert
        expr: absent(nonexistent_metric)
        labels:
          severity: page
        annotations:
          summary: "value {{ $value }}"
"#;
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    let config_path = dir.join("vigil.yml");
    std::fs::write(
        &config_path,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n  external_labels: {{cluster: test}}\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{}']}}]\nscrape_configs:\n  - job_name: vigil\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
            am.port
        ),
    )
    .unwrap();
    let vigil = Vigil::start_with_config_file(port, &config_path);

    let alert = eventually(Duration::from_secs(30), "the alert in amtool alert query", || async {
        let alerts = am.query(&["alertname=VigilTestAlert"])?;
        alerts.as_array()?.first().cloned()
    })
    .await;
    assert_eq!(alert["labels"]["alertname"], "VigilTestAlert");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["cluster"], "test", "external labels are added");
    assert_eq!(alert["annotations"]["summary"], "value 1");
    assert_eq!(alert["status"]["state"], "active");
    let generator = alert["generatorURL"].as_str().unwrap_or("");
    assert!(generator.contains("/graph?g0.expr=absent%28nonexistent_metric%29"), "generator URL {generator}");
    // Firing alerts are valid for 4 × max(resend delay 1m, interval 1s).
    let starts = alert["startsAt"].as_str().unwrap_or("");
    let ends = alert["endsAt"].as_str().unwrap_or("");
    assert!(ends > starts, "endsAt {ends} after startsAt {starts}");

    // Vigil's own metrics count the sent alert.
    let metrics = reqwest::get(vigil.url("/metrics")).await.unwrap().text().await.unwrap();
    let sent_line = format!("prometheus_notifications_sent_total{{alertmanager=\"{}/api/v2/alerts\"}}", am.url());
    assert!(
        metrics.lines().any(|l| l.starts_with(&sent_line) && !l.ends_with(" 0")),
        "no {sent_line} > 0 in\n{metrics}"
    );

    // Make the rule stop firing: the resolution is sent at once, and
    // Alertmanager no longer lists the alert as active.
    std::fs::write(dir.join("rules.yml"), rules.replace("absent(nonexistent_metric)", "absent(up)")).unwrap();
    let reload = reqwest::Client::new().post(vigil.url("/-/reload")).send().await.unwrap();
    assert!(reload.status().is_success(), "reload: {}", reload.status());
    eventually(Duration::from_secs(30), "the alert resolved in Alertmanager", || async {
        let active = am.query(&["alertname=VigilTestAlert"])?;
        active.as_array()?.is_empty().then_some(())
    })
    .await;
    drop(vigil);
}
