//! Provisioning: dashboards loaded from folders of JSON files at start, as
//! Grafana's file provider does, so dashboards can live in version control
//! next to the configuration.
//!
//! Every `*.json` under a provisioning folder is a dashboard; files in a
//! subfolder go into the Vigil folder named after that subfolder, the others
//! into General. A file new to the store is inserted; a file whose content
//! changed since it was last loaded is saved again (a new version, older
//! ones kept); an unchanged file leaves the stored dashboard alone, so edits
//! made in the app survive a restart until the file itself changes. A file
//! that cannot be read or is not a valid dashboard is logged with its path
//! and skipped: the others still load.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tracing::{info, warn};

use super::store::{Provenance, SaveRequest, Store};

/// What one provisioning pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Files skipped, with why.
    pub failed: Vec<(PathBuf, String)>,
}

/// Loads every dashboard file under `dirs` into the store.
pub fn provision(store: &mut Store, dirs: &[PathBuf]) -> Report {
    let mut report = Report::default();
    let mut loaded = HashSet::new();
    for dir in dirs {
        let mut files = Vec::new();
        if let Err(e) = collect_json_files(dir, &mut files) {
            warn!(path = %dir.display(), error = %e, "cannot read the dashboard provisioning folder");
            report.failed.push((dir.clone(), e.to_string()));
            continue;
        }
        files.sort();
        for file in files {
            let key = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone()).display().to_string();
            match provision_file(store, dir, &file, &key) {
                Ok(outcome) => {
                    loaded.insert(key);
                    match outcome {
                        Outcome::Inserted => report.inserted += 1,
                        Outcome::Updated => report.updated += 1,
                        Outcome::Unchanged => report.unchanged += 1,
                    }
                }
                Err(why) => {
                    warn!(path = %file.display(), error = %why, "skipping a dashboard file that cannot be provisioned");
                    report.failed.push((file, why));
                }
            }
        }
    }
    match store.release_provisioned(&loaded) {
        Ok(released) if !released.is_empty() => {
            info!(dashboards = ?released, "provisioned dashboards whose files are gone are now ordinary dashboards");
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "cannot update dashboards whose provisioning files are gone"),
    }
    if !dirs.is_empty() {
        info!(
            inserted = report.inserted,
            updated = report.updated,
            unchanged = report.unchanged,
            failed = report.failed.len(),
            "provisioned dashboards"
        );
    }
    report
}

enum Outcome {
    Inserted,
    Updated,
    Unchanged,
}

fn provision_file(store: &mut Store, root: &Path, file: &Path, key: &str) -> Result<Outcome, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read: {e}"))?;
    let checksum = format!("{:016x}", xxhash_rust::xxh64::xxh64(&bytes, 0));
    let previous = store.provisioned(key).map_err(|e| e.to_string())?;
    if previous.as_ref().is_some_and(|(_, stored)| *stored == checksum) {
        return Ok(Outcome::Unchanged);
    }
    let mut doc: Value = serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON: {e}"))?;
    // A file saved from `GET /api/dashboards/uid/…` wraps the dashboard.
    if doc.get("title").is_none()
        && let Some(inner) = doc.get_mut("dashboard").filter(|d| d.is_object())
    {
        doc = inner.take();
    }
    if let Some(obj) = doc.as_object_mut() {
        // The file is the truth: the stored version decides the next one.
        obj.remove("version");
        obj.remove("id");
        // A file without a uid keeps the one it was given the first time.
        if obj.get("uid").is_none_or(|u| u.as_str().is_none_or(str::is_empty))
            && let Some((uid, _)) = &previous
        {
            obj.insert("uid".to_owned(), Value::from(uid.clone()));
        }
    }
    let folder_uid = match file.parent().filter(|parent| *parent != root).and_then(Path::file_name) {
        Some(name) => store.ensure_folder(&name.to_string_lossy()).map_err(|e| e.to_string())?.uid,
        None => String::new(),
    };
    store
        .save(SaveRequest {
            dashboard: doc,
            folder_uid,
            overwrite: true,
            message: format!("provisioned from {}", file.display()),
            restored_from: 0,
            provenance: Some(Provenance { path: key.to_owned(), checksum }),
        })
        .map_err(|e| e.to_string())?;
    Ok(if previous.is_some() { Outcome::Updated } else { Outcome::Inserted })
}

/// Every `*.json` file under `dir`, at any depth.
fn collect_json_files(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if let Err(e) = collect_json_files(&path, files) {
                warn!(path = %path.display(), error = %e, "cannot read a dashboard provisioning subfolder");
            }
        } else if path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboards::store::SearchQuery;

    #[test]
    fn loads_good_files_skips_bad_ones_and_follows_changes() {
        let dir = std::env::temp_dir().join(format!("vigil-provision-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = dir.join("files");
        std::fs::create_dir_all(files.join("Team A")).expect("mkdir");
        std::fs::write(files.join("top.json"), r#"{"title": "Top", "uid": "top"}"#).expect("write");
        std::fs::write(files.join("Team A/nested.json"), r#"{"dashboard": {"title": "Nested"}}"#).expect("write");
        std::fs::write(files.join("broken.json"), "{\"title\": ").expect("write");
        std::fs::write(files.join("wrong.json"), r#"{"title": "W", "tags": "x"}"#).expect("write");
        std::fs::write(files.join("notes.txt"), "not a dashboard").expect("write");
        let mut store = Store::open(&dir.join("d.db")).expect("open");

        let first = provision(&mut store, std::slice::from_ref(&files));
        assert_eq!((first.inserted, first.updated, first.unchanged), (2, 0, 0));
        let failed: Vec<(String, String)> = first
            .failed
            .iter()
            .map(|(p, why)| (p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), why.clone()))
            .collect();
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(failed[0].0 == "broken.json" && failed[0].1.contains("line 1 column"), "{failed:?}");
        assert!(failed[1].0 == "wrong.json" && failed[1].1.contains("dashboard.tags"), "{failed:?}");
        let nested = store
            .search(&SearchQuery { query: Some("nested".into()), limit: 10, ..Default::default() })
            .expect("search");
        assert_eq!(nested[0].folder.as_ref().map(|f| f.title.as_str()), Some("Team A"));
        let nested_uid = nested[0].uid.clone();

        let again = provision(&mut store, std::slice::from_ref(&files));
        assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 2));

        std::fs::write(files.join("Team A/nested.json"), r#"{"title": "Nested v2"}"#).expect("write");
        let changed = provision(&mut store, std::slice::from_ref(&files));
        assert_eq!((changed.inserted, changed.updated, changed.unchanged), (0, 1, 1));
        let stored = store.get(&nested_uid).expect("get").expect("same uid kept");
        assert_eq!((stored.title.as_str(), stored.version), ("Nested v2", 2));
        assert!(stored.provisioned_path.is_some());

        std::fs::remove_file(files.join("top.json")).expect("remove");
        provision(&mut store, std::slice::from_ref(&files));
        assert_eq!(store.delete("top").expect("deletable once its file is gone").map(|(_, t)| t), Some("Top".into()));
        let _ = std::fs::remove_dir_all(dir);
    }
}
