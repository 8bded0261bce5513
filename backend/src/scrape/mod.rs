//! Scraping: turning the configuration's jobs into samples in storage.
//!
//! The flow inside this module follows the data: [`discovery`] yields
//! target groups (static lists, files), [`target`] turns each discovered
//! label set into a target through `relabel_configs` ([`relabel`]), and a
//! [`scraper`] loop per target fetches, parses ([`exposition`]), labels and
//! appends. [`ScrapeManager`] owns one pool task per job and applies new
//! configurations without disturbing the targets that did not change.

pub mod discovery;
pub mod exposition;
pub mod relabel;
pub mod scraper;
pub mod target;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use vigil_shared::model::Labels;

use crate::config::{Config, GlobalConfig, ScrapeConfig, TlsConfig};
use crate::tsdb::Storage;
use discovery::{FileWatcher, TargetGroup};
use scraper::{JobRuntime, Limits, Scraper, TargetHealth};
use target::{Populated, Target};

/// How often file_sd files are checked for changes.
const FILE_SD_POLL: Duration = Duration::from_secs(1);

/// An active target with its live health, for the targets API.
#[derive(Debug, Clone)]
pub struct ActiveTarget {
    pub target: Target,
    pub health: Arc<Mutex<TargetHealth>>,
}

/// What one job (scrape pool) currently has.
#[derive(Debug, Clone, Default)]
pub struct PoolState {
    pub active: Vec<ActiveTarget>,
    /// Discovered label sets that `relabel_configs` dropped.
    pub dropped: Vec<Labels>,
}

struct Pool {
    config: ScrapeConfig,
    scrape_global: ScrapeGlobals,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    state: Arc<Mutex<PoolState>>,
}

/// The global settings that change how a job scrapes; a change to anything
/// else in `global` leaves running pools alone.
#[derive(Debug, Clone, PartialEq)]
struct ScrapeGlobals {
    interval: Duration,
    timeout: Duration,
    limits: Limits,
}

fn scrape_globals(job: &ScrapeConfig, global: &GlobalConfig) -> ScrapeGlobals {
    ScrapeGlobals { interval: job.interval(global), timeout: job.timeout(global), limits: Limits::resolve(job, global) }
}

/// Runs every job's pool.
pub struct ScrapeManager {
    storage: Arc<dyn Storage>,
    pools: Mutex<BTreeMap<String, Pool>>,
}

impl ScrapeManager {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        ScrapeManager { storage, pools: Mutex::new(BTreeMap::new()) }
    }

    /// Starts, restarts or stops pools so they match `config`. Jobs whose
    /// settings did not change keep running untouched. Fails before changing
    /// anything if a job's HTTP client cannot be built (e.g. a bad CA file).
    pub fn apply(&self, config: &Config) -> anyhow::Result<()> {
        let mut runtimes = HashMap::new();
        for job in &config.scrape_configs {
            let client = build_client(job, None).map_err(|e| anyhow::anyhow!("job {:?}: {e}", job.job_name))?;
            let limits = Limits::resolve(job, &config.global);
            runtimes.insert(job.job_name.clone(), Arc::new(JobRuntime { config: job.clone(), limits, client }));
        }
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|name, pool| {
            let keep = config.scrape_configs.iter().any(|j| {
                &j.job_name == name && *j == pool.config && scrape_globals(j, &config.global) == pool.scrape_global
            });
            if !keep {
                info!(job = %name, "stopping scrape pool");
                pool.cancel.cancel();
            }
            keep
        });
        for job in &config.scrape_configs {
            if pools.contains_key(&job.job_name) {
                continue;
            }
            let Some(runtime) = runtimes.remove(&job.job_name) else { continue };
            info!(job = %job.job_name, "starting scrape pool");
            pools.insert(job.job_name.clone(), self.start_pool(runtime, &config.global));
        }
        Ok(())
    }

    fn start_pool(&self, runtime: Arc<JobRuntime>, global: &GlobalConfig) -> Pool {
        let cancel = CancellationToken::new();
        let state = Arc::new(Mutex::new(PoolState::default()));
        let (updates, receiver) = mpsc::channel(16);
        // Static groups arrive once; the channel is sized so this never waits.
        let _ = updates.try_send(("static".to_owned(), discovery::static_groups(&runtime.config)));
        for (i, file_sd) in runtime.config.file_sd_configs.iter().enumerate() {
            tokio::spawn(watch_files(
                format!("file/{i}"),
                FileWatcher::new(file_sd),
                runtime.config.job_name.clone(),
                updates.clone(),
                cancel.clone(),
            ));
        }
        let config = runtime.config.clone();
        let scrape_global = scrape_globals(&config, global);
        let task = tokio::spawn(run_pool(
            runtime,
            global.clone(),
            Arc::clone(&self.storage),
            Arc::clone(&state),
            receiver,
            cancel.clone(),
        ));
        Pool { config, scrape_global, cancel, task, state }
    }

    /// A snapshot of every pool, by job name.
    pub fn pools(&self) -> BTreeMap<String, PoolState> {
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .iter()
            .map(|(name, pool)| (name.clone(), pool.state.lock().map(|s| s.clone()).unwrap_or_default()))
            .collect()
    }

    /// Stops every pool and waits until their loops have written their
    /// staleness markers.
    pub async fn stop(&self) {
        let pools: Vec<Pool> = {
            let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *pools).into_values().collect()
        };
        for pool in &pools {
            pool.cancel.cancel();
        }
        for pool in pools {
            let _ = pool.task.await;
        }
    }
}

