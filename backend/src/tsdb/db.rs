//! The database: the head (recent samples in memory, logged to the WAL)
//! plus immutable blocks on disk for everything older, behind the same
//! [`Storage`] traits as the head alone.
//!
//! The data folder:
//!
//! ```text
//! lock                     held by the running server (server.rs)
//! wal/00000012 …           WAL segments (wal.rs)
//! wal/checkpoint.00000011/ the series and samples of the segments it replaced
//! 01J…/                    one block per folder (block.rs); its
//!                          `tombstones` file lists deleted ranges
//! snapshots/<name>/        snapshots (`Db::snapshot`): blocks linked in
//! 01J….tmp/                a block being written (deleted on open)
//! 01J….tmp-for-deletion/   a block being deleted (deleted on open)
//! ```
//!
//! Maintenance ([`Db::maintain`], run by a background thread every minute,
//! or every tenth of a block range if that is shorter) does, in order:
//!
//! 1. **Cutting the head.** While the head spans more than 1.5 block
//!    ranges, its oldest block range `[mint, maxt)` is written as a level-1
//!    block; only once that block is durable (fsynced and renamed) and
//!    visible to queries is the head truncated to `maxt`, and the WAL
//!    segments before the truncation folded into a checkpoint of what the
//!    head still holds. At every instant an acknowledged sample is in a
//!    complete block or in checkpoint + WAL (or both: replay skips samples
//!    older than the newest block's end, queries drop duplicates).
//! 2. **Compaction**, planned as Prometheus's leveled compactor does:
//!    overlapping blocks are merged first; otherwise blocks that fill an
//!    aligned range of 3×, 9×, 27×… the block range (up to 31 days or a
//!    tenth of the retention) are merged into one, leaving out the newest
//!    block. The new block is durable before its sources are deleted, and
//!    it names them as parents, so a crash between the two is cleaned up on
//!    the next open.
//! 3. **Retention**: whole blocks are deleted, oldest first, once they end
//!    more than the retention time before the newest block ends, or while
//!    blocks and WAL together are over the size limit.
//!
//! Queries read the blocks overlapping their range and the head, and merge
//! series with the same labels, dropping samples with a timestamp already
//! seen.
//!
//! Deletion ([`Db::delete`]) writes tombstones: for blocks a tombstones
//! file, for the head a WAL record (then the samples are dropped from
//! memory). Compaction leaves deleted samples out of the blocks it writes,
//! and [`Db::clean_tombstones`] rewrites each block that has tombstones on
//! its own. Deletion, cleaning and snapshots hold the maintenance lock, so
//! no block is cut or compacted from data a deletion is changing.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tracing::{debug, info, warn};
use vigil_shared::model::Labels;
use vigil_shared::promql::Matcher;

use super::block::{
    Block, BlockDesc, BlockError, BlockId, BlockWriter, CHUNKS_FILE, ChunkMeta, CompactionMeta, DELETE_SUFFIX,
    INDEX_FILE, Intervals, META_FILE, TMP_SUFFIX, TOMBSTONES_FILE, is_deleted, sync_dir,
};
use super::chunk::{SAMPLES_PER_CHUNK, XorChunk, XorIterator};
use super::memory::{HeadOptions, MemoryStorage, OpenReport};
use super::stats::HeadStats;
use super::{Appender, Querier, Sample, Series, Storage, StorageError};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How the database cuts, compacts and deletes blocks.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// The head is cut into blocks of this width (ms); Prometheus's
    /// `--storage.tsdb.min-block-duration`, 2h by default.
    pub min_block_duration_ms: i64,
    /// Largest compacted block (ms); 0: 31 days, or a tenth of the
    /// retention time if that is shorter, as Prometheus.
    pub max_block_duration_ms: i64,
    /// Blocks ending this long before the newest block's end are deleted
    /// (ms); 0: no time limit.
    pub retention_ms: i64,
    /// Blocks are deleted, oldest first, while blocks and WAL take more
    /// bytes than this; 0: no size limit.
    pub retention_bytes: u64,
    /// Whether a background thread runs [`Db::maintain`]; tests call it
    /// themselves.
    pub background: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            min_block_duration_ms: 2 * HOUR_MS,
            max_block_duration_ms: 0,
            retention_ms: 15 * DAY_MS,
            retention_bytes: 0,
            background: true,
        }
    }
}

impl DbOptions {
    /// Options from Prometheus's flags: with neither retention given, 15
    /// days of time retention; with only a size, no time limit.
    pub fn from_flags(retention_time_ms: Option<i64>, retention_size: Option<u64>, min_block_duration_ms: i64) -> Self {
        let (mut retention_ms, retention_bytes) = (retention_time_ms.unwrap_or(0), retention_size.unwrap_or(0));
        if retention_ms == 0 && retention_bytes == 0 {
            retention_ms = DbOptions::default().retention_ms;
        }
        DbOptions { min_block_duration_ms, retention_ms, retention_bytes, ..DbOptions::default() }
    }

    /// Widths of the compaction levels: the block range times 1, 3, 9, …,
    /// up to the largest block.
    pub fn ranges(&self) -> Vec<i64> {
        let max = if self.max_block_duration_ms > 0 {
            self.max_block_duration_ms
        } else if self.retention_ms > 0 {
            (31 * DAY_MS).min(self.retention_ms / 10)
        } else {
            31 * DAY_MS
        };
        let mut ranges = vec![self.min_block_duration_ms.max(1)];
        for _ in 1..10 {
            let next = ranges[ranges.len() - 1].saturating_mul(3);
            if next > max {
                break;
            }
            ranges.push(next);
        }
        ranges
    }
}

/// Parses a size as Prometheus's `--storage.tsdb.retention.size` does: a
/// whole number and a unit, B, KB, MB, GB, TB, PB or EB, powers of 1024
/// (`KiB`… are accepted too).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| format!("invalid size {text:?}: expected e.g. 512MB"))?;
    let power = match unit.to_ascii_uppercase().as_str() {
        "B" => 0,
        "KB" | "KIB" => 1,
        "MB" | "MIB" => 2,
        "GB" | "GIB" => 3,
        "TB" | "TIB" => 4,
        "PB" | "PIB" => 5,
        "EB" | "EIB" => 6,
        _ => return Err(format!("invalid size {text:?}: the unit must be one of B, KB, MB, GB, TB, PB, EB")),
    };
    number.checked_mul(1u64 << (10 * power)).ok_or_else(|| format!("size {text:?} is too large"))
}

/// What opening the database found, for the startup log.
#[derive(Debug, Default)]
pub struct DbOpenReport {
    pub head: OpenReport,
    pub blocks: usize,
    /// Blocks that could not be loaded (corrupt, unreadable): left on disk,
    /// not used.
    pub skipped: Vec<BlockError>,
    /// Leftovers of a crash: unfinished blocks, blocks being deleted, and
    /// sources of a compaction that had finished.
    pub cleaned: usize,
}

/// What one [`Db::maintain`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub head_blocks: usize,
    pub truncations: usize,
    pub compactions: usize,
    pub deleted: usize,
}

