//! The head: series and their recent samples in memory, compressed in XOR
//! chunks of up to 120 samples, behind the [`Storage`] traits.
//!
//! Opened on a folder ([`MemoryStorage::open`]), every commit is written to
//! the write-ahead log before it returns, and the log is replayed on the next
//! start, so acknowledged samples survive a crash. Built with
//! [`MemoryStorage::new`] it keeps nothing on disk (tests). Blocks,
//! compaction and retention are still to come: until then the head and its
//! WAL hold everything.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use vigil_shared::model::Labels;
use vigil_shared::promql::{MatchOp, Matcher};

use super::chunk::{SAMPLES_PER_CHUNK, XorChunk};
use super::stats::HeadStats;
use super::wal::{Record, Wal};
use super::{AppendError, Appender, CommitReport, Querier, Sample, Series, SeriesRef, Storage, StorageError};

/// Series in a vector indexed by [`SeriesRef`], plus a label index to find
/// or create them.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    inner: RwLock<Inner>,
    stats: Arc<HeadStats>,
}

/// The head's size and its largest label sets; see
/// [`MemoryStorage::cardinality`]. Lists are (name, count), largest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cardinality {
    pub num_series: u64,
    /// Distinct label name/value pairs.
    pub num_label_pairs: u64,
    pub chunk_count: u64,
    /// The oldest and newest sample times; `i64::MAX` and `i64::MIN` when
    /// the head is empty, as Prometheus reports an empty head.
    pub min_time: i64,
    pub max_time: i64,
    pub series_count_by_metric_name: Vec<(String, u64)>,
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

/// What opening a head on disk found, for the startup log.
#[derive(Debug, Default)]
pub struct OpenReport {
    pub series: usize,
    pub samples: usize,
    pub segments: usize,
    pub bytes: u64,
    /// Where a torn or corrupt WAL tail was cut off: (segment, offset, why).
    pub corruption: Option<(u32, u64, String)>,
    /// Samples in the log for series it never described (skipped).
    pub orphan_samples: usize,
}

#[derive(Debug, Default)]
struct Inner {
    by_labels: HashMap<Labels, SeriesRef>,
    series: Vec<MemSeries>,
    wal: Option<Wal>,
    /// The inverted index: label name → value → series, ascending.
    postings: Postings,
}

/// Label name → label value → the series carrying that pair, in ascending
/// reference order (series are created in that order; replay sorts).
#[derive(Debug, Default)]
struct Postings(HashMap<String, HashMap<String, Vec<u32>>>);

impl Postings {
    fn add(&mut self, labels: &Labels, series: SeriesRef) {
        for label in labels.iter() {
            self.0.entry(label.name.clone()).or_default().entry(label.value.clone()).or_default().push(series.0 as u32);
        }
    }

    fn sort(&mut self) {
        for values in self.0.values_mut() {
            for list in values.values_mut() {
                list.sort_unstable();
                list.dedup();
            }
        }
    }

    /// Series that may match: the intersection over matchers that need a
    /// non-empty value (`=`, or `=~` not matching ""), each answered from
    /// the index. `None` when no matcher narrows the set (scan everything).
    fn candidates(&self, matchers: &[Matcher]) -> Option<Vec<u32>> {
        let mut result: Option<Vec<u32>> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty() && matches!(m.op, MatchOp::Equal | MatchOp::Regex)) {
            let values = self.0.get(&m.name);
            let mut list: Vec<u32> = match (m.op, values) {
                (_, None) => Vec::new(),
                (MatchOp::Equal, Some(values)) => values.get(&m.value).cloned().unwrap_or_default(),
                (_, Some(values)) => {
                    let mut union: Vec<u32> =
                        values.iter().filter(|(v, _)| m.matches(v)).flat_map(|(_, l)| l.iter().copied()).collect();
                    union.sort_unstable();
                    union.dedup();
                    union
                }
            };
            if let Some(previous) = result {
                list = intersect(&previous, &list);
            }
            if list.is_empty() {
                return Some(list);
            }
            result = Some(list);
        }
        result
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len().min(b.len())));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[derive(Debug)]
struct MemSeries {
    labels: Labels,
    /// Oldest first; only the last one is appended to.
    chunks: Vec<TimedChunk>,
    /// The newest sample, for the order check without decoding.
    last: Option<Sample>,
    /// Whether the WAL already describes this series.
    logged: bool,
}

