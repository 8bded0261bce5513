//! Storage: where scraped samples go and where queries read them from.
//!
//! Architecture invariant: the storage layer knows nothing of PromQL or HTTP.
//! Writers go through [`Appender`] (a batch that is all-or-nothing on
//! `commit`); readers go through [`Querier`] (label matchers over a time
//! range). [`Db`] implements them over the head ([`MemoryStorage`], with
//! its write-ahead log) and immutable on-disk blocks (`block`); the head
//! alone implements them too, for tests.

pub mod analyze;
pub mod block;
pub mod chunk;
mod db;
pub mod import;
mod memory;
pub mod stats;
pub(crate) mod varint;
pub mod wal;

pub use db::{Db, DbOpenReport, DbOptions, DeleteReport, MaintenanceReport, SnapshotReport, parse_size};
pub use memory::{Cardinality, HeadOptions, MemoryStorage, OpenReport, TruncateReport};

use vigil_shared::model::Labels;
use vigil_shared::promql::Matcher;

/// The special NaN Prometheus writes to mark a series stale. It differs from
/// an ordinary NaN in its payload bits, so a NaN sample value stays a value.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is the staleness marker rather than a real sample.
pub fn is_stale_marker(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample: milliseconds since the epoch and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub timestamp_ms: i64,
    pub value: f64,
}

/// A series as read back: its labels and its samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// Why a single sample was refused. The rest of the batch still commits, as
/// in Prometheus, and the caller counts the refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("out of order sample")]
    OutOfOrder,
    #[error("duplicate sample for timestamp")]
    DuplicateTimestamp,
}

/// A failure of the storage itself.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage is closed")]
    Closed,
    #[error("storage I/O: {0}")]
    Io(String),
}

/// A stable handle on a series, handed out by [`Appender::series_ref`]. Writers
/// that see the same series again (every scrape of a target) keep the
/// reference and skip label hashing and comparison, as Prometheus's scrape
/// cache does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub u64);

/// The store: hands out appenders and queriers. Shared across tasks.
pub trait Storage: Send + Sync + 'static {
    /// A new write batch.
    fn appender(&self) -> Box<dyn Appender + '_>;

    /// A reader over samples with `mint <= t <= maxt` (milliseconds).
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError>;
}

/// A batch of samples. Nothing is visible to queries before `commit`, which
/// acknowledges the whole batch at once.
pub trait Appender {
    /// The reference of the series with these labels, created if new. A
    /// series may exist before the batch commits; it is simply empty.
    fn series_ref(&mut self, labels: &Labels) -> SeriesRef;

    /// Adds a sample to a series by reference.
    fn append_ref(&mut self, series: SeriesRef, sample: Sample);

    /// Adds a sample to the series with these labels.
    fn append(&mut self, labels: &Labels, sample: Sample) {
        let series = self.series_ref(labels);
        self.append_ref(series, sample);
    }

    /// Makes the batch visible and reports the samples that were refused.
    fn commit(self: Box<Self>) -> Result<CommitReport, StorageError>;
}

/// What a commit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReport {
    pub appended: usize,
    /// Series seen for the first time in this commit.
    pub series_added: usize,
    pub out_of_order: usize,
    /// Samples older than the head accepts (its data before that is in
    /// blocks already), as Prometheus's "out of bounds".
    pub out_of_bounds: usize,
    pub duplicates: usize,
    /// Samples accepted out of order, within the out-of-order window
    /// (counted in `appended` too).
    pub out_of_order_appended: usize,
    /// With an out-of-order window: samples older than it allows
    /// (Prometheus's "too old"); then none count as out of order or out of
    /// bounds.
    pub too_old: usize,
    /// Samples whose series reference the store no longer knows; the writer
    /// should forget its cached references.
    pub unknown_series: usize,
}

/// Reads series matching all `matchers`, restricted to the querier's range.
pub trait Querier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, StorageError>;
}
