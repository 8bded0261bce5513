//! The write-ahead log: every committed batch is written here before the
//! commit returns, so a crash never loses an acknowledged sample.
//!
//! A WAL is a folder of numbered segment files (`00000000`, `00000001`, …),
//! each at most [`SEGMENT_SIZE`] bytes, holding records back to back:
//!
//! ```text
//! record  = type:u8  length:u32le  crc32:u32le  payload[length]
//! type 1  = series:  ref:u64le  n:u16le  (len:u32le name  len:u32le value){n}
//! type 2  = samples: n:u32le  base_ref:u64le  base_t:i64le
//!                    (dref:varint  dt:varint  v:f64-bits-le){n}
//! type 3  = tombstones: n:u32le  (ref:u64le  mint:i64le  maxt:i64le){n}
//! ```
//!
//! A tombstones record is a deletion (`delete_series`): the series' samples
//! in `[mint, maxt]` (inclusive) are gone. It is written and flushed before
//! the deletion is acknowledged; replay applies it where it stands, so it
//! removes the samples logged before it and not those appended after.
//!
//! Samples store each reference and timestamp as a zig-zag varint delta from
//! the record's first one, as Prometheus's WAL does: a scrape's samples share
//! one timestamp and have nearby references, so a sample costs about ten
//! bytes instead of twenty-four.
//!
//! A record whose type has the high bit set (`0x80 | type`) holds its payload
//! compressed with Snappy, as Prometheus's WAL compression does; the length
//! and CRC are those of the stored (compressed) bytes.
//!
//! The CRC (IEEE CRC-32) covers the payload. Replay reads segments in order
//! and stops at the first record that is short or fails its CRC: the rest of
//! that segment and any later segment are a torn or corrupt tail, which is
//! reported and cut off so the log is clean for new writes.
//!
//! A process killed between `write` and the next write loses nothing: the
//! bytes are in the kernel's page cache. Surviving power loss needs fsync,
//! which happens when a segment is closed.
//!
//! # Checkpoints
//!
//! Once the head has been cut into a block, the log's older segments hold
//! mostly samples that are now in that block. [`checkpoint`] folds them,
//! with the previous checkpoint, into a folder `checkpoint.NNNNNNNN` (`N`:
//! the last segment it covers) of segments in the same record format,
//! holding only the series still in the head and their samples at or after
//! the cut; then it deletes the segments and checkpoints it covers. The
//! checkpoint is written into `checkpoint.NNNNNNNN.tmp`, fsynced and
//! renamed, so a checkpoint folder is always complete. Replay reads the
//! newest checkpoint, then the segments numbered after it; segments a crash
//! left behind at or before it are deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use vigil_shared::model::Labels;

use super::varint::put_varint;
use super::{Sample, SeriesRef};

/// Largest segment before a new one is started.
pub const SEGMENT_SIZE: u64 = 128 * 1024 * 1024;

const RECORD_SERIES: u8 = 1;
const RECORD_SAMPLES: u8 = 2;
const RECORD_TOMBSTONES: u8 = 3;
const SNAPPY: u8 = 0x80;
/// Payloads smaller than this are stored as they are: compressing them
/// saves nothing worth the CPU.
const COMPRESS_FROM: usize = 256;
const HEADER_LEN: usize = 9;

/// A record as replayed.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Series {
        series: SeriesRef,
        labels: Labels,
    },
    Samples(Vec<(SeriesRef, Sample)>),
    /// Deleted time ranges `[mint, maxt]` (inclusive) of series.
    Tombstones(Vec<Tombstone>),
}

/// A deleted time range of one series: `[mint, maxt]`, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone {
    pub series: SeriesRef,
    pub mint: i64,
    pub maxt: i64,
}

/// What replay found.
#[derive(Debug, Default)]
pub struct Replay {
    pub records: Vec<Record>,
    pub segments: usize,
    pub bytes: u64,
    /// Where a torn or corrupt tail was cut off, if any: (segment, offset,
    /// why).
    pub corruption: Option<(u32, u64, String)>,
}

