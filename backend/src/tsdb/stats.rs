//! Counters the head keeps about itself, read by the telemetry module and
//! exposed under Prometheus's own TSDB metric names, so dashboards built for
//! Prometheus show Vigil's storage too.

use std::sync::atomic::{AtomicU64, Ordering};

/// Lock-free counters, updated on every commit.
#[derive(Debug, Default)]
pub struct HeadStats {
    pub series: AtomicU64,
    pub samples_appended: AtomicU64,
    pub out_of_order_samples: AtomicU64,
    pub duplicate_samples: AtomicU64,
    pub wal_corruptions: AtomicU64,
    pub wal_bytes_written: AtomicU64,
    pub wal_writes_failed: AtomicU64,
}

/// A point-in-time copy of [`HeadStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadStatsSnapshot {
    pub series: u64,
    pub samples_appended: u64,
    pub out_of_order_samples: u64,
    pub duplicate_samples: u64,
    pub wal_corruptions: u64,
    pub wal_bytes_written: u64,
    pub wal_writes_failed: u64,
}

impl HeadStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> HeadStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        HeadStatsSnapshot {
            series: get(&self.series),
            samples_appended: get(&self.samples_appended),
            out_of_order_samples: get(&self.out_of_order_samples),
            duplicate_samples: get(&self.duplicate_samples),
            wal_corruptions: get(&self.wal_corruptions),
            wal_bytes_written: get(&self.wal_bytes_written),
            wal_writes_failed: get(&self.wal_writes_failed),
        }
    }
}