/// The database. Dropping it stops its background thread.
pub struct Db {
    shared: Arc<Shared>,
    worker: Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

struct Shared {
    dir: PathBuf,
    head: MemoryStorage,
    /// Sorted by minimum time.
    blocks: RwLock<Vec<Arc<Block>>>,
    options: DbOptions,
    ranges: Vec<i64>,
    stats: Arc<HeadStats>,
    /// One maintenance at a time; holds the blocks whose compaction failed
    /// (left out of later plans until a restart).
    maintenance: Mutex<HashSet<BlockId>>,
}

fn io_error(what: &str, path: &Path, e: impl std::fmt::Display) -> StorageError {
    StorageError::Io(format!("{what} {}: {e}", path.display()))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Deletes a block folder: renamed first, so a crash midway leaves a
/// folder the next open recognises as garbage, never a half block.
fn delete_block_dir(dir: &Path) -> std::io::Result<()> {
    let mut doomed = dir.as_os_str().to_owned();
    doomed.push(DELETE_SUFFIX);
    let doomed = PathBuf::from(doomed);
    fs::rename(dir, &doomed)?;
    fs::remove_dir_all(&doomed)
}

/// Opens a block just written; one that does not open is deleted (it would
/// otherwise be taken for its sources' replacement on the next start).
fn open_written(dir: &Path) -> Result<Block, StorageError> {
    Block::open(dir).map_err(|e| {
        let _ = delete_block_dir(dir);
        StorageError::Io(format!("a block just written does not open: {e}"))
    })
}

/// Total bytes of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

impl Db {
    /// Opens (or creates) the database in `dir`: loads its blocks, cleans up
    /// what a crash left, replays the WAL into the head, and starts the
    /// background maintenance if the options ask for it.
    pub fn open(dir: &Path, options: DbOptions) -> Result<(Db, DbOpenReport), StorageError> {
        fs::create_dir_all(dir).map_err(|e| io_error("cannot create", dir, e))?;
        let mut report = DbOpenReport::default();
        let mut blocks = Vec::new();
        let entries = fs::read_dir(dir).map_err(|e| io_error("cannot list", dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !path.is_dir() {
                continue;
            }
            if name.ends_with(TMP_SUFFIX) || name.ends_with(DELETE_SUFFIX) {
                match fs::remove_dir_all(&path) {
                    Ok(()) => report.cleaned += 1,
                    Err(e) => warn!(path = %path.display(), error = %e, "cannot delete a leftover folder"),
                }
                continue;
            }
            if BlockId::parse(&name).is_none() {
                continue;
            }
            match Block::open(&path) {
                Ok(block) => blocks.push(Arc::new(block)),
                Err(e) => report.skipped.push(e),
            }
        }
        // Sources of a compaction whose result is on disk: a crash came
        // between writing it and deleting them.
        let parents: HashSet<BlockId> =
            blocks.iter().flat_map(|b| b.meta().compaction.parents.iter().map(|p| p.ulid)).collect();
        blocks.retain(|b| {
            if !parents.contains(&b.id()) {
                return true;
            }
            match delete_block_dir(b.dir()) {
                Ok(()) => report.cleaned += 1,
                Err(e) => warn!(path = %b.dir().display(), error = %e, "cannot delete a compacted block's source"),
            }
            false
        });
        blocks.sort_by_key(|b| (b.meta().min_time, b.id()));
        report.blocks = blocks.len();

        let stats = Arc::new(HeadStats::default());
        let min_valid_time = blocks.iter().map(|b| b.meta().max_time).max().unwrap_or(i64::MIN);
        let head_options = HeadOptions {
            block_range: Some(options.min_block_duration_ms.max(1)),
            min_valid_time,
            stats: Some(Arc::clone(&stats)),
        };
        let (head, head_report) = MemoryStorage::open_with(&dir.join("wal"), head_options)?;
        report.head = head_report;
        HeadStats::set(&stats.retention_limit_bytes, options.retention_bytes);
        info!(
            min_block_duration_ms = options.min_block_duration_ms,
            retention_ms = options.retention_ms,
            retention_bytes = options.retention_bytes,
            "storage retention and block settings"
        );
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            head,
            blocks: RwLock::new(blocks),
            ranges: options.ranges(),
            options,
            stats,
            maintenance: Mutex::new(HashSet::new()),
        });
        shared.update_gauges();
        let worker = shared.options.background.then(|| spawn_worker(Arc::downgrade(&shared)));
        Ok((Db { shared, worker }, report))
    }

    /// The database's counters, for telemetry.
    pub fn stats(&self) -> Arc<HeadStats> {
        Arc::clone(&self.shared.stats)
    }

    /// The blocks in use, oldest first.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.shared.blocks()
    }

    /// The head.
    /// How this database cuts, compacts and retains blocks.
    pub fn options(&self) -> &DbOptions {
        &self.shared.options
    }

    pub fn head(&self) -> &MemoryStorage {
        &self.shared.head
    }

    /// Prometheus's `storage.tsdb.out_of_order_time_window`, in ms (0: off);
    /// see [`MemoryStorage::set_out_of_order_window`].
    pub fn set_out_of_order_window(&self, window_ms: i64) {
        self.shared.head.set_out_of_order_window(window_ms);
    }

    /// Cuts the head into blocks, compacts blocks and applies retention, as
    /// far as there is work to do.
    pub fn maintain(&self) -> Result<MaintenanceReport, StorageError> {
        self.shared.maintain()
    }

    /// Deletes the samples in `[mint, maxt]` (inclusive) of the series
    /// matching all `matchers` (`delete_series`): tombstones files for the
    /// blocks, a WAL record for the head, each durable before this returns.
    /// Maintenance waits meanwhile (as Prometheus's `Delete` holds the
    /// compaction lock), so no block is cut or compacted with the deleted
    /// samples still in it.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<DeleteReport, StorageError> {
        if mint > maxt {
            return Ok(DeleteReport::default());
        }
        let _maintenance = self.shared.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = DeleteReport::default();
        for block in self.shared.blocks() {
            let series = block.delete(matchers, mint, maxt).map_err(|e| StorageError::Io(e.to_string()))?;
            report.block_series += series;
            report.blocks += usize::from(series > 0);
        }
        report.head_series = self.shared.head.delete(matchers, mint, maxt)?;
        Ok(report)
    }

    /// Rewrites every block with tombstones without the deleted samples
    /// (`clean_tombstones`); a block left with nothing is deleted. Returns
    /// how many blocks were rewritten.
    pub fn clean_tombstones(&self) -> Result<usize, StorageError> {
        let _maintenance = self.shared.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        let mut cleaned = 0;
        for block in self.shared.blocks().into_iter().filter(|b| b.num_tombstones() > 0) {
            self.shared.compact(std::slice::from_ref(&block), Some(block.meta().compaction.level))?;
            cleaned += 1;
        }
        self.shared.update_gauges();
        Ok(cleaned)
    }

    /// Writes a snapshot into `dir` (Prometheus's `snapshot`): hard links
    /// of every block's files (blocks never change in place; tombstones are
    /// replaced by rename, so a link keeps the snapshot's version), and
    /// unless `with_head` is false the head written as one more block. A
    /// Vigil started on `dir` serves the same data.
    pub fn snapshot(&self, dir: &Path, with_head: bool) -> Result<SnapshotReport, StorageError> {
        let _maintenance = self.shared.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        fs::create_dir_all(dir).map_err(|e| io_error("cannot create", dir, e))?;
        let mut report = SnapshotReport::default();
        for block in self.shared.blocks() {
            let dest = dir.join(block.id().to_string());
            fs::create_dir_all(&dest).map_err(|e| io_error("cannot create", &dest, e))?;
            for name in [META_FILE, INDEX_FILE, CHUNKS_FILE, TOMBSTONES_FILE] {
                let from = block.dir().join(name);
                if name == TOMBSTONES_FILE && !from.exists() {
                    continue;
                }
                // A copy where a link cannot be made (another file system).
                fs::hard_link(&from, dest.join(name))
                    .or_else(|_| fs::copy(&from, dest.join(name)).map(|_| ()))
                    .map_err(|e| io_error("cannot link", &from, e))?;
            }
            sync_dir(&dest).map_err(|e| io_error("cannot sync", &dest, e))?;
            report.blocks += 1;
        }
        if with_head && let Some((mint, maxt)) = self.shared.head.time_range() {
            let id = BlockId::new(now_ms());
            let error = |e: std::io::Error| io_error("writing the head's block", &dir.join(id.to_string()), e);
            let mut writer = BlockWriter::create(dir, id).map_err(error)?;
            for (labels, chunks) in self.shared.head.chunks_in_range(mint, maxt.saturating_add(1)) {
                if let Err(e) = writer.add_series(labels, chunks.iter().map(|(a, b, c)| (*a, *b, &c[..]))) {
                    writer.abort();
                    return Err(error(e));
                }
            }
            report.head_samples = writer.num_samples();
            writer
                .finish(
                    mint,
                    maxt.saturating_add(1),
                    CompactionMeta { level: 1, sources: vec![id], parents: Vec::new() },
                )
                .map_err(error)?;
            report.blocks += 1;
        }
        sync_dir(dir).map_err(|e| io_error("cannot sync", dir, e))?;
        Ok(report)
    }
}

