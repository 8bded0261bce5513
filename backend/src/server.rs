//! Wires the stages together and runs them until a shutdown signal: the
//! configuration feeds the scrape manager, which writes to storage, which
//! the engine reads for the API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tracing::{info, warn};

use crate::alerting::{Alertmanager, AlertmanagerCollector, SystemClock};
use crate::api::{self, AppState};
use crate::config::Config;
use crate::notifier::{AlertSink, Notifier, NotifierCollector, NotifierOptions};
use crate::promql::{Engine, EngineOptions};
use crate::rules::manager::RuleCollector;
use crate::rules::{RuleManager, RuleManagerOptions};
use crate::scrape::ScrapeManager;
use crate::telemetry::Telemetry;
use crate::tsdb::{Db, DbOptions, Storage};
use crate::web;

/// What the command line decides about the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub config_file: PathBuf,
    pub storage_path: PathBuf,
    pub listen_address: String,
    /// The `--query.*` limits.
    pub engine: EngineOptions,
    /// `--query.max-concurrency`: queries evaluated at once.
    pub max_concurrency: usize,
    /// Every flag and its value, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    /// Block range, retention and compaction of the storage.
    pub tsdb: DbOptions,
    /// `--dashboards.path`: the SQLite file of dashboards.
    pub dashboards_path: PathBuf,
    /// `--dashboards.provisioning-dir`: folders of dashboard files.
    pub dashboards_provisioning_dirs: Vec<PathBuf>,
    /// `--alertmanager.*`: queue capacity, draining at shutdown.
    pub notifier: NotifierOptions,
    /// `--rules.alert.resend-delay`.
    pub resend_delay: std::time::Duration,
    /// `--web.external-url`; None means `http://<hostname>:<port>`.
    pub external_url: Option<String>,
    /// `--alertmanager.config.file`: run the built-in Alertmanager with it.
    pub alertmanager_config: Option<PathBuf>,
    /// `--web.enable-admin-api`: serve delete_series, clean_tombstones and
    /// snapshot.
    pub enable_admin_api: bool,
}

/// Loads the configuration, binds the listener and serves until SIGINT or
/// SIGTERM. Configuration and bind errors come back before anything starts.
pub async fn run(options: ServerOptions) -> anyhow::Result<()> {
    let start_time = std::time::SystemTime::now();
    let (config, config_text) = Config::load_with_text(&options.config_file)?;
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
    let (db, report) = Db::open(&options.storage_path, options.tsdb.clone())?;
    let replay = &report.head;
    info!(
        path = %options.storage_path.display(),
        blocks = report.blocks,
        series = replay.series,
        samples = replay.samples,
        segments = replay.segments,
        bytes = replay.bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "opened the storage: loaded the blocks and replayed the write-ahead log"
    );
    for skipped in &report.skipped {
        warn!(error = %skipped, "a block could not be loaded; it is left on disk and not used");
    }
    if report.cleaned > 0 {
        info!(folders = report.cleaned, "deleted what an interrupted block write, compaction or deletion left behind");
    }
    if let Some((segment, offset, why)) = &replay.corruption {
        warn!(segment, offset, reason = %why, "the WAL had a torn or corrupt tail; it was cut off there and everything before it kept");
    }
    if replay.orphan_samples > 0 {
        warn!(samples = replay.orphan_samples, "the WAL held samples of series it never described; they were skipped");
    }
    let dashboards = open_dashboards(&options).await?;
    let external_url = options.external_url.clone().unwrap_or_else(|| default_external_url(bound));
    let notifier = Notifier::new(options.notifier.clone());
    notifier.apply_config(&config).map_err(anyhow::Error::msg)?;
    let mut collectors: Vec<Box<dyn prometheus_client::collector::Collector>> =
        vec![Box::new(NotifierCollector(notifier.metrics()))];
    let alertmanager = match &options.alertmanager_config {
        None => None,
        Some(file) => {
            let am = Alertmanager::new(
                file,
                Some(&options.storage_path.join("alertmanager")),
                external_url.clone(),
                Arc::new(SystemClock),
            )?;
            tokio::spawn(Arc::clone(&am).run());
            notifier.set_local(Arc::clone(&am) as Arc<dyn AlertSink>);
            collectors.push(Box::new(AlertmanagerCollector(Arc::clone(&am))));
            Some(am)
        }
    };
    let tsdb_stats = db.stats();
    apply_storage_config(&db, &config);
    let db = Arc::new(db);
    let storage: Arc<dyn Storage> = Arc::clone(&db) as Arc<dyn Storage>;
    let engine = Engine::new(Arc::clone(&storage), options.engine.clone());
    let scrape = Arc::new(ScrapeManager::new(Arc::clone(&storage)));
    scrape.apply(&config)?;
    let rule_options = RuleManagerOptions {
        external_url,
        resend_delay: options.resend_delay,
        notifier: Some(Arc::clone(&notifier) as Arc<dyn AlertSink>),
        ..RuleManagerOptions::default()
    };
    let rules = RuleManager::new(engine.clone(), Arc::clone(&storage), rule_options);
    rules.apply_config(&config).map_err(anyhow::Error::msg)?;
    collectors.push(Box::new(RuleCollector(Arc::clone(&rules))));
    let telemetry = Telemetry::with_collectors(tsdb_stats, collectors);
    telemetry.set_engine_stats(Arc::clone(engine.stats()));
    let reloader = Arc::new(Reloader {
        config_file: options.config_file.clone(),
        scrape: Arc::clone(&scrape),
        db: Arc::clone(&db),
        state: std::sync::Mutex::new(ConfigState {
            text: config_text,
            last_success: std::time::SystemTime::now(),
            last_reload_ok: true,
        }),
        rules: Arc::clone(&rules),
        notifier: Arc::clone(&notifier),
        alertmanager: alertmanager.clone(),
    });
    tokio::spawn(reload_on_sighup(Arc::clone(&reloader)));
    if !web::ui_is_embedded() {
        warn!("this binary was built without the dashboard app; run `cargo xtask run` to build it in");
    }

    telemetry.queries_concurrent_max.set(options.max_concurrency as i64);
    let app = api::router(AppState {
        engine,
        storage: Arc::clone(&storage),
        db,
        telemetry,
        scrape: Arc::clone(&scrape),
        reloader,
        query_slots: Arc::new(tokio::sync::Semaphore::new(options.max_concurrency.max(1))),
        status: Arc::new(api::StatusInfo {
            start_time,
            cwd: std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
            flags: options.flags.clone(),
        }),
        rules: Arc::clone(&rules),
        dashboards,
        alertmanager: alertmanager.clone(),
        admin_api: options.enable_admin_api,
        storage_path: options.storage_path.clone(),
    });
    info!("listening on http://{bound}");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("HTTP server failed")?;
    scrape.stop().await;
    rules.stop();
    notifier.stop().await;
    if let Some(am) = &alertmanager {
        am.stop();
    }
    info!("stopped");
    Ok(())
}

