//! `vigil tsdb analyze`: what a block holds and where its cardinality and
//! churn come from, as `promtool tsdb analyze` reports them, plus the
//! sample, chunk and byte counts (`promtool tsdb list`'s) and bytes per
//! sample.
//!
//! It reads one block (the newest created by default, as promtool's
//! `LastBlockID`) through the same mmapped reader the server uses, and
//! writes nothing, so it is safe beside a running Vigil.
//!
//! The lists are promtool's: label pairs and label names by churn (how
//! much of the block's time range their series do not cover, in block
//! ranges), label pairs by series count, label names by the total length of
//! their values, label names by value count (cardinality), and metric names
//! by series count; each its `limit` largest, ties by name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use vigil_shared::model::METRIC_NAME;

use super::block::{Block, BlockError, BlockId, CHUNKS_FILE};

/// Why a block could not be analyzed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("cannot list {}: {reason}", path.display())]
    List { path: PathBuf, reason: String },
    #[error("no block in {}", path.display())]
    NoBlocks { path: PathBuf },
    #[error("block {id:?} not found in {}", path.display())]
    NotFound { id: String, path: PathBuf },
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// A list of (key, figure), largest first.
pub type Ranking = Vec<(String, u64)>;

/// What `vigil tsdb analyze` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockAnalysis {
    pub id: BlockId,
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

/// Analyzes the block in `dir`.
pub fn analyze_block(dir: &Path, limit: usize) -> Result<BlockAnalysis, AnalyzeError> {
    let block = Block::open(dir)?;
    let meta = block.meta();
    let range = (meta.max_time - meta.min_time).max(1) as u64;
    let mut uncovered_pairs: BTreeMap<String, u64> = BTreeMap::new();
    let mut uncovered_names: BTreeMap<String, u64> = BTreeMap::new();
    let mut pair_counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut metric_names: BTreeMap<String, u64> = BTreeMap::new();
    let mut entries = 0;
    for i in 0..block.series_count() as u32 {
        let chunks = block.series_chunks(i)?;
        let covered = match (chunks.first(), chunks.last()) {
            (Some(first), Some(last)) => (last.max_t - first.min_t) as u64,
            _ => 0,
        };
        // As promtool: the part of the block's range the series misses.
        let uncovered = range.saturating_sub(covered);
        for label in block.series_labels(i)?.iter() {
            let key = format!("{}={}", label.name, label.value);
            *uncovered_names.entry(label.name.clone()).or_default() += uncovered;
            *uncovered_pairs.entry(key.clone()).or_default() += uncovered;
            *pair_counts.entry(key).or_default() += 1;
            values.entry(label.name.clone()).or_default().insert(label.value.clone());
            if label.name == METRIC_NAME {
                *metric_names.entry(label.value.clone()).or_default() += 1;
            }
            entries += 1;
        }
    }
    let churn = |m: u64| (m as f64 / range as f64) as u64;
    let chunk_bytes = std::fs::metadata(dir.join(CHUNKS_FILE)).map_or(0, |m| m.len());
    Ok(BlockAnalysis {
        id: block.id(),
        min_time: meta.min_time,
        max_time: meta.max_time,
        series: meta.stats.num_series,
        samples: meta.stats.num_samples,
        chunks: meta.stats.num_chunks,
        chunk_bytes,
        tombstones: block.num_tombstones(),
        label_names: values.len(),
        label_pairs: pair_counts.len(),
        label_entries: entries,
        churn_pairs: rank(uncovered_pairs.into_iter().map(|(k, m)| (k, churn(m))), limit),
        churn_names: rank(uncovered_names.into_iter().map(|(k, m)| (k, churn(m))), limit),
        common_pairs: rank(pair_counts, limit),
        value_length_names: rank(
            values.iter().map(|(name, vs)| (name.clone(), vs.iter().map(|v| v.len() as u64).sum())),
            limit,
        ),
        cardinality_names: rank(values.iter().map(|(name, vs)| (name.clone(), vs.len() as u64)), limit),
        metric_names: rank(metric_names, limit),
    })
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