/// What [`Db::delete`] touched.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeleteReport {
    /// Blocks given tombstones, and the series of theirs touched.
    pub blocks: usize,
    pub block_series: usize,
    pub head_series: usize,
}

/// What [`Db::snapshot`] wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SnapshotReport {
    /// Blocks in the snapshot, the head's included.
    pub blocks: usize,
    pub head_samples: u64,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.worker.take() {
            drop(stop);
            let _ = handle.join();
        }
    }
}

fn spawn_worker(shared: Weak<Shared>) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (stop, stopped) = mpsc::channel::<()>();
    let interval = shared.upgrade().map_or(Duration::from_secs(60), |s| {
        Duration::from_millis((s.options.min_block_duration_ms / 10).clamp(50, 60_000) as u64)
    });
    let handle = std::thread::Builder::new()
        .name("tsdb-maintenance".to_owned())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                let Some(shared) = shared.upgrade() else { return };
                if let Err(e) = shared.maintain() {
                    warn!(error = %e, "storage maintenance failed; it is retried on the next round");
                }
            }
        })
        .map_err(|e| warn!(error = %e, "cannot start the storage maintenance thread"))
        .unwrap_or_else(|()| std::thread::spawn(|| {}));
    (stop, handle)
}

impl Shared {
    fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update_gauges(&self) {
        let blocks = self.blocks();
        HeadStats::set(&self.stats.blocks_loaded, blocks.len() as u64);
        HeadStats::set(&self.stats.blocks_bytes, blocks.iter().map(|b| b.size_bytes()).sum());
        let head_min = self.head.time_range().map_or(i64::MAX, |(min, _)| min);
        let lowest = blocks.iter().map(|b| b.meta().min_time).min().unwrap_or(i64::MAX).min(head_min);
        self.stats.lowest_timestamp.store(lowest, Ordering::Relaxed);
    }

    fn maintain(&self) -> Result<MaintenanceReport, StorageError> {
        let mut failed = self.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = MaintenanceReport::default();
        let result = self.maintain_locked(&mut failed, &mut report);
        self.update_gauges();
        result.map(|()| report)
    }

    fn maintain_locked(
        &self,
        failed: &mut HashSet<BlockId>,
        report: &mut MaintenanceReport,
    ) -> Result<(), StorageError> {
        while let Some((mint, maxt)) = self.head.compactable_range() {
            match self.persist_head(mint, maxt) {
                Ok(written) => report.head_blocks += usize::from(written),
                Err(e) => {
                    HeadStats::add(&self.stats.compactions_failed, 1);
                    return Err(e);
                }
            }
            let truncated = match self.head.truncate(maxt) {
                Ok(t) => t,
                Err(e) => {
                    HeadStats::add(&self.stats.head_truncations_failed, 1);
                    return Err(e);
                }
            };
            HeadStats::add(&self.stats.head_truncations, 1);
            report.truncations += 1;
            debug!(maxt, chunks = truncated.chunks_removed, series = truncated.series_removed, "head truncated");
            if let Some(segment) = truncated.wal_segment {
                match self.head.checkpoint_wal(segment, maxt) {
                    Ok(cp) => {
                        HeadStats::add(&self.stats.checkpoint_creations, 1);
                        debug!(through = cp.through, series = cp.series, samples = cp.samples, "WAL checkpoint");
                    }
                    // The segments stay: nothing is lost, replay is longer.
                    Err(e) => {
                        HeadStats::add(&self.stats.checkpoint_creations_failed, 1);
                        warn!(error = %e, "writing a WAL checkpoint failed; the WAL keeps its old segments");
                    }
                }
            }
        }
        loop {
            let plan = plan_compaction(&self.blocks(), &self.ranges, failed);
            if plan.is_empty() {
                break;
            }
            if let Err(e) = self.compact(&plan, None) {
                HeadStats::add(&self.stats.compactions_failed, 1);
                failed.extend(plan.iter().map(|b| b.id()));
                warn!(error = %e, blocks = ?plan.iter().map(|b| b.id()).collect::<Vec<_>>(), "compaction failed; these blocks are left out of compaction until a restart");
                break;
            }
            report.compactions += 1;
        }
        report.deleted += self.apply_retention();
        Ok(())
    }

    /// Writes the head's `[mint, maxt)` as a level-1 block and makes it
    /// visible to queries. `Ok(false)`: no samples there, no block.
    fn persist_head(&self, mint: i64, maxt: i64) -> Result<bool, StorageError> {
        let series = self.head.chunks_in_range(mint, maxt);
        if series.is_empty() {
            return Ok(false);
        }
        let started = std::time::Instant::now();
        let id = BlockId::new(now_ms());
        let tmp_error = |e: std::io::Error| io_error("writing block", &self.dir.join(id.to_string()), e);
        let mut writer = BlockWriter::create(&self.dir, id).map_err(tmp_error)?;
        let min_time = series.iter().flat_map(|(_, c)| c.first().map(|c| c.0)).min().unwrap_or(mint);
        for (labels, chunks) in series {
            if let Err(e) = writer.add_series(labels, chunks.iter().map(|(a, b, c)| (*a, *b, &c[..]))) {
                writer.abort();
                return Err(tmp_error(e));
            }
        }
        let dir = writer
            .finish(min_time, maxt, CompactionMeta { level: 1, sources: vec![id], parents: Vec::new() })
            .map_err(tmp_error)?;
        HeadStats::add(&self.stats.compactions, 1);
        let block = open_written(&dir)?;
        info!(
            ulid = %id,
            mint = min_time,
            maxt,
            samples = block.meta().stats.num_samples,
            series = block.meta().stats.num_series,
            duration_ms = started.elapsed().as_millis() as u64,
            "wrote a block from the head"
        );
        self.swap_blocks(&[], Arc::new(block));
        Ok(true)
    }

    /// Replaces `old` blocks with `new` in the list queries read.
    fn swap_blocks(&self, old: &[BlockId], new: Arc<Block>) {
        let mut blocks = self.blocks.write().unwrap_or_else(|e| e.into_inner());
        blocks.retain(|b| !old.contains(&b.id()));
        blocks.push(new);
        blocks.sort_by_key(|b| (b.meta().min_time, b.id()));
    }

    /// Merges `sources` into one block (without what their tombstones
    /// delete), then deletes them. The new block's level is `level`, or one
    /// more than its sources' highest. Sources that leave no sample at all
    /// are deleted without a new block.
    fn compact(&self, sources: &[Arc<Block>], level: Option<u32>) -> Result<(), StorageError> {
        let started = std::time::Instant::now();
        let id = BlockId::new(now_ms());
        let block_error = |e: BlockError| StorageError::Io(e.to_string());
        let io = |e: std::io::Error| io_error("writing block", &self.dir.join(id.to_string()), e);
        let mut writer = BlockWriter::create(&self.dir, id).map_err(io)?;
        let written = merge_blocks(sources, &mut writer);
        if let Err(e) = written {
            writer.abort();
            return Err(block_error(e));
        }
        if writer.num_samples() == 0 {
            writer.abort();
            let old: Vec<BlockId> = sources.iter().map(|b| b.id()).collect();
            info!(blocks = ?old, "deleting blocks whose every sample was deleted");
            self.blocks.write().unwrap_or_else(|e| e.into_inner()).retain(|b| !old.contains(&b.id()));
            for source in sources {
                delete_block_dir(source.dir()).map_err(|e| io_error("cannot delete", source.dir(), e))?;
            }
            return Ok(());
        }
        let min_time = sources.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
        let max_time = sources.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
        let mut all_sources: Vec<BlockId> =
            sources.iter().flat_map(|b| b.meta().compaction.sources.iter().copied()).collect();
        all_sources.sort();
        all_sources.dedup();
        let compaction = CompactionMeta {
            level: level.unwrap_or_else(|| sources.iter().map(|b| b.meta().compaction.level).max().unwrap_or(0) + 1),
            sources: all_sources,
            parents: sources
                .iter()
                .map(|b| BlockDesc { ulid: b.id(), min_time: b.meta().min_time, max_time: b.meta().max_time })
                .collect(),
        };
        let dir = writer.finish(min_time, max_time, compaction).map_err(io)?;
        HeadStats::add(&self.stats.compactions, 1);
        let block = open_written(&dir)?;
        info!(
            ulid = %id,
            mint = min_time,
            maxt = max_time,
            level = block.meta().compaction.level,
            sources = sources.len(),
            samples = block.meta().stats.num_samples,
            duration_ms = started.elapsed().as_millis() as u64,
            "compacted blocks"
        );
        let old: Vec<BlockId> = sources.iter().map(|b| b.id()).collect();
        self.swap_blocks(&old, Arc::new(block));
        for source in sources {
            if let Err(e) = delete_block_dir(source.dir()) {
                // It is a parent of the new block: the next open deletes it.
                warn!(path = %source.dir().display(), error = %e, "cannot delete a compacted block");
            }
        }
        Ok(())
    }