/// Opens the dashboard database (after the storage folder is locked, since
/// by default the file lives there) and loads the provisioning folders.
async fn open_dashboards(options: &ServerOptions) -> anyhow::Result<crate::dashboards::DashboardStore> {
    let store = crate::dashboards::DashboardStore::open(&options.dashboards_path)?;
    info!(path = %options.dashboards_path.display(), "opened the dashboard database");
    let dirs = options.dashboards_provisioning_dirs.clone();
    store.call(move |s| crate::dashboards::provision::provision(s, &dirs)).await?;
    Ok(store)
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
    db: Arc<Db>,
    state: std::sync::Mutex<ConfigState>,
    rules: Arc<RuleManager>,
    notifier: Arc<Notifier>,
    alertmanager: Option<Arc<Alertmanager>>,
}

/// Prometheus's default external URL: this host's name and the port served.
fn default_external_url(bound: SocketAddr) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into a buffer this function owns.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let host = match std::str::from_utf8(&buf[..end]) {
        Ok(name) if ok && !name.is_empty() => name.to_owned(),
        _ => bound.ip().to_string(),
    };
    format!("http://{host}:{}", bound.port())
}

/// The configuration in force and how the last (re)load went, for the
/// status endpoints.
#[derive(Debug, Clone)]
pub struct ConfigState {
    /// The text of the file as of the last successful load.
    pub text: String,
    pub last_success: std::time::SystemTime,
    /// Whether the last attempt succeeded (`reloadConfigSuccess`).
    pub last_reload_ok: bool,
}

impl Reloader {
    /// Loads and applies the file; on any error the running configuration
    /// stays as it was.
    pub fn reload(&self) -> anyhow::Result<()> {
        let result =
            Config::load_with_text(&self.config_file).map_err(anyhow::Error::from).and_then(|(config, text)| {
                warn_unsupported(&config);
                apply_storage_config(&self.db, &config);
                // Both are applied even if one fails, as Prometheus's reloaders are.
                let scraped = self.scrape.apply(&config);
                let ruled = self.rules.apply_config(&config).map_err(anyhow::Error::msg);
                let notified = self.notifier.apply_config(&config).map_err(anyhow::Error::msg);
                let routed = self.alertmanager.as_ref().map_or(Ok(()), |am| am.reload());
                scraped.and(ruled).and(notified).and(routed).map(|()| text)
            });
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.last_reload_ok = result.is_ok();
        match result {
            Ok(text) => {
                info!(file = %self.config_file.display(), "completed loading of configuration file");
                state.text = text;
                state.last_success = std::time::SystemTime::now();
                Ok(())
            }
            Err(e) => {
                warn!(error = %format!("{e:#}"), "reloading the configuration failed; keeping the running one");
                Err(e)
            }
        }
    }

    /// The configuration in force and the outcome of the last reload.
    pub fn state(&self) -> ConfigState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
/// Applies the `storage.tsdb` section (the out-of-order window).
fn apply_storage_config(db: &Db, config: &Config) {
    let window = config.storage.tsdb.out_of_order_time_window.0.as_millis();
    db.set_out_of_order_window(i64::try_from(window).unwrap_or(i64::MAX));
}

fn warn_unsupported(config: &Config) {
    if config.alerting.alertmanagers.iter().any(|am| !am.file_sd_configs.is_empty()) {
        warn!("alertmanagers' file_sd_configs are read at (re)load only, not watched");
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
