//! The head: series and their recent samples in memory, compressed in XOR
//! chunks of up to 120 samples, behind the [`Storage`] traits.
//!
//! Opened on a folder ([`MemoryStorage::open`]), every commit is written to
//! the write-ahead log before it returns, and the log is replayed on the next
//! start, so acknowledged samples survive a crash. Built with
//! [`MemoryStorage::new`] it keeps nothing on disk (tests).
//!
//! With a block range ([`HeadOptions::block_range`]) the head is the newest
//! part of a [`Db`](super::Db): chunks are cut at block-range boundaries,
//! so the oldest range can be copied into a block ([`Self::chunks_in_range`])
//! and then dropped whole ([`Self::truncate`]); samples older than the head
//! keeps (`min_valid_time`, or half a block range before the newest sample,
//! as in Prometheus) are refused as out of bounds.
//!
//! With an out-of-order window ([`MemoryStorage::set_out_of_order_window`],
//! Prometheus's `storage.tsdb.out_of_order_time_window`), a sample older than
//! its series' newest but no older than the window before the head's newest
//! sample is kept, sorted, beside the in-order chunks; queries merge the two
//! (an in-order sample wins a tie) and block cuts copy both. Outside the
//! window it is refused as too old. The window is capped by the range the
//! head may still write to (half a block range, the in-order rule), so an
//! out-of-order sample never lands in a range already cut into a block:
//! Prometheus instead writes such samples into blocks of their own and merges
//! overlapping blocks, which Vigil does not do yet.

use std::collections::HashMap;

use rustc_hash::FxHashSet;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use vigil_shared::model::Labels;
use vigil_shared::promql::{MatchOp, Matcher};

use super::chunk::{SAMPLES_PER_CHUNK, XorChunk};
use super::stats::HeadStats;
use super::wal::{self, CheckpointReport, Record, Wal};
use super::{AppendError, Appender, CommitReport, Querier, Sample, Series, SeriesRef, Storage, StorageError};

/// Series in a dense slab indexed by [`SeriesRef`], plus a label index to
/// find or create them. A slot freed by truncation is reused with a new
/// generation, so a reference a writer kept for a series the head has since
/// dropped is reported unknown, never taken for another series.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    inner: RwLock<Inner>,
    stats: Arc<HeadStats>,
    wal_dir: Option<PathBuf>,
}

/// How a head on disk is run.
#[derive(Debug, Clone)]
pub struct HeadOptions {
    /// Width of a block in milliseconds; `None`: the head is never cut.
    pub block_range: Option<i64>,
    /// Samples before this are in blocks already: replay skips them and
    /// appends refuse them.
    pub min_valid_time: i64,
    /// Where a stats object is shared with the rest of the database.
    pub stats: Option<Arc<HeadStats>>,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions { block_range: None, min_valid_time: i64::MIN, stats: None }
    }
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
    /// Samples in the log older than `min_valid_time`: blocks hold them.
    pub samples_in_blocks: usize,
}

/// What a truncation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TruncateReport {
    pub chunks_removed: usize,
    pub series_removed: usize,
    /// The last WAL segment closed by the truncation: a checkpoint through
    /// it may now be written.
    pub wal_segment: Option<u32>,
}

#[derive(Debug)]
struct Inner {
    by_labels: HashMap<Labels, SeriesRef>,
    series: Slab,
    wal: Option<Wal>,
    /// The inverted index: label name → value → series, ascending.
    postings: Postings,
    block_range: Option<i64>,
    min_valid_time: i64,
    /// Oldest and newest sample held (`i64::MAX`, `i64::MIN` when empty).
    min_t: i64,
    max_t: i64,
    /// Truncations so far.
    epoch: u64,
    /// Out-of-order window in milliseconds; 0 refuses every sample older
    /// than its series' newest.
    ooo_window: i64,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            by_labels: HashMap::new(),
            series: Slab::default(),
            wal: None,
            postings: Postings::default(),
            block_range: None,
            min_valid_time: i64::MIN,
            min_t: i64::MAX,
            max_t: i64::MIN,
            epoch: 0,
            ooo_window: 0,
        }
    }
}

impl Inner {
    /// The oldest timestamp an append may have: at least `min_valid_time`,
    /// and with a block range no older than half of one before the newest
    /// sample (Prometheus's rule), so the range being cut into a block is
    /// never written to.
    fn appendable_min_valid_time(&self) -> i64 {
        match self.block_range {
            Some(range) if self.max_t != i64::MIN => self.min_valid_time.max(self.max_t.saturating_sub(range / 2)),
            _ => self.min_valid_time,
        }
    }

    fn note_time(&mut self, t: i64) {
        self.min_t = self.min_t.min(t);
        self.max_t = self.max_t.max(t);
    }
}

/// Label name → label value → the series carrying that pair, in ascending
/// reference order (series are created in that order; replay sorts).
#[derive(Debug, Default)]
struct Postings(HashMap<String, HashMap<String, Vec<u64>>>);

impl Postings {
    /// Adds `series` to the lists of its labels, keeping them ascending: a
    /// new series is usually the largest reference (appended), but one in a
    /// reused slot goes where it belongs.
    fn add(&mut self, labels: &Labels, series: SeriesRef) {
        for label in labels.iter() {
            let list = self.0.entry(label.name.clone()).or_default().entry(label.value.clone()).or_default();
            match list.last() {
                Some(last) if *last > series.0 => {
                    if let Err(at) = list.binary_search(&series.0) {
                        list.insert(at, series.0);
                    }
                }
                _ => list.push(series.0),
            }
        }
    }

