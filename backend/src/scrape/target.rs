//! From discovered label sets to scrape targets, as Prometheus's
//! `PopulateLabels` does: job defaults, `relabel_configs`, then the scrape
//! URL from `__scheme__`, `__address__`, `__metrics_path__` and `__param_*`,
//! and finally the target's own labels (`instance` defaults to the address;
//! every `__`-prefixed label is removed).

use std::collections::BTreeMap;
use std::time::Duration;

use vigil_shared::model::Labels;
use vigil_shared::promql::lexer::parse_duration_ms;

use super::relabel;
use crate::config::{GlobalConfig, ScrapeConfig, format_duration};

pub const ADDRESS_LABEL: &str = "__address__";
pub const SCHEME_LABEL: &str = "__scheme__";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
pub const PARAM_LABEL_PREFIX: &str = "__param_";

/// A target ready to scrape.
///
/// Its identity (equality and hash) is what Prometheus hashes a target by:
/// its labels, scrape URL and the interval and timeout it is scraped at. The
/// discovered labels are not part of it, so a discovery change that leaves
/// the target as it was leaves its scrape loop alone.
#[derive(Debug, Clone)]
pub struct Target {
    /// The job (scrape pool) it belongs to.
    pub job: String,
    pub scrape_url: String,
    /// The labels its series get: `job`, `instance` and the rest.
    pub labels: Labels,
    /// The labels before relabeling, shown by the targets API.
    pub discovered_labels: Labels,
    pub interval: Duration,
    pub timeout: Duration,
    /// `__scrape_interval__` and `__scrape_timeout__` as written after
    /// relabeling: what the targets API shows.
    pub interval_text: String,
    pub timeout_text: String,
}

impl Target {
    fn identity(&self) -> (&str, &str, &Labels, Duration, Duration) {
        (&self.job, &self.scrape_url, &self.labels, self.interval, self.timeout)
    }
}

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for Target {}

impl std::hash::Hash for Target {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

/// What relabeling made of one discovered label set.
#[derive(Debug, Clone, PartialEq)]
pub enum Populated {
    Active(Target),
    /// Dropped by `relabel_configs`; kept for the targets API.
    Dropped {
        discovered_labels: Labels,
    },
}

/// Builds the target for one discovered label set (the group's labels
/// overlaid with the target's own, e.g. `__address__`).
pub fn populate(
    discovered: BTreeMap<String, String>,
    job: &ScrapeConfig,
    global: &GlobalConfig,
) -> Result<Populated, String> {
    let mut labels = discovered;
    let defaults = [
        ("job", job.job_name.clone()),
        (SCRAPE_INTERVAL_LABEL, format_duration(job.interval(global))),
        (SCRAPE_TIMEOUT_LABEL, format_duration(job.timeout(global))),
        (METRICS_PATH_LABEL, job.metrics_path.clone()),
        (SCHEME_LABEL, job.scheme.clone()),
    ];
    for (name, value) in defaults {
        labels.entry(name.to_owned()).or_insert(value);
    }
    for (name, values) in &job.params {
        if let Some(first) = values.first() {
            labels.entry(format!("{PARAM_LABEL_PREFIX}{name}")).or_insert_with(|| first.clone());
        }
    }
    let discovered_labels = Labels::from_pairs(labels.clone());

    let Some(mut labels) = relabel::process(labels, &job.relabel_configs) else {
        return Ok(Populated::Dropped { discovered_labels });
    };
    let address = labels.get(ADDRESS_LABEL).cloned().ok_or("no address")?;
    let interval = parse_label_duration(&labels, SCRAPE_INTERVAL_LABEL, "scrape interval")?;
    let timeout = parse_label_duration(&labels, SCRAPE_TIMEOUT_LABEL, "scrape timeout")?;
    if interval.is_zero() {
        return Err("scrape interval cannot be 0".to_owned());
    }
    if timeout.is_zero() {
        return Err("scrape timeout cannot be 0".to_owned());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({:?} > {:?})",
            format_duration(timeout),
            format_duration(interval)
        ));
    }
    let scrape_url = scrape_url(&labels, &address)?;
    let interval_text = labels.get(SCRAPE_INTERVAL_LABEL).cloned().unwrap_or_default();
    let timeout_text = labels.get(SCRAPE_TIMEOUT_LABEL).cloned().unwrap_or_default();
    labels.entry("instance".to_owned()).or_insert(address);
    labels.retain(|name, _| !name.starts_with("__"));
    Ok(Populated::Active(Target {
        job: job.job_name.clone(),
        scrape_url,
        labels: Labels::from_pairs(labels),
        discovered_labels,
        interval,
        timeout,
        interval_text,
        timeout_text,
    }))
}

