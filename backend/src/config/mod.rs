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

use crate::scrape::relabel::RelabelConfig;

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
    /// Rule file globs; relative ones are made relative to the config
    /// file's folder when it is loaded, as Prometheus does.
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// Where alerts go: the Alertmanagers to notify.
    #[serde(default)]
    pub alerting: AlertingConfig,
    /// The `storage` section: runtime settings of the database.
    #[serde(default)]
    pub storage: StorageConfig,
}

/// The `storage` section; only `tsdb` so far.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub tsdb: TsdbConfig,
}

/// `storage.tsdb`, applied at start and on every reload.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsdbConfig {
    /// How far back from the newest sample an out-of-order sample is still
    /// accepted; 0 (the default) refuses them all.
    #[serde(default = "zero_duration")]
    pub out_of_order_time_window: PromDuration,
}

impl Default for TsdbConfig {
    fn default() -> Self {
        TsdbConfig { out_of_order_time_window: zero_duration() }
    }
}

fn zero_duration() -> PromDuration {
    PromDuration::from_secs(0)
}

/// The `alerting` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Applied to every alert before it is queued for any Alertmanager.
    #[serde(default)]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// One `alertmanagers` entry: a set of Alertmanagers sharing how they are
/// reached. The HTTP client fields are those of a scrape config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Put before `/api/v2/alerts`.
    #[serde(default)]
    pub path_prefix: String,
    #[serde(default = "default_alertmanager_timeout")]
    pub timeout: PromDuration,
    /// Only `v2` exists since Prometheus 2.x dropped v1.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Applied to the discovered Alertmanagers (`__address__`, `__scheme__`,
    /// `__alerts_path__`), as scrape relabeling is to targets.
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Applied to alerts sent to this set only.
    #[serde(default)]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub tls_config: Option<TlsConfig>,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// Accepted for compatibility; requests use HTTP/1.1.
    #[serde(default = "default_true")]
    pub enable_http2: bool,
}

fn default_alertmanager_timeout() -> PromDuration {
    PromDuration::from_secs(10)
}

fn default_api_version() -> String {
    "v2".to_owned()
}

/// The `global` section: defaults for every scrape config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub scrape_interval: PromDuration,
    pub scrape_timeout: PromDuration,
    pub evaluation_interval: PromDuration,
    pub external_labels: BTreeMap<String, String>,
    /// Defaults for the per-job limits below (0 = no limit).
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub target_limit: u64,
    pub body_size_limit: ByteSize,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: PromDuration::from_secs(60),
            scrape_timeout: PromDuration::from_secs(10),
            evaluation_interval: PromDuration::from_secs(60),
            external_labels: BTreeMap::new(),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            target_limit: 0,
            body_size_limit: ByteSize(0),
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
    /// Query parameters added to the scrape URL.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Per-scrape limits; unset means the global value (0 = no limit). A
    /// scrape over a limit fails whole, as in Prometheus.
    pub sample_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub target_limit: Option<u64>,
    pub body_size_limit: Option<ByteSize>,
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    /// The older spelling of `authorization` that Prometheus still accepts;
    /// turned into an `authorization` of type Bearer after validation.
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<PathBuf>,
    pub tls_config: Option<TlsConfig>,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    #[serde(default = "default_true")]
    pub enable_compression: bool,
    /// Accepted for compatibility; scrapes use HTTP/1.1.
    #[serde(default = "default_true")]
    pub enable_http2: bool,
    /// How many dropped targets to keep for the targets API (0 = all).
    #[serde(default)]
    pub keep_dropped_targets: u64,
}

/// `basic_auth`: a user name and a password, inline or from a file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default)]
    pub username: String,
    pub username_file: Option<PathBuf>,
    #[serde(default)]
    pub password: String,
    pub password_file: Option<PathBuf>,
}

/// `authorization`: an `Authorization: <type> <credentials>` header.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default = "default_auth_type", rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub credentials: String,
    pub credentials_file: Option<PathBuf>,
}

