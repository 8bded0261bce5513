//! An in-memory store behind the [`Storage`] traits.
//!
//! It exists so every layer above storage can be built and tested now; it
//! keeps everything in RAM and loses it on exit. The durable TSDB replaces
//! it without changing callers.

use std::collections::HashMap;
use std::sync::RwLock;

use vigil_shared::model::Labels;
use vigil_shared::promql::Matcher;

use super::{AppendError, Appender, CommitReport, Querier, Sample, Series, Storage, StorageError};

/// All series in a map from label set to samples in time order.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    series: RwLock<HashMap<Labels, Vec<Sample>>>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of series held.
    pub fn series_count(&self) -> usize {
        self.series.read().map(|s| s.len()).unwrap_or(0)
    }
}

impl Storage for MemoryStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemoryAppender { storage: self, pending: Vec::new() })
    }

    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(MemoryQuerier { storage: self, mint, maxt }))
    }
}

struct MemoryAppender<'a> {
    storage: &'a MemoryStorage,
    pending: Vec<(Labels, Sample)>,
}

impl Appender for MemoryAppender<'_> {
    fn append(&mut self, labels: &Labels, sample: Sample) {
        self.pending.push((labels.clone(), sample));
    }

    fn commit(self: Box<Self>) -> Result<CommitReport, StorageError> {
        let mut report = CommitReport::default();
        // A poisoned lock means a writer panicked mid-commit; the map itself
        // is still consistent (each insert is a single push), so keep going.
        let mut series = self.storage.series.write().unwrap_or_else(|e| e.into_inner());
        for (labels, sample) in self.pending {
            let samples = match series.get_mut(&labels) {
                Some(samples) => samples,
                None => {
                    report.series_added += 1;
                    series.entry(labels).or_default()
                }
            };
            match check_order(samples.last(), sample) {
                Ok(true) => {
                    samples.push(sample);
                    report.appended += 1;
                }
                Ok(false) => {}
                Err(AppendError::OutOfOrder) => report.out_of_order += 1,
                Err(AppendError::DuplicateTimestamp) => report.duplicates += 1,
            }
        }
        Ok(report)
    }
}

/// Prometheus's rules: a sample must be newer than the last one; the same
/// timestamp again is accepted silently (and not stored twice) only with the
/// same value, bit for bit. `Ok(false)` means "nothing to store".
fn check_order(last: Option<&Sample>, sample: Sample) -> Result<bool, AppendError> {
    match last {
        Some(last) if sample.timestamp_ms < last.timestamp_ms => Err(AppendError::OutOfOrder),
        Some(last) if sample.timestamp_ms == last.timestamp_ms => {
            if sample.value.to_bits() == last.value.to_bits() {
                Ok(false)
            } else {
                Err(AppendError::DuplicateTimestamp)
            }
        }
        _ => Ok(true),
    }
}

struct MemoryQuerier<'a> {
    storage: &'a MemoryStorage,
    mint: i64,
    maxt: i64,
}

impl Querier for MemoryQuerier<'_> {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, StorageError> {
        let series = self.storage.series.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Series> = series
            .iter()
            .filter(|(labels, _)| matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or(""))))
            .filter_map(|(labels, samples)| {
                let from = samples.partition_point(|s| s.timestamp_ms < self.mint);
                let to = samples.partition_point(|s| s.timestamp_ms <= self.maxt);
                (from < to).then(|| Series { labels: labels.clone(), samples: samples[from..to].to_vec() })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::promql::MatchOp;

    fn labels(name: &str, job: &str) -> Labels {
        Labels::from_pairs([("__name__", name), ("job", job)])
    }

    #[test]
    fn commit_makes_samples_visible_and_reports() {
        let storage = MemoryStorage::new();
        let mut app = storage.appender();
        app.append(&labels("up", "a"), Sample { timestamp_ms: 1000, value: 1.0 });
        app.append(&labels("up", "b"), Sample { timestamp_ms: 1000, value: 0.0 });
        app.append(&labels("up", "a"), Sample { timestamp_ms: 2000, value: 1.0 });
        // Not visible before commit.
        let q = storage.querier(0, 10_000).unwrap();
        assert!(q.select(&[Matcher::new(MatchOp::Equal, "__name__", "up").unwrap()]).unwrap().is_empty());
        let report = app.commit().unwrap();
        assert_eq!(report, CommitReport { appended: 3, series_added: 2, out_of_order: 0, duplicates: 0 });

        let q = storage.querier(1500, 10_000).unwrap();
        let got = q.select(&[Matcher::new(MatchOp::Equal, "job", "a").unwrap()]).unwrap();
        assert_eq!(
            got,
            vec![Series { labels: labels("up", "a"), samples: vec![Sample { timestamp_ms: 2000, value: 1.0 }] }]
        );
    }

    #[test]
    fn out_of_order_and_duplicates_are_refused_and_counted() {
        let storage = MemoryStorage::new();
        let l = labels("x", "a");
        let mut app = storage.appender();
        app.append(&l, Sample { timestamp_ms: 2000, value: 1.0 });
        app.append(&l, Sample { timestamp_ms: 1000, value: 1.0 });
        app.append(&l, Sample { timestamp_ms: 2000, value: 5.0 });
        app.append(&l, Sample { timestamp_ms: 2000, value: 1.0 });
        let report = app.commit().unwrap();
        assert_eq!((report.appended, report.out_of_order, report.duplicates), (1, 1, 1));
        assert_eq!(storage.series_count(), 1);
    }
}
