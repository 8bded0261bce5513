//! `vigil tsdb import openmetrics`: loads an OpenMetrics file with
//! timestamped samples into a storage folder, the counterpart of
//! `promtool tsdb create-blocks-from openmetrics`.
//!
//! It writes level-1 blocks, one per block range (2h, aligned to the
//! epoch, as promtool's), straight into the storage folder, so data of any
//! age lands beside what the folder holds; a Vigil started on the folder
//! loads them and compacts them with the rest. The file's samples are held
//! in memory while the blocks are written (16 bytes a sample).
//!
//! The file is read twice, streaming, as promtool does: a first pass checks
//! every line (syntax, a timestamp on every sample, `# EOF` at the end) so a
//! bad file changes nothing; the second collects. Each series' samples are
//! sorted by time; a second sample at the same time with another value is
//! dropped and counted as a duplicate, as the head would refuse it.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};
use vigil_shared::model::{Labels, METRIC_NAME};

use super::Sample;
use super::block::{BlockId, BlockWriter, CompactionMeta};
use super::chunk::{SAMPLES_PER_CHUNK, XorChunk};
use crate::scrape::exposition::{ExposedSample, Format, parse_sample_line};

pub mod synthetic;

/// Samples per committed batch.
pub const BATCH_SAMPLES: usize = 250_000;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Sample lines read.
    pub samples_read: u64,
    /// Samples written into blocks.
    pub appended: u64,
    /// Distinct series in the file.
    pub series: u64,
    /// Dropped: a second sample of a series at one time, with another value.
    pub duplicates: u64,
    pub bytes: u64,
    pub min_time_ms: Option<i64>,
    pub max_time_ms: Option<i64>,
}

/// A failure: where in the file, or of the storage.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}:{line}: {message}")]
    Syntax { file: String, line: usize, message: String },
    #[error("{file}: {0}", file = .1)]
    Io(std::io::Error, String),
    #[error("{0}")]
    Storage(String),
}

/// The width of the blocks an import writes: Prometheus's default block
/// range, which promtool's `create-blocks-from` uses too.
pub const BLOCK_RANGE_MS: i64 = 2 * 3_600_000;

/// Imports `file` into the storage folder `storage_path` (locked for the
/// duration, as the server locks it), reporting progress on stderr.
pub fn import_openmetrics_into(file: &Path, storage_path: &Path) -> anyhow::Result<ImportReport> {
    std::fs::create_dir_all(storage_path)?;
    let _lock = crate::server::lock_data_dir(storage_path)?;
    let mut progress = Progress::stderr(std::fs::metadata(file).map(|m| m.len()).unwrap_or(0));
    let report = import_openmetrics(file, storage_path, BLOCK_RANGE_MS, &mut progress)?;
    progress.finish(&report);
    Ok(report)
}

