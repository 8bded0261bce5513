//! Silences: matchers and a time range during which matching alerts are
//! not notified (Alertmanager's `silence` package).
//!
//! A silence is *pending* before it starts, *active* until it ends, then
//! *expired*; expiring one early moves its end to now (a pending one also
//! starts now). They are kept in a JSON file in the data folder, rewritten
//! on every change, so a restart forgets none; expired silences are dropped
//! after the retention (120h, Alertmanager's `--data.retention`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::matchers::{MatchType, Matcher};

/// One matcher as the API and the file carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    #[serde(rename = "isEqual", default = "default_true")]
    pub is_equal: bool,
}

fn default_true() -> bool {
    true
}

impl SilenceMatcher {
    pub fn to_matcher(&self) -> Result<Matcher, String> {
        let kind = match (self.is_regex, self.is_equal) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (true, false) => MatchType::NotRegexp,
        };
        Matcher::new(kind, &self.name, &self.value)
    }
}

/// A silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub updated_at_ms: i64,
    pub created_by: String,
    pub comment: String,
}

/// Where a silence is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now_ms: i64) -> SilenceState {
        if self.ends_at_ms <= now_ms {
            SilenceState::Expired
        } else if self.starts_at_ms > now_ms {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Whether it mutes an alert with these labels (regardless of time).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matchers.iter().all(|m| match m.to_matcher() {
            Ok(m) => m.matches(labels.get(&m.name).map_or("", String::as_str)),
            Err(_) => false,
        })
    }
}

/// Why a silence was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SilenceError {
    #[error("silence invalid: {0}")]
    Invalid(String),
    #[error("silence {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Storage(String),
}

const RETENTION_MS: i64 = 120 * 3600 * 1000;

/// Every silence, persisted.
#[derive(Debug, Default)]
pub struct Silences {
    by_id: BTreeMap<String, Silence>,
    path: Option<PathBuf>,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    silences: Vec<Silence>,
}