impl Drop for ScrapeManager {
    fn drop(&mut self) {
        let pools = self.pools.get_mut().unwrap_or_else(|e| e.into_inner());
        for pool in pools.values() {
            pool.cancel.cancel();
        }
    }
}

async fn watch_files(
    provider: String,
    mut watcher: FileWatcher,
    job: String,
    updates: mpsc::Sender<(String, Vec<TargetGroup>)>,
    cancel: CancellationToken,
) {
    let mut ticker = tokio::time::interval(FILE_SD_POLL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = cancel.cancelled() => return,
        }
        // Reading files is blocking I/O; it is small and infrequent.
        let (groups, errors) = watcher.poll();
        for error in errors {
            warn!(job = %job, error = %error, "file discovery: cannot read targets file");
        }
        if let Some(groups) = groups
            && updates.send((provider.clone(), groups)).await.is_err()
        {
            return;
        }
    }
}

/// A running scrape loop.
struct RunningLoop {
    cancel: CancellationToken,
    task: JoinHandle<()>,
    health: Arc<Mutex<TargetHealth>>,
    forced_error: Option<String>,
}

/// One job: receives discovery updates, keeps one loop per target.
async fn run_pool(
    runtime: Arc<JobRuntime>,
    global: GlobalConfig,
    storage: Arc<dyn Storage>,
    state: Arc<Mutex<PoolState>>,
    mut updates: mpsc::Receiver<(String, Vec<TargetGroup>)>,
    cancel: CancellationToken,
) {
    let mut groups_by_provider: BTreeMap<String, Vec<TargetGroup>> = BTreeMap::new();
    let mut loops: HashMap<Target, RunningLoop> = HashMap::new();
    loop {
        tokio::select! {
            update = updates.recv() => {
                let Some((provider, groups)) = update else {
                    // Every discoverer is done (e.g. only static targets):
                    // keep scraping until the pool is stopped.
                    cancel.cancelled().await;
                    break;
                };
                groups_by_provider.insert(provider, groups);
                sync_targets(&runtime, &global, &storage, &state, &groups_by_provider, &mut loops);
            }
            () = cancel.cancelled() => break,
        }
    }
    for running in loops.values() {
        running.cancel.cancel();
    }
    for (_, running) in loops {
        let _ = running.task.await;
    }
}