/// The log being written.
pub struct Wal {
    dir: PathBuf,
    segment: u32,
    file: File,
    written: u64,
    buffer: Vec<u8>,
    encoder: snap::raw::Encoder,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("segment", &self.segment)
            .field("written", &self.written)
            .finish()
    }
}

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:08}"))
}

/// The segment numbers in `dir`, in order; other files are ignored.
fn segments(dir: &Path) -> io::Result<Vec<u32>> {
    let mut numbers: Vec<u32> = fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.len() == 8).then(|| name.parse().ok()).flatten()
        })
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

impl Wal {
    /// Opens the WAL in `dir` (creating it), replays what it holds (the
    /// newest checkpoint, then the segments after it), repairs a torn tail,
    /// and starts a fresh segment for new writes.
    pub fn open(dir: &Path) -> io::Result<(Wal, Replay)> {
        let mut records = Vec::new();
        let (wal, mut replay) = Wal::open_with(dir, |r| records.push(r))?;
        replay.records = records;
        Ok((wal, replay))
    }

    /// [`Wal::open`] handing each record to `on_record` as it is read,
    /// rather than holding the whole log in memory (`records` stays empty).
    pub fn open_with(dir: &Path, mut on_record: impl FnMut(Record)) -> io::Result<(Wal, Replay)> {
        fs::create_dir_all(dir)?;
        let mut replay = Replay::default();
        let checkpoint = clean_checkpoints(dir)?;
        if let Some((n, path)) = &checkpoint {
            for s in segments(path)? {
                let bytes = fs::read(segment_path(path, s))?;
                replay.segments += 1;
                let (good, error) = decode_records(&bytes, &mut on_record);
                replay.bytes += good as u64;
                if let Some(why) = error {
                    // A checkpoint is complete when renamed: this is damage
                    // on disk. Keep what is good and go on with the segments.
                    replay.corruption = Some((*n, good as u64, format!("in {}: {why}", path.display())));
                    break;
                }
            }
        }
        let covered = checkpoint.as_ref().map(|(n, _)| *n);
        let mut numbers = segments(dir)?;
        if let Some(c) = covered {
            // Segments the checkpoint covers, left by a crash mid-deletion.
            for &n in numbers.iter().filter(|n| **n <= c) {
                fs::remove_file(segment_path(dir, n))?;
            }
            numbers.retain(|n| *n > c);
        }
        let mut cut_from: Option<usize> = None;
        for (i, &n) in numbers.iter().enumerate() {
            let path = segment_path(dir, n);
            let bytes = fs::read(&path)?;
            replay.segments += 1;
            let (good, error) = decode_records(&bytes, &mut on_record);
            replay.bytes += good as u64;
            if let Some(why) = error {
                // Keep what is good; drop the torn tail and anything after.
                OpenOptions::new().write(true).open(&path)?.set_len(good as u64)?;
                replay.corruption = Some((n, good as u64, why));
                cut_from = Some(i + 1);
                break;
            }
        }
        if let Some(from) = cut_from {
            for &n in &numbers[from..] {
                fs::remove_file(segment_path(dir, n))?;
            }
        }
        let last = numbers.iter().take(cut_from.unwrap_or(numbers.len())).max().copied();
        // Numbers only grow: never reuse one a checkpoint covers.
        let next = last.max(covered).map_or(0, |n| n + 1);
        let file = OpenOptions::new().create(true).append(true).open(segment_path(dir, next))?;
        sync_dir(dir);
        let wal = Wal {
            dir: dir.to_owned(),
            segment: next,
            file,
            written: 0,
            buffer: Vec::new(),
            encoder: snap::raw::Encoder::new(),
        };
        Ok((wal, replay))
    }

    /// Closes the current segment (fsynced) and starts the next one.
    /// Returns the number of the segment just closed: every record logged
    /// before this call is in it or an earlier one.
    pub fn cut_segment(&mut self) -> io::Result<u32> {
        self.flush()?;
        let closed = self.segment;
        self.next_segment()?;
        Ok(closed)
    }