    /// Deletes the blocks beyond the time or size retention; returns how
    /// many.
    fn apply_retention(&self) -> usize {
        let mut blocks = self.blocks();
        // Newest first.
        blocks.sort_by_key(|b| std::cmp::Reverse(b.meta().max_time));
        let mut doomed: HashSet<BlockId> = HashSet::new();
        let retention = self.options.retention_ms;
        if retention > 0
            && let Some(newest) = blocks.first().map(|b| b.meta().max_time)
            && let Some(i) = blocks.iter().skip(1).position(|b| newest - b.meta().max_time >= retention)
        {
            doomed.extend(blocks[i + 1..].iter().map(|b| b.id()));
            HeadStats::add(&self.stats.time_retentions, 1);
        }
        let limit = self.options.retention_bytes;
        if limit > 0 && !blocks.is_empty() {
            let mut total = dir_size(&self.dir.join("wal"));
            for (i, block) in blocks.iter().enumerate() {
                total += block.size_bytes();
                if total > limit {
                    doomed.extend(blocks[i..].iter().map(|b| b.id()));
                    HeadStats::add(&self.stats.size_retentions, 1);
                    break;
                }
            }
        }
        if doomed.is_empty() {
            return 0;
        }
        self.blocks.write().unwrap_or_else(|e| e.into_inner()).retain(|b| !doomed.contains(&b.id()));
        for block in blocks.iter().filter(|b| doomed.contains(&b.id())) {
            info!(ulid = %block.id(), mint = block.meta().min_time, maxt = block.meta().max_time, "deleting a block beyond retention");
            if let Err(e) = delete_block_dir(block.dir()) {
                warn!(path = %block.dir().display(), error = %e, "cannot delete a block beyond retention");
            }
        }
        doomed.len()
    }
}

/// Which blocks to compact next, as Prometheus's leveled compactor plans:
/// overlapping blocks first; otherwise, leaving out the newest block, the
/// first group of two or more blocks inside one aligned range of a higher
/// level that either fills it or lies wholly before the newest remaining
/// block. Empty: nothing to do.
fn plan_compaction(blocks: &[Arc<Block>], ranges: &[i64], failed: &HashSet<BlockId>) -> Vec<Arc<Block>> {
    let mut sorted: Vec<Arc<Block>> = blocks.iter().filter(|b| !failed.contains(&b.id())).cloned().collect();
    sorted.sort_by_key(|b| (b.meta().min_time, b.id()));
    // Overlaps.
    if let Some(first) = sorted.first() {
        let mut overlapping: Vec<Arc<Block>> = Vec::new();
        let mut global_max = first.meta().max_time;
        for (i, b) in sorted.iter().enumerate().skip(1) {
            if b.meta().min_time < global_max {
                if overlapping.is_empty() {
                    overlapping.push(Arc::clone(&sorted[i - 1]));
                }
                overlapping.push(Arc::clone(b));
            } else if !overlapping.is_empty() {
                break;
            }
            global_max = global_max.max(b.meta().max_time);
        }
        if !overlapping.is_empty() {
            return overlapping;
        }
    }
    // The newest block stays out, so a fresh block can be backed up alone.
    sorted.pop();
    let Some(high_time) = sorted.last().map(|b| b.meta().min_time) else { return Vec::new() };
    for &range in ranges.iter().skip(1) {
        for group in split_by_range(&sorted, range) {
            let mint = group[0].meta().min_time;
            let maxt = group[group.len() - 1].meta().max_time;
            if group.len() > 1 && (maxt - mint == range || maxt <= high_time) {
                return group;
            }
        }
    }
    Vec::new()
}

/// Groups blocks (sorted by time) by the aligned range of width `range`
/// each lies in; blocks wider than that, or across a boundary, are left
/// out.
fn split_by_range(blocks: &[Arc<Block>], range: i64) -> Vec<Vec<Arc<Block>>> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < blocks.len() {
        let t0 = blocks[i].meta().min_time.div_euclid(range) * range;
        if blocks[i].meta().max_time > t0 + range {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < blocks.len() && blocks[i].meta().max_time <= t0 + range {
            group.push(Arc::clone(&blocks[i]));
            i += 1;
        }
        if !group.is_empty() {
            groups.push(group);
        }
    }
    groups
}

/// Writes the union of `sources`' series into `writer`, without what their
/// tombstones delete: chunks of a series are copied as they are unless they
/// overlap in time or a tombstone cuts into them, in which case the series'
/// samples are merged (first block wins on equal timestamps), the deleted
/// ones dropped, and re-encoded.
fn merge_blocks(sources: &[Arc<Block>], writer: &mut BlockWriter) -> Result<(), BlockError> {
    /// A chunk of a source, its bytes, and its series' deleted ranges there.
    type SourceChunk<'a> = (ChunkMeta, &'a [u8], Option<Arc<Intervals>>);
    let io = |e: std::io::Error| BlockError { path: PathBuf::from("(new block)"), reason: e.to_string() };
    // A cursor per block over its series, which are sorted by labels.
    let mut cursors: Vec<(usize, u32, Option<Labels>)> = Vec::with_capacity(sources.len());
    for (k, b) in sources.iter().enumerate() {
        let first = if b.series_count() > 0 { Some(b.series_labels(0)?) } else { None };
        cursors.push((k, 0, first));
    }
    while let Some(labels) = cursors.iter().filter_map(|(_, _, l)| l.as_ref()).min().cloned() {
        let mut chunks: Vec<SourceChunk> = Vec::new();
        for (k, i, current) in cursors.iter_mut() {
            if current.as_ref() != Some(&labels) {
                continue;
            }
            let block = &sources[*k];
            let deleted = block.deleted(*i).map(Arc::new);
            for meta in block.series_chunks(*i)? {
                chunks.push((meta, block.chunk(&meta)?, deleted.clone()));
            }
            *i += 1;
            *current = if (*i as usize) < block.series_count() { Some(block.series_labels(*i)?) } else { None };
        }
        // Stable: on equal start times the earlier block comes first.
        chunks.sort_by_key(|(m, _, _)| m.min_t);
        let overlapping = chunks.windows(2).any(|w| w[1].0.min_t <= w[0].0.max_t);
        let cut = chunks.iter().any(|(m, _, deleted)| {
            deleted.as_ref().is_some_and(|d| d.iter().any(|&(a, b)| a <= m.max_t && b >= m.min_t))
        });
        if !overlapping && !cut {
            writer.add_series(labels, chunks.iter().map(|(m, bytes, _)| (m.min_t, m.max_t, *bytes))).map_err(io)?;
            continue;
        }
        let mut samples: Vec<(i64, f64)> = chunks
            .iter()
            .flat_map(|(_, bytes, deleted)| {
                XorIterator::from_bytes(bytes)
                    .filter(move |(t, _)| !deleted.as_ref().is_some_and(|d| is_deleted(d, *t)))
            })
            .collect();
        samples.sort_by_key(|(t, _)| *t);
        samples.dedup_by_key(|(t, _)| *t);
        let encoded: Vec<(i64, i64, Vec<u8>)> = samples
            .chunks(usize::from(SAMPLES_PER_CHUNK))
            .map(|part| {
                let mut c = XorChunk::new();
                for (t, v) in part {
                    c.append(*t, *v);
                }
                (part[0].0, part[part.len() - 1].0, c.bytes())
            })
            .collect();
        writer.add_series(labels, encoded.iter().map(|(a, b, c)| (*a, *b, &c[..]))).map_err(io)?;
    }
    Ok(())
}