    /// Removes one series from the lists of its labels.
    fn remove(&mut self, labels: &Labels, series: SeriesRef) {
        for label in labels.iter() {
            let Some(values) = self.0.get_mut(&label.name) else { continue };
            if let Some(list) = values.get_mut(&label.value) {
                if let Ok(at) = list.binary_search(&series.0) {
                    list.remove(at);
                }
                if list.is_empty() {
                    values.remove(&label.value);
                }
            }
            if values.is_empty() {
                self.0.remove(&label.name);
            }
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

    /// Keeps only the series `live` accepts.
    fn retain(&mut self, live: impl Fn(u64) -> bool) {
        for values in self.0.values_mut() {
            for list in values.values_mut() {
                list.retain(|r| live(*r));
            }
            values.retain(|_, list| !list.is_empty());
        }
        self.0.retain(|_, values| !values.is_empty());
    }

    /// Series that may match: the intersection over matchers that need a
    /// non-empty value (`=`, or `=~` not matching ""), each answered from
    /// the index. `None` when no matcher narrows the set (scan everything).
    fn candidates(&self, matchers: &[Matcher]) -> Option<Vec<u64>> {
        let mut result: Option<Vec<u64>> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty() && matches!(m.op, MatchOp::Equal | MatchOp::Regex)) {
            let values = self.0.get(&m.name);
            let mut list: Vec<u64> = match (m.op, values) {
                (_, None) => Vec::new(),
                (MatchOp::Equal, Some(values)) => values.get(&m.value).cloned().unwrap_or_default(),
                (_, Some(values)) => {
                    let mut union: Vec<u64> =
                        values.iter().filter(|(v, _)| m.matches(v)).flat_map(|(_, l)| l.iter().copied()).collect();
                    union.sort_unstable();
                    union.dedup();
                    union
                }
            };
            if let Some(previous) = result {
                list = super::block::intersect(&previous, &list);
            }
            if list.is_empty() {
                return Some(list);
            }
            result = Some(list);
        }
        result
    }
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
    /// The head's truncation count when the series was created.
    epoch: u64,
    /// Samples accepted out of order, sorted by time, unique timestamps.
    /// Boxed, so a series without any (most) pays 8 bytes, not a `Vec`'s 24.
    #[allow(clippy::box_collection)]
    ooo: Option<Box<Vec<Sample>>>,
}

impl MemSeries {
    fn new(labels: Labels, epoch: u64) -> Self {
        MemSeries { labels, chunks: Vec::new(), last: None, logged: false, epoch, ooo: None }
    }

    /// Keeps an out-of-order sample; `false` if one with its timestamp is
    /// there already (dropped, as Prometheus's out-of-order chunk does).
    fn insert_ooo(&mut self, sample: Sample) -> bool {
        let ooo = self.ooo.get_or_insert_with(Default::default);
        match ooo.binary_search_by_key(&sample.timestamp_ms, |s| s.timestamp_ms) {
            Ok(_) => false,
            Err(at) => {
                ooo.insert(at, sample);
                true
            }
        }
    }

    /// The oldest sample time held, in order or not.
    fn min_time(&self) -> Option<i64> {
        let in_order = self.chunks.first().map(|c| c.min_t);
        let ooo = self.ooo.as_ref().and_then(|o| o.first()).map(|s| s.timestamp_ms);
        match (in_order, ooo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The head's series, densely: a reference is a slot index (low 32 bits)
/// and the slot's generation (high 32 bits), so a commit reaches a series
/// by indexing, with no hashing, and samples of one scrape (created
/// together) sit next to each other in memory. Freed slots are reused with
/// the next generation; a reference of an older generation is unknown.
#[derive(Debug, Default)]
struct Slab {
    slots: Vec<Slot>,
    /// Empty slots, reused last-freed first.
    free: Vec<u32>,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    series: Option<MemSeries>,
}

fn split_ref(r: SeriesRef) -> (usize, u32) {
    ((r.0 & u64::from(u32::MAX)) as usize, (r.0 >> 32) as u32)
}

fn make_ref(index: usize, generation: u32) -> SeriesRef {
    SeriesRef((u64::from(generation) << 32) | index as u64)
}

impl Slab {
    fn get(&self, r: SeriesRef) -> Option<&MemSeries> {
        let (index, generation) = split_ref(r);
        self.slots.get(index).filter(|s| s.generation == generation).and_then(|s| s.series.as_ref())
    }

    fn get_mut(&mut self, r: SeriesRef) -> Option<&mut MemSeries> {
        let (index, generation) = split_ref(r);
        self.slots.get_mut(index).filter(|s| s.generation == generation).and_then(|s| s.series.as_mut())
    }

    fn contains(&self, r: SeriesRef) -> bool {
        self.get(r).is_some()
    }

    /// Stores a new series in a free slot (or a new one) and returns its
    /// reference.
    fn insert(&mut self, series: MemSeries) -> SeriesRef {
        while let Some(index) = self.free.pop() {
            let Some(slot) = self.slots.get_mut(index as usize) else { continue };
            if slot.series.is_some() {
                continue;
            }
            // A slot whose generations are used up is retired, never reused.
            let Some(generation) = slot.generation.checked_add(1) else { continue };
            slot.generation = generation;
            slot.series = Some(series);
            return make_ref(index as usize, generation);
        }
        self.slots.push(Slot { generation: 0, series: Some(series) });
        make_ref(self.slots.len() - 1, 0)
    }

    /// Places a series at the reference the WAL gave it (replay). A series
    /// of an older generation in that slot was dropped before this one was
    /// created, and is returned for the caller to unindex; a record of an
    /// older generation than the slot's is stale and refused (`Err`).
    fn place(&mut self, r: SeriesRef, series: MemSeries) -> Result<Option<(SeriesRef, MemSeries)>, MemSeries> {
        let (index, generation) = split_ref(r);
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, Slot::default);
        }
        let slot = &mut self.slots[index];
        if slot.series.is_some() && slot.generation >= generation {
            return Err(series);
        }
        let old = make_ref(index, slot.generation);
        slot.generation = slot.generation.max(generation);
        Ok(slot.series.replace(series).map(|dropped| (old, dropped)))
    }

    /// After a replay: every empty slot is free.
    fn rebuild_free_list(&mut self) {
        self.free = (0..self.slots.len()).rev().filter(|i| self.slots[*i].series.is_none()).map(|i| i as u32).collect();
    }

    fn remove(&mut self, r: SeriesRef) -> Option<MemSeries> {
        let (index, generation) = split_ref(r);
        let slot = self.slots.get_mut(index).filter(|s| s.generation == generation)?;
        let series = slot.series.take()?;
        self.free.push(index as u32);
        Some(series)
    }

    fn iter(&self) -> impl Iterator<Item = (SeriesRef, &MemSeries)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| s.series.as_ref().map(|m| (make_ref(i, s.generation), m)))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (SeriesRef, &mut MemSeries)> {
        self.slots.iter_mut().enumerate().filter_map(|(i, s)| s.series.as_mut().map(|m| (make_ref(i, s.generation), m)))
    }