    /// Makes everything written durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        self.file.sync_all()
    }

    /// The folder of the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Buffers a series record.
    pub fn log_series(&mut self, series: SeriesRef, labels: &Labels) {
        let mut payload = Vec::with_capacity(16 + labels.len() * 24);
        payload.extend_from_slice(&series.0.to_le_bytes());
        payload.extend_from_slice(&(labels.len() as u16).to_le_bytes());
        for label in labels.iter() {
            for text in [&label.name, &label.value] {
                payload.extend_from_slice(&(text.len() as u32).to_le_bytes());
                payload.extend_from_slice(text.as_bytes());
            }
        }
        self.push_record(RECORD_SERIES, &payload);
    }

    /// Buffers a samples record.
    pub fn log_samples(&mut self, samples: &[(SeriesRef, Sample)]) {
        if samples.is_empty() {
            return;
        }
        let (base_ref, base) = samples[0];
        let mut payload = Vec::with_capacity(20 + samples.len() * 12);
        payload.extend_from_slice(&(samples.len() as u32).to_le_bytes());
        payload.extend_from_slice(&base_ref.0.to_le_bytes());
        payload.extend_from_slice(&base.timestamp_ms.to_le_bytes());
        for (series, sample) in samples {
            put_varint(&mut payload, (series.0 as i64).wrapping_sub(base_ref.0 as i64));
            put_varint(&mut payload, sample.timestamp_ms.wrapping_sub(base.timestamp_ms));
            payload.extend_from_slice(&sample.value.to_bits().to_le_bytes());
        }
        self.push_record(RECORD_SAMPLES, &payload);
    }

    /// Buffers a tombstones record.
    pub fn log_tombstones(&mut self, tombstones: &[Tombstone]) {
        if tombstones.is_empty() {
            return;
        }
        let mut payload = Vec::with_capacity(4 + tombstones.len() * 24);
        payload.extend_from_slice(&(tombstones.len() as u32).to_le_bytes());
        for t in tombstones {
            payload.extend_from_slice(&t.series.0.to_le_bytes());
            payload.extend_from_slice(&t.mint.to_le_bytes());
            payload.extend_from_slice(&t.maxt.to_le_bytes());
        }
        self.push_record(RECORD_TOMBSTONES, &payload);
    }

    fn push_record(&mut self, kind: u8, payload: &[u8]) {
        if payload.len() >= COMPRESS_FROM
            && let Ok(compressed) = self.encoder.compress_vec(payload)
            && compressed.len() < payload.len()
        {
            self.write_record(kind | SNAPPY, &compressed);
        } else {
            self.write_record(kind, payload);
        }
    }

    fn write_record(&mut self, kind: u8, payload: &[u8]) {
        self.buffer.push(kind);
        self.buffer.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.buffer.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        self.buffer.extend_from_slice(payload);
    }

    /// Writes everything buffered in one `write` and returns how many bytes.
    /// Returns only once the kernel has the bytes: this is the
    /// acknowledgement point.
    pub fn flush(&mut self) -> io::Result<usize> {
        if self.buffer.is_empty() {
            return Ok(0);
        }
        if self.written > 0 && self.written + self.buffer.len() as u64 > SEGMENT_SIZE {
            self.next_segment()?;
        }
        self.file.write_all(&self.buffer)?;
        let bytes = self.buffer.len();
        self.written += bytes as u64;
        self.buffer.clear();
        Ok(bytes)
    }

    fn next_segment(&mut self) -> io::Result<()> {
        self.file.sync_all()?;
        self.segment += 1;
        self.file = OpenOptions::new().create(true).append(true).open(segment_path(&self.dir, self.segment))?;
        self.written = 0;
        sync_dir(&self.dir);
        Ok(())
    }
}