impl Storage for Db {
    fn appender(&self) -> Box<dyn Appender + '_> {
        self.shared.head.appender()
    }

    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(DbQuerier { shared: &self.shared, mint, maxt }))
    }
}

struct DbQuerier<'a> {
    shared: &'a Shared,
    mint: i64,
    maxt: i64,
}

impl Querier for DbQuerier<'_> {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, StorageError> {
        // The head first, then the block list: a cut makes its block visible
        // before it truncates the head, so whatever moves in between is
        // found in one or the other (or both: duplicates are dropped).
        let head = self.shared.head.select(matchers, self.mint, self.maxt);
        let blocks = self.shared.blocks();
        let mut parts = Vec::new();
        for block in blocks.iter().filter(|b| b.meta().min_time <= self.maxt && b.meta().max_time > self.mint) {
            let series = block.select(matchers, self.mint, self.maxt).map_err(|e| StorageError::Io(e.to_string()))?;
            if !series.is_empty() {
                parts.push(series);
            }
        }
        if !head.is_empty() {
            parts.push(head);
        }
        Ok(merge_series(parts))
    }
}

/// Merges lists of series (each sorted by labels) into one: series with the
/// same labels become one, samples in time order, a timestamp kept from the
/// first list that has it.
fn merge_series(mut parts: Vec<Vec<Series>>) -> Vec<Series> {
    if parts.len() <= 1 {
        return parts.pop().unwrap_or_default();
    }
    let mut merged: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for part in parts {
        for series in part {
            match merged.get_mut(&series.labels) {
                None => {
                    merged.insert(series.labels, series.samples);
                }
                Some(existing) => {
                    let older = std::mem::take(existing);
                    *existing = merge_samples(older, series.samples);
                }
            }
        }
    }
    merged.into_iter().map(|(labels, samples)| Series { labels, samples }).collect()
}

