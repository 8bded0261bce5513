//! `vigil tsdb analyze`: what a block holds and where its cardinality and
//! churn come from, as `promtool tsdb analyze` reports them, plus the
//! sample, chunk and byte counts (`promtool tsdb list`'s) and bytes per
//! sample.
//!
//! It reads one block (the newest created by default, as promtool's
//! `LastBlockID`) through the same mmapped reader the server uses, or with
//! `--head` the head as the WAL describes it, and writes nothing, so it is
//! safe beside a running Vigil.
//!
//! The lists are promtool's: label pairs and label names by churn (how
//! much of the block's time range their series do not cover, in block
//! ranges), label pairs by series count, label names by the total length of
//! their values, label names by value count (cardinality), and metric names
//! by series count; each its `limit` largest, ties by name.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use vigil_shared::model::{Labels, METRIC_NAME};

use super::block::{Block, BlockError, BlockId, CHUNKS_FILE};
use super::chunk::{SAMPLES_PER_CHUNK, XorChunk};
use super::wal::{self, Record};

/// Why a block could not be analyzed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("cannot list {}: {reason}", path.display())]
    List { path: PathBuf, reason: String },
    #[error("no block in {}", path.display())]
    NoBlocks { path: PathBuf },
    #[error("block {id:?} not found in {}", path.display())]
    NotFound { id: String, path: PathBuf },
    #[error("no head in {}: the folder has no WAL", path.display())]
    NoHead { path: PathBuf },
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// A list of (key, figure), largest first.
pub type Ranking = Vec<(String, u64)>;

/// What `vigil tsdb analyze` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockAnalysis {
    /// The block's id, or `head`.
    pub id: String,
    pub min_time: i64,
    pub max_time: i64,
    pub series: u64,
    pub samples: u64,
    pub chunks: u64,
    /// Size of the block's chunks file.
    pub chunk_bytes: u64,
    /// Deleted ranges waiting for `clean_tombstones`.
    pub tombstones: u64,
    pub label_names: usize,
    /// Distinct label pairs (postings).
    pub label_pairs: usize,
    /// Label pairs over all series (postings entries).
    pub label_entries: usize,
    pub churn_pairs: Ranking,
    pub churn_names: Ranking,
    pub common_pairs: Ranking,
    pub value_length_names: Ranking,
    pub cardinality_names: Ranking,
    pub metric_names: Ranking,
}

/// The block to analyze: `id`, or the newest created in `dir`.
pub fn find_block(dir: &Path, id: Option<&str>) -> Result<PathBuf, AnalyzeError> {
    let list_error = |e: std::io::Error| AnalyzeError::List { path: dir.to_owned(), reason: e.to_string() };
    let mut newest: Option<BlockId> = None;
    for entry in std::fs::read_dir(dir).map_err(list_error)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(block) = BlockId::parse(&name).filter(|_| entry.path().is_dir()) else { continue };
        match id {
            Some(wanted) if wanted.eq_ignore_ascii_case(&name) => return Ok(entry.path()),
            Some(_) => {}
            None => newest = newest.max(Some(block)),
        }
    }
    match (id, newest) {
        (Some(id), _) => Err(AnalyzeError::NotFound { id: id.to_owned(), path: dir.to_owned() }),
        (None, Some(block)) => Ok(dir.join(block.to_string())),
        (None, None) => Err(AnalyzeError::NoBlocks { path: dir.to_owned() }),
    }
}

/// Ranks `figures` largest first (ties by key) and keeps `limit`.
fn rank(figures: impl IntoIterator<Item = (String, u64)>, limit: usize) -> Ranking {
    let mut out: Ranking = figures.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(limit);
    out
}

/// The label figures of promtool's lists, gathered series by series.
#[derive(Default)]
struct Tally {
    uncovered_pairs: BTreeMap<String, u64>,
    uncovered_names: BTreeMap<String, u64>,
    pair_counts: BTreeMap<String, u64>,
    values: BTreeMap<String, BTreeSet<String>>,
    metric_names: BTreeMap<String, u64>,
    entries: usize,
}

impl Tally {
    /// One series, which misses `uncovered` ms of the range.
    fn add(&mut self, labels: &Labels, uncovered: u64) {
        for label in labels.iter() {
            let key = format!("{}={}", label.name, label.value);
            *self.uncovered_names.entry(label.name.clone()).or_default() += uncovered;
            *self.uncovered_pairs.entry(key.clone()).or_default() += uncovered;
            *self.pair_counts.entry(key).or_default() += 1;
            self.values.entry(label.name.clone()).or_default().insert(label.value.clone());
            if label.name == METRIC_NAME {
                *self.metric_names.entry(label.value.clone()).or_default() += 1;
            }
            self.entries += 1;
        }
    }