/// Reads the log in `dir` as [`Wal::open_with`] replays it (the newest
/// complete checkpoint, then the segments after it) without changing
/// anything: no repair, no new segment, so it is safe while a server
/// writes the log. It stops at the first bad record, which in a live log
/// may simply be one being written.
pub fn read(dir: &Path, mut on_record: impl FnMut(Record)) -> io::Result<Replay> {
    let mut replay = Replay::default();
    let newest = checkpoints(dir)?.last().copied();
    let mut files: Vec<(u32, PathBuf)> = Vec::new();
    if let Some(n) = newest {
        let path = checkpoint_path(dir, n);
        files.extend(segments(&path)?.into_iter().map(|s| (n, segment_path(&path, s))));
    }
    files.extend(
        segments(dir)?.into_iter().filter(|s| newest.is_none_or(|n| *s > n)).map(|s| (s, segment_path(dir, s))),
    );
    for (n, path) in files {
        let bytes = fs::read(&path)?;
        replay.segments += 1;
        let (good, error) = decode_records(&bytes, &mut on_record);
        replay.bytes += good as u64;
        if let Some(why) = error {
            replay.corruption = Some((n, good as u64, format!("in {}: {why}", path.display())));
            break;
        }
    }
    Ok(replay)
}

fn checkpoint_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{n:08}"))
}

const CHECKPOINT_PREFIX: &str = "checkpoint.";

/// The complete checkpoints in `dir` by number, oldest first.
fn checkpoints(dir: &Path) -> io::Result<Vec<u32>> {
    let mut numbers: Vec<u32> = fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let digits = name.strip_prefix(CHECKPOINT_PREFIX)?;
            (digits.len() == 8).then(|| digits.parse().ok()).flatten()
        })
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

/// Deletes unfinished checkpoints and all but the newest complete one;
/// returns that one.
fn clean_checkpoints(dir: &Path) -> io::Result<Option<(u32, PathBuf)>> {
    for entry in fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(CHECKPOINT_PREFIX) && name.ends_with(".tmp") {
            fs::remove_dir_all(entry.path())?;
        }
    }
    let numbers = checkpoints(dir)?;
    let Some(&newest) = numbers.last() else { return Ok(None) };
    for &n in &numbers[..numbers.len() - 1] {
        fs::remove_dir_all(checkpoint_path(dir, n))?;
    }
    Ok(Some((newest, checkpoint_path(dir, newest))))
}

/// What a checkpoint kept.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckpointReport {
    /// The last segment it covers.
    pub through: u32,
    pub series: usize,
    pub samples: usize,
    pub tombstones: usize,
    /// Segments and older checkpoints deleted.
    pub deleted: usize,
}

