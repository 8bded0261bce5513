//! The notification log: what each receiver integration was last told
//! about each group, so a group flush notifies only when something changed
//! or the repeat interval passed (Alertmanager's `nflog` and `DedupStage`).
//!
//! It is kept in a JSON file in the data folder, rewritten (to a temporary
//! file, then renamed) after every change, so a restart does not notify
//! again what was already notified. Entries expire after the retention
//! (Alertmanager's `--data.retention`, 120h).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What one integration was last sent for one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    pub timestamp_ms: i64,
    pub expires_at_ms: i64,
}

/// The log, keyed by group key then receiver key
/// (`<receiver>/<integration>/<index>`).
#[derive(Debug, Default)]
pub struct NotificationLog {
    entries: BTreeMap<String, BTreeMap<String, Entry>>,
    path: Option<PathBuf>,
    retention_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    entries: BTreeMap<String, BTreeMap<String, Entry>>,
}

/// Alertmanager's `DedupStage.needsUpdate`: whether a flush with these
/// firing and resolved alert fingerprints must be sent.
pub fn needs_update(
    entry: Option<&Entry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat_interval_ms: i64,
    now_ms: i64,
) -> bool {
    let Some(entry) = entry else {
        // Never notified: only if something fires.
        return !firing.is_empty();
    };
    if !firing.is_subset(&entry.firing) {
        return true;
    }
    if firing.is_empty() {
        // All resolved: tell the receiver if it was told something fired
        // (this also clears the log's firing set, whatever send_resolved).
        return !entry.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return true;
    }
    entry.timestamp_ms < now_ms - repeat_interval_ms
}

impl NotificationLog {
    /// A log kept in `path` (read now if it exists; an unreadable file is
    /// an error, never silently emptied).
    pub fn open(path: Option<&Path>, retention_ms: i64) -> Result<NotificationLog, String> {
        let mut log = NotificationLog { entries: BTreeMap::new(), path: path.map(Path::to_owned), retention_ms };
        if let Some(path) = path {
            match std::fs::read(path) {
                Ok(bytes) => {
                    let disk: OnDisk = serde_json::from_slice(&bytes)
                        .map_err(|e| format!("{}: invalid notification log: {e}", path.display()))?;
                    log.entries = disk.entries;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        }
        Ok(log)
    }

    pub fn query(&self, group_key: &str, receiver_key: &str) -> Option<&Entry> {
        self.entries.get(group_key)?.get(receiver_key)
    }

    /// Records a notification and saves the log.
    pub fn log(
        &mut self,
        group_key: &str,
        receiver_key: &str,
        firing: BTreeSet<u64>,
        resolved: BTreeSet<u64>,
        now_ms: i64,
    ) -> Result<(), String> {
        let entry = Entry { firing, resolved, timestamp_ms: now_ms, expires_at_ms: now_ms + self.retention_ms };
        self.entries.entry(group_key.to_owned()).or_default().insert(receiver_key.to_owned(), entry);
        self.gc(now_ms);
        self.save()
    }

    /// Drops expired entries.
    pub fn gc(&mut self, now_ms: i64) {
        for receivers in self.entries.values_mut() {
            receivers.retain(|_, e| e.expires_at_ms > now_ms);
        }
        self.entries.retain(|_, r| !r.is_empty());
    }

    fn save(&self) -> Result<(), String> {
        let Some(path) = &self.path else { return Ok(()) };
        let text = serde_json::to_vec(&OnDisk { entries: self.entries.clone() }).map_err(|e| e.to_string())?;
        write_atomically(path, &text)
    }
}

/// Writes a file so a crash leaves either the old or the new content.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    #[test]
    fn dedup_follows_alertmanager() {
        let hour = 3_600_000;
        let entry = Entry { firing: set(&[1, 2]), resolved: set(&[3]), timestamp_ms: 0, expires_at_ms: 100 * hour };
        let none = Entry { firing: set(&[]), ..entry.clone() };
        // (entry, firing, resolved, send_resolved, now, want)
        #[allow(clippy::type_complexity)]
        let cases: &[(Option<&Entry>, &[u64], &[u64], bool, i64, bool)] = &[
            (None, &[1], &[], true, 0, true),
            (None, &[], &[1], true, 0, false),
            (Some(&entry), &[1, 2], &[3], true, hour, false),
            (Some(&entry), &[1, 2, 4], &[3], true, hour, true),
            (Some(&entry), &[1], &[2, 3], true, hour, true),
            (Some(&entry), &[1], &[2, 3], false, hour, false),
            (Some(&entry), &[], &[1, 2, 3], false, hour, true),
            (Some(&none), &[], &[1], true, hour, false),
            // The repeat interval (4h) passed.
            (Some(&entry), &[1, 2], &[3], true, 4 * hour, false),
            (Some(&entry), &[1, 2], &[3], true, 4 * hour + 1, true),
        ];
        for (i, (entry, firing, resolved, send_resolved, now, want)) in cases.iter().enumerate() {
            let got = needs_update(*entry, &set(firing), &set(resolved), *send_resolved, 4 * hour, *now);
            assert_eq!(got, *want, "case {i}");
        }
    }

    #[test]
    fn the_log_survives_a_restart_and_expires() {
        let dir = std::env::temp_dir().join(format!("vigil-nflog-{}", std::process::id()));
        let path = dir.join("nflog.json");
        let mut log = NotificationLog::open(Some(&path), 1000).unwrap();
        log.log("g", "r/webhook/0", set(&[1]), set(&[]), 10).unwrap();
        let reopened = NotificationLog::open(Some(&path), 1000).unwrap();
        assert_eq!(
            reopened.query("g", "r/webhook/0").map(|e| (e.firing.clone(), e.timestamp_ms)),
            Some((set(&[1]), 10))
        );
        let mut reopened = reopened;
        reopened.gc(1010);
        assert!(reopened.query("g", "r/webhook/0").is_none());
        std::fs::write(&path, "{not json").unwrap();
        assert!(NotificationLog::open(Some(&path), 1000).unwrap_err().contains("invalid notification log"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