/// A random version-4 UUID.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if random.is_err() {
        // No /dev/urandom: time and a counter, hashed; unique is what matters.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seed = format!("{}-{n}-{}", crate::rules::manager::now_ms(), std::process::id());
        bytes[..8].copy_from_slice(&xxhash_rust::xxh64::xxh64(seed.as_bytes(), 1).to_le_bytes());
        bytes[8..].copy_from_slice(&xxhash_rust::xxh64::xxh64(seed.as_bytes(), 2).to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

impl Silences {
    /// Silences kept in `path` (read now if it exists).
    pub fn open(path: Option<&Path>) -> Result<Silences, String> {
        let mut out = Silences { by_id: BTreeMap::new(), path: path.map(Path::to_owned) };
        if let Some(path) = path {
            match std::fs::read(path) {
                Ok(bytes) => {
                    let disk: OnDisk = serde_json::from_slice(&bytes)
                        .map_err(|e| format!("{}: invalid silences file: {e}", path.display()))?;
                    out.by_id = disk.silences.into_iter().map(|s| (s.id.clone(), s)).collect();
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        }
        Ok(out)
    }

    /// Creates a silence, or updates the one with its id (which must exist
    /// and not be expired). Returns the id.
    pub fn set(&mut self, mut silence: Silence, now_ms: i64) -> Result<String, SilenceError> {
        if silence.matchers.is_empty() {
            return Err(SilenceError::Invalid("at least one matcher required".to_owned()));
        }
        for m in &silence.matchers {
            if m.name.is_empty() {
                return Err(SilenceError::Invalid("invalid label matcher: empty label name".to_owned()));
            }
            m.to_matcher().map_err(SilenceError::Invalid)?;
        }
        let labels = BTreeMap::new();
        if silence.matches(&labels) {
            return Err(SilenceError::Invalid("at least one matcher must not match the empty string".to_owned()));
        }
        if silence.ends_at_ms <= silence.starts_at_ms {
            return Err(SilenceError::Invalid("end time must not be before start time".to_owned()));
        }
        if silence.ends_at_ms <= now_ms {
            return Err(SilenceError::Invalid("end time can't be in the past".to_owned()));
        }
        if silence.created_by.is_empty() {
            return Err(SilenceError::Invalid("missing creator".to_owned()));
        }
        if silence.comment.is_empty() {
            return Err(SilenceError::Invalid("missing comment".to_owned()));
        }
        if silence.id.is_empty() {
            silence.id = new_id();
        } else {
            match self.by_id.get(&silence.id) {
                None => return Err(SilenceError::NotFound(silence.id)),
                Some(old) if old.state(now_ms) == SilenceState::Expired => {
                    return Err(SilenceError::Invalid(format!(
                        "silence {} is expired and cannot be updated",
                        silence.id
                    )));
                }
                Some(_) => {}
            }
        }
        // A silence never starts in the past: what was notified stays notified.
        if silence.starts_at_ms < now_ms {
            silence.starts_at_ms = now_ms;
        }
        silence.updated_at_ms = now_ms;
        let id = silence.id.clone();
        self.by_id.insert(id.clone(), silence);
        self.save()?;
        Ok(id)
    }

    /// Ends a silence now.
    pub fn expire(&mut self, id: &str, now_ms: i64) -> Result<(), SilenceError> {
        let silence = self.by_id.get_mut(id).ok_or_else(|| SilenceError::NotFound(id.to_owned()))?;
        match silence.state(now_ms) {
            SilenceState::Expired => {
                return Err(SilenceError::Invalid(format!("silence {id} already expired")));
            }
            SilenceState::Pending => silence.starts_at_ms = now_ms,
            SilenceState::Active => {}
        }
        silence.ends_at_ms = now_ms;
        silence.updated_at_ms = now_ms;
        self.save()
    }

    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> Vec<Silence> {
        self.by_id.values().cloned().collect()
    }

    /// The ids of the active silences muting these labels now.
    pub fn silenced_by(&self, labels: &BTreeMap<String, String>, now_ms: i64) -> Vec<String> {
        self.by_id
            .values()
            .filter(|s| s.state(now_ms) == SilenceState::Active && s.matches(labels))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Drops silences expired longer than the retention.
    pub fn gc(&mut self, now_ms: i64) {
        let before = self.by_id.len();
        self.by_id.retain(|_, s| s.ends_at_ms > now_ms - RETENTION_MS);
        if self.by_id.len() != before {
            let _ = self.save();
        }
    }

    fn save(&self) -> Result<(), SilenceError> {
        let Some(path) = &self.path else { return Ok(()) };
        let text =
            serde_json::to_vec(&OnDisk { silences: self.all() }).map_err(|e| SilenceError::Storage(e.to_string()))?;
        super::nflog::write_atomically(path, &text).map_err(SilenceError::Storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(matchers: &[(&str, &str, bool, bool)], starts: i64, ends: i64) -> Silence {
        Silence {
            id: String::new(),
            matchers: matchers
                .iter()
                .map(|(n, v, re, eq)| SilenceMatcher {
                    name: (*n).to_owned(),
                    value: (*v).to_owned(),
                    is_regex: *re,
                    is_equal: *eq,
                })
                .collect(),
            starts_at_ms: starts,
            ends_at_ms: ends,
            updated_at_ms: 0,
            created_by: "me".to_owned(),
            comment: "maintenance".to_owned(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn silences_live_match_and_expire() {
        let mut s = Silences::open(None).unwrap();
        let id = s
            .set(silence(&[("alertname", "Down", false, true), ("env", "dev|test", true, false)], 1000, 5000), 1000)
            .unwrap();
        assert_eq!(id.len(), 36);
        let cases = [
            (labels(&[("alertname", "Down"), ("env", "prod")]), 2000, true),
            (labels(&[("alertname", "Down"), ("env", "dev")]), 2000, false),
            (labels(&[("alertname", "Up"), ("env", "prod")]), 2000, false),
            (labels(&[("alertname", "Down")]), 5000, false),
        ];
        for (l, now, want) in cases {
            assert_eq!(s.silenced_by(&l, now) == vec![id.clone()], want, "{l:?} at {now}");
        }
        let pending = s.set(silence(&[("a", "b", false, true)], 10_000, 20_000), 2000).unwrap();
        assert_eq!(s.get(&pending).map(|x| x.state(2000)), Some(SilenceState::Pending));
        s.expire(&pending, 3000).unwrap();
        let expired = s.get(&pending).unwrap();
        assert_eq!(
            (expired.starts_at_ms, expired.ends_at_ms, expired.state(3000)),
            (3000, 3000, SilenceState::Expired)
        );
        assert!(matches!(s.expire(&pending, 3000), Err(SilenceError::Invalid(_))));
        assert!(matches!(s.expire("nope", 3000), Err(SilenceError::NotFound(_))));
    }

    #[test]
    fn invalid_silences_are_refused() {
        let mut s = Silences::open(None).unwrap();
        let cases = [
            (silence(&[], 0, 10), "silence invalid: at least one matcher required"),
            (
                silence(&[("a", ".*", true, true)], 0, 10),
                "silence invalid: at least one matcher must not match the empty string",
            ),
            (
                silence(&[("a", "(", true, true)], 0, 10),
                "silence invalid: invalid regular expression \"(\": regex parse error:\n    (\n    ^\nerror: unclosed group",
            ),
            (silence(&[("a", "b", false, true)], 10, 5), "silence invalid: end time must not be before start time"),
            (silence(&[("a", "b", false, true)], 0, 5), "silence invalid: end time can't be in the past"),
        ];
        for (silence, want) in cases {
            assert_eq!(s.set(silence, 6).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn silences_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("vigil-silences-{}", std::process::id()));
        let path = dir.join("silences.json");
        let mut s = Silences::open(Some(&path)).unwrap();
        let id = s.set(silence(&[("a", "b", false, true)], 0, 10_000), 0).unwrap();
        let reopened = Silences::open(Some(&path)).unwrap();
        assert_eq!(reopened.get(&id), s.get(&id));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
