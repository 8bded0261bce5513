//! Service discovery: where target label sets come from. `static_configs`
//! give a fixed list; `file_sd_configs` read JSON or YAML files (globs
//! allowed in the last path element), re-read when a file changes and on
//! every `refresh_interval`, as Prometheus's file discovery does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use super::target::ADDRESS_LABEL;
use crate::config::{FileSdConfig, ScrapeConfig};

/// Targets that share labels, from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroup {
    /// Where the group came from, e.g. `static/0` or a file path.
    pub source: String,
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

impl TargetGroup {
    /// One discovered label set per target: the group's labels plus
    /// `__address__`.
    pub fn label_sets(&self) -> impl Iterator<Item = BTreeMap<String, String>> + '_ {
        self.targets.iter().map(|address| {
            let mut labels = self.labels.clone();
            labels.insert(ADDRESS_LABEL.to_owned(), address.clone());
            labels
        })
    }
}

/// The groups of a job's `static_configs`.
pub fn static_groups(job: &ScrapeConfig) -> Vec<TargetGroup> {
    job.static_configs
        .iter()
        .enumerate()
        .map(|(i, s)| TargetGroup {
            source: format!("static/{i}"),
            targets: s.targets.clone(),
            labels: s.labels.clone(),
        })
        .collect()
}

/// One entry of a file_sd file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Reads one file_sd file (JSON for `.json`, YAML otherwise). Every group
/// gets `__meta_filepath`.
pub fn read_file(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let entries: Vec<FileEntry> = if is_json {
        serde_json::from_str(&text).map_err(|e| format!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))?
    } else if text.trim().is_empty() {
        Vec::new()
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            format!("{}:{line}:{column}: {e}", path.display())
        })?
    };
    let file = path.display().to_string();
    Ok(entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let mut labels = entry.labels;
            labels.insert("__meta_filepath".to_owned(), file.clone());
            TargetGroup { source: format!("{file}:{i}"), targets: entry.targets, labels }
        })
        .collect())
}

/// Watches the files of one `file_sd_configs` entry by polling their
/// modification times (cheap, and works on every filesystem).
pub struct FileWatcher {
    patterns: Vec<String>,
    refresh: Duration,
    last_refresh: Option<Instant>,
    stamps: BTreeMap<PathBuf, (Option<SystemTime>, u64)>,
    /// The last good groups of each file: a file that turns unreadable or
    /// invalid keeps its previous targets, as in Prometheus.
    groups: BTreeMap<PathBuf, Vec<TargetGroup>>,
}

impl FileWatcher {
    pub fn new(config: &FileSdConfig) -> Self {
        FileWatcher {
            patterns: config.files.clone(),
            refresh: config.refresh_interval.0,
            last_refresh: None,
            stamps: BTreeMap::new(),
            groups: BTreeMap::new(),
        }
    }

    fn matching_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .patterns
            .iter()
            .filter_map(|pattern| glob::glob(pattern).ok())
            .flat_map(|paths| paths.flatten())
            .collect();
        files.sort();
        files.dedup();
        files
    }

    /// Checks the files; returns every group when anything changed (or the
    /// refresh interval passed), with the errors met on the way.
    pub fn poll(&mut self) -> (Option<Vec<TargetGroup>>, Vec<String>) {
        let files = self.matching_files();
        let stamps: BTreeMap<PathBuf, (Option<SystemTime>, u64)> = files
            .iter()
            .map(|f| {
                let meta = std::fs::metadata(f).ok();
                (f.clone(), (meta.as_ref().and_then(|m| m.modified().ok()), meta.map_or(0, |m| m.len())))
            })
            .collect();
        let due = self.last_refresh.is_none_or(|t| t.elapsed() >= self.refresh);
        if stamps == self.stamps && !due {
            return (None, Vec::new());
        }
        self.stamps = stamps;
        self.last_refresh = Some(Instant::now());
        let mut errors = Vec::new();
        self.groups.retain(|path, _| files.contains(path));
        for file in &files {
            match read_file(file) {
                Ok(groups) => {
                    self.groups.insert(file.clone(), groups);
                }
                Err(e) => errors.push(e),
            }
        }
        (Some(self.groups.values().flatten().cloned().collect()), errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PromDuration;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vigil-file-sd-{}-{}",
            std::process::id(),
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_json_and_yaml_and_tracks_changes() {
        let dir = temp_dir();
        std::fs::write(dir.join("a.json"), r#"[{"targets": ["h1:1", "h2:1"], "labels": {"env": "prod"}}]"#).unwrap();
        std::fs::write(dir.join("b.yml"), "- targets: ['h3:1']\n").unwrap();
        let config = FileSdConfig {
            files: vec![format!("{}/*.json", dir.display()), format!("{}/*.yml", dir.display())],
            refresh_interval: PromDuration::from_secs(300),
        };
        let mut watcher = FileWatcher::new(&config);

        let (groups, errors) = watcher.poll();
        assert!(errors.is_empty(), "{errors:?}");
        let groups = groups.expect("first poll reads everything");
        let addresses: Vec<String> =
            groups.iter().flat_map(|g| g.label_sets()).map(|l| l["__address__"].clone()).collect();
        assert_eq!(addresses, ["h1:1", "h2:1", "h3:1"]);
        assert_eq!(groups[0].labels["env"], "prod");
        assert!(groups[0].labels["__meta_filepath"].ends_with("a.json"));

        assert_eq!(watcher.poll().0, None, "nothing changed");

        // A broken file keeps its previous targets and reports where it broke.
        std::fs::write(dir.join("b.yml"), "- targets: ['h3:1', 'h4:1']\n  bogus: 1\n").unwrap();
        let (groups, errors) = watcher.poll();
        assert_eq!(groups.expect("changed").len(), 2);
        assert!(errors[0].contains("b.yml:2:3") && errors[0].contains("unknown field `bogus`"), "{errors:?}");

        std::fs::write(dir.join("b.yml"), "- targets: ['h3:1', 'h4:1']\n").unwrap();
        let (groups, _) = watcher.poll();
        assert_eq!(groups.expect("changed").iter().map(|g| g.targets.len()).sum::<usize>(), 4);

        std::fs::remove_file(dir.join("a.json")).unwrap();
        let (groups, _) = watcher.poll();
        assert_eq!(groups.expect("a file went away").iter().map(|g| g.targets.len()).sum::<usize>(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
