//! `vigil tsdb import openmetrics`: loads an OpenMetrics file with
//! timestamped samples into a storage folder, the counterpart of
//! `promtool tsdb create-blocks-from openmetrics`.
//!
//! On-disk blocks are not built yet, so the samples go where the server's
//! own writes go: through the [`Appender`] of the head opened on
//! `<storage>/wal`, in batches, each committed (and so written to the WAL)
//! before the next. A server started on the folder afterwards replays the
//! WAL and serves them. When blocks exist this will write blocks instead.
//!
//! The file is read twice, streaming, as promtool does: a first pass checks
//! every line (syntax, a timestamp on every sample, `# EOF` at the end) so a
//! bad file changes nothing; the second appends. Within a batch samples are
//! sorted per series by time; a sample older than what its series already
//! holds (out of order across batches) is refused by the head and counted,
//! where promtool drops it silently.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};
use vigil_shared::model::{Labels, METRIC_NAME};

use super::{Appender, MemoryStorage, Sample, SeriesRef, Storage};
use crate::scrape::exposition::{ExposedSample, Format, parse_sample_line};

pub mod synthetic;

/// Samples per committed batch.
pub const BATCH_SAMPLES: usize = 250_000;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Sample lines read.
    pub samples_read: u64,
    pub appended: u64,
    /// Distinct series in the file.
    pub series: u64,
    /// Refused: older than a sample their series already held.
    pub out_of_order: u64,
    /// Refused: same timestamp as a stored sample, different value.
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

/// Imports `file` into the storage folder `storage_path` (locked for the
/// duration, as the server locks it), reporting progress on stderr.
pub fn import_openmetrics_into(file: &Path, storage_path: &Path) -> anyhow::Result<ImportReport> {
    let _lock = crate::server::lock_data_dir(storage_path)?;
    let (head, _replay) = MemoryStorage::open(&storage_path.join("wal"))?;
    let mut progress = Progress::stderr(std::fs::metadata(file).map(|m| m.len()).unwrap_or(0));
    let report = import_openmetrics(file, &head, &mut progress)?;
    progress.finish(&report);
    Ok(report)
}

/// Checks then imports `file` into `storage`. `progress` is told about every
/// line read.
pub fn import_openmetrics(
    file: &Path,
    storage: &dyn Storage,
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
    progress.phase = "importing";
    let mut cache: FxHashMap<String, SeriesRef> = FxHashMap::default();
    let mut batch: Vec<(SeriesRef, Sample)> = Vec::with_capacity(BATCH_SAMPLES);
    let mut counts = Counts::default();
    let mut appender = storage.appender();
    scan(file, &name, progress, |sample, _| {
        let series = match cache.get(sample.series_text) {
            Some(series) => *series,
            None => {
                // The check pass parsed these labels already.
                let labels = labels_of(sample).unwrap_or_default();
                let series = appender.series_ref(&labels);
                cache.insert(sample.series_text.to_owned(), series);
                series
            }
        };
        let timestamp_ms = sample.timestamp_ms.unwrap_or_default();
        batch.push((series, Sample { timestamp_ms, value: sample.value }));
        if batch.len() >= BATCH_SAMPLES {
            let full = std::mem::replace(&mut appender, storage.appender());
            commit(full, &mut batch, &mut counts)?;
        }
        Ok(())
    })?;
    commit(appender, &mut batch, &mut counts)?;
    if counts.unknown_series > 0 {
        return Err(ImportError::Storage(format!(
            "{} samples referred to series the head lost",
            counts.unknown_series
        )));
    }
    report.series = cache.len() as u64;
    report.appended = counts.appended;
    report.out_of_order = counts.out_of_order;
    report.duplicates = counts.duplicates;
    Ok(report)
}

#[derive(Default)]
struct Counts {
    appended: u64,
    out_of_order: u64,
    duplicates: u64,
    unknown_series: u64,
}

/// Sorts the batch per series by time, appends it and commits.
fn commit(
    mut appender: Box<dyn Appender + '_>,
    batch: &mut Vec<(SeriesRef, Sample)>,
    counts: &mut Counts,
) -> Result<(), ImportError> {
    // Stable: equal timestamps keep file order, so the head sees a
    // duplicate exactly as written.
    batch.sort_by_key(|(series, sample)| (*series, sample.timestamp_ms));
    for (series, sample) in batch.drain(..) {
        appender.append_ref(series, sample);
    }
    let done = appender.commit().map_err(|e| ImportError::Storage(e.to_string()))?;
    counts.appended += done.appended as u64;
    counts.out_of_order += done.out_of_order as u64;
    counts.duplicates += done.duplicates as u64;
    counts.unknown_series += done.unknown_series as u64;
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
        if report.out_of_order > 0 || report.duplicates > 0 {
            let _ = writeln!(
                out,
                "skipped {} out-of-order samples (older than a sample of their series already stored) and {} duplicates (same timestamp, another value)",
                report.out_of_order, report.duplicates
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
        let storage = MemoryStorage::new();
        let report = import_openmetrics(&file, &storage, &mut Progress::silent()).unwrap();
        assert_eq!((report.samples_read, report.appended, report.series, report.out_of_order), (4, 4, 2, 0));
        assert_eq!((report.min_time_ms, report.max_time_ms), (Some(10_000), Some(30_500)));
        let q = storage.querier(0, 100_000).unwrap();
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
            let storage = MemoryStorage::new();
            let error = import_openmetrics(&file, &storage, &mut Progress::silent()).unwrap_err().to_string();
            assert!(error.contains(want), "{body:?}: {error}");
            assert_eq!(storage.series_count(), 0, "{body:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_server_started_on_the_folder_sees_the_samples() {
        let dir = temp("wal");
        let file = write(&dir, "up{job=\"a\"} 1 100\nup{job=\"a\"} 0 115\n# EOF\n");
        let data = dir.join("data");
        let report = import_openmetrics_into(&file, &data).unwrap();
        assert_eq!(report.appended, 2);
        let (head, replay) = MemoryStorage::open(&data.join("wal")).unwrap();
        assert_eq!((replay.series, replay.samples), (1, 2));
        assert_eq!(head.series_count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