fn sync_targets(
    runtime: &Arc<JobRuntime>,
    global: &GlobalConfig,
    storage: &Arc<dyn Storage>,
    state: &Arc<Mutex<PoolState>>,
    groups_by_provider: &BTreeMap<String, Vec<TargetGroup>>,
    loops: &mut HashMap<Target, RunningLoop>,
) {
    let job = &runtime.config;
    let mut active: Vec<Target> = Vec::new();
    let mut dropped = Vec::new();
    for discovered in groups_by_provider.values().flatten().flat_map(TargetGroup::label_sets) {
        match target::populate(discovered, job, global) {
            Ok(Populated::Active(t)) if !active.contains(&t) => active.push(t),
            Ok(Populated::Active(_)) => {}
            Ok(Populated::Dropped { discovered_labels }) => dropped.push(discovered_labels),
            Err(e) => warn!(job = %job.job_name, error = %e, "creating target failed"),
        }
    }
    let target_limit = job.target_limit.unwrap_or(global.target_limit);
    let forced_error = (target_limit > 0 && active.len() as u64 > target_limit)
        .then(|| format!("target_limit exceeded (number of targets: {}, limit: {target_limit})", active.len()));

    loops.retain(|target, running| {
        let keep = active.contains(target) && running.forced_error == forced_error;
        if !keep {
            running.cancel.cancel();
        }
        keep
    });
    for target in &active {
        if loops.contains_key(target) {
            continue;
        }
        let scraper = Scraper::new(target.clone(), Arc::clone(runtime), Arc::clone(storage), forced_error.clone());
        let health = Arc::clone(&scraper.health);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(scraper.run(cancel.clone()));
        loops.insert(target.clone(), RunningLoop { cancel, task, health, forced_error: forced_error.clone() });
    }
    let keep_dropped = job.keep_dropped_targets;
    if keep_dropped > 0 {
        dropped.truncate(keep_dropped as usize);
    }
    let active_targets = active
        .into_iter()
        .filter_map(|t| loops.get(&t).map(|running| ActiveTarget { health: Arc::clone(&running.health), target: t }))
        .collect();
    if let Ok(mut state) = state.lock() {
        *state = PoolState { active: active_targets, dropped };
    }
}

/// The HTTP client of one job: redirects, compression and TLS as configured.
///
/// With `resolve`, the client connects to the given addresses whenever a URL
/// names that host: this is how `tls_config.server_name` is honoured (the
/// request names the server, the connection goes to the target's address).
pub(crate) fn build_client(
    job: &ScrapeConfig,
    resolve: Option<(&str, &[std::net::SocketAddr])>,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder().user_agent(concat!("Vigil/", env!("CARGO_PKG_VERSION")));
    if let Some((host, addrs)) = resolve {
        builder = builder.resolve_to_addrs(host, addrs);
    }
    if !job.follow_redirects {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    if !job.enable_compression {
        builder = builder.no_gzip();
    }
    if let Some(tls) = &job.tls_config {
        builder = configure_tls(builder, tls)?;
    }
    builder.build().map_err(|e| format!("cannot build HTTP client: {e}"))
}

fn read_pem(inline: &Option<String>, file: &Option<std::path::PathBuf>, what: &str) -> Result<Option<Vec<u8>>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!("at most one of {what} and {what}_file must be configured")),
        (Some(text), None) => Ok(Some(text.as_bytes().to_vec())),
        (None, Some(path)) => {
            std::fs::read(path).map(Some).map_err(|e| format!("unable to load {what} {}: {e}", path.display()))
        }
        (None, None) => Ok(None),
    }
}

fn configure_tls(mut builder: reqwest::ClientBuilder, tls: &TlsConfig) -> Result<reqwest::ClientBuilder, String> {
    if let Some(ca) = read_pem(&tls.ca, &tls.ca_file, "ca")? {
        let certs =
            reqwest::Certificate::from_pem_bundle(&ca).map_err(|e| format!("unable to use specified CA cert: {e}"))?;
        if certs.is_empty() {
            return Err("unable to use specified CA cert: no certificate found".to_owned());
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    match (read_pem(&tls.cert, &tls.cert_file, "cert")?, read_pem(&tls.key, &tls.key_file, "key")?) {
        (Some(mut cert), Some(key)) => {
            cert.extend_from_slice(b"\n");
            cert.extend_from_slice(&key);
            let identity = reqwest::Identity::from_pem(&cert)
                .map_err(|e| format!("unable to use specified client cert and key: {e}"))?;
            builder = builder.identity(identity);
        }
        (None, None) => {}
        _ => return Err("client cert and key must be configured together".to_owned()),
    }
    if tls.insecure_skip_verify {
        builder = builder.danger_accept_invalid_certs(true);
    }
    if let Some(version) = &tls.min_version {
        let version = match version.as_str() {
            "TLS12" => reqwest::tls::Version::TLS_1_2,
            "TLS13" => reqwest::tls::Version::TLS_1_3,
            other => return Err(format!("unsupported TLS min_version {other:?}: use TLS12 or TLS13")),
        };
        builder = builder.min_tls_version(version);
    }
    Ok(builder)
}