/// Folds the previous checkpoint and every segment up to `through` into a
/// new checkpoint holding the series `keep` accepts and their samples at or
/// after `mint`, then deletes what it replaced. Any error leaves the log as
/// it was (a half-written checkpoint is only ever a `.tmp` folder).
pub fn checkpoint(
    dir: &Path,
    through: u32,
    keep: impl Fn(SeriesRef) -> bool,
    mint: i64,
) -> io::Result<CheckpointReport> {
    let previous = checkpoints(dir)?.into_iter().filter(|n| *n <= through).max();
    if previous == Some(through) {
        // Already done: nothing was logged since.
        return Ok(CheckpointReport { through, ..CheckpointReport::default() });
    }
    let mut sources: Vec<PathBuf> = Vec::new();
    if let Some(p) = previous {
        let path = checkpoint_path(dir, p);
        sources.extend(segments(&path)?.into_iter().map(|s| segment_path(&path, s)));
    }
    let covered: Vec<u32> = segments(dir)?.into_iter().filter(|n| *n <= through).collect();
    sources.extend(covered.iter().filter(|n| previous.is_none_or(|p| **n > p)).map(|n| segment_path(dir, *n)));

    let final_path = checkpoint_path(dir, through);
    let tmp = dir.join(format!("{CHECKPOINT_PREFIX}{through:08}.tmp"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    let mut report = CheckpointReport { through, ..CheckpointReport::default() };
    let written = (|| -> io::Result<()> {
        let (mut out, _) = Wal::open(&tmp)?;
        let mut records = Vec::new();
        for source in &sources {
            records.clear();
            let bytes = fs::read(source)?;
            if let (_, Some(why)) = decode_records(&bytes, &mut |r| records.push(r)) {
                return Err(io::Error::other(format!("{}: {why}", source.display())));
            }
            drop(bytes);
            for record in records.drain(..) {
                match record {
                    Record::Series { series, labels } if keep(series) => {
                        out.log_series(series, &labels);
                        report.series += 1;
                    }
                    Record::Series { .. } => {}
                    Record::Samples(mut samples) => {
                        samples.retain(|(s, sample)| sample.timestamp_ms >= mint && keep(*s));
                        report.samples += samples.len();
                        out.log_samples(&samples);
                    }
                    // A deletion still matters while it covers samples
                    // the checkpoint keeps; it stays after them, in order.
                    Record::Tombstones(mut tombstones) => {
                        tombstones.retain(|t| t.maxt >= mint && keep(t.series));
                        report.tombstones += tombstones.len();
                        out.log_tombstones(&tombstones);
                    }
                }
                if out.buffer.len() >= 1 << 20 {
                    out.flush()?;
                }
            }
        }
        out.sync()?;
        sync_dir(&tmp);
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &final_path)?;
    sync_dir(dir);
    // The new checkpoint is durable: what it covers can go.
    for n in covered {
        fs::remove_file(segment_path(dir, n))?;
        report.deleted += 1;
    }
    for n in checkpoints(dir)?.into_iter().filter(|n| *n < through) {
        fs::remove_dir_all(checkpoint_path(dir, n))?;
        report.deleted += 1;
    }
    sync_dir(dir);
    Ok(report)
}

/// Makes a new file's directory entry durable; best effort.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Decodes records from one segment; returns how many bytes were good and,
/// if it stopped early, why.
fn decode_records(bytes: &[u8], on_record: &mut dyn FnMut(Record)) -> (usize, Option<String>) {
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(header) = bytes.get(pos..pos + HEADER_LEN) else {
            return (pos, Some("torn record header".to_owned()));
        };
        let kind = header[0];
        let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let crc = u32::from_le_bytes([header[5], header[6], header[7], header[8]]);
        let Some(payload) = bytes.get(pos + HEADER_LEN..pos + HEADER_LEN + len) else {
            return (
                pos,
                Some(format!("torn record: {len} bytes announced, {} present", bytes.len() - pos - HEADER_LEN)),
            );
        };
        if crc32fast::hash(payload) != crc {
            return (pos, Some("checksum mismatch".to_owned()));
        }
        let decompressed;
        let payload = if kind & SNAPPY != 0 {
            match snap::raw::Decoder::new().decompress_vec(payload) {
                Ok(bytes) => {
                    decompressed = bytes;
                    &decompressed[..]
                }
                Err(e) => return (pos, Some(format!("cannot decompress record: {e}"))),
            }
        } else {
            payload
        };
        let record = match kind & !SNAPPY {
            RECORD_SERIES => decode_series(payload),
            RECORD_SAMPLES => decode_samples(payload),
            RECORD_TOMBSTONES => decode_tombstones(payload),
            other => Err(format!("unknown record type {other}")),
        };
        match record {
            Ok(record) => on_record(record),
            Err(why) => return (pos, Some(why)),
        }
        pos += HEADER_LEN + len;
    }
    (pos, None)
}

/// A cursor over a payload whose reads fail instead of panicking.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err("record payload too short".to_owned());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn varint(&mut self) -> Result<i64, String> {
        let mut u = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            u |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(((u >> 1) as i64) ^ -((u & 1) as i64));
            }
        }
        Err("varint too long".to_owned())
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "label text is not UTF-8".to_owned())
    }
}

fn decode_series(payload: &[u8]) -> Result<Record, String> {
    let mut c = Cursor(payload);
    let series = SeriesRef(c.u64()?);
    let count = u16::from_le_bytes(c.take(2)?.try_into().map_err(|_| "short")?);
    let mut pairs = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        pairs.push((c.string()?, c.string()?));
    }
    Ok(Record::Series { series, labels: Labels::from_pairs(pairs) })
}

fn decode_samples(payload: &[u8]) -> Result<Record, String> {
    let mut c = Cursor(payload);
    let count = c.u32()? as usize;
    // Each sample takes at least 10 bytes: refuse absurd counts up front.
    if count > payload.len() / 10 {
        return Err("samples record count exceeds its length".to_owned());
    }
    let base_ref = c.u64()? as i64;
    let base_t = c.u64()? as i64;
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let series = SeriesRef(base_ref.wrapping_add(c.varint()?) as u64);
        let timestamp_ms = base_t.wrapping_add(c.varint()?);
        let value = f64::from_bits(c.u64()?);
        samples.push((series, Sample { timestamp_ms, value }));
    }
    if !c.0.is_empty() {
        return Err("samples record has trailing bytes".to_owned());
    }
    Ok(Record::Samples(samples))
}