/// A chunk with the time range it covers, so queries skip chunks outside
/// their range without decoding them.
#[derive(Debug)]
struct TimedChunk {
    min_t: i64,
    max_t: i64,
    chunk: XorChunk,
}

impl MemSeries {
    fn push(&mut self, sample: Sample) {
        let full = self.chunks.last().is_none_or(|c| c.chunk.num_samples() >= SAMPLES_PER_CHUNK);
        if full {
            self.chunks.push(TimedChunk {
                min_t: sample.timestamp_ms,
                max_t: sample.timestamp_ms,
                chunk: XorChunk::new(),
            });
        }
        if let Some(head) = self.chunks.last_mut() {
            head.chunk.append(sample.timestamp_ms, sample.value);
            head.max_t = sample.timestamp_ms;
        }
        self.last = Some(sample);
    }

    fn samples_between(&self, mint: i64, maxt: i64) -> Vec<Sample> {
        self.chunks
            .iter()
            .filter(|c| c.max_t >= mint && c.min_t <= maxt)
            .flat_map(|c| c.chunk.iter())
            .filter(|(t, _)| (mint..=maxt).contains(t))
            .map(|(timestamp_ms, value)| Sample { timestamp_ms, value })
            .collect()
    }
}

impl MemoryStorage {
    /// A head with no disk behind it.
    pub fn new() -> Self {
        Self::default()
    }

    /// The head's counters, for telemetry.
    pub fn stats(&self) -> Arc<HeadStats> {
        Arc::clone(&self.stats)
    }

    /// Opens the head whose WAL is in `wal_dir`: replays it (cutting off a
    /// torn tail), then logs every commit there.
    pub fn open(wal_dir: &std::path::Path) -> Result<(Self, OpenReport), StorageError> {
        let (wal, replay) = Wal::open(wal_dir).map_err(|e| StorageError::Io(format!("{}: {e}", wal_dir.display())))?;
        let mut inner = Inner::default();
        let mut report = OpenReport {
            segments: replay.segments,
            bytes: replay.bytes,
            corruption: replay.corruption,
            ..OpenReport::default()
        };
        for record in replay.records {
            match record {
                Record::Series { series, labels } => {
                    let index = series.0 as usize;
                    // References are dense but may be logged out of order
                    // (a series is logged by the first commit that uses it).
                    while inner.series.len() <= index {
                        inner.series.push(MemSeries {
                            labels: Labels::default(),
                            chunks: Vec::new(),
                            last: None,
                            logged: false,
                        });
                    }
                    inner.by_labels.insert(labels.clone(), series);
                    inner.postings.add(&labels, series);
                    inner.series[index].labels = labels;
                    inner.series[index].logged = true;
                    report.series += 1;
                }
                Record::Samples(samples) => {
                    for (series, sample) in samples {
                        match inner.series.get_mut(series.0 as usize).filter(|s| s.logged) {
                            Some(target) => {
                                if let Ok(true) = check_order(target.last.as_ref(), sample) {
                                    target.push(sample);
                                    report.samples += 1;
                                }
                            }
                            None => report.orphan_samples += 1,
                        }
                    }
                }
            }
        }
        inner.postings.sort();
        inner.wal = Some(wal);
        let stats = Arc::new(HeadStats::default());
        HeadStats::add(&stats.series, report.series as u64);
        HeadStats::add(&stats.wal_corruptions, u64::from(report.corruption.is_some()));
        Ok((MemoryStorage { inner: RwLock::new(inner), stats }, report))
    }

    /// Number of series held.
    pub fn series_count(&self) -> usize {
        self.read().series.iter().filter(|s| s.last.is_some()).count()
    }