fn default_auth_type() -> String {
    "Bearer".to_owned()
}

/// `tls_config`: how to trust the target and identify to it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub ca: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub cert: Option<String>,
    pub cert_file: Option<PathBuf>,
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    pub min_version: Option<String>,
}

/// `file_sd_configs`: targets listed in JSON or YAML files.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    pub files: Vec<String>,
    #[serde(default = "default_file_sd_refresh")]
    pub refresh_interval: PromDuration,
}

fn default_file_sd_refresh() -> PromDuration {
    PromDuration::from_secs(300)
}

/// A size such as `10MB` (Prometheus's base-2 units: 1KB = 1024 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor rather than an untagged enum, so errors keep their line.
        struct SizeVisitor;
        impl serde::de::Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 512KB, 10MB or 1GB")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ByteSize, E> {
                parse_byte_size(text)
                    .map(ByteSize)
                    .ok_or_else(|| E::custom(format!("not a valid size: {text:?} (e.g. 512KB, 10MB, 1GB)")))
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

fn parse_byte_size(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let shift = match unit {
        "" | "B" => 0,
        "KB" | "KiB" => 10,
        "MB" | "MiB" => 20,
        "GB" | "GiB" => 30,
        "TB" | "TiB" => 40,
        "PB" | "PiB" => 50,
        "EB" | "EiB" => 60,
        _ => return None,
    };
    n.checked_mul(1u64.checked_shl(shift)?)
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
        f.write_str(&format_duration(self.0))
    }
}

