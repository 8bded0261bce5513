//! The configuration file, in Prometheus's `prometheus.yml` format.
//!
//! Users bring their existing Prometheus configuration, so field names,
//! defaults and validation follow Prometheus's. Unknown keys are errors, and
//! every error names the file and, where the YAML parser knows it, the line
//! and column.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use vigil_shared::promql::lexer::parse_duration_ms;

/// A configuration error, carrying where it was found.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub global: GlobalConfig,
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
}

/// The `global` section: defaults for every scrape config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub scrape_interval: PromDuration,
    pub scrape_timeout: PromDuration,
    pub evaluation_interval: PromDuration,
    pub external_labels: BTreeMap<String, String>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: PromDuration::from_secs(60),
            scrape_timeout: PromDuration::from_secs(10),
            evaluation_interval: PromDuration::from_secs(60),
            external_labels: BTreeMap::new(),
        }
    }
}

/// One `scrape_configs` entry (a "job").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub scrape_interval: Option<PromDuration>,
    pub scrape_timeout: Option<PromDuration>,
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
}

fn default_metrics_path() -> String {
    "/metrics".to_owned()
}

fn default_scheme() -> String {
    "http".to_owned()
}

fn default_true() -> bool {
    true
}

/// A fixed list of targets sharing extra labels.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A duration written as Prometheus writes them: `15s`, `1m30s`, `100ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PromDuration(pub Duration);

impl PromDuration {
    pub const fn from_secs(secs: u64) -> Self {
        PromDuration(Duration::from_secs(secs))
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "0" {
            return Ok(PromDuration(Duration::ZERO));
        }
        parse_duration_ms(&text)
            .and_then(|ms| u64::try_from(ms).ok())
            .map(|ms| PromDuration(Duration::from_millis(ms)))
            .ok_or_else(|| serde::de::Error::custom(format!("not a valid duration string: {text:?}")))
    }
}

impl ScrapeConfig {
    /// The interval, falling back to the global one.
    pub fn interval(&self, global: &GlobalConfig) -> Duration {
        self.scrape_interval.unwrap_or(global.scrape_interval).0
    }

    /// The timeout, falling back to the global one but never above the
    /// interval (Prometheus's rule when only the interval is set per job).
    pub fn timeout(&self, global: &GlobalConfig) -> Duration {
        match self.scrape_timeout {
            Some(t) => t.0,
            None => global.scrape_timeout.0.min(self.interval(global)),
        }
    }
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Config::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` is used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        // An empty file is a valid, empty configuration, as in Prometheus.
        let config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| {
                let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
                // The library appends its own " at line L column C"; we
                // already put the position first, as compilers do.
                let message = e.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
                ConfigError::Syntax { path: path.to_owned(), line, column, message }
            })?
        };
        config.validate(text, path)?;
        Ok(config)
    }

    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let invalid = |needle: &str, message: String| match line_of(text, needle) {
            Some(line) => ConfigError::Syntax { path: path.to_owned(), line, column: 1, message },
            None => ConfigError::Invalid { path: path.to_owned(), message },
        };
        if self.global.scrape_timeout > self.global.scrape_interval {
            return Err(invalid("scrape_timeout", "global scrape timeout greater than scrape interval".to_owned()));
        }
        let mut seen = std::collections::HashSet::new();
        for job in &self.scrape_configs {
            let here = format!("job_name: {}", job.job_name);
            if job.job_name.is_empty() {
                return Err(invalid("job_name", "job_name is empty".to_owned()));
            }
            if !seen.insert(job.job_name.as_str()) {
                return Err(invalid(&here, format!("found multiple scrape configs with job name {:?}", job.job_name)));
            }
            if job.timeout(&self.global) > job.interval(&self.global) {
                return Err(invalid(
                    &here,
                    format!(
                        "scrape timeout greater than scrape interval for scrape config with job name {:?}",
                        job.job_name
                    ),
                ));
            }
            if job.scheme != "http" && job.scheme != "https" {
                return Err(invalid(
                    &here,
                    format!("invalid scheme {:?} for job {:?}: must be http or https", job.scheme, job.job_name),
                ));
            }
            if !job.metrics_path.starts_with('/') {
                return Err(invalid(
                    &here,
                    format!("metrics_path {:?} for job {:?} must start with /", job.metrics_path, job.job_name),
                ));
            }
            for target in job.static_configs.iter().flat_map(|s| &s.targets) {
                if target.is_empty() || target.contains('/') || target.contains(char::is_whitespace) {
                    return Err(invalid(target, format!("{target:?} is not a valid hostname:port target")));
                }
            }
        }
        Ok(())
    }
}

/// The 1-based line where `needle` first appears, to point validation errors
/// (found after parsing, when YAML positions are gone) at the right place.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|line| line.contains(needle)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.yml"))
    }

    #[test]
    fn defaults_follow_prometheus() {
        let config =
            parse("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['localhost:9090']\n")
                .unwrap();
        let job = &config.scrape_configs[0];
        assert_eq!(job.interval(&config.global), Duration::from_secs(60));
        assert_eq!(job.timeout(&config.global), Duration::from_secs(10));
        assert_eq!(job.metrics_path, "/metrics");
        assert_eq!(job.scheme, "http");
        assert!(job.honor_timestamps && !job.honor_labels);
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn durations_and_timeout_fallback() {
        let config =
            parse("global:\n  scrape_interval: 1m30s\nscrape_configs:\n  - job_name: fast\n    scrape_interval: 5s\n")
                .unwrap();
        assert_eq!(config.global.scrape_interval.0, Duration::from_secs(90));
        let job = &config.scrape_configs[0];
        assert_eq!(job.interval(&config.global), Duration::from_secs(5));
        assert_eq!(job.timeout(&config.global), Duration::from_secs(5), "timeout capped at the interval");
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            ("global:\n  scrape_interval: 15s\n  bogus: 1\n", "test.yml:3:3: global: unknown field `bogus`"),
            ("global:\n  scrape_interval: fast\n", "test.yml:2:3: global: not a valid duration string: \"fast\""),
            (
                "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
                "test.yml:2:1: found multiple scrape configs with job name \"a\"",
            ),
            (
                "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
                "test.yml:2:1: scrape timeout greater than scrape interval",
            ),
            (
                "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['http://x/']\n",
                "test.yml:4:1: \"http://x/\" is not a valid",
            ),
            ("scrape_configs: [\n", "test.yml:2:1:"),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with(want), "config {text:?}\n got: {err}\nwant: {want}");
        }
    }

    #[test]
    fn missing_file_names_the_file() {
        let err = Config::load(Path::new("/nonexistent/vigil.yml")).unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/vigil.yml: cannot read:"), "{err}");
    }
}