    /// Cardinality figures for `/api/v1/status/tsdb`, computed from the
    /// label index as Prometheus computes its head's postings stats: the
    /// `limit` largest of each list, largest first (ties by name, so the
    /// answer is stable).
    pub fn cardinality(&self, limit: usize) -> Cardinality {
        let inner = self.read();
        let mut out = Cardinality { min_time: i64::MAX, max_time: i64::MIN, ..Cardinality::default() };
        for series in inner.series.iter().filter(|s| s.last.is_some()) {
            out.num_series += 1;
            out.chunk_count += series.chunks.len() as u64;
            if let (Some(first), Some(last)) = (series.chunks.first(), series.chunks.last()) {
                out.min_time = out.min_time.min(first.min_t);
                out.max_time = out.max_time.max(last.max_t);
            }
        }
        // The in-memory size of a label as Prometheus's string labels count
        // it: each string with its varint length prefix.
        let label_size = |s: &str| {
            let mut prefix = 1;
            let mut n = s.len() >> 7;
            while n > 0 {
                prefix += 1;
                n >>= 7;
            }
            (prefix + s.len()) as u64
        };
        for (name, values) in &inner.postings.0 {
            out.label_value_count_by_label_name.push((name.clone(), values.len() as u64));
            out.num_label_pairs += values.len() as u64;
            let mut bytes = 0;
            for (value, series) in values {
                let count = series.len() as u64;
                if name == vigil_shared::model::METRIC_NAME {
                    out.series_count_by_metric_name.push((value.clone(), count));
                }
                out.series_count_by_label_value_pair.push((format!("{name}={value}"), count));
                bytes += (label_size(name) + label_size(value)) * count;
            }
            out.memory_in_bytes_by_label_name.push((name.clone(), bytes));
        }
        for list in [
            &mut out.series_count_by_metric_name,
            &mut out.label_value_count_by_label_name,
            &mut out.memory_in_bytes_by_label_name,
            &mut out.series_count_by_label_value_pair,
        ] {
            list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            list.truncate(limit);
        }
        out
    }

    // A poisoned lock means a writer panicked mid-commit; every mutation is a
    // single push, so the data is still consistent: keep going.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Storage for MemoryStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemoryAppender { storage: self, pending: Vec::new(), series_added: 0 })
    }

    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(MemoryQuerier { storage: self, mint, maxt }))
    }
}

struct MemoryAppender<'a> {
    storage: &'a MemoryStorage,
    pending: Vec<(SeriesRef, Sample)>,
    series_added: usize,
}