/// Formats a duration as Prometheus does (`1m30s`, `500ms`, `90d`, `0s`):
/// years and weeks only when they divide it exactly.
pub fn format_duration(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    const DAY: u128 = 86_400_000;
    let units: [(&str, u128, bool); 7] = [
        ("y", 365 * DAY, true),
        ("w", 7 * DAY, true),
        ("d", DAY, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    let mut out = String::new();
    for (unit, size, exact) in units {
        if exact && !ms.is_multiple_of(size) {
            continue;
        }
        let count = ms / size;
        if count > 0 {
            out.push_str(&format!("{count}{unit}"));
            ms -= count * size;
        }
    }
    out
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
        Config::load_with_text(path).map(|(config, _)| config)
    }

    /// As [`Config::load`], also returning the text that was read, so what
    /// the server shows as its configuration is exactly what it applied.
    pub fn load_with_text(path: &Path) -> Result<(Config, String), ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let mut config = Config::parse(&text, path)?;
        if let Some(dir) = path.parent() {
            config.resolve_paths(dir);
        }
        Ok((config, text))
    }

    /// Makes file paths in the config relative to the config file's folder,
    /// as Prometheus does, so a config works from any working directory.
    fn resolve_paths(&mut self, dir: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        for pattern in &mut self.rule_files {
            if Path::new(pattern).is_relative() {
                *pattern = dir.join(&*pattern).to_string_lossy().into_owned();
            }
        }
        for am in &mut self.alerting.alertmanagers {
            for pattern in am.file_sd_configs.iter_mut().flat_map(|f| f.files.iter_mut()) {
                if Path::new(pattern).is_relative() {
                    *pattern = dir.join(&*pattern).to_string_lossy().into_owned();
                }
            }
            if let Some(auth) = &mut am.basic_auth {
                auth.username_file.iter_mut().chain(auth.password_file.iter_mut()).for_each(join);
            }
            if let Some(auth) = &mut am.authorization {
                auth.credentials_file.iter_mut().for_each(join);
            }
            if let Some(tls) = &mut am.tls_config {
                tls.ca_file.iter_mut().chain(tls.cert_file.iter_mut()).chain(tls.key_file.iter_mut()).for_each(join);
            }
        }
        for job in &mut self.scrape_configs {
            for file_sd in &mut job.file_sd_configs {
                for pattern in &mut file_sd.files {
                    if Path::new(pattern).is_relative() {
                        *pattern = dir.join(&*pattern).to_string_lossy().into_owned();
                    }
                }
            }
            if let Some(auth) = &mut job.basic_auth {
                auth.username_file.iter_mut().chain(auth.password_file.iter_mut()).for_each(join);
            }
            if let Some(auth) = &mut job.authorization {
                auth.credentials_file.iter_mut().for_each(join);
            }
            if let Some(tls) = &mut job.tls_config {
                tls.ca_file.iter_mut().chain(tls.cert_file.iter_mut()).chain(tls.key_file.iter_mut()).for_each(join);
            }
        }
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
        let mut config = config;
        for job in &mut config.scrape_configs {
            if let Some(credentials) = job.bearer_token.take() {
                job.authorization =
                    Some(Authorization { kind: default_auth_type(), credentials, credentials_file: None });
            }
            if let Some(file) = job.bearer_token_file.take() {
                job.authorization = Some(Authorization {
                    kind: default_auth_type(),
                    credentials: String::new(),
                    credentials_file: Some(file),
                });
            }
        }
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
            for (i, relabel) in job.relabel_configs.iter().chain(&job.metric_relabel_configs).enumerate() {
                relabel
                    .validate()
                    .map_err(|e| invalid(&here, format!("job {:?}, relabel rule {}: {e}", job.job_name, i + 1)))?;
            }
            if let Some(auth) = &job.authorization {
                if auth.kind.eq_ignore_ascii_case("basic") {
                    return Err(invalid(
                        &here,
                        format!(
                            "job {:?}: authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                            job.job_name
                        ),
                    ));
                }
                if !auth.credentials.is_empty() && auth.credentials_file.is_some() {
                    return Err(invalid(
                        &here,
                        format!(
                            "job {:?}: at most one of authorization credentials & credentials_file must be configured",
                            job.job_name
                        ),
                    ));
                }
            }
            let bearer = job.bearer_token.is_some() || job.bearer_token_file.is_some();
            if job.bearer_token.is_some() && job.bearer_token_file.is_some() {
                return Err(invalid(
                    &here,
                    format!(
                        "job {:?}: at most one of bearer_token & bearer_token_file must be configured",
                        job.job_name
                    ),
                ));
            }
            if job.authorization.is_some() && bearer {
                return Err(invalid(
                    &here,
                    format!(
                        "job {:?}: authorization is not compatible with bearer_token & bearer_token_file",
                        job.job_name
                    ),
                ));
            }
            if job.basic_auth.is_some() && (job.authorization.is_some() || bearer) {
                return Err(invalid(
                    &here,
                    format!(
                        "job {:?}: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
                        job.job_name
                    ),
                ));
            }
            if let Some(auth) = &job.basic_auth {
                if !auth.password.is_empty() && auth.password_file.is_some() {
                    return Err(invalid(
                        &here,
                        format!(
                            "job {:?}: at most one of basic_auth password & password_file must be configured",
                            job.job_name
                        ),
                    ));
                }
                if !auth.username.is_empty() && auth.username_file.is_some() {
                    return Err(invalid(
                        &here,
                        format!(
                            "job {:?}: at most one of basic_auth username & username_file must be configured",
                            job.job_name
                        ),
                    ));
                }
            }
            for pattern in job.file_sd_configs.iter().flat_map(|f| &f.files) {
                if !is_valid_file_sd_pattern(pattern) {
                    return Err(invalid(pattern, format!("path name {pattern:?} is not valid for file discovery")));
                }
            }
        }
        for (i, relabel) in self.alerting.alert_relabel_configs.iter().enumerate() {
            relabel
                .validate()
                .map_err(|e| invalid("alert_relabel_configs", format!("alert relabel rule {}: {e}", i + 1)))?;
        }
        for am in &self.alerting.alertmanagers {
            if am.api_version != "v2" {
                return Err(invalid(
                    "api_version",
                    format!("expected Alertmanager api version to be one of [v2] but got {:?}", am.api_version),
                ));
            }
            if am.scheme != "http" && am.scheme != "https" {
                return Err(invalid(
                    "scheme",
                    format!("invalid Alertmanager scheme {:?}: must be http or https", am.scheme),
                ));
            }
            for relabel in am.relabel_configs.iter().chain(&am.alert_relabel_configs) {
                relabel
                    .validate()
                    .map_err(|e| invalid("relabel_configs", format!("alertmanager relabel rule: {e}")))?;
            }
            if am.basic_auth.is_some() && am.authorization.is_some() {
                return Err(invalid(
                    "basic_auth",
                    "at most one of basic_auth, oauth2 & authorization must be configured".to_owned(),
                ));
            }
            for pattern in am.file_sd_configs.iter().flat_map(|f| &f.files) {
                if !is_valid_file_sd_pattern(pattern) {
                    return Err(invalid(pattern, format!("path name {pattern:?} is not valid for file discovery")));
                }
            }
        }
        Ok(())
    }
}