    /// Fills the label figures of `out`, whose time range is set.
    fn finish(self, out: &mut BlockAnalysis, limit: usize) {
        let range = (out.max_time - out.min_time).max(1) as u64;
        let churn = |m: u64| (m as f64 / range as f64) as u64;
        out.label_names = self.values.len();
        out.label_pairs = self.pair_counts.len();
        out.label_entries = self.entries;
        out.churn_pairs = rank(self.uncovered_pairs.into_iter().map(|(k, m)| (k, churn(m))), limit);
        out.churn_names = rank(self.uncovered_names.into_iter().map(|(k, m)| (k, churn(m))), limit);
        out.common_pairs = rank(self.pair_counts, limit);
        out.value_length_names =
            rank(self.values.iter().map(|(name, vs)| (name.clone(), vs.iter().map(|v| v.len() as u64).sum())), limit);
        out.cardinality_names = rank(self.values.iter().map(|(name, vs)| (name.clone(), vs.len() as u64)), limit);
        out.metric_names = rank(self.metric_names, limit);
    }
}

impl BlockAnalysis {
    fn new(id: String, min_time: i64, max_time: i64) -> Self {
        BlockAnalysis {
            id,
            min_time,
            max_time,
            series: 0,
            samples: 0,
            chunks: 0,
            chunk_bytes: 0,
            tombstones: 0,
            label_names: 0,
            label_pairs: 0,
            label_entries: 0,
            churn_pairs: Vec::new(),
            churn_names: Vec::new(),
            common_pairs: Vec::new(),
            value_length_names: Vec::new(),
            cardinality_names: Vec::new(),
            metric_names: Vec::new(),
        }
    }
}

/// Analyzes the block in `dir`.
pub fn analyze_block(dir: &Path, limit: usize) -> Result<BlockAnalysis, AnalyzeError> {
    let block = Block::open(dir)?;
    let meta = block.meta();
    let mut out = BlockAnalysis::new(block.id().to_string(), meta.min_time, meta.max_time);
    let range = (meta.max_time - meta.min_time).max(1) as u64;
    let mut tally = Tally::default();
    for i in 0..block.series_count() as u32 {
        let chunks = block.series_chunks(i)?;
        let covered = match (chunks.first(), chunks.last()) {
            (Some(first), Some(last)) => (last.max_t - first.min_t) as u64,
            _ => 0,
        };
        // As promtool: the part of the block's range the series misses.
        tally.add(&block.series_labels(i)?, range.saturating_sub(covered));
    }
    tally.finish(&mut out, limit);
    out.series = meta.stats.num_series;
    out.samples = meta.stats.num_samples;
    out.chunks = meta.stats.num_chunks;
    out.chunk_bytes = std::fs::metadata(dir.join(CHUNKS_FILE)).map_or(0, |m| m.len());
    out.tombstones = block.num_tombstones();
    Ok(out)
}