/// Checks then imports `file` into the folder `dir` as blocks of
/// `block_range_ms`. `progress` is told about every line read.
pub fn import_openmetrics(
    file: &Path,
    dir: &Path,
    block_range_ms: i64,
    progress: &mut Progress,
) -> Result<ImportReport, ImportError> {
    let name = file.display().to_string();
    progress.phase = "checking";
    let mut seen: FxHashSet<String> = FxHashSet::default();
    let mut report = scan(file, &name, progress, |sample, line| {
        if !seen.contains(sample.series_text) {
            labels_of(sample).map_err(|e| ImportError::Syntax {
                file: name.clone(),
                line,
                message: format!("column {}: {}", e.column, e.message),
            })?;
            seen.insert(sample.series_text.to_owned());
        }
        Ok(())
    })?;
    drop(seen);
    progress.phase = "reading";
    let mut index: FxHashMap<String, usize> = FxHashMap::default();
    let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
    scan(file, &name, progress, |sample, _| {
        let i = match index.get(sample.series_text) {
            Some(i) => *i,
            None => {
                // The check pass parsed these labels already.
                series.push((labels_of(sample).unwrap_or_default(), Vec::new()));
                index.insert(sample.series_text.to_owned(), series.len() - 1);
                series.len() - 1
            }
        };
        series[i].1.push(Sample { timestamp_ms: sample.timestamp_ms.unwrap_or_default(), value: sample.value });
        Ok(())
    })?;
    drop(index);
    progress.phase = "writing blocks";
    let mut windows = std::collections::BTreeSet::new();
    for (_, samples) in &mut series {
        // Stable: of two samples at one time, the first written stays.
        samples.sort_by_key(|s| s.timestamp_ms);
        samples.dedup_by(|later, kept| {
            let same_time = later.timestamp_ms == kept.timestamp_ms;
            if same_time && later.value.to_bits() != kept.value.to_bits() {
                report.duplicates += 1;
            }
            same_time
        });
        report.appended += samples.len() as u64;
        windows.extend(samples.iter().map(|s| s.timestamp_ms.div_euclid(block_range_ms) * block_range_ms));
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    for window in windows {
        write_block(dir, &series, window, window + block_range_ms)?;
    }
    report.series = series.len() as u64;
    Ok(report)
}

/// Writes the samples of `[mint, maxt)` of every series as one level-1
/// block, durable before it appears under its final name.
fn write_block(dir: &Path, series: &[(Labels, Vec<Sample>)], mint: i64, maxt: i64) -> Result<(), ImportError> {
    let id = BlockId::new(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
    );
    let storage =
        |e: std::io::Error| ImportError::Storage(format!("writing block {}: {e}", dir.join(id.to_string()).display()));
    let mut writer = BlockWriter::create(dir, id).map_err(storage)?;
    let mut min_time = i64::MAX;
    for (labels, samples) in series {
        let start = samples.partition_point(|s| s.timestamp_ms < mint);
        let end = samples.partition_point(|s| s.timestamp_ms < maxt);
        let Some(window) = samples.get(start..end).filter(|w| !w.is_empty()) else { continue };
        min_time = min_time.min(window[0].timestamp_ms);
        let chunks: Vec<(i64, i64, Vec<u8>)> = window
            .chunks(usize::from(SAMPLES_PER_CHUNK))
            .map(|part| {
                let mut chunk = XorChunk::new();
                for s in part {
                    chunk.append(s.timestamp_ms, s.value);
                }
                (part[0].timestamp_ms, part[part.len() - 1].timestamp_ms, chunk.bytes())
            })
            .collect();
        if let Err(e) = writer.add_series(labels.clone(), chunks.iter().map(|(a, b, c)| (*a, *b, &c[..]))) {
            writer.abort();
            return Err(storage(e));
        }
    }
    writer
        .finish(min_time.min(maxt - 1), maxt, CompactionMeta { level: 1, sources: vec![id], parents: Vec::new() })
        .map_err(storage)?;
    Ok(())
}

/// The sample's label set, `__name__` included.
fn labels_of(sample: &ExposedSample<'_>) -> Result<Labels, crate::scrape::exposition::ExpositionError> {
    let (metric, labels) = sample.series()?;
    Ok(Labels::from_pairs(
        std::iter::once((METRIC_NAME.to_owned(), metric.into_owned()))
            .chain(labels.into_iter().map(|(n, v)| (n.into_owned(), v.into_owned()))),
    ))
}

/// Reads the file line by line, checks it, and hands every sample (with its
/// line number) to `each`.
fn scan(
    file: &Path,
    name: &str,
    progress: &mut Progress,
    mut each: impl FnMut(&ExposedSample<'_>, usize) -> Result<(), ImportError>,
) -> Result<ImportReport, ImportError> {
    let io = |e: std::io::Error| ImportError::Io(e, name.to_owned());
    let syntax = |line: usize, message: String| ImportError::Syntax { file: name.to_owned(), line, message };
    let mut reader = BufReader::with_capacity(1 << 20, File::open(file).map_err(io)?);
    let mut report = ImportReport::default();
    let mut buffer = Vec::with_capacity(256);
    let mut line_no = 0usize;
    let mut eof_line: Option<usize> = None;
    loop {
        buffer.clear();
        let read = reader.read_until(b'\n', &mut buffer).map_err(io)?;
        if read == 0 {
            break;
        }
        line_no += 1;
        report.bytes += read as u64;
        let text = std::str::from_utf8(&buffer).map_err(|e| syntax(line_no, format!("not UTF-8: {e}")))?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if let Some(eof) = eof_line {
            if text.is_empty() {
                continue;
            }
            return Err(syntax(line_no, format!("unexpected content after # EOF (line {eof})")));
        }
        if text.trim().is_empty() {
            continue;
        }
        if let Some(comment) = text.strip_prefix('#') {
            if comment.trim() == "EOF" {
                eof_line = Some(line_no);
            }
            continue;
        }
        let sample = parse_sample_line(text, line_no, Format::OpenMetrics)
            .map_err(|e| syntax(e.line, format!("column {}: {}", e.column, e.message)))?;
        let Some(t) = sample.timestamp_ms else {
            return Err(syntax(
                line_no,
                "sample has no timestamp (an import needs one on every sample, in seconds)".to_owned(),
            ));
        };
        report.samples_read += 1;
        report.min_time_ms = Some(report.min_time_ms.map_or(t, |m| m.min(t)));
        report.max_time_ms = Some(report.max_time_ms.map_or(t, |m| m.max(t)));
        each(&sample, line_no)?;
        progress.update(report.bytes, report.samples_read);
    }
    if eof_line.is_none() {
        return Err(syntax(line_no.max(1), "the file does not end with # EOF (is it complete?)".to_owned()));
    }
    Ok(report)
}

/// A progress line on stderr: rewritten in place on a terminal at most four
/// times a second, otherwise a plain line every five seconds.
pub struct Progress {
    total_bytes: u64,
    started: Instant,
    last: Instant,
    every: Duration,
    out: Option<Box<dyn Write>>,
    tty: bool,
    phase: &'static str,
}

impl Progress {
    /// Progress on stderr.
    pub fn stderr(total_bytes: u64) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let every = if tty { Duration::from_millis(250) } else { Duration::from_secs(5) };
        let now = Instant::now();
        Progress { total_bytes, started: now, last: now, every, out: Some(Box::new(std::io::stderr())), tty, phase: "" }
    }

    /// No output (tests).
    pub fn silent() -> Progress {
        let now = Instant::now();
        Progress { total_bytes: 0, started: now, last: now, every: Duration::MAX, out: None, tty: false, phase: "" }
    }

    fn update(&mut self, bytes: u64, samples: u64) {
        // Checking the clock on every line would cost more than the line.
        if !samples.is_multiple_of(4096) || self.out.is_none() || self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        let percent = if self.total_bytes == 0 { 100.0 } else { bytes as f64 * 100.0 / self.total_bytes as f64 };
        let line = format!(
            "{}: {:5.1}% of {}, {samples} samples, {:.0}s",
            self.phase,
            percent,
            human_bytes(self.total_bytes),
            self.started.elapsed().as_secs_f64()
        );
        let (tty, out) = (self.tty, self.out.as_mut());
        if let Some(out) = out {
            let _ = if tty { write!(out, "\r{line}\x1b[K") } else { writeln!(out, "{line}") };
            let _ = out.flush();
        }
    }

    fn finish(&mut self, report: &ImportReport) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let Some(out) = self.out.as_mut() else { return };
        if self.tty {
            let _ = write!(out, "\r\x1b[K");
        }
        let range = match (report.min_time_ms, report.max_time_ms) {
            (Some(a), Some(b)) => format!(", timestamps {a}..{b} ms"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "imported {} samples of {} series from {} in {elapsed:.1}s{range}",
            report.appended,
            report.series,
            human_bytes(report.bytes)
        );
        if report.duplicates > 0 {
            let _ = writeln!(
                out,
                "skipped {} duplicates (a second sample of a series at one time, with another value)",
                report.duplicates
            );
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{Db, DbOptions, Storage};
    use std::path::PathBuf;
    use vigil_shared::promql::{MatchOp, Matcher};

    fn write(dir: &Path, body: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join("in.om");
        std::fs::write(&path, body).unwrap();
        path
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("vigil-import-{name}-{}", std::process::id()))
    }

    #[test]
    fn imports_sorts_per_series_and_counts() {
        let dir = temp("ok");
        let file = write(
            &dir,
            "# TYPE a counter\na_total{x=\"1\"} 1 10\na_total{x=\"1\"} 3 30.5\na_total{x=\"1\"} 2 20\n\
             a_total{x=\"2\"} NaN 10\n# EOF\n",
        );
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let report = import_openmetrics(&file, &data, BLOCK_RANGE_MS, &mut Progress::silent()).unwrap();
        assert_eq!((report.samples_read, report.appended, report.series, report.duplicates), (4, 4, 2, 0));
        assert_eq!((report.min_time_ms, report.max_time_ms), (Some(10_000), Some(30_500)));
        let (db, opened) = Db::open(&data, DbOptions { background: false, ..DbOptions::default() }).unwrap();
        assert_eq!(opened.blocks, 1);
        let q = db.querier(0, 100_000).unwrap();
        let got = q.select(&[Matcher::new(MatchOp::Equal, "x", "1").unwrap()]).unwrap();
        let times: Vec<i64> = got[0].samples.iter().map(|s| s.timestamp_ms).collect();
        assert_eq!(times, [10_000, 20_000, 30_500]);
        assert_eq!(got[0].labels.get(METRIC_NAME), Some("a_total"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_files_fail_with_file_and_line_and_change_nothing() {
        let dir = temp("bad");
        let cases = [
            ("a 1 10\na 2\n# EOF\n", ":2: sample has no timestamp"),
            ("a 1 10\n", ":1: the file does not end with # EOF"),
            ("a 1 10\n# EOF\nb 1 1\n", ":3: unexpected content after # EOF"),
            ("a 1 10\na{x=} 1 10\n# EOF\n", ":2: column 5"),
            ("a{x=\"1\",x=\"2\"} 1 10\n# EOF\n", ":1: "),
        ];
        for (body, want) in cases {
            let file = write(&dir, body);
            let data = dir.join("data-bad");
            std::fs::create_dir_all(&data).unwrap();
            let error =
                import_openmetrics(&file, &data, BLOCK_RANGE_MS, &mut Progress::silent()).unwrap_err().to_string();
            assert!(error.contains(want), "{body:?}: {error}");
            assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0, "{body:?}: nothing written");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn data_of_any_age_lands_in_aligned_blocks_beside_what_the_folder_holds() {
        let dir = temp("blocks");
        let data = dir.join("data");
        // Two windows, one two years before the other, and a duplicate.
        let file = write(
            &dir,
            "up{job=\"a\"} 1 100\nup{job=\"a\"} 0 115\nup{job=\"a\"} 5 115\nup{job=\"a\"} 1 63072000\n# EOF\n",
        );
        let report = import_openmetrics_into(&file, &data).unwrap();
        assert_eq!((report.appended, report.duplicates), (3, 1));
        // A second, older import into the same folder.
        let older = write(&dir, "up{job=\"b\"} 7 50\n# EOF\n");
        import_openmetrics_into(&older, &data).unwrap();
        let (db, opened) = Db::open(&data, DbOptions { background: false, ..DbOptions::default() }).unwrap();
        assert_eq!(opened.blocks, 3, "one block per 2h window per import");
        for block in db.blocks() {
            let meta = block.meta();
            assert_eq!(meta.max_time % BLOCK_RANGE_MS, 0, "aligned: {meta:?}");
        }
        let q = db.querier(0, 63_072_000_000).unwrap();
        let got = q.select(&[Matcher::new(MatchOp::Equal, METRIC_NAME, "up").unwrap()]).unwrap();
        let points: Vec<(String, Vec<(i64, f64)>)> = got
            .iter()
            .map(|s| {
                (
                    s.labels.get("job").unwrap_or("").to_owned(),
                    s.samples.iter().map(|p| (p.timestamp_ms, p.value)).collect(),
                )
            })
            .collect();
        assert_eq!(
            points,
            [
                ("a".to_owned(), vec![(100_000, 1.0), (115_000, 0.0), (63_072_000_000, 1.0)]),
                ("b".to_owned(), vec![(50_000, 7.0)]),
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
