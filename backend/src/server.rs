//! Wires the stages together and runs them until a shutdown signal: the
//! configuration feeds the scrape manager, which writes to storage, which
//! the engine reads for the API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tracing::{info, warn};

use crate::api::{self, AppState};
use crate::config::Config;
use crate::promql::{Engine, EngineOptions};
use crate::scrape::ScrapeManager;
use crate::telemetry::Telemetry;
use crate::tsdb::{MemoryStorage, Storage};
use crate::web;

/// What the command line decides about the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub config_file: PathBuf,
    pub storage_path: PathBuf,
    pub listen_address: String,
}

/// Loads the configuration, binds the listener and serves until SIGINT or
/// SIGTERM. Configuration and bind errors come back before anything starts.
pub async fn run(options: ServerOptions) -> anyhow::Result<()> {
    let config = Config::load(&options.config_file)?;
    info!(file = %options.config_file.display(), jobs = config.scrape_configs.len(), "loaded configuration");
    warn_unsupported(&config);

    let address: SocketAddr = options.listen_address.parse().with_context(|| {
        format!("invalid --web.listen-address {:?}: expected host:port, e.g. 127.0.0.1:9090", options.listen_address)
    })?;
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (is another Vigil or Prometheus running there?)"
        } else {
            ""
        };
        anyhow::anyhow!("cannot listen on {address}: {e}{hint}")
    })?;
    let bound = listener.local_addr()?;

    let _lock = lock_data_dir(&options.storage_path)?;
    let started = std::time::Instant::now();
    let wal_dir = options.storage_path.join("wal");
    let (head, replay) = MemoryStorage::open(&wal_dir)?;
    info!(
        path = %wal_dir.display(),
        series = replay.series,
        samples = replay.samples,
        segments = replay.segments,
        bytes = replay.bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "replayed the write-ahead log"
    );
    if let Some((segment, offset, why)) = &replay.corruption {
        warn!(segment, offset, reason = %why, "the WAL had a torn or corrupt tail; it was cut off there and everything before it kept");
    }
    if replay.orphan_samples > 0 {
        warn!(samples = replay.orphan_samples, "the WAL held samples of series it never described; they were skipped");
    }
    warn!(
        "blocks, compaction and retention are not built yet: the head and its WAL keep every sample, in memory and on disk"
    );
    let telemetry = Telemetry::with_tsdb(head.stats());
    let storage: Arc<dyn Storage> = Arc::new(head);
    let engine = Engine::new(Arc::clone(&storage), EngineOptions::default());
    let scrape = Arc::new(ScrapeManager::new(Arc::clone(&storage)));
    scrape.apply(&config)?;
    let reloader = Arc::new(Reloader { config_file: options.config_file.clone(), scrape: Arc::clone(&scrape) });
    tokio::spawn(reload_on_sighup(Arc::clone(&reloader)));
    if !web::ui_is_embedded() {
        warn!("this binary was built without the dashboard app; run `cargo xtask run` to build it in");
    }

    let app = api::router(AppState {
        engine,
        storage: Arc::clone(&storage),
        telemetry,
        scrape: Arc::clone(&scrape),
        reloader,
    });
    info!("listening on http://{bound}");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("HTTP server failed")?;
    scrape.stop().await;
    info!("stopped");
    Ok(())
}

/// Takes an exclusive lock on the storage folder for the life of the process
/// (released by the kernel however the process ends), so two servers never
/// write one WAL.
pub fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create storage folder {}", dir.display()))?;
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        anyhow::bail!(
            "storage folder {} is in use by another process (is another Vigil running on it?)",
            dir.display()
        );
    }
    Ok(file)
}

/// Applies the configuration file again, on SIGHUP or `POST /-/reload`.
pub struct Reloader {
    config_file: PathBuf,
    scrape: Arc<ScrapeManager>,
}

impl Reloader {
    /// Loads and applies the file; on any error the running configuration
    /// stays as it was.
    pub fn reload(&self) -> anyhow::Result<()> {
        let result = Config::load(&self.config_file).map_err(anyhow::Error::from).and_then(|config| {
            warn_unsupported(&config);
            self.scrape.apply(&config)
        });
        match &result {
            Ok(()) => info!(file = %self.config_file.display(), "completed loading of configuration file"),
            Err(e) => warn!(error = %format!("{e:#}"), "reloading the configuration failed; keeping the running one"),
        }
        result
    }
}

async fn reload_on_sighup(reloader: Arc<Reloader>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
    while hangups.recv().await.is_some() {
        let _ = reloader.reload();
    }
}

/// Sections an existing prometheus.yml may carry that Vigil reads but does
/// not act on yet.
fn warn_unsupported(config: &Config) {
    if !config.rule_files.is_empty() {
        warn!(files = ?config.rule_files, "rule_files are not evaluated by this version of Vigil yet");
    }
    if config.alerting.is_some() {
        warn!("the alerting section is not used by this version of Vigil yet");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    info!("shutting down");
}