fn parse_label_duration(labels: &BTreeMap<String, String>, name: &str, what: &str) -> Result<Duration, String> {
    let text = labels.get(name).map_or("", String::as_str);
    match text {
        "0" => Ok(Duration::ZERO),
        _ => parse_duration_ms(text)
            .and_then(|ms| u64::try_from(ms).ok())
            .map(Duration::from_millis)
            .ok_or_else(|| format!("error parsing {what}: not a valid duration string: {text:?}")),
    }
}

fn scrape_url(labels: &BTreeMap<String, String>, address: &str) -> Result<String, String> {
    if address.is_empty() || address.contains('/') || address.contains(char::is_whitespace) {
        return Err(format!("invalid address {address:?}: expected host:port"));
    }
    let scheme = labels.get(SCHEME_LABEL).map_or("http", String::as_str);
    let path = labels.get(METRICS_PATH_LABEL).map_or("/metrics", String::as_str);
    let mut url = reqwest::Url::parse(&format!("{scheme}://{address}"))
        .map_err(|e| format!("invalid scrape URL for address {address:?}: {e}"))?;
    url.set_path(path);
    let params: Vec<(&str, &str)> = labels
        .iter()
        .filter_map(|(name, value)| name.strip_prefix(PARAM_LABEL_PREFIX).map(|p| (p, value.as_str())))
        .collect();
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn job(yaml: &str) -> (ScrapeConfig, GlobalConfig) {
        let config = Config::parse(yaml, Path::new("t.yml")).unwrap();
        (config.scrape_configs[0].clone(), config.global)
    }

    fn discovered(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_url_and_instance() {
        let (job, global) = job("scrape_configs:\n  - job_name: node\n    params: {module: [a, b]}\n");
        let Populated::Active(t) =
            populate(discovered(&[("__address__", "h:9100"), ("env", "prod")]), &job, &global).unwrap()
        else {
            panic!("dropped")
        };
        assert_eq!(t.scrape_url, "http://h:9100/metrics?module=a");
        assert_eq!(t.labels.to_string(), "{env=\"prod\", instance=\"h:9100\", job=\"node\"}");
        assert_eq!(t.interval, Duration::from_secs(60));
        assert_eq!(t.discovered_labels.get("__scrape_interval__"), Some("1m"));
        assert_eq!(t.discovered_labels.get("__param_module"), Some("a"));
    }

    #[test]
    fn relabeling_rewrites_address_scheme_path_interval_and_can_drop() {
        let (job, global) = job("scrape_configs:
  - job_name: j
    relabel_configs:
      - {source_labels: [__address__], regex: 'drop-me.*', action: drop}
      - {source_labels: [__address__], target_label: __param_target}
      - {target_label: __address__, replacement: 'exporter:9115'}
      - {target_label: __scheme__, replacement: https}
      - {target_label: __metrics_path__, replacement: /probe}
      - {target_label: __scrape_interval__, replacement: 30s}
      - {source_labels: [__param_target], target_label: instance}
");
        let Populated::Active(t) = populate(discovered(&[("__address__", "example.org")]), &job, &global).unwrap()
        else {
            panic!("dropped")
        };
        assert_eq!(t.scrape_url, "https://exporter:9115/probe?target=example.org");
        assert_eq!(t.labels.to_string(), "{instance=\"example.org\", job=\"j\"}");
        assert_eq!(t.interval, Duration::from_secs(30));
        assert_eq!(t.timeout, Duration::from_secs(10));

        let dropped = populate(discovered(&[("__address__", "drop-me:1")]), &job, &global).unwrap();
        assert!(
            matches!(dropped, Populated::Dropped { discovered_labels } if discovered_labels.get("__address__") == Some("drop-me:1"))
        );
    }

    #[test]
    fn errors() {
        let (plain, global) = job("scrape_configs:\n  - job_name: j\n");
        assert_eq!(populate(discovered(&[]), &plain, &global).unwrap_err(), "no address");
        let (j, g) = job(
            "scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - {target_label: __scrape_timeout__, replacement: 2m}\n",
        );
        assert!(
            populate(discovered(&[("__address__", "h:1")]), &j, &g)
                .unwrap_err()
                .starts_with("scrape timeout cannot be greater")
        );
        assert!(
            populate(discovered(&[("__address__", "h/1")]), &plain, &global)
                .unwrap_err()
                .starts_with("invalid address")
        );
    }
}