/// Analyzes the head of the storage folder `dir` as the WAL describes it
/// (read, never repaired, so a running Vigil is not disturbed): the samples
/// the head would hold after a restart, as if cut into a block now, with
/// chunks of 120 samples.
pub fn analyze_head(dir: &Path, limit: usize) -> Result<BlockAnalysis, AnalyzeError> {
    let wal_dir = dir.join("wal");
    if !wal_dir.is_dir() {
        return Err(AnalyzeError::NoHead { path: wal_dir });
    }
    // As the head's replay: samples older than the newest block's end are
    // in blocks; out-of-order samples are not kept.
    let mut min_valid = i64::MIN;
    for entry in std::fs::read_dir(dir)
        .map_err(|e| AnalyzeError::List { path: dir.to_owned(), reason: e.to_string() })?
        .flatten()
    {
        let meta = entry.path().join(super::block::META_FILE);
        if BlockId::parse(&entry.file_name().to_string_lossy()).is_some()
            && let Ok(text) = std::fs::read(&meta)
            && let Ok(meta) = serde_json::from_slice::<super::block::BlockMeta>(&text)
        {
            min_valid = min_valid.max(meta.max_time);
        }
    }
    let mut series: HashMap<u64, (Labels, Vec<(i64, f64)>)> = HashMap::new();
    let replay = wal::read(&wal_dir, |record| match record {
        Record::Series { series: r, labels } => {
            series.entry(r.0).or_insert_with(|| (labels, Vec::new()));
        }
        Record::Samples(samples) => {
            for (r, sample) in samples {
                if let Some((_, list)) = series.get_mut(&r.0)
                    && sample.timestamp_ms >= min_valid
                    && list.last().is_none_or(|(t, _)| *t < sample.timestamp_ms)
                {
                    list.push((sample.timestamp_ms, sample.value));
                }
            }
        }
        Record::Tombstones(tombstones) => {
            for t in tombstones {
                if let Some((_, list)) = series.get_mut(&t.series.0) {
                    list.retain(|(ts, _)| *ts < t.mint || *ts > t.maxt);
                }
            }
        }
    })
    .map_err(|e| AnalyzeError::List { path: wal_dir.clone(), reason: e.to_string() })?;
    let live: Vec<&(Labels, Vec<(i64, f64)>)> = series.values().filter(|(_, s)| !s.is_empty()).collect();
    let min_time = live.iter().map(|(_, s)| s[0].0).min().unwrap_or(0);
    let max_time = live.iter().map(|(_, s)| s[s.len() - 1].0).max().map_or(1, |t| t + 1);
    let mut out = BlockAnalysis::new("head".to_owned(), min_time, max_time);
    let range = (max_time - min_time) as u64;
    let mut tally = Tally::default();
    for (labels, samples) in live {
        tally.add(labels, range.saturating_sub((samples[samples.len() - 1].0 - samples[0].0) as u64));
        out.series += 1;
        out.samples += samples.len() as u64;
        for part in samples.chunks(usize::from(SAMPLES_PER_CHUNK)) {
            let mut chunk = XorChunk::new();
            for (t, v) in part {
                chunk.append(*t, *v);
            }
            out.chunks += 1;
            out.chunk_bytes += chunk.bytes().len() as u64;
        }
    }
    tally.finish(&mut out, limit);
    if let Some((segment, offset, why)) = replay.corruption {
        tracing::warn!(segment, offset, reason = %why, "the WAL ends in a bad record (or one being written); read up to it");
    }
    Ok(out)
}

/// A duration as Go's `time.Duration.String` writes it (`2h0m0s`,
/// `1m30.5s`, `250ms`, `0s`), which promtool prints.
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let seconds = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{frac:03}");
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => format!("{sign}{seconds}"),
        (0, m) => format!("{sign}{m}m{seconds}"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}"),
    }
}