/// Prometheus's rule for file_sd paths: a glob only in the last element,
/// and a `.json`, `.yml` or `.yaml` extension.
fn is_valid_file_sd_pattern(pattern: &str) -> bool {
    let Some(star) = pattern.find('*') else {
        return has_sd_extension(pattern);
    };
    !pattern[star..].contains('/') && has_sd_extension(pattern)
}

fn has_sd_extension(pattern: &str) -> bool {
    [".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"].iter().any(|ext| pattern.ends_with(ext))
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
    fn legacy_bearer_token_keys_become_authorization() {
        let job = |extra: &str| format!("scrape_configs:\n  - job_name: a\n{extra}");
        let config = parse(&job("    bearer_token: secret\n")).unwrap();
        let auth = config.scrape_configs[0].authorization.clone().unwrap();
        assert_eq!((auth.kind.as_str(), auth.credentials.as_str(), auth.credentials_file), ("Bearer", "secret", None));
        let config = parse(&job("    bearer_token_file: /run/token\n")).unwrap();
        let auth = config.scrape_configs[0].authorization.clone().unwrap();
        assert_eq!(auth.credentials_file, Some(PathBuf::from("/run/token")));
        let refused = [
            ("    bearer_token: a\n    bearer_token_file: /b\n", "at most one of bearer_token & bearer_token_file"),
            (
                "    bearer_token: a\n    authorization: {credentials: b}\n",
                "authorization is not compatible with bearer_token",
            ),
            ("    bearer_token: a\n    basic_auth: {username: u}\n", "at most one of basic_auth, oauth2, bearer_token"),
        ];
        for (extra, want) in refused {
            let err = parse(&job(extra)).unwrap_err().to_string();
            assert!(err.contains(want), "{extra}: {err}");
        }
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
            ("scrape_configs: [\n", "test.yml:2:1:"),
            (
                "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: ['dir/*/x.json']\n",
                "test.yml:4:1: path name \"dir/*/x.json\" is not valid for file discovery",
            ),
            (
                "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: hashmod, source_labels: [a], target_label: b}\n",
                "test.yml:2:1: job \"a\", relabel rule 1: relabel configuration for hashmod requires non-zero modulus",
            ),
            (
                "scrape_configs:\n  - job_name: a\n    body_size_limit: 10XB\n",
                "test.yml:3:22: scrape_configs[0].body_size_limit: not a valid size",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with(want), "config {text:?}\n got: {err}\nwant: {want}");
        }
    }

    #[test]
    fn durations_print_as_prometheus_does() {
        let cases = [
            (0, "0s"),
            (500, "500ms"),
            (90_000, "1m30s"),
            (3_600_000, "1h"),
            (90 * 86_400_000, "90d"),
            (14 * 86_400_000, "2w"),
            (365 * 86_400_000, "1y"),
            (61_001, "1m1s1ms"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_duration(Duration::from_millis(ms)), want);
        }
    }

    #[test]
    fn missing_file_names_the_file() {
        let err = Config::load(Path::new("/nonexistent/vigil.yml")).unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/vigil.yml: cannot read:"), "{err}");
    }
}
