//! Compatibility with Prometheus's own checker: every bundled example
//! config passes Debian's `promtool check config` and loads in Vigil, so what
//! Vigil accepts Prometheus accepts too.

use std::path::{Path, PathBuf};
use std::process::Command;

use vigil::config::Config;

const PROMTOOL: &str = "/usr/bin/promtool";

fn example_configs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut configs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        // Alertmanager's config, not Prometheus's: `amtool check-config`
        // checks it (tests/alerting.rs).
        .filter(|p| p.file_name().is_some_and(|n| n != "alertmanager.yml"))
        .collect();
    configs.sort();
    configs
}

#[test]
fn example_configs_pass_promtool_and_vigil() {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: install it with `apt-get install -y prometheus` (or run `cargo xtask setup --test-packages`)"
    );
    let configs = example_configs();
    assert!(configs.len() >= 2, "expected the bundled example configs, found {configs:?}");
    for config in &configs {
        let output = Command::new(PROMTOOL).args(["check", "config"]).arg(config).output().expect("run promtool");
        assert!(
            output.status.success(),
            "promtool refuses {}:\n{}{}",
            config.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let loaded = Config::load(config).unwrap_or_else(|e| panic!("Vigil refuses {}: {e}", config.display()));
        assert!(!loaded.scrape_configs.is_empty(), "{}", config.display());
    }
}

#[test]
fn promtool_and_vigil_both_refuse_a_bad_relabel_rule() {
    assert!(Path::new(PROMTOOL).exists(), "{PROMTOOL} is missing: install it with `apt-get install -y prometheus`");
    let dir = std::env::temp_dir().join(format!("vigil-promtool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases = [
        (
            "hashmod without modulus",
            "  - job_name: a\n    relabel_configs:\n      - {action: hashmod, source_labels: [x], target_label: y}\n",
        ),
        ("unknown action", "  - job_name: a\n    relabel_configs:\n      - {action: explode}\n"),
        ("timeout above interval", "  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n"),
        ("duplicate job", "  - job_name: a\n  - job_name: a\n"),
        ("unknown field", "  - job_name: a\n    scrape_intervall: 5s\n"),
    ];
    for (what, jobs) in cases {
        let path = dir.join("bad.yml");
        std::fs::write(&path, format!("scrape_configs:\n{jobs}")).expect("write config");
        let promtool = Command::new(PROMTOOL).args(["check", "config"]).arg(&path).output().expect("run promtool");
        assert!(!promtool.status.success(), "{what}: promtool accepted it");
        assert!(Config::load(&path).is_err(), "{what}: Vigil accepted it");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