    fn values(&self) -> impl Iterator<Item = &MemSeries> {
        self.slots.iter().filter_map(|s| s.series.as_ref())
    }
}

/// A chunk with the time range it covers, so queries skip chunks outside
/// their range without decoding them.
#[derive(Debug)]
struct TimedChunk {
    min_t: i64,
    max_t: i64,
    chunk: XorChunk,
}

/// The end (exclusive) of the block range holding `t`.
pub fn range_end(t: i64, range: i64) -> i64 {
    t.div_euclid(range).saturating_add(1).saturating_mul(range)
}

impl MemSeries {
    fn push(&mut self, sample: Sample, block_range: Option<i64>) {
        let full = self.chunks.last().is_none_or(|c| {
            c.chunk.num_samples() >= SAMPLES_PER_CHUNK
                || block_range.is_some_and(|r| sample.timestamp_ms >= range_end(c.min_t, r))
        });
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
        let in_order: Vec<Sample> = self
            .chunks
            .iter()
            .filter(|c| c.max_t >= mint && c.min_t <= maxt)
            .flat_map(|c| c.chunk.iter())
            .filter(|(t, _)| (mint..=maxt).contains(t))
            .map(|(timestamp_ms, value)| Sample { timestamp_ms, value })
            .collect();
        match &self.ooo {
            Some(ooo) => {
                let lo = ooo.partition_point(|s| s.timestamp_ms < mint);
                let hi = ooo.partition_point(|s| s.timestamp_ms <= maxt);
                merge_sorted(in_order, &ooo[lo..hi])
            }
            None => in_order,
        }
    }
}

/// Merges out-of-order samples (sorted) into in-order ones (sorted); an
/// in-order sample wins a tie.
fn merge_sorted(in_order: Vec<Sample>, ooo: &[Sample]) -> Vec<Sample> {
    if ooo.is_empty() {
        return in_order;
    }
    let mut out = Vec::with_capacity(in_order.len() + ooo.len());
    let mut extra = ooo.iter().peekable();
    for s in in_order {
        while let Some(o) = extra.next_if(|o| o.timestamp_ms <= s.timestamp_ms) {
            if o.timestamp_ms < s.timestamp_ms {
                out.push(*o);
            }
        }
        out.push(s);
    }
    out.extend(extra);
    out
}

/// Encodes time-ordered samples into chunks of at most
/// [`SAMPLES_PER_CHUNK`].
fn encode_chunks(samples: &[Sample]) -> Vec<ChunkCopy> {
    samples
        .chunks(usize::from(SAMPLES_PER_CHUNK))
        .filter_map(|part| {
            let (first, last) = (part.first()?, part.last()?);
            let mut chunk = XorChunk::new();
            for s in part {
                chunk.append(s.timestamp_ms, s.value);
            }
            Some((first.timestamp_ms, last.timestamp_ms, chunk.bytes()))
        })
        .collect()
}

impl MemSeries {
    /// Drops the samples in `[mint, maxt]` (a deletion); returns how many.
    /// `last` stays, so appends keep their order rule, as Prometheus's head
    /// keeps a series' newest time under a tombstone.
    fn delete_range(&mut self, mint: i64, maxt: i64) -> usize {
        let mut removed = 0;
        let mut kept = Vec::with_capacity(self.chunks.len());
        for c in self.chunks.drain(..) {
            if c.max_t < mint || c.min_t > maxt {
                kept.push(c);
                continue;
            }
            let before = usize::from(c.chunk.num_samples());
            let part = rechunk(&c, |t| t < mint || t > maxt);
            removed += before - part.as_ref().map_or(0, |p| usize::from(p.chunk.num_samples()));
            kept.extend(part);
        }
        self.chunks = kept;
        if let Some(ooo) = self.ooo.as_mut() {
            let before = ooo.len();
            ooo.retain(|s| s.timestamp_ms < mint || s.timestamp_ms > maxt);
            removed += before - ooo.len();
            if ooo.is_empty() {
                self.ooo = None;
            }
        }
        removed
    }
}

/// Re-encodes the samples of `chunk` that `keep` accepts; `None` if none.
fn rechunk(chunk: &TimedChunk, keep: impl Fn(i64) -> bool) -> Option<TimedChunk> {
    let mut out: Option<TimedChunk> = None;
    for (t, v) in chunk.chunk.iter().filter(|(t, _)| keep(*t)) {
        let c = out.get_or_insert_with(|| TimedChunk { min_t: t, max_t: t, chunk: XorChunk::new() });
        c.chunk.append(t, v);
        c.max_t = t;
    }
    out
}

/// Applies one replayed WAL record to the head being opened.
fn replay_record(inner: &mut Inner, report: &mut OpenReport, record: Record) {
    match record {
        Record::Series { series, labels } => {
            let mut target = MemSeries::new(labels.clone(), 0);
            target.logged = true;
            match inner.series.place(series, target) {
                Err(_) => return,
                Ok(Some((old, dropped))) => {
                    // The slot was reused after a truncation dropped the
                    // older series (its samples are in blocks).
                    inner.by_labels.remove(&dropped.labels);
                    inner.postings.remove(&dropped.labels, old);
                    report.series = report.series.saturating_sub(1);
                }
                Ok(None) => {}
            }
            inner.by_labels.insert(labels.clone(), series);
            inner.postings.add(&labels, series);
            report.series += 1;
        }
        Record::Samples(samples) => {
            let range = inner.block_range;
            for (series, sample) in samples {
                if sample.timestamp_ms < inner.min_valid_time {
                    report.samples_in_blocks += 1;
                    continue;
                }
                match inner.series.get_mut(series) {
                    Some(target) => {
                        // The log holds only accepted samples: one older than
                        // its series' newest was accepted out of order.
                        let stored = match check_order(target.last.as_ref(), sample) {
                            Ok(true) => {
                                target.push(sample, range);
                                true
                            }
                            Ok(false) | Err(AppendError::DuplicateTimestamp) => false,
                            Err(AppendError::OutOfOrder) => target.insert_ooo(sample),
                        };
                        if stored {
                            report.samples += 1;
                            inner.note_time(sample.timestamp_ms);
                        }
                    }
                    None => report.orphan_samples += 1,
                }
            }
        }
        Record::Tombstones(tombstones) => {
            for t in tombstones {
                if let Some(target) = inner.series.get_mut(t.series) {
                    target.delete_range(t.mint, t.maxt);
                }
            }
        }
    }
}

/// A copy of a head chunk for a block: `(min_t, max_t, encoded bytes)`.
pub type ChunkCopy = (i64, i64, Vec<u8>);

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
        Self::open_with(wal_dir, HeadOptions::default())
    }

    /// [`Self::open`] with a block range and the time blocks end at.
    pub fn open_with(wal_dir: &std::path::Path, options: HeadOptions) -> Result<(Self, OpenReport), StorageError> {
        let mut inner =
            Inner { block_range: options.block_range, min_valid_time: options.min_valid_time, ..Inner::default() };
        let mut report = OpenReport::default();
        let (wal, replay) = Wal::open_with(wal_dir, |record| replay_record(&mut inner, &mut report, record))
            .map_err(|e| StorageError::Io(format!("{}: {e}", wal_dir.display())))?;
        report.segments = replay.segments;
        report.bytes = replay.bytes;
        report.corruption = replay.corruption;
        inner.postings.sort();
        inner.series.rebuild_free_list();
        inner.wal = Some(wal);
        let stats = options.stats.unwrap_or_default();
        HeadStats::add(&stats.series, report.series as u64);
        HeadStats::add(&stats.wal_corruptions, u64::from(report.corruption.is_some()));
        let storage = MemoryStorage { inner: RwLock::new(inner), stats, wal_dir: Some(wal_dir.to_owned()) };
        storage.publish_times();
        Ok((storage, report))
    }

    /// Sets the out-of-order window (ms; 0 turns it off), effective from
    /// the next commit. Samples already accepted stay.
    pub fn set_out_of_order_window(&self, window_ms: i64) {
        self.write().ooo_window = window_ms.max(0);
    }

    /// Number of series held.
    pub fn series_count(&self) -> usize {
        self.read().series.values().filter(|s| s.last.is_some()).count()
    }

    /// Oldest and newest sample held, if any.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let inner = self.read();
        (inner.min_t <= inner.max_t).then_some((inner.min_t, inner.max_t))
    }

    fn publish_times(&self) {
        let (min, max) = self.time_range().unwrap_or((i64::MAX, i64::MIN));
        self.stats.head_min_time.store(min, std::sync::atomic::Ordering::Relaxed);
        self.stats.head_max_time.store(max, std::sync::atomic::Ordering::Relaxed);
    }

    /// The oldest block range of the head, `[mint, maxt)`, once the head
    /// spans more than one and a half block ranges (Prometheus's rule: the
    /// newest data stays in memory for recent queries and late appends).
    pub fn compactable_range(&self) -> Option<(i64, i64)> {
        let inner = self.read();
        let range = inner.block_range?;
        let spans = inner.min_t <= inner.max_t && inner.max_t.saturating_sub(inner.min_t) > range / 2 * 3;
        spans.then(|| (inner.min_t, range_end(inner.min_t, range)))
    }

    /// Copies of every series' chunks with samples in `[mint, maxt)`. With
    /// chunks cut at block boundaries they are copied as they are; a chunk
    /// across `maxt` (from a head without a block range) is re-encoded.
    pub fn chunks_in_range(&self, mint: i64, maxt: i64) -> Vec<(Labels, Vec<ChunkCopy>)> {
        let inner = self.read();
        let mut out = Vec::new();
        for s in inner.series.values() {
            let ooo = s.ooo.as_deref().map_or(&[][..], |o| {
                let lo = o.partition_point(|x| x.timestamp_ms < mint);
                let hi = o.partition_point(|x| x.timestamp_ms < maxt);
                &o[lo..hi]
            });
            if !ooo.is_empty() {
                // Out-of-order samples in the range: merge and re-encode.
                let samples = s.samples_between(mint, maxt.saturating_sub(1));
                let copies = encode_chunks(&samples);
                if !copies.is_empty() {
                    out.push((s.labels.clone(), copies));
                }
                continue;
            }
            let mut copies = Vec::new();
            for c in s.chunks.iter().filter(|c| c.max_t >= mint && c.min_t < maxt) {
                if c.min_t >= mint && c.max_t < maxt {
                    copies.push((c.min_t, c.max_t, c.chunk.bytes()));
                } else if let Some(part) = rechunk(c, |t| (mint..maxt).contains(&t)) {
                    copies.push((part.min_t, part.max_t, part.chunk.bytes()));
                }
            }
            if !copies.is_empty() {
                out.push((s.labels.clone(), copies));
            }
        }
        out
    }

    /// Drops every sample before `maxt` (a block holds them now), forgets
    /// series left without samples, refuses appends before `maxt` from now
    /// on, and closes the current WAL segment so that a checkpoint can
    /// replace the segments up to it ([`Self::checkpoint_wal`]).
    pub fn truncate(&self, maxt: i64) -> Result<TruncateReport, StorageError> {
        let mut report = TruncateReport::default();
        let mut guard = self.write();
        let inner = &mut *guard;
        inner.min_valid_time = inner.min_valid_time.max(maxt);
        let epoch = inner.epoch;
        let mut min_t = i64::MAX;
        let mut removed = Vec::new();
        for (r, s) in inner.series.iter_mut() {
            let before = s.chunks.len();
            let mut kept = Vec::with_capacity(s.chunks.len());
            for c in s.chunks.drain(..) {
                if c.min_t >= maxt {
                    kept.push(c);
                } else if c.max_t >= maxt {
                    kept.extend(rechunk(&c, |t| t >= maxt));
                }
            }
            s.chunks = kept;
            report.chunks_removed += before.saturating_sub(s.chunks.len());
            if let Some(ooo) = s.ooo.as_mut() {
                ooo.retain(|x| x.timestamp_ms >= maxt);
                if ooo.is_empty() {
                    s.ooo = None;
                }
            }
            if let Some(first) = s.min_time() {
                min_t = min_t.min(first);
            } else if s.last.is_some() || s.epoch < epoch {
                // No samples left: a series that went quiet, or one created
                // by a batch that never committed a truncation ago.
                removed.push(r);
            }
        }
        for r in &removed {
            if let Some(s) = inner.series.remove(*r) {
                inner.by_labels.remove(&s.labels);
            }
        }
        if !removed.is_empty() {
            let series = &inner.series;
            inner.postings.retain(|r| series.contains(SeriesRef(r)));
        }
        report.series_removed = removed.len();
        inner.min_t = min_t;
        if min_t == i64::MAX {
            inner.max_t = i64::MIN;
        }
        inner.epoch += 1;
        if let Some(wal) = inner.wal.as_mut() {
            let closed = wal.cut_segment().map_err(|e| StorageError::Io(format!("closing a WAL segment: {e}")))?;
            report.wal_segment = Some(closed);
        }
        drop(guard);
        HeadStats::sub(&self.stats.series, report.series_removed as u64);
        self.publish_times();
        Ok(report)
    }

    /// Replaces the WAL segments up to `through` with a checkpoint of the
    /// series the head still has and their samples at or after `mint`.
    pub fn checkpoint_wal(&self, through: u32, mint: i64) -> Result<CheckpointReport, StorageError> {
        let Some(dir) = &self.wal_dir else { return Ok(CheckpointReport::default()) };
        // Series created after this snapshot are described in later
        // segments only, so the live set is enough.
        let live: FxHashSet<u64> = self.read().series.iter().map(|(r, _)| r.0).collect();
        let keep = |r: SeriesRef| live.contains(&r.0);
        wal::checkpoint(dir, through, keep, mint).map_err(|e| StorageError::Io(format!("WAL checkpoint: {e}")))
    }

    /// Deletes the samples in `[mint, maxt]` of the series matching all
    /// `matchers` (`delete_series`). The deletion is logged to the WAL, and
    /// the log flushed, before any sample goes: once this returns `Ok` a
    /// crash keeps it deleted. Returns the series touched.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<usize, StorageError> {
        if mint > maxt {
            return Ok(0);
        }
        let mut guard = self.write();
        let inner = &mut *guard;
        let refs: Vec<u64> = match inner.postings.candidates(matchers) {
            Some(list) => list,
            None => inner.series.iter().map(|(r, _)| r.0).collect(),
        };
        let tombstones: Vec<wal::Tombstone> = refs
            .into_iter()
            .filter_map(|r| {
                let s = inner.series.get(SeriesRef(r))?;
                let matches = matchers.iter().all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")));
                let touched = s.chunks.iter().any(|c| c.max_t >= mint && c.min_t <= maxt)
                    || s.ooo.as_ref().is_some_and(|o| o.iter().any(|x| (mint..=maxt).contains(&x.timestamp_ms)));
                (matches && touched).then_some(wal::Tombstone { series: SeriesRef(r), mint, maxt })
            })
            .collect();
        if tombstones.is_empty() {
            return Ok(0);
        }
        if let Some(wal) = inner.wal.as_mut() {
            wal.log_tombstones(&tombstones);
            match wal.flush() {
                Ok(bytes) => HeadStats::add(&self.stats.wal_bytes_written, bytes as u64),
                Err(e) => {
                    HeadStats::add(&self.stats.wal_writes_failed, 1);
                    return Err(StorageError::Io(format!("writing the WAL: {e}")));
                }
            }
        }
        for t in &tombstones {
            if let Some(s) = inner.series.get_mut(t.series) {
                s.delete_range(mint, maxt);
            }
        }
        inner.min_t = inner.series.values().filter_map(MemSeries::min_time).min().unwrap_or(i64::MAX);
        drop(guard);
        self.publish_times();
        Ok(tombstones.len())
    }

    /// The WAL's folder, if the head has one.
    pub fn wal_dir(&self) -> Option<&std::path::Path> {
        self.wal_dir.as_deref()
    }

    /// Cardinality figures for `/api/v1/status/tsdb`, computed from the
    /// label index as Prometheus computes its head's postings stats: the
    /// `limit` largest of each list, largest first (ties by name, so the
    /// answer is stable).
    pub fn cardinality(&self, limit: usize) -> Cardinality {
        let inner = self.read();
        let mut out = Cardinality { min_time: i64::MAX, max_time: i64::MIN, ..Cardinality::default() };
        for series in inner.series.values().filter(|s| s.last.is_some()) {
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
        let epoch = inner.epoch;
        let r = inner.series.insert(MemSeries::new(labels.clone(), epoch));
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
        let min_valid = inner.appendable_min_valid_time();
        let range = inner.block_range;
        let (mut min_t, mut max_t) = (inner.min_t, inner.max_t);
        // As Prometheus: the window counts back from the head's newest
        // sample as the batch began.
        let ooo_window = inner.ooo_window;
        let ooo_min = if ooo_window > 0 && max_t != i64::MIN {
            min_valid.max(max_t.saturating_sub(ooo_window))
        } else {
            i64::MAX
        };
        let mut accepted = Vec::with_capacity(self.pending.len());
        for (series, sample) in self.pending {
            let Some(target) = inner.series.get_mut(series) else {
                report.unknown_series += 1;
                continue;
            };
            if sample.timestamp_ms < min_valid {
                if ooo_window > 0 {
                    report.too_old += 1;
                } else {
                    report.out_of_bounds += 1;
                }
                continue;
            }
            match check_order(target.last.as_ref(), sample) {
                Ok(true) => {
                    if !target.logged {
                        // The log must describe a series before its samples.
                        if let Some(wal) = inner.wal.as_mut() {
                            wal.log_series(series, &target.labels);
                        }
                        target.logged = true;
                    }
                    target.push(sample, range);
                    accepted.push((series, sample));
                    report.appended += 1;
                    min_t = min_t.min(sample.timestamp_ms);
                    max_t = max_t.max(sample.timestamp_ms);
                }
                Ok(false) => {}
                Err(AppendError::OutOfOrder) if ooo_window > 0 => {
                    if sample.timestamp_ms < ooo_min {
                        report.too_old += 1;
                    } else if target.insert_ooo(sample) {
                        if !target.logged {
                            if let Some(wal) = inner.wal.as_mut() {
                                wal.log_series(series, &target.labels);
                            }
                            target.logged = true;
                        }
                        accepted.push((series, sample));
                        report.appended += 1;
                        report.out_of_order_appended += 1;
                        min_t = min_t.min(sample.timestamp_ms);
                    }
                }
                Err(AppendError::OutOfOrder) => report.out_of_order += 1,
                Err(AppendError::DuplicateTimestamp) => report.duplicates += 1,
            }
        }
        (inner.min_t, inner.max_t) = (min_t, max_t);
        let stats = &self.storage.stats;
        HeadStats::add(&stats.samples_appended, report.appended as u64);
        HeadStats::add(&stats.out_of_order_samples, report.out_of_order as u64);
        HeadStats::add(&stats.out_of_bounds_samples, report.out_of_bounds as u64);
        HeadStats::add(&stats.duplicate_samples, report.duplicates as u64);
        HeadStats::add(&stats.too_old_samples, report.too_old as u64);
        HeadStats::add(&stats.out_of_order_appended, report.out_of_order_appended as u64);
        if report.appended > 0 {
            stats.head_min_time.store(min_t, std::sync::atomic::Ordering::Relaxed);
            stats.head_max_time.store(max_t, std::sync::atomic::Ordering::Relaxed);
        }
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
        Ok(self.storage.select(matchers, self.mint, self.maxt))
    }
}