impl fmt::Display for BlockAnalysis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Block ID: {}", self.id)?;
        writeln!(f, "Duration: {}", go_duration(self.max_time - self.min_time))?;
        writeln!(f, "Total Series: {}", self.series)?;
        writeln!(f, "Total Samples: {}", self.samples)?;
        writeln!(f, "Total Chunks: {}", self.chunks)?;
        writeln!(f, "Chunk Bytes: {}", self.chunk_bytes)?;
        let per_sample = if self.samples == 0 { 0.0 } else { self.chunk_bytes as f64 / self.samples as f64 };
        writeln!(f, "Bytes per Sample: {per_sample:.3}")?;
        if self.tombstones > 0 {
            writeln!(f, "Tombstones: {} (deleted ranges not yet cleaned; counts include them)", self.tombstones)?;
        }
        writeln!(f, "Label names: {}", self.label_names)?;
        writeln!(f, "Postings (unique label pairs): {}", self.label_pairs)?;
        writeln!(f, "Postings entries (total label pairs): {}", self.label_entries)?;
        let sections = [
            ("Label pairs most involved in churning", &self.churn_pairs),
            ("Label names most involved in churning", &self.churn_names),
            ("Most common label pairs", &self.common_pairs),
            ("Label names with highest cumulative label value length", &self.value_length_names),
            ("Highest cardinality labels", &self.cardinality_names),
            ("Highest cardinality metric names", &self.metric_names),
        ];
        for (title, list) in sections {
            writeln!(f, "\n{title}:")?;
            for (key, figure) in list {
                writeln!(f, "{figure} {key}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::block::{BlockWriter, CompactionMeta};
    use crate::tsdb::chunk::XorChunk;
    use vigil_shared::model::Labels;

    #[test]
    fn the_head_is_analyzed_from_the_wal_with_its_deletions() {
        use crate::tsdb::{Appender, Db, DbOptions, Sample, Storage};
        use vigil_shared::promql::{MatchOp, Matcher};
        let dir = temp_dir("analyze-head");
        assert!(matches!(analyze_head(&dir, 5), Err(AnalyzeError::NoHead { .. })));
        {
            let (db, _) = Db::open(&dir, DbOptions { background: false, ..DbOptions::default() }).unwrap();
            let mut app: Box<dyn Appender + '_> = db.appender();
            for t in 0..300 {
                for job in ["a", "b", "c"] {
                    let labels = Labels::from_pairs([("__name__", "up"), ("job", job)]);
                    app.append(&labels, Sample { timestamp_ms: t * 1000, value: 1.0 });
                }
            }
            app.commit().unwrap();
            // b loses its first 100 samples, c all of them.
            db.delete(&[Matcher::new(MatchOp::Equal, "job", "b").unwrap()], 0, 99_000).unwrap();
            db.delete(&[Matcher::new(MatchOp::Equal, "job", "c").unwrap()], i64::MIN, i64::MAX).unwrap();
        }
        let a = analyze_head(&dir, 5).unwrap();
        assert_eq!(a.id, "head");
        assert_eq!((a.series, a.samples, a.chunks), (2, 500, 5));
        assert_eq!((a.min_time, a.max_time), (0, 299_001));
        assert!(a.chunk_bytes > 0 && a.chunk_bytes < 500 * 16);
        assert_eq!(a.cardinality_names, [("job".to_owned(), 2), ("__name__".to_owned(), 1)]);
        // b misses a third of the range: 0.33 block ranges, truncated.
        assert_eq!(a.churn_names[0], ("__name__".to_owned(), 0));
        assert!(a.to_string().starts_with("Block ID: head\nDuration: 4m59.001s\n"), "{a}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn durations_print_as_go_does() {
        let table = [
            (0, "0s"),
            (250, "250ms"),
            (1000, "1s"),
            (90_500, "1m30.5s"),
            (7_200_000, "2h0m0s"),
            (7_199_999, "1h59m59.999s"),
            (-1500, "-1.5s"),
            (31 * 86_400_000, "744h0m0s"),
        ];
        for (ms, text) in table {
            assert_eq!(go_duration(ms), text, "{ms}");
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vigil-analyze-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Three series over a 1000 ms block: `a{x="1"}` and `a{x="2"}` cover
    /// 900 ms of it, `b{x="1", long="…"}` one instant.
    #[test]
    fn figures_and_rankings_follow_promtool() {
        let dir = temp_dir("analyze");
        let id = BlockId::new(1);
        let mut w = BlockWriter::create(&dir, id).unwrap();
        let series: [(&[(&str, &str)], i64); 3] = [
            (&[("__name__", "a"), ("x", "1")], 0),
            (&[("__name__", "a"), ("x", "2")], 0),
            (&[("__name__", "b"), ("x", "1"), ("long", "abcdefghij")], 900),
        ];
        for (labels, from) in series {
            let mut c = XorChunk::new();
            for t in (from..1000).step_by(100) {
                c.append(t, 1.0);
            }
            let bytes = c.bytes();
            w.add_series(Labels::from_pairs(labels.iter().copied()), [(from, 900, &bytes[..])]).unwrap();
        }
        w.finish(0, 1000, CompactionMeta { level: 1, sources: vec![id], parents: vec![] }).unwrap();
        assert!(matches!(find_block(&dir, Some("01ARZ3NDEKTSV4RRFFQ69G5FAV")), Err(AnalyzeError::NotFound { .. })));
        let path = find_block(&dir, None).unwrap();
        assert_eq!(find_block(&dir, Some(&id.to_string().to_lowercase())).unwrap(), path);
        let a = analyze_block(&path, 2).unwrap();
        assert_eq!((a.series, a.samples, a.chunks, a.tombstones), (3, 21, 3, 0));
        assert_eq!((a.label_names, a.label_pairs, a.label_entries), (3, 5, 7));
        let s = |list: &[(&str, u64)]| list.iter().map(|(k, v)| (k.to_string(), *v)).collect::<Ranking>();
        // Uncovered: 100 ms for each a{…}, 1000 for b. Churn is the sum
        // over series in block ranges, truncated: __name__=a 0.2 → 0.
        assert_eq!(a.churn_pairs, s(&[("__name__=b", 1), ("long=abcdefghij", 1)]));
        assert_eq!(a.churn_names, s(&[("__name__", 1), ("long", 1)]));
        assert_eq!(a.common_pairs, s(&[("__name__=a", 2), ("x=1", 2)]));
        assert_eq!(a.value_length_names, s(&[("long", 10), ("__name__", 2)]));
        assert_eq!(a.cardinality_names, s(&[("__name__", 2), ("x", 2)]));
        assert_eq!(a.metric_names, s(&[("a", 2), ("b", 1)]));
        let text = a.to_string();
        for line in
            ["Duration: 1s", "Total Series: 3", "Total Samples: 21", "\nHighest cardinality labels:\n2 __name__\n2 x\n"]
        {
            assert!(text.contains(line), "{line:?} missing in:\n{text}");
        }
        let empty = temp_dir("analyze-empty");
        assert!(matches!(find_block(&empty, None), Err(AnalyzeError::NoBlocks { .. })));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&empty);
    }
}
