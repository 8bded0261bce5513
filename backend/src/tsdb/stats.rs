//! Counters the database keeps about itself, read by the telemetry module
//! and exposed under Prometheus's own TSDB metric names, so dashboards built
//! for Prometheus show Vigil's storage too.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Lock-free counters and gauges, updated by the head on every commit and
/// by the database as it cuts, compacts and deletes blocks.
#[derive(Debug)]
pub struct HeadStats {
    pub series: AtomicU64,
    pub samples_appended: AtomicU64,
    pub out_of_order_samples: AtomicU64,
    pub out_of_bounds_samples: AtomicU64,
    pub duplicate_samples: AtomicU64,
    pub too_old_samples: AtomicU64,
    pub out_of_order_appended: AtomicU64,
    pub wal_corruptions: AtomicU64,
    pub wal_bytes_written: AtomicU64,
    pub wal_writes_failed: AtomicU64,
    /// Oldest and newest sample in the head (`i64::MAX`, `i64::MIN` when
    /// it is empty).
    pub head_min_time: AtomicI64,
    pub head_max_time: AtomicI64,
    pub head_truncations: AtomicU64,
    pub head_truncations_failed: AtomicU64,
    pub checkpoint_creations: AtomicU64,
    pub checkpoint_creations_failed: AtomicU64,
    /// Blocks in use (a gauge).
    pub blocks_loaded: AtomicU64,
    /// Bytes of the blocks in use (a gauge).
    pub blocks_bytes: AtomicU64,
    pub compactions: AtomicU64,
    pub compactions_failed: AtomicU64,
    /// Oldest timestamp held, blocks and head (a gauge; `i64::MAX` when
    /// nothing is).
    pub lowest_timestamp: AtomicI64,
    /// The size retention limit (0: none).
    pub retention_limit_bytes: AtomicU64,
    pub time_retentions: AtomicU64,
    pub size_retentions: AtomicU64,
}

impl Default for HeadStats {
    fn default() -> Self {
        HeadStats {
            series: AtomicU64::new(0),
            samples_appended: AtomicU64::new(0),
            out_of_order_samples: AtomicU64::new(0),
            out_of_bounds_samples: AtomicU64::new(0),
            duplicate_samples: AtomicU64::new(0),
            too_old_samples: AtomicU64::new(0),
            out_of_order_appended: AtomicU64::new(0),
            wal_corruptions: AtomicU64::new(0),
            wal_bytes_written: AtomicU64::new(0),
            wal_writes_failed: AtomicU64::new(0),
            head_min_time: AtomicI64::new(i64::MAX),
            head_max_time: AtomicI64::new(i64::MIN),
            head_truncations: AtomicU64::new(0),
            head_truncations_failed: AtomicU64::new(0),
            checkpoint_creations: AtomicU64::new(0),
            checkpoint_creations_failed: AtomicU64::new(0),
            blocks_loaded: AtomicU64::new(0),
            blocks_bytes: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
            compactions_failed: AtomicU64::new(0),
            lowest_timestamp: AtomicI64::new(i64::MAX),
            retention_limit_bytes: AtomicU64::new(0),
            time_retentions: AtomicU64::new(0),
            size_retentions: AtomicU64::new(0),
        }
    }
}

/// A point-in-time copy of [`HeadStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadStatsSnapshot {
    pub series: u64,
    pub samples_appended: u64,
    pub out_of_order_samples: u64,
    pub out_of_bounds_samples: u64,
    pub duplicate_samples: u64,
    pub too_old_samples: u64,
    pub out_of_order_appended: u64,
    pub wal_corruptions: u64,
    pub wal_bytes_written: u64,
    pub wal_writes_failed: u64,
    pub head_min_time: i64,
    pub head_max_time: i64,
    pub head_truncations: u64,
    pub head_truncations_failed: u64,
    pub checkpoint_creations: u64,
    pub checkpoint_creations_failed: u64,
    pub blocks_loaded: u64,
    pub blocks_bytes: u64,
    pub compactions: u64,
    pub compactions_failed: u64,
    pub lowest_timestamp: i64,
    pub retention_limit_bytes: u64,
    pub time_retentions: u64,
    pub size_retentions: u64,
}

impl HeadStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Lowers a gauge, never below zero.
    pub fn sub(gauge: &AtomicU64, n: u64) {
        if n > 0 {
            let _ = gauge.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(n)));
        }
    }

    pub fn set(gauge: &AtomicU64, v: u64) {
        gauge.store(v, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HeadStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let get_i = |c: &AtomicI64| c.load(Ordering::Relaxed);
        HeadStatsSnapshot {
            series: get(&self.series),
            samples_appended: get(&self.samples_appended),
            out_of_order_samples: get(&self.out_of_order_samples),
            out_of_bounds_samples: get(&self.out_of_bounds_samples),
            duplicate_samples: get(&self.duplicate_samples),
            too_old_samples: get(&self.too_old_samples),
            out_of_order_appended: get(&self.out_of_order_appended),
            wal_corruptions: get(&self.wal_corruptions),
            wal_bytes_written: get(&self.wal_bytes_written),
            wal_writes_failed: get(&self.wal_writes_failed),
            head_min_time: get_i(&self.head_min_time),
            head_max_time: get_i(&self.head_max_time),
            head_truncations: get(&self.head_truncations),
            head_truncations_failed: get(&self.head_truncations_failed),
            checkpoint_creations: get(&self.checkpoint_creations),
            checkpoint_creations_failed: get(&self.checkpoint_creations_failed),
            blocks_loaded: get(&self.blocks_loaded),
            blocks_bytes: get(&self.blocks_bytes),
            compactions: get(&self.compactions),
            compactions_failed: get(&self.compactions_failed),
            lowest_timestamp: get_i(&self.lowest_timestamp),
            retention_limit_bytes: get(&self.retention_limit_bytes),
            time_retentions: get(&self.time_retentions),
            size_retentions: get(&self.size_retentions),
        }
    }
}