impl MemoryStorage {
    /// Series matching all `matchers` with samples in `[mint, maxt]`,
    /// sorted by labels.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series> {
        let inner = self.read();
        let read = |s: &MemSeries| -> Option<Series> {
            if !matchers.iter().all(|m| m.matches(s.labels.get(&m.name).unwrap_or(""))) {
                return None;
            }
            let samples = s.samples_between(mint, maxt);
            (!samples.is_empty()).then(|| Series { labels: s.labels.clone(), samples })
        };
        let mut out: Vec<Series> = match inner.postings.candidates(matchers) {
            Some(refs) => refs.iter().filter_map(|r| inner.series.get(SeriesRef(*r))).filter_map(read).collect(),
            None => inner.series.values().filter_map(read).collect(),
        };
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
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
        assert_eq!(storage.read().series.get(SeriesRef(0)).unwrap().chunks.len(), 9, "1000 samples in chunks of 120");
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
                .values()
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

    fn temp_wal(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!(
            "vigil-head-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        ))
    }

    fn append_all(head: &MemoryStorage, samples: &[(&Labels, i64)]) -> CommitReport {
        let mut app = head.appender();
        for (l, t) in samples {
            app.append(l, Sample { timestamp_ms: *t, value: *t as f64 });
        }
        app.commit().unwrap()
    }

    #[test]
    fn chunks_are_cut_at_block_boundaries() {
        let dir = temp_wal("boundaries");
        let options = HeadOptions { block_range: Some(1000), ..HeadOptions::default() };
        let (head, _) = MemoryStorage::open_with(&dir, options).unwrap();
        let l = labels("x", "a");
        let samples: Vec<(&Labels, i64)> = (0..35).map(|i| (&l, i * 100)).collect();
        append_all(&head, &samples);
        let ranges: Vec<(i64, i64)> =
            head.read().series.get(SeriesRef(0)).unwrap().chunks.iter().map(|c| (c.min_t, c.max_t)).collect();
        assert_eq!(ranges, [(0, 900), (1000, 1900), (2000, 2900), (3000, 3400)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn truncation_drops_old_samples_and_quiet_series_and_survives_a_restart() {
        let dir = temp_wal("truncate");
        let options = HeadOptions { block_range: Some(1000), ..HeadOptions::default() };
        let (head, _) = MemoryStorage::open_with(&dir, options.clone()).unwrap();
        let (busy, quiet) = (labels("x", "busy"), labels("x", "quiet"));
        let mut samples: Vec<(&Labels, i64)> = (0..5).map(|i| (&quiet, i * 100)).collect();
        samples.extend((0..16).map(|i| (&busy, i * 100)));
        append_all(&head, &samples);
        assert_eq!(head.compactable_range(), None, "spanning 1.5 block ranges is not enough");
        append_all(&head, &(16..30).map(|i| (&busy, i * 100)).collect::<Vec<_>>());
        assert_eq!(head.compactable_range(), Some((0, 1000)));
        // Half a block range before the newest sample is out of bounds.
        let late = labels("x", "late");
        assert_eq!(append_all(&head, &[(&late, 2300), (&late, 2400)]).out_of_bounds, 1);

        let copies = head.chunks_in_range(0, 1000);
        let mut counts: Vec<(String, usize)> = copies
            .iter()
            .map(|(l, c)| {
                (l.get("job").unwrap().to_owned(), c.iter().map(|c| crate::tsdb::block::tests_chunk_len(&c.2)).sum())
            })
            .collect();
        counts.sort();
        assert_eq!(counts, [("busy".to_owned(), 10), ("quiet".to_owned(), 5)]);

        let report = head.truncate(1000).unwrap();
        assert_eq!((report.chunks_removed, report.series_removed, report.wal_segment), (2, 1, Some(0)));
        assert_eq!(head.time_range(), Some((1000, 2900)));
        let q = head.querier(i64::MIN / 2, i64::MAX / 2).unwrap();
        assert!(q.select(&[Matcher::new(MatchOp::Equal, "job", "quiet").unwrap()]).unwrap().is_empty());
        let got = q.select(&[Matcher::new(MatchOp::Equal, "job", "busy").unwrap()]).unwrap();
        assert_eq!(got[0].samples.len(), 20);
        // The quiet series' reference is unknown now; its labels make a new one.
        let mut app = head.appender();
        app.append_ref(SeriesRef(0), Sample { timestamp_ms: 3000, value: 1.0 });
        assert_eq!(app.commit().unwrap().unknown_series, 1);
        let report = append_all(&head, &[(&quiet, 999), (&quiet, 3000)]);
        assert_eq!((report.out_of_bounds, report.appended, report.series_added), (1, 1, 1));
        // It reuses the freed slot 0 with the next generation; the old
        // reference stays unknown.
        let mut app = head.appender();
        assert_eq!(app.series_ref(&quiet), SeriesRef(1 << 32));
        app.append_ref(SeriesRef(0), Sample { timestamp_ms: 3100, value: 1.0 });
        assert_eq!(app.commit().unwrap().unknown_series, 1);

        let cp = head.checkpoint_wal(0, 1000).unwrap();
        assert_eq!(cp.through, 0);
        drop(q);
        drop(head);
        let (head, replay) = MemoryStorage::open_with(&dir, HeadOptions { min_valid_time: 1000, ..options }).unwrap();
        assert_eq!(replay.orphan_samples, 0);
        let q = head.querier(i64::MIN / 2, i64::MAX / 2).unwrap();
        let got = q.select(&[Matcher::new(MatchOp::Equal, "__name__", "x").unwrap()]).unwrap();
        let summary: Vec<(String, usize)> =
            got.iter().map(|s| (s.labels.get("job").unwrap().to_owned(), s.samples.len())).collect();
        assert_eq!(summary, [("busy".to_owned(), 20), ("late".to_owned(), 1), ("quiet".to_owned(), 1)]);
        // Fresh references do not collide with any the log knows: slots 0
        // (quiet, generation 1), 1 (busy) and 2 (late) are taken.
        let mut app = head.appender();
        assert_eq!(app.series_ref(&quiet), SeriesRef(1 << 32));
        assert_eq!(app.series_ref(&labels("x", "new")), SeriesRef(3));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A crash between a truncation and its checkpoint leaves the log with
    /// a dropped series and, later, a new one in the same slot: replay keeps
    /// the newer one only, and the index forgets the older.
    #[test]
    fn replay_without_a_checkpoint_resolves_reused_slots() {
        let dir = temp_wal("reuse");
        let options = HeadOptions { block_range: Some(1000), ..HeadOptions::default() };
        let (old, new, busy) = (labels("x", "old"), labels("x", "new"), labels("x", "busy"));
        {
            let (head, _) = MemoryStorage::open_with(&dir, options.clone()).unwrap();
            let mut samples: Vec<(&Labels, i64)> = vec![(&old, 0)];
            samples.extend((0..30).map(|i| (&busy, i * 100)));
            append_all(&head, &samples);
            assert_eq!(head.truncate(1000).unwrap().series_removed, 1);
            append_all(&head, &[(&new, 3000)]);
            let mut app = head.appender();
            assert_eq!(app.series_ref(&new), SeriesRef(1 << 32), "slot 0 reused");
        }
        let (head, report) = MemoryStorage::open_with(&dir, HeadOptions { min_valid_time: 1000, ..options }).unwrap();
        assert_eq!((report.series, report.orphan_samples), (2, 0));
        let q = head.querier(i64::MIN / 2, i64::MAX / 2).unwrap();
        let got = q.select(&[Matcher::new(MatchOp::Equal, "__name__", "x").unwrap()]).unwrap();
        let jobs: Vec<&str> = got.iter().filter_map(|s| s.labels.get("job")).collect();
        assert_eq!(jobs, ["busy", "new"]);
        let mut app = head.appender();
        assert_eq!(app.series_ref(&new), SeriesRef(1 << 32));
        assert_eq!(app.series_ref(&old), SeriesRef(2), "the dropped series comes back as a new one");
        drop(app);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn values_of(head: &MemoryStorage, job: &str) -> Vec<(i64, f64)> {
        let q = head.querier(i64::MIN / 2, i64::MAX / 2).unwrap();
        let got = q.select(&[Matcher::new(MatchOp::Equal, "job", job).unwrap()]).unwrap();
        got.into_iter().flat_map(|s| s.samples).map(|s| (s.timestamp_ms, s.value)).collect()
    }

    /// Each case: the window, then batches of (time, value) for one series,
    /// then what the series holds and the counts of the last batch
    /// (appended, out-of-order appended, too old, out of order, duplicates).
    #[test]
    fn out_of_order_window_accepts_merges_and_refuses() {
        type Case = (&'static str, i64, Vec<Vec<(i64, f64)>>, Vec<(i64, f64)>, (usize, usize, usize, usize, usize));
        let cases: Vec<Case> = vec![
            (
                "no window: older samples are out of order",
                0,
                vec![vec![(1000, 1.0), (2000, 2.0)], vec![(1500, 9.0)]],
                vec![(1000, 1.0), (2000, 2.0)],
                (0, 0, 0, 1, 0),
            ),
            (
                "within the window: kept and merged in time order",
                2000,
                vec![vec![(1000, 1.0), (2000, 2.0), (3000, 3.0)], vec![(2500, 2.5), (1500, 1.5), (4000, 4.0)]],
                vec![(1000, 1.0), (1500, 1.5), (2000, 2.0), (2500, 2.5), (3000, 3.0), (4000, 4.0)],
                (3, 2, 0, 0, 0),
            ),
            (
                "older than the window before the head's newest: too old",
                1000,
                vec![vec![(1000, 1.0), (3000, 3.0)], vec![(1999, 9.0), (2000, 2.0)]],
                vec![(1000, 1.0), (2000, 2.0), (3000, 3.0)],
                (1, 1, 1, 0, 0),
            ),
            (
                "an out-of-order timestamp twice: the first stays; an in-order one wins a tie",
                10_000,
                vec![vec![(1000, 1.0), (5000, 5.0)], vec![(3000, 3.0)], vec![(3000, 7.0), (1000, 8.0)]],
                vec![(1000, 1.0), (3000, 3.0), (5000, 5.0)],
                (1, 1, 0, 0, 0),
            ),
            (
                "the newest timestamp with another value is still a duplicate",
                10_000,
                vec![vec![(1000, 1.0), (5000, 5.0)], vec![(5000, 6.0)]],
                vec![(1000, 1.0), (5000, 5.0)],
                (0, 0, 0, 0, 1),
            ),
        ];
        for (name, window, batches, want, counts) in cases {
            let head = MemoryStorage::new();
            head.set_out_of_order_window(window);
            let l = labels("x", "a");
            let mut last = CommitReport::default();
            for batch in batches {
                let mut app = head.appender();
                for (t, v) in batch {
                    app.append(&l, Sample { timestamp_ms: t, value: v });
                }
                last = app.commit().unwrap();
            }
            assert_eq!(values_of(&head, "a"), want, "{name}");
            let got = (last.appended, last.out_of_order_appended, last.too_old, last.out_of_order, last.duplicates);
            assert_eq!(got, counts, "{name}");
        }
    }

    /// Out-of-order samples are in the WAL, come back on restart, go into
    /// the block cut for their range and leave the head with it.
    #[test]
    fn out_of_order_samples_survive_restart_and_block_cuts() {
        let dir = temp_wal("ooo");
        let options = HeadOptions { block_range: Some(1000), ..HeadOptions::default() };
        let l = labels("x", "a");
        {
            let (head, _) = MemoryStorage::open_with(&dir, options.clone()).unwrap();
            // The window reaches 600, but half a block range (700) bounds it.
            head.set_out_of_order_window(600);
            let samples: Vec<(&Labels, i64)> = [0, 200, 400, 800, 1200].iter().map(|t| (&l, *t)).collect();
            append_all(&head, &samples);
            let report = append_all(&head, &[(&l, 900), (&l, 700), (&l, 699)]);
            assert_eq!((report.out_of_order_appended, report.too_old), (2, 1));
        }
        let (head, report) = MemoryStorage::open_with(&dir, options).unwrap();
        assert_eq!(report.samples, 7, "five in order, two out of order");
        let times: Vec<i64> = values_of(&head, "a").iter().map(|(t, _)| *t).collect();
        assert_eq!(times, [0, 200, 400, 700, 800, 900, 1200]);
        // A window set to 0 (a reload) refuses them again; kept ones stay.
        head.set_out_of_order_window(0);
        assert_eq!(append_all(&head, &[(&l, 1100)]).out_of_order, 1);
        head.set_out_of_order_window(400);
        append_all(&head, &[(&l, 1100), (&l, 1700)]);
        assert_eq!(head.compactable_range(), Some((0, 1000)));

        let copies = head.chunks_in_range(0, 1000);
        let samples: Vec<i64> = copies[0]
            .1
            .iter()
            .flat_map(|(_, _, bytes)| {
                crate::tsdb::chunk::XorIterator::from_bytes(bytes).map(|(t, _)| t).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(samples, [0, 200, 400, 700, 800, 900], "the block gets both, merged");
        head.truncate(1000).unwrap();
        let times: Vec<i64> = values_of(&head, "a").iter().map(|(t, _)| *t).collect();
        assert_eq!(times, [1100, 1200, 1700]);
        let _ = std::fs::remove_dir_all(&dir);
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