fn decode_tombstones(payload: &[u8]) -> Result<Record, String> {
    let mut c = Cursor(payload);
    let count = c.u32()? as usize;
    if count.checked_mul(24).is_none_or(|need| need != c.0.len()) {
        return Err("tombstones record count does not match its length".to_owned());
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let series = SeriesRef(c.u64()?);
        let mint = c.u64()? as i64;
        let maxt = c.u64()? as i64;
        out.push(Tombstone { series, mint, maxt });
    }
    Ok(Record::Tombstones(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vigil-wal-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_some(dir: &Path) -> Vec<Record> {
        let (mut wal, replay) = Wal::open(dir).unwrap();
        assert!(replay.records.is_empty());
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        wal.log_series(SeriesRef(0), &labels);
        let samples = vec![
            (SeriesRef(0), Sample { timestamp_ms: 1000, value: 1.0 }),
            (SeriesRef(0), Sample { timestamp_ms: 2000, value: f64::NAN }),
        ];
        wal.log_samples(&samples);
        wal.flush().unwrap();
        wal.log_samples(&[(SeriesRef(0), Sample { timestamp_ms: 3000, value: 3.0 })]);
        wal.flush().unwrap();
        vec![
            Record::Series { series: SeriesRef(0), labels },
            Record::Samples(samples),
            Record::Samples(vec![(SeriesRef(0), Sample { timestamp_ms: 3000, value: 3.0 })]),
        ]
    }

    fn same(a: &[Record], b: &[Record]) -> bool {
        // NaN != NaN, so compare sample values by bits.
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn replays_what_was_written_across_reopens() {
        let dir = temp_dir("replay");
        let written = write_some(&dir);
        let (mut wal, replay) = Wal::open(&dir).unwrap();
        assert!(same(&replay.records, &written), "{:?}", replay.records);
        assert!(replay.corruption.is_none());
        wal.log_samples(&[(SeriesRef(0), Sample { timestamp_ms: 4000, value: 4.0 })]);
        wal.flush().unwrap();
        let (_, replay) = Wal::open(&dir).unwrap();
        assert_eq!(replay.records.len(), 4);
        assert_eq!(replay.segments, 2, "each open starts a new segment");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_cut_and_everything_before_it_kept() {
        let dir = temp_dir("torn");
        let written = write_some(&dir);
        let path = segment_path(&dir, 0);
        let full = fs::read(&path).unwrap();
        // Every possible torn write of the last record, and a flipped byte
        // in it, keep the first two records.
        // The last record: one sample, ref and time deltas of one byte each.
        let last_start = full.len() - (HEADER_LEN + 4 + 8 + 8 + 1 + 1 + 8);
        for cut in last_start + 1..full.len() {
            fs::write(&path, &full[..cut]).unwrap();
            for n in segments(&dir).unwrap().into_iter().filter(|n| *n > 0) {
                fs::remove_file(segment_path(&dir, n)).unwrap();
            }
            let (_, replay) = Wal::open(&dir).unwrap();
            assert!(same(&replay.records, &written[..2]), "cut at {cut}");
            let (segment, offset, _) = replay.corruption.expect("reported");
            assert_eq!((segment, offset), (0, last_start as u64));
            assert_eq!(fs::metadata(&path).unwrap().len(), last_start as u64, "the tail is truncated");
        }
        let mut flipped = full.clone();
        flipped[full.len() - 3] ^= 0xff;
        fs::write(&path, &flipped).unwrap();
        let (_, replay) = Wal::open(&dir).unwrap();
        assert!(replay.corruption.is_some_and(|(_, _, why)| why == "checksum mismatch"));
        assert_eq!(replay.records.len(), 2);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn samples_records_round_trip_with_any_refs_and_times() {
        let samples: Vec<(SeriesRef, Sample)> =
            [(5u64, 1000i64), (0, -7), (u64::MAX, i64::MAX), (3, i64::MIN), (4, 1000)]
                .iter()
                .map(|(r, t)| (SeriesRef(*r), Sample { timestamp_ms: *t, value: *r as f64 }))
                .collect();
        let dir = temp_dir("varints");
        {
            let (mut wal, _) = Wal::open(&dir).unwrap();
            wal.log_samples(&samples);
            wal.flush().unwrap();
        }
        let (_, replay) = Wal::open(&dir).unwrap();
        assert!(same(&replay.records, &[Record::Samples(samples)]), "{:?}", replay.records);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn large_records_are_compressed_and_read_back() {
        let dir = temp_dir("snappy");
        let samples: Vec<(SeriesRef, Sample)> =
            (0..1000).map(|i| (SeriesRef(i), Sample { timestamp_ms: 1_700_000_000_000, value: 42.0 })).collect();
        {
            let (mut wal, _) = Wal::open(&dir).unwrap();
            wal.log_samples(&samples);
            let bytes = wal.flush().unwrap();
            // Uncompressed this is over 11,000 bytes (at least 11 a sample).
            assert!(bytes < 6000, "{bytes} bytes for 1000 alike samples: not compressed");
        }
        let (_, replay) = Wal::open(&dir).unwrap();
        assert!(same(&replay.records, &[Record::Samples(samples)]));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_checkpoint_replaces_old_segments_and_replays_first() {
        let dir = temp_dir("checkpoint");
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let c = Labels::from_pairs([("__name__", "c")]);
        let s = |r: u64, t: i64| (SeriesRef(r), Sample { timestamp_ms: t, value: t as f64 });
        let (mut wal, _) = Wal::open(&dir).unwrap();
        wal.log_series(SeriesRef(0), &a);
        wal.log_series(SeriesRef(1), &b);
        wal.log_samples(&[s(0, 1), s(1, 1), s(0, 5)]);
        wal.flush().unwrap();
        assert_eq!(wal.cut_segment().unwrap(), 0);
        wal.log_samples(&[s(0, 6), s(1, 6)]);
        wal.flush().unwrap();
        let through = wal.cut_segment().unwrap();
        assert_eq!(through, 1);
        // Logged after the cut: stays in segment 2.
        wal.log_series(SeriesRef(2), &c);
        wal.log_samples(&[s(0, 7), s(2, 7)]);
        wal.flush().unwrap();

        // Series 1 is gone from the head; samples before 5 are in a block.
        let report = checkpoint(&dir, through, |r| r.0 != 1, 5).unwrap();
        assert_eq!((report.series, report.samples, report.deleted), (1, 2, 2));
        assert_eq!(segments(&dir).unwrap(), [2]);
        assert_eq!(checkpoints(&dir).unwrap(), [1]);
        // Once is enough: the same again changes nothing.
        assert_eq!(checkpoint(&dir, through, |_| true, 0).unwrap().series, 0);

        // A crash left a half-written checkpoint and an old segment behind.
        fs::create_dir_all(dir.join("checkpoint.00000002.tmp")).unwrap();
        fs::write(segment_path(&dir, 0), b"stale").unwrap();
        drop(wal);
        let (mut wal, replay) = Wal::open(&dir).unwrap();
        let expected = [
            Record::Series { series: SeriesRef(0), labels: a.clone() },
            Record::Samples(vec![s(0, 5)]),
            Record::Samples(vec![s(0, 6)]),
            Record::Series { series: SeriesRef(2), labels: c.clone() },
            Record::Samples(vec![s(0, 7), s(2, 7)]),
        ];
        assert!(same(&replay.records, &expected), "{:?}", replay.records);
        assert!(replay.corruption.is_none());
        assert!(!dir.join("checkpoint.00000002.tmp").exists() && !segment_path(&dir, 0).exists());
        assert_eq!(wal.segment, 3, "numbering goes on after the newest segment");

        // A second checkpoint folds in the first and deletes it.
        let through = wal.cut_segment().unwrap();
        let report = checkpoint(&dir, through, |_| true, 7).unwrap();
        assert_eq!((report.series, report.samples), (2, 2));
        assert_eq!(checkpoints(&dir).unwrap(), [3]);
        assert_eq!(segments(&dir).unwrap(), [4]);
        drop(wal);
        // With every segment gone, numbers still go on after the checkpoint.
        fs::remove_file(segment_path(&dir, 4)).unwrap();
        let (wal, replay) = Wal::open(&dir).unwrap();
        assert_eq!(replay.records.len(), 3);
        assert_eq!(wal.segment, 4);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn tombstones_round_trip_and_checkpoints_keep_those_still_covering_samples() {
        let dir = temp_dir("tombstones");
        let a = Labels::from_pairs([("__name__", "a")]);
        let s = |r: u64, t: i64| (SeriesRef(r), Sample { timestamp_ms: t, value: 1.0 });
        let ts = |r: u64, mint: i64, maxt: i64| Tombstone { series: SeriesRef(r), mint, maxt };
        let (mut wal, _) = Wal::open(&dir).unwrap();
        wal.log_series(SeriesRef(0), &a);
        wal.log_series(SeriesRef(1), &a);
        wal.log_samples(&[s(0, 1), s(0, 5), s(0, 9)]);
        // Before the checkpoint's mint (gone), across it (kept), of a series
        // the head dropped (gone), and open-ended (kept).
        let deletions = [ts(0, 0, 2), ts(0, 4, 6), ts(1, 0, 100), ts(0, i64::MIN, i64::MAX)];
        wal.log_tombstones(&deletions);
        wal.log_tombstones(&[]);
        wal.flush().unwrap();
        drop(wal);
        let (mut wal, replay) = Wal::open(&dir).unwrap();
        assert_eq!(replay.records.last(), Some(&Record::Tombstones(deletions.to_vec())));
        assert_eq!(replay.records.len(), 4, "an empty deletion writes nothing");
        let through = wal.cut_segment().unwrap();
        let report = checkpoint(&dir, through, |r| r.0 == 0, 5).unwrap();
        assert_eq!((report.samples, report.tombstones), (2, 2));
        drop(wal);
        let (_, replay) = Wal::open(&dir).unwrap();
        let expected = [
            Record::Series { series: SeriesRef(0), labels: a },
            Record::Samples(vec![s(0, 5), s(0, 9)]),
            Record::Tombstones(vec![ts(0, 4, 6), ts(0, i64::MIN, i64::MAX)]),
        ];
        assert!(same(&replay.records, &expected), "{:?}", replay.records);
        // A record whose count disagrees with its length is corruption.
        let mut out = Vec::new();
        let payload = [2u8, 0, 0, 0].iter().chain(&[0u8; 24]).copied().collect::<Vec<u8>>();
        let mut bytes = vec![RECORD_TOMBSTONES];
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        let (good, error) = decode_records(&bytes, &mut |r| out.push(r));
        assert_eq!((good, error.as_deref()), (0, Some("tombstones record count does not match its length")));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn reading_replays_like_opening_and_changes_nothing() {
        let dir = temp_dir("read");
        let written = write_some(&dir);
        let listing = |dir: &Path| {
            let mut names: Vec<(String, u64)> = fs::read_dir(dir)
                .unwrap()
                .flatten()
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
                .collect();
            names.sort();
            names
        };
        // A torn tail, which opening would cut off.
        let path = segment_path(&dir, 0);
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() - 2]).unwrap();
        let before = listing(&dir);
        let mut records = Vec::new();
        let replay = read(&dir, |r| records.push(r)).unwrap();
        assert!(same(&records, &written[..2]), "{records:?}");
        assert!(replay.corruption.is_some());
        assert_eq!(listing(&dir), before, "reading changed the folder");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn garbage_never_panics() {
        let mut out = Vec::new();
        for bytes in
            [&b""[..], b"\x01", b"\x02\xff\xff\xff\xff\0\0\0\0", b"\x09\0\0\0\0\0\0\0\0", b"\x01\x04\0\0\0\0\0\0\0abcd"]
        {
            let _ = decode_records(bytes, &mut |r| out.push(r));
        }
    }
}