impl Appender for MemoryAppender<'_> {
    fn series_ref(&mut self, labels: &Labels) -> SeriesRef {
        if let Some(r) = self.storage.read().by_labels.get(labels) {
            return *r;
        }
        let mut inner = self.storage.write();
        if let Some(r) = inner.by_labels.get(labels) {
            return *r;
        }
        let r = SeriesRef(inner.series.len() as u64);
        inner.series.push(MemSeries { labels: labels.clone(), chunks: Vec::new(), last: None, logged: false });
        inner.by_labels.insert(labels.clone(), r);
        inner.postings.add(labels, r);
        self.series_added += 1;
        HeadStats::add(&self.storage.stats.series, 1);
        r
    }

    fn append_ref(&mut self, series: SeriesRef, sample: Sample) {
        self.pending.push((series, sample));
    }

    fn commit(self: Box<Self>) -> Result<CommitReport, StorageError> {
        let mut report = CommitReport { series_added: self.series_added, ..CommitReport::default() };
        let mut guard = self.storage.write();
        let inner = &mut *guard;
        let mut accepted = Vec::with_capacity(self.pending.len());
        for (series, sample) in self.pending {
            let Some(target) = inner.series.get_mut(series.0 as usize) else {
                report.unknown_series += 1;
                continue;
            };
            match check_order(target.last.as_ref(), sample) {
                Ok(true) => {
                    if !target.logged {
                        // The log must describe a series before its samples.
                        if let Some(wal) = inner.wal.as_mut() {
                            wal.log_series(series, &target.labels);
                        }
                        target.logged = true;
                    }
                    target.push(sample);
                    accepted.push((series, sample));
                    report.appended += 1;
                }
                Ok(false) => {}
                Err(AppendError::OutOfOrder) => report.out_of_order += 1,
                Err(AppendError::DuplicateTimestamp) => report.duplicates += 1,
            }
        }
        let stats = &self.storage.stats;
        HeadStats::add(&stats.samples_appended, report.appended as u64);
        HeadStats::add(&stats.out_of_order_samples, report.out_of_order as u64);
        HeadStats::add(&stats.duplicate_samples, report.duplicates as u64);
        if let Some(wal) = inner.wal.as_mut() {
            wal.log_samples(&accepted);
            // The acknowledgement point: an error here means the batch is
            // not durable, and the caller is told so.
            match wal.flush() {
                Ok(bytes) => HeadStats::add(&stats.wal_bytes_written, bytes as u64),
                Err(e) => {
                    HeadStats::add(&stats.wal_writes_failed, 1);
                    return Err(StorageError::Io(format!("writing the WAL: {e}")));
                }
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
        let inner = self.storage.read();
        let read = |s: &MemSeries| -> Option<Series> {
            if !matchers.iter().all(|m| m.matches(s.labels.get(&m.name).unwrap_or(""))) {
                return None;
            }
            let samples = s.samples_between(self.mint, self.maxt);
            (!samples.is_empty()).then(|| Series { labels: s.labels.clone(), samples })
        };
        let mut out: Vec<Series> = match inner.postings.candidates(matchers) {
            Some(refs) => refs.iter().filter_map(|r| inner.series.get(*r as usize)).filter_map(read).collect(),
            None => inner.series.iter().filter_map(read).collect(),
        };
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
    fn cardinality_counts_the_index_largest_first() {
        let storage = MemoryStorage::new();
        assert_eq!(storage.cardinality(10).min_time, i64::MAX);
        let mut app = storage.appender();
        app.append(&labels("up", "a"), Sample { timestamp_ms: 1000, value: 1.0 });
        app.append(&labels("up", "b"), Sample { timestamp_ms: 3000, value: 1.0 });
        app.append(&labels("go", "a"), Sample { timestamp_ms: 2000, value: 1.0 });
        app.commit().unwrap();
        let c = storage.cardinality(1);
        assert_eq!((c.num_series, c.num_label_pairs, c.chunk_count), (3, 4, 3));
        assert_eq!((c.min_time, c.max_time), (1000, 3000));
        assert_eq!(c.series_count_by_metric_name, vec![("up".to_owned(), 2)]);
        assert_eq!(c.label_value_count_by_label_name, vec![("__name__".to_owned(), 2)]);
        assert_eq!(c.series_count_by_label_value_pair, vec![("__name__=up".to_owned(), 2)]);
        // "__name__" (1+8) with "up" (1+2) in two series, "go" in one: 36;
        // "job" (1+3) with "a" twice and "b" once: 18.
        assert_eq!(c.memory_in_bytes_by_label_name, vec![("__name__".to_owned(), 36)]);
        let all = storage.cardinality(10);
        assert_eq!(all.memory_in_bytes_by_label_name[1], ("job".to_owned(), 18));
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
        assert_eq!(report, CommitReport { appended: 3, series_added: 2, ..CommitReport::default() });

        let q = storage.querier(1500, 10_000).unwrap();
        let got = q.select(&[Matcher::new(MatchOp::Equal, "job", "a").unwrap()]).unwrap();
        assert_eq!(
            got,
            vec![Series { labels: labels("up", "a"), samples: vec![Sample { timestamp_ms: 2000, value: 1.0 }] }]
        );
    }

    #[test]
    fn references_are_stable_and_unknown_ones_are_counted() {
        let storage = MemoryStorage::new();
        let mut app = storage.appender();
        let a = app.series_ref(&labels("x", "a"));
        assert_eq!(app.series_ref(&labels("x", "a")), a);
        app.append_ref(a, Sample { timestamp_ms: 1, value: 1.0 });
        app.append_ref(SeriesRef(999), Sample { timestamp_ms: 1, value: 1.0 });
        let report = app.commit().unwrap();
        assert_eq!((report.appended, report.series_added, report.unknown_series), (1, 1, 1));
        let mut app = storage.appender();
        assert_eq!(app.series_ref(&labels("x", "a")), a, "a later batch gets the same reference");
        assert_eq!(app.commit().unwrap().series_added, 0);
    }

    #[test]
    fn many_samples_span_chunks_and_read_back_by_range() {
        let storage = MemoryStorage::new();
        let l = labels("x", "a");
        let mut app = storage.appender();
        for i in 0..1000 {
            app.append(&l, Sample { timestamp_ms: i * 1000, value: i as f64 });
        }
        assert_eq!(app.commit().unwrap().appended, 1000);
        let q = storage.querier(250_000, 749_999).unwrap();
        let got = q.select(&[Matcher::new(MatchOp::Equal, "job", "a").unwrap()]).unwrap();
        let values: Vec<f64> = got[0].samples.iter().map(|s| s.value).collect();
        assert_eq!(values, (250..750).map(|i| i as f64).collect::<Vec<_>>());
        assert_eq!(storage.read().series[0].chunks.len(), 9, "1000 samples in chunks of 120");
    }

    #[test]
    fn a_reopened_head_has_every_committed_sample_and_nothing_uncommitted() {
        let dir =
            std::env::temp_dir().join(format!("vigil-head-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let (head, report) = MemoryStorage::open(&dir).unwrap();
            assert_eq!((report.series, report.samples), (0, 0));
            // A series created by a batch that never commits, then used by
            // one that does: it must still be described in the log.
            let mut dropped = head.appender();
            let orphan = dropped.series_ref(&labels("x", "later"));
            drop(dropped);
            let mut app = head.appender();
            for i in 0..300 {
                app.append(&labels("x", "a"), Sample { timestamp_ms: i * 1000, value: i as f64 });
            }
            app.append_ref(orphan, Sample { timestamp_ms: 5, value: 5.0 });
            app.commit().unwrap();
            let mut uncommitted = head.appender();
            uncommitted.append(&labels("x", "a"), Sample { timestamp_ms: 999_999, value: 1.0 });
            drop(uncommitted);
        }
        let (head, report) = MemoryStorage::open(&dir).unwrap();
        assert_eq!((report.series, report.samples, report.orphan_samples), (2, 301, 0));
        assert!(report.corruption.is_none());
        let q = head.querier(i64::MIN / 2, i64::MAX / 2).unwrap();
        let a = q.select(&[Matcher::new(MatchOp::Equal, "job", "a").unwrap()]).unwrap();
        assert_eq!(a[0].samples.len(), 300);
        assert_eq!(a[0].samples[299], Sample { timestamp_ms: 299_000, value: 299.0 });
        let later = q.select(&[Matcher::new(MatchOp::Equal, "job", "later").unwrap()]).unwrap();
        assert_eq!(later[0].samples, [Sample { timestamp_ms: 5, value: 5.0 }]);
        // New series after a replay get fresh references.
        let mut app = head.appender();
        let fresh = app.series_ref(&labels("x", "new"));
        assert_eq!(fresh, SeriesRef(2));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The index must select exactly what a scan of every series selects.
    #[test]
    fn index_lookups_agree_with_a_full_scan() {
        let storage = MemoryStorage::new();
        let mut app = storage.appender();
        for i in 0..500u32 {
            let labels = Labels::from_pairs([
                ("__name__", format!("m{}", i % 7)),
                ("job", format!("j{}", i % 3)),
                ("pod", format!("p{i}")),
                ("zone", if i % 4 == 0 { String::new() } else { format!("z{}", i % 5) }),
            ]);
            app.append(&labels, Sample { timestamp_ms: 1, value: f64::from(i) });
        }
        app.commit().unwrap();
        let q = storage.querier(0, 10).unwrap();
        let selectors = [
            "m1",
            "m1{job=\"j2\"}",
            "{job=~\"j1|j2\", zone!=\"z1\"}",
            "{__name__=~\"m[0-3]\", zone=\"\"}",
            "{pod=~\"p1.*\", job!~\"j0\"}",
            "m9",
            "{zone=~\"z.*\"}",
            "{job=\"j1\", pod=\"p4\"}",
            "{job=\"j1\", pod=\"p7\"}",
        ];
        for text in selectors {
            let Ok(vigil_shared::promql::Expr::VectorSelector(selector)) = vigil_shared::promql::parse(text) else {
                panic!("{text}")
            };
            let indexed: Vec<String> =
                q.select(&selector.matchers).unwrap().iter().map(|s| s.labels.to_string()).collect();
            let inner = storage.read();
            let mut scanned: Vec<String> = inner
                .series
                .iter()
                .filter(|s| selector.matchers.iter().all(|m| m.matches(s.labels.get(&m.name).unwrap_or(""))))
                .map(|s| s.labels.to_string())
                .collect();
            scanned.sort();
            assert_eq!(indexed.len(), scanned.len(), "{text}");
            let mut indexed_sorted = indexed.clone();
            indexed_sorted.sort();
            assert_eq!(indexed_sorted, scanned, "{text}");
        }
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