fn merge_samples(a: Vec<Sample>, b: Vec<Sample>) -> Vec<Sample> {
    if a.last().is_none_or(|last| b.first().is_none_or(|first| last.timestamp_ms < first.timestamp_ms)) {
        let mut a = a;
        a.extend(b);
        return a;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let take_a = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.timestamp_ms <= y.timestamp_ms,
            (Some(_), None) => true,
            _ => false,
        };
        let next = if take_a { a[i] } else { b[j] };
        if take_a {
            i += 1;
        } else {
            j += 1;
        }
        if out.last().is_none_or(|last: &Sample| last.timestamp_ms < next.timestamp_ms) {
            out.push(next);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::promql::MatchOp;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vigil-db-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn options(block_ms: i64) -> DbOptions {
        DbOptions {
            min_block_duration_ms: block_ms,
            max_block_duration_ms: 0,
            retention_ms: 0,
            retention_bytes: 0,
            background: false,
        }
    }

    fn series(job: &str) -> Labels {
        Labels::from_pairs([("__name__", "m"), ("job", job)])
    }

    fn select_all(db: &Db, mint: i64, maxt: i64) -> Vec<Series> {
        db.querier(mint, maxt).unwrap().select(&[Matcher::new(MatchOp::Equal, "__name__", "m").unwrap()]).unwrap()
    }

    fn timestamps(s: &Series) -> Vec<i64> {
        s.samples.iter().map(|s| s.timestamp_ms).collect()
    }

    /// Writes a level-1 block of series `m{job}` with the given samples.
    fn write_block(dir: &Path, min_time: i64, max_time: i64, data: &[(&str, &[i64])]) -> BlockId {
        let id = BlockId::new(now_ms());
        let mut w = BlockWriter::create(dir, id).unwrap();
        for (job, ts) in data {
            let mut c = XorChunk::new();
            for t in *ts {
                c.append(*t, *t as f64);
            }
            let bytes = c.bytes();
            w.add_series(series(job), [(ts[0], ts[ts.len() - 1], &bytes[..])]).unwrap();
        }
        w.finish(min_time, max_time, CompactionMeta { level: 1, sources: vec![id], parents: vec![] }).unwrap();
        id
    }

    #[test]
    fn the_head_is_cut_into_blocks_compacted_and_read_back_across_restarts() {
        let dir = temp_dir("cut");
        let all: Vec<i64> = (0..100).map(|i| i * 100).collect();
        {
            let (db, report) = Db::open(&dir, options(1000)).unwrap();
            assert_eq!(report.blocks, 0);
            let mut app = db.appender();
            for &t in &all {
                app.append(&series("a"), Sample { timestamp_ms: t, value: t as f64 });
                if t < 2500 {
                    app.append(&series("early"), Sample { timestamp_ms: t, value: 1.0 });
                }
            }
            app.commit().unwrap();
            let report = db.maintain().unwrap();
            // Cut while the head spans over 1.5 ranges: [0,1000) … [8000,9000).
            assert_eq!((report.head_blocks, report.truncations), (9, 9));
            // [0,3000) and [3000,6000) fill a level-2 range; [6000,8000)
            // does not, and the newest block always waits.
            assert_eq!(report.compactions, 2);
            let ranges: Vec<(i64, i64, u32)> =
                db.blocks().iter().map(|b| (b.meta().min_time, b.meta().max_time, b.meta().compaction.level)).collect();
            assert_eq!(ranges, [(0, 3000, 2), (3000, 6000, 2), (6000, 7000, 1), (7000, 8000, 1), (8000, 9000, 1)]);
            assert_eq!(db.head().time_range(), Some((9000, 9900)));
            let got = select_all(&db, 0, 10_000);
            assert_eq!(got.len(), 2);
            assert_eq!(timestamps(&got[0]), all, "every sample once, blocks and head together");
            assert_eq!(timestamps(&got[1]), (0..25).map(|i| i * 100).collect::<Vec<_>>());
            // A range inside one block, and one across a block and the head.
            assert_eq!(timestamps(&select_all(&db, 3050, 3300)[0]), [3100, 3200, 3300]);
            assert_eq!(timestamps(&select_all(&db, 8850, 9150)[0]), [8900, 9000, 9100]);
            let stats = db.stats().snapshot();
            assert_eq!((stats.blocks_loaded, stats.compactions, stats.head_truncations), (5, 11, 9));
            assert_eq!((stats.checkpoint_creations, stats.lowest_timestamp), (9, 0));
            assert!(stats.blocks_bytes > 0);
            // The WAL lost its old segments to a checkpoint.
            let wal: Vec<String> =
                fs::read_dir(dir.join("wal")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            assert!(wal.iter().any(|n| n.starts_with("checkpoint.")), "{wal:?}");
            assert!(!wal.contains(&"00000000".to_owned()), "{wal:?}");
        }
        let (db, report) = Db::open(&dir, options(1000)).unwrap();
        assert_eq!(report.blocks, 5);
        assert!(report.skipped.is_empty());
        assert_eq!(report.head.samples, 10, "only what no block holds is replayed");
        let got = select_all(&db, i64::MIN / 2, i64::MAX / 2);
        assert_eq!(timestamps(&got[0]), all);
        // Appends older than the blocks' end are refused.
        let mut app = db.appender();
        app.append(&series("a"), Sample { timestamp_ms: 8999, value: 0.0 });
        assert_eq!(app.commit().unwrap().out_of_bounds, 1);
        let _ = fs::remove_dir_all(&dir);
    }

    /// A crash after a block is written but before the head is truncated
    /// and the WAL checkpointed: the samples are in both; they are read once,
    /// and the replay leaves to the block what it holds.
    #[test]
    fn a_crash_between_writing_a_block_and_truncating_loses_and_doubles_nothing() {
        let dir = temp_dir("crash-window");
        let all: Vec<i64> = (0..30).map(|i| i * 100).collect();
        {
            let (db, _) = Db::open(&dir, options(1000)).unwrap();
            let mut app = db.appender();
            for &t in &all {
                app.append(&series("a"), Sample { timestamp_ms: t, value: t as f64 });
            }
            app.commit().unwrap();
            let (mint, maxt) = db.head().compactable_range().unwrap();
            assert!(db.shared.persist_head(mint, maxt).unwrap());
            assert_eq!(timestamps(&select_all(&db, 0, 10_000)[0]), all, "block and head overlap: no duplicates");
            // Killed here.
        }
        let (db, report) = Db::open(&dir, options(1000)).unwrap();
        assert_eq!((report.blocks, report.head.samples, report.head.samples_in_blocks), (1, 20, 10));
        assert_eq!(timestamps(&select_all(&db, 0, 10_000)[0]), all);
        // The next maintenance goes on from there.
        db.maintain().unwrap();
        assert_eq!(timestamps(&select_all(&db, 0, 10_000)[0]), all);
        let _ = fs::remove_dir_all(&dir);
    }

    /// Appends, queries and maintenance at once, with a tiny block range:
    /// every query sees every sample acknowledged before it started, once.
    #[test]
    fn concurrent_appends_queries_and_maintenance_never_lose_a_sample() {
        use std::sync::atomic::{AtomicBool, AtomicI64};
        let dir = temp_dir("concurrent");
        let (db, _) = Db::open(&dir, DbOptions { background: true, ..options(1000) }).unwrap();
        let acked = AtomicI64::new(-1);
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for i in 0..3000i64 {
                    let mut app = db.appender();
                    for job in ["a", "b", "c"] {
                        app.append(&series(job), Sample { timestamp_ms: i * 10, value: i as f64 });
                    }
                    assert_eq!(app.commit().unwrap().appended, 3);
                    acked.store(i * 10, Ordering::SeqCst);
                    if i % 100 == 0 {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                done.store(true, Ordering::SeqCst);
            });
            scope.spawn(|| {
                let mut checks = 0;
                while !done.load(Ordering::SeqCst) || checks < 10 {
                    let before = acked.load(Ordering::SeqCst);
                    let got = select_all(&db, 0, i64::MAX / 2);
                    if before >= 0 {
                        assert_eq!(got.len(), 3);
                        for s in &got {
                            let ts = timestamps(s);
                            assert!(ts.windows(2).all(|w| w[0] + 10 == w[1]), "a gap or a duplicate");
                            assert_eq!(ts[0], 0);
                            assert!(*ts.last().unwrap() >= before, "an acknowledged sample is missing");
                        }
                    }
                    checks += 1;
                }
            });
        });
        db.maintain().unwrap();
        assert!(db.blocks().len() > 1);
        assert!(db.stats().snapshot().compactions > db.blocks().len() as u64, "blocks were compacted");
        drop(db);
        let (db, _) = Db::open(&dir, options(1000)).unwrap();
        for s in select_all(&db, 0, i64::MAX / 2) {
            assert_eq!(timestamps(&s), (0..3000).map(|i| i * 10).collect::<Vec<_>>());
        }
        let _ = fs::remove_dir_all(&dir);
    }

    fn by_job(job: &str) -> Vec<Matcher> {
        vec![Matcher::new(MatchOp::Equal, "job", job).unwrap()]
    }

    /// Deletions in blocks and head read back deleted after a restart (from
    /// the tombstones file and the WAL), after the head is cut and its WAL
    /// checkpointed, and after compaction and `clean_tombstones` rewrite the
    /// blocks without the deleted samples.
    #[test]
    fn deletions_hold_across_restarts_cuts_compactions_and_cleaning() {
        let dir = temp_dir("delete");
        let all: Vec<i64> = (0..60).map(|i| i * 100).collect();
        let kept = |from: i64, to: i64| all.iter().copied().filter(|t| *t < from || *t > to).collect::<Vec<_>>();
        {
            let (db, _) = Db::open(&dir, options(1000)).unwrap();
            let mut app = db.appender();
            for &t in &all {
                for job in ["a", "b"] {
                    app.append(&series(job), Sample { timestamp_ms: t, value: t as f64 });
                }
            }
            app.commit().unwrap();
            db.maintain().unwrap();
            assert!(!db.blocks().is_empty() && db.head().time_range().is_some());
            // Blocks [0,3000) [3000,4000) [4000,5000), head from 5000:
            // [1500, 5250] spans blocks and head.
            assert_eq!(db.head().time_range(), Some((5000, 5900)));
            let report = db.delete(&by_job("a"), 1500, 5250).unwrap();
            assert!(report.blocks >= 2 && report.block_series >= 2, "{report:?}");
            assert_eq!(report.head_series, 1);
            let got = select_all(&db, 0, 10_000);
            assert_eq!(timestamps(&got[0]), kept(1500, 5250));
            assert_eq!(timestamps(&got[1]), all, "job b untouched");
            // Nothing matches, or an empty range: nothing changes.
            assert_eq!(db.delete(&by_job("zzz"), 0, 10_000).unwrap(), DeleteReport::default());
            assert_eq!(db.delete(&by_job("b"), 3000, 2000).unwrap(), DeleteReport::default());
            // Killed here: no maintenance, no clean shutdown.
        }
        let (db, _) = Db::open(&dir, options(1000)).unwrap();
        assert_eq!(timestamps(&select_all(&db, 0, 10_000)[0]), kept(1500, 5250), "after a restart");
        // More samples: the head is cut, its WAL checkpointed, the blocks
        // compacted; the deletion stays.
        let mut app = db.appender();
        for t in (60..90).map(|i| i * 100) {
            app.append(&series("a"), Sample { timestamp_ms: t, value: 0.0 });
            app.append(&series("b"), Sample { timestamp_ms: t, value: 0.0 });
        }
        app.commit().unwrap();
        let report = db.maintain().unwrap();
        assert!(report.head_blocks > 0 && report.compactions > 0, "{report:?}");
        let expected: Vec<i64> = kept(1500, 5250).into_iter().chain((60..90).map(|i| i * 100)).collect();
        assert_eq!(timestamps(&select_all(&db, 0, 10_000)[0]), expected, "after cutting and compacting");
        drop(db);
        let (db, _) = Db::open(&dir, options(1000)).unwrap();
        assert_eq!(timestamps(&select_all(&db, 0, 10_000)[0]), expected, "after the checkpoint");

        // Cleaning rewrites the blocks still holding the first deletion.
        assert!(db.clean_tombstones().unwrap() > 0);
        assert_eq!(timestamps(&select_all(&db, 0, 10_000)[0]), expected, "after cleaning");
        // A deletion inside a block, then cleaning: the block shrinks, its
        // tombstones go, the data reads the same.
        let target = db.blocks().into_iter().find(|b| b.meta().min_time <= 6000 && b.meta().max_time > 6000).unwrap();
        db.delete(&by_job("b"), 6000, 6500).unwrap();
        assert!(target.num_tombstones() > 0);
        let before = select_all(&db, 0, 10_000);
        // The chunks, that is: meta.json grows by the parent it names.
        let chunks_size = |b: &Block| fs::metadata(b.dir().join(CHUNKS_FILE)).unwrap().len();
        let size = chunks_size(&target);
        let samples = target.meta().stats.num_samples;
        assert_eq!(db.clean_tombstones().unwrap(), 1);
        assert!(db.blocks().iter().all(|b| b.num_tombstones() == 0));
        assert!(!target.dir().exists(), "the old block is gone");
        let new = db.blocks().into_iter().find(|b| b.meta().min_time == target.meta().min_time).unwrap();
        assert_eq!(new.meta().compaction.level, target.meta().compaction.level);
        assert_eq!(new.meta().stats.num_samples, samples - 6, "6000, 6100, … 6500 of job b");
        assert!(chunks_size(&new) < size, "{} !< {size}", chunks_size(&new));
        assert!(!new.dir().join(TOMBSTONES_FILE).exists());
        assert_eq!(select_all(&db, 0, 10_000), before);
        assert_eq!(db.clean_tombstones().unwrap(), 0, "nothing left to clean");

        // Everything deleted: cleaning removes blocks rather than leaving
        // empty ones.
        let blocks = db.blocks().len();
        db.delete(&[Matcher::new(MatchOp::Equal, "__name__", "m").unwrap()], 0, 5999).unwrap();
        assert!(db.clean_tombstones().unwrap() > 0);
        assert!(db.blocks().len() < blocks);
        assert!(db.blocks().iter().all(|b| b.meta().max_time > 6000), "only blocks with samples left");
        assert_eq!(timestamps(&select_all(&db, 0, 10_000)[1])[0], 6600);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_snapshot_opens_with_the_same_data() {
        let dir = temp_dir("snapshot");
        let (db, _) = Db::open(&dir, options(1000)).unwrap();
        let mut app = db.appender();
        for t in (0..50).map(|i| i * 100) {
            app.append(&series("a"), Sample { timestamp_ms: t, value: t as f64 });
            app.append(&series("b"), Sample { timestamp_ms: t, value: -(t as f64) });
        }
        app.commit().unwrap();
        db.maintain().unwrap();
        db.delete(&by_job("b"), 1000, 1200).unwrap();
        let all = select_all(&db, 0, 10_000);
        let head_range = db.head().time_range().unwrap();
        let blocks = db.blocks().len();
        for (with_head, expected_blocks) in [(true, blocks + 1), (false, blocks)] {
            let snap = dir.join("snapshots").join(format!("s{with_head}"));
            let report = db.snapshot(&snap, with_head).unwrap();
            assert_eq!(report.blocks, expected_blocks);
            let (copy, opened) = Db::open(&snap, options(1000)).unwrap();
            assert_eq!(opened.blocks, expected_blocks);
            assert!(opened.skipped.is_empty());
            let got = select_all(&copy, 0, 10_000);
            if with_head {
                assert_eq!(report.head_samples, 2 * ((head_range.1 - head_range.0) / 100 + 1) as u64);
                assert_eq!(got, all);
            } else {
                assert_eq!(got, select_all(&db, 0, head_range.0 - 1));
            }
        }
        // The snapshot's blocks are links: the original's later changes
        // (cleaning replaces its blocks) leave them as they were.
        db.clean_tombstones().unwrap();
        let (copy, _) = Db::open(&dir.join("snapshots").join("strue"), options(1000)).unwrap();
        assert_eq!(select_all(&copy, 0, 10_000), all);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn overlapping_blocks_are_merged_without_duplicates() {
        let dir = temp_dir("overlap");
        write_block(&dir, 0, 1000, &[("a", &[0, 100, 200, 900]), ("b", &[500])]);
        write_block(&dir, 200, 1500, &[("a", &[200, 300, 1400]), ("c", &[1000])]);
        write_block(&dir, 3000, 4000, &[("a", &[3000])]);
        let (db, _) = Db::open(&dir, options(1000)).unwrap();
        let before = select_all(&db, 0, 5000);
        assert_eq!(timestamps(&before[0]), [0, 100, 200, 300, 900, 1400, 3000], "the querier merges too");
        assert_eq!(db.maintain().unwrap().compactions, 1);
        let blocks = db.blocks();
        assert_eq!(blocks.len(), 2);
        let merged = blocks[0].meta();
        assert_eq!((merged.min_time, merged.max_time, merged.compaction.level), (0, 1500, 2));
        assert_eq!(merged.compaction.sources.len(), 2);
        assert_eq!(merged.compaction.parents.len(), 2);
        assert_eq!(merged.stats.num_series, 3);
        assert_eq!(select_all(&db, 0, 5000), before);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn open_cleans_up_after_crashes_and_skips_corrupt_blocks() {
        let dir = temp_dir("crashes");
        let a = write_block(&dir, 0, 1000, &[("a", &[0, 500])]);
        let b = write_block(&dir, 1000, 2000, &[("a", &[1000, 1500])]);
        let c = write_block(&dir, 2000, 3000, &[("a", &[2000])]);
        // A compaction of a and b finished, but the crash came before their
        // deletion.
        let (db, _) = Db::open(&dir, DbOptions { max_block_duration_ms: 2000, ..options(1000) }).unwrap();
        let merged = db.shared.blocks();
        let parents =
            [BlockDesc { ulid: a, min_time: 0, max_time: 1000 }, BlockDesc { ulid: b, min_time: 1000, max_time: 2000 }];
        let id = BlockId::new(now_ms());
        let mut w = BlockWriter::create(&dir, id).unwrap();
        merge_blocks(&merged[..2], &mut w).unwrap();
        w.finish(0, 2000, CompactionMeta { level: 2, sources: vec![a, b], parents: parents.to_vec() }).unwrap();
        drop(db);
        // A block half written, and one half deleted.
        fs::create_dir_all(dir.join(format!("{}{TMP_SUFFIX}", BlockId::new(now_ms())))).unwrap();
        fs::create_dir_all(dir.join(format!("{c}{DELETE_SUFFIX}"))).unwrap();
        // And a block whose index was damaged on disk.
        let d = write_block(&dir, 5000, 6000, &[("a", &[5000])]);
        let index = dir.join(d.to_string()).join(INDEX_FILE);
        let mut bytes = fs::read(&index).unwrap();
        bytes[20] ^= 0xff;
        fs::write(&index, bytes).unwrap();
        // And one whose tombstones file was cut short: loading it without
        // them would bring deleted samples back, so it is refused too.
        let e = write_block(&dir, 6000, 7000, &[("a", &[6000, 6500])]);
        Block::open(&dir.join(e.to_string())).unwrap().delete(&by_job("a"), 6500, 6500).unwrap();
        let tombstones = dir.join(e.to_string()).join(TOMBSTONES_FILE);
        let bytes = fs::read(&tombstones).unwrap();
        fs::write(&tombstones, &bytes[..bytes.len() - 3]).unwrap();

        let (db, report) = Db::open(&dir, options(1000)).unwrap();
        assert_eq!(report.cleaned, 4, "two parents, one .tmp, one .tmp-for-deletion");
        assert_eq!(report.skipped.len(), 2);
        let mut errors: Vec<String> = report.skipped.iter().map(|e| e.to_string()).collect();
        errors.sort_by_key(|e| !e.contains(&d.to_string()));
        let error = &errors[0];
        assert!(error.contains(&d.to_string()) && error.contains("index") && error.contains("checksum"), "{error}");
        let error = &errors[1];
        assert!(
            error.contains(&e.to_string()) && error.contains("tombstones") && error.contains("checksum"),
            "{error}"
        );
        let ids: Vec<BlockId> = db.blocks().iter().map(|b| b.id()).collect();
        assert_eq!(ids, [id, c]);
        assert_eq!(timestamps(&select_all(&db, 0, 10_000)[0]), [0, 500, 1000, 1500, 2000]);
        assert!(dir.join(d.to_string()).exists(), "a corrupt block is left for a human to look at");
        let _ = fs::remove_dir_all(&dir);
    }

    /// A chunk damaged on disk after the block was loaded: queries touching
    /// it fail naming the file rather than answer wrong, and compaction
    /// leaves the block alone instead of spreading the damage.
    #[test]
    fn a_damaged_chunk_fails_queries_and_compactions_without_losing_blocks() {
        let dir = temp_dir("damaged-chunk");
        let a = write_block(&dir, 0, 1000, &[("a", &[0, 100, 200]), ("b", &[0])]);
        write_block(&dir, 1000, 2000, &[("a", &[1000])]);
        write_block(&dir, 2000, 3000, &[("a", &[2000])]);
        write_block(&dir, 3000, 4000, &[("a", &[3000])]);
        let chunks = dir.join(a.to_string()).join(crate::tsdb::block::CHUNKS_FILE);
        let mut bytes = fs::read(&chunks).unwrap();
        // The first chunk's data starts after the 12-byte header and its
        // 4-byte length.
        bytes[18] ^= 0x10;
        fs::write(&chunks, bytes).unwrap();
        let (db, report) = Db::open(&dir, options(1000)).unwrap();
        assert_eq!(report.blocks, 4, "chunks are checked when read");
        let err = db.querier(0, 5000).unwrap().select(&[Matcher::new(MatchOp::Equal, "job", "a").unwrap()]);
        let message = err.unwrap_err().to_string();
        assert!(
            message.contains(&a.to_string()) && message.contains("chunks") && message.contains("checksum"),
            "{message}"
        );
        // Ranges that do not touch the damaged block still answer.
        assert_eq!(timestamps(&select_all(&db, 1000, 5000)[0]), [1000, 2000, 3000]);
        // [0,3000) fills a level-2 range, but its first block is damaged.
        assert!(db.maintain().is_ok());
        let stats = db.stats().snapshot();
        assert_eq!((stats.compactions, stats.compactions_failed), (0, 1));
        assert_eq!(db.blocks().len(), 4, "no source was deleted");
        assert!(dir.join(a.to_string()).exists());
        // It is not retried until a restart.
        db.maintain().unwrap();
        assert_eq!(db.stats().snapshot().compactions_failed, 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn retention_deletes_whole_oldest_blocks_by_time_or_size() {
        // Five one-second blocks, [0,1000) … [4000,5000); no compaction.
        struct Case {
            retention_ms: i64,
            /// In blocks' worth of bytes (the WAL's bytes are added).
            retention_blocks: Option<f64>,
            left: usize,
            time: u64,
            size: u64,
        }
        let cases = [
            Case { retention_ms: 0, retention_blocks: None, left: 5, time: 0, size: 0 },
            Case { retention_ms: 2500, retention_blocks: None, left: 3, time: 1, size: 0 },
            Case { retention_ms: 3000, retention_blocks: None, left: 3, time: 1, size: 0 },
            Case { retention_ms: 100_000, retention_blocks: None, left: 5, time: 0, size: 0 },
            Case { retention_ms: 0, retention_blocks: Some(2.5), left: 2, time: 0, size: 1 },
            Case { retention_ms: 0, retention_blocks: Some(10.0), left: 5, time: 0, size: 0 },
            Case { retention_ms: 1500, retention_blocks: Some(3.5), left: 2, time: 1, size: 1 },
            Case { retention_ms: 0, retention_blocks: Some(0.5), left: 0, time: 0, size: 1 },
        ];
        for (n, case) in cases.iter().enumerate() {
            let dir = temp_dir("retention");
            for i in 0..5 {
                write_block(&dir, i * 1000, (i + 1) * 1000, &[("a", &[i * 1000, i * 1000 + 500])]);
            }
            let block_size = dir_size(&dir) / 5;
            let (db, _) = Db::open(&dir, DbOptions { max_block_duration_ms: 1000, ..options(1000) }).unwrap();
            let wal = dir_size(&dir.join("wal"));
            drop(db);
            let limit = case.retention_blocks.map_or(0, |b| wal + (b * block_size as f64) as u64);
            let opts = DbOptions {
                retention_ms: case.retention_ms,
                retention_bytes: limit,
                max_block_duration_ms: 1000,
                ..options(1000)
            };
            let (db, _) = Db::open(&dir, opts).unwrap();
            let report = db.maintain().unwrap();
            assert_eq!(report.compactions, 0, "case {n}");
            assert_eq!(db.blocks().len(), case.left, "case {n}");
            assert_eq!(report.deleted, 5 - case.left, "case {n}");
            // The newest blocks are the ones kept.
            if let Some(oldest) = db.blocks().first() {
                assert_eq!(oldest.meta().min_time, (5 - case.left as i64) * 1000, "case {n}");
            }
            let stats = db.stats().snapshot();
            assert_eq!((stats.time_retentions, stats.size_retentions), (case.time, case.size), "case {n}");
            assert_eq!(stats.retention_limit_bytes, limit);
            let on_disk = fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .filter(|e| BlockId::parse(&e.file_name().to_string_lossy()).is_some())
                .count();
            assert_eq!(on_disk, case.left, "case {n}: deleted from disk too");
            let _ = fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn sizes_and_retention_flags_parse_as_prometheus() {
        let table: [(&str, Result<u64, ()>); 9] = [
            ("512MB", Ok(512 << 20)),
            ("1GB", Ok(1 << 30)),
            ("100B", Ok(100)),
            ("2KiB", Ok(2048)),
            ("3tb", Ok(3 << 40)),
            ("512", Err(())),
            ("MB", Err(())),
            ("1.5GB", Err(())),
            ("99999999EB", Err(())),
        ];
        for (text, expected) in table {
            assert_eq!(parse_size(text).map_err(|_| ()), expected, "{text}");
        }
        let o = DbOptions::from_flags(None, None, 1000);
        assert_eq!((o.retention_ms, o.retention_bytes, o.min_block_duration_ms), (15 * DAY_MS, 0, 1000));
        let o = DbOptions::from_flags(None, Some(1 << 30), 2 * HOUR_MS);
        assert_eq!((o.retention_ms, o.retention_bytes), (0, 1 << 30));
        let o = DbOptions::from_flags(Some(DAY_MS), Some(5), 2 * HOUR_MS);
        assert_eq!((o.retention_ms, o.retention_bytes), (DAY_MS, 5));
    }

    #[test]
    fn compaction_ranges_follow_prometheus() {
        let table: [(i64, i64, Vec<i64>); 4] = [
            // (block range, retention) → ranges
            (2 * HOUR_MS, 15 * DAY_MS, vec![2 * HOUR_MS, 6 * HOUR_MS, 18 * HOUR_MS]),
            (2 * HOUR_MS, 0, vec![2, 6, 18, 54, 162, 486].into_iter().map(|h| h * HOUR_MS).collect()),
            (2 * HOUR_MS, 365 * DAY_MS, vec![2, 6, 18, 54, 162, 486].into_iter().map(|h| h * HOUR_MS).collect()),
            (1000, 30_000, vec![1000, 3000]),
        ];
        for (block, retention, expected) in table {
            let o = DbOptions { min_block_duration_ms: block, retention_ms: retention, ..DbOptions::default() };
            assert_eq!(o.ranges(), expected, "{block} {retention}");
        }
    }

    #[test]
    fn samples_merge_in_order_without_duplicates() {
        let s = |ts: &[i64], v: f64| ts.iter().map(|t| Sample { timestamp_ms: *t, value: v }).collect::<Vec<_>>();
        let table: [(&[i64], &[i64], &[i64]); 5] = [
            (&[1, 2], &[3, 4], &[1, 2, 3, 4]),
            (&[3, 4], &[1, 2], &[1, 2, 3, 4]),
            (&[1, 3, 5], &[2, 3, 6], &[1, 2, 3, 5, 6]),
            (&[], &[1], &[1]),
            (&[1, 2], &[], &[1, 2]),
        ];
        for (a, b, expected) in table {
            let got = merge_samples(s(a, 0.0), s(b, 1.0));
            assert_eq!(got.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), expected, "{a:?} {b:?}");
            // On a tie the first list's sample is kept.
            assert!(got.iter().filter(|x| a.contains(&x.timestamp_ms)).all(|x| x.value == 0.0));
        }
    }

    #[test]
    fn the_background_thread_cuts_blocks_by_itself() {
        let dir = temp_dir("background");
        let (db, _) = Db::open(&dir, DbOptions { background: true, ..options(1000) }).unwrap();
        let mut app = db.appender();
        for i in 0..30 {
            app.append(&series("a"), Sample { timestamp_ms: i * 100, value: 1.0 });
        }
        app.commit().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while db.blocks().is_empty() {
            assert!(std::time::Instant::now() < deadline, "no block was cut");
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(db);
        let _ = fs::remove_dir_all(&dir);
    }
}
