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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use vigil_shared::model::Labels;

use crate::config::{Config, FileSdConfig, GlobalConfig, ScrapeConfig, TlsConfig};
use crate::tsdb::Storage;
use discovery::{FileWatcher, TargetGroup};
use scraper::{Handover, JobRuntime, Limits, Scraper, TargetHealth};
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
    /// Discovered label sets that `relabel_configs` dropped, cut to the
    /// job's `keep_dropped_targets`.
    pub dropped: Vec<Labels>,
    /// How many targets were dropped, including those not kept.
    pub dropped_count: usize,
}

/// What a pool's task is told.
enum PoolMessage {
    /// A discovery provider's current target groups.
    Groups(String, Vec<TargetGroup>),
    /// The job's scrape settings changed: every loop restarts with them.
    Reload(Arc<JobRuntime>, GlobalConfig),
}

/// A running file_sd watcher of one pool.
struct FileProvider {
    config: FileSdConfig,
    name: String,
    cancel: CancellationToken,
}

struct Pool {
    config: ScrapeConfig,
    scrape_global: ScrapeGlobals,
    cancel: CancellationToken,
    /// Set before `cancel` when the server shuts down: the loops then stop
    /// without staleness markers.
    shutting_down: Arc<AtomicBool>,
    task: JoinHandle<()>,
    state: Arc<Mutex<PoolState>>,
    messages: mpsc::UnboundedSender<PoolMessage>,
    files: Vec<FileProvider>,
    next_provider: usize,
}

impl Pool {
    /// Starts, keeps or stops file watchers so they match `configs`; a
    /// watcher whose configuration is unchanged keeps running (and keeps
    /// its targets), as Prometheus's discovery manager keeps providers.
    fn sync_files(&mut self, job_name: &str, configs: &[FileSdConfig]) {
        let mut old = std::mem::take(&mut self.files);
        for config in configs {
            if let Some(i) = old.iter().position(|p| p.config == *config) {
                self.files.push(old.swap_remove(i));
                continue;
            }
            let name = format!("file/{}", self.next_provider);
            self.next_provider += 1;
            let cancel = self.cancel.child_token();
            tokio::spawn(watch_files(
                name.clone(),
                FileWatcher::new(config),
                job_name.to_owned(),
                self.messages.clone(),
                cancel.clone(),
            ));
            self.files.push(FileProvider { config: config.clone(), name, cancel });
        }
        for gone in old {
            gone.cancel.cancel();
            let _ = self.messages.send(PoolMessage::Groups(gone.name, Vec::new()));
        }
    }
}

/// The global settings that change how a job scrapes; a change to anything
/// else in `global` leaves running pools alone.
#[derive(Debug, Clone, PartialEq)]
struct ScrapeGlobals {
    interval: Duration,
    timeout: Duration,
    limits: Limits,
    target_limit: u64,
}

fn scrape_globals(job: &ScrapeConfig, global: &GlobalConfig) -> ScrapeGlobals {
    ScrapeGlobals {
        interval: job.interval(global),
        timeout: job.timeout(global),
        limits: Limits::resolve(job, global),
        target_limit: job.target_limit.unwrap_or(global.target_limit),
    }
}

/// A job's configuration without its service discovery: what decides how
/// its targets are scraped, as opposed to which targets there are.
fn without_discovery(job: &ScrapeConfig) -> ScrapeConfig {
    let mut job = job.clone();
    job.static_configs.clear();
    job.file_sd_configs.clear();
    job
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

    /// Starts, updates or stops pools so they match `config`. Fails before
    /// changing anything if a job's HTTP client cannot be built (e.g. a bad
    /// CA file).
    ///
    /// As in Prometheus, a job whose targets change (static or file lists)
    /// keeps the scrape loops of the targets that stay; a job whose scrape
    /// settings change restarts its loops, but a target that stays keeps its
    /// health and writes no staleness markers for series that go on.
    pub fn apply(&self, config: &Config) -> anyhow::Result<()> {
        let mut runtimes = HashMap::new();
        for job in &config.scrape_configs {
            let client = build_client(job, None).map_err(|e| anyhow::anyhow!("job {:?}: {e}", job.job_name))?;
            let limits = Limits::resolve(job, &config.global);
            runtimes.insert(job.job_name.clone(), Arc::new(JobRuntime { config: job.clone(), limits, client }));
        }
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|name, pool| {
            let keep = config.scrape_configs.iter().any(|j| &j.job_name == name);
            if !keep {
                info!(job = %name, "stopping scrape pool");
                pool.cancel.cancel();
            }
            keep
        });
        for job in &config.scrape_configs {
            let Some(runtime) = runtimes.remove(&job.job_name) else { continue };
            let globals = scrape_globals(job, &config.global);
            let Some(pool) = pools.get_mut(&job.job_name) else {
                info!(job = %job.job_name, "starting scrape pool");
                pools.insert(job.job_name.clone(), self.start_pool(runtime, &config.global));
                continue;
            };
            if *job == pool.config && globals == pool.scrape_global {
                continue;
            }
            if without_discovery(job) != without_discovery(&pool.config) || globals != pool.scrape_global {
                info!(job = %job.job_name, "reloading scrape pool");
                let _ = pool.messages.send(PoolMessage::Reload(runtime, config.global.clone()));
            }
            if job.static_configs != pool.config.static_configs {
                let _ = pool.messages.send(PoolMessage::Groups("static".to_owned(), discovery::static_groups(job)));
            }
            if job.file_sd_configs != pool.config.file_sd_configs {
                pool.sync_files(&job.job_name, &job.file_sd_configs);
            }
            pool.config = job.clone();
            pool.scrape_global = globals;
        }
        Ok(())
    }

    fn start_pool(&self, runtime: Arc<JobRuntime>, global: &GlobalConfig) -> Pool {
        let cancel = CancellationToken::new();
        let state = Arc::new(Mutex::new(PoolState::default()));
        let (messages, receiver) = mpsc::unbounded_channel();
        let _ = messages.send(PoolMessage::Groups("static".to_owned(), discovery::static_groups(&runtime.config)));
        let config = runtime.config.clone();
        let scrape_global = scrape_globals(&config, global);
        let shutting_down = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(run_pool(
            runtime,
            global.clone(),
            Arc::clone(&self.storage),
            Arc::clone(&state),
            receiver,
            cancel.clone(),
            Arc::clone(&shutting_down),
        ));
        let mut pool = Pool {
            config,
            scrape_global,
            cancel,
            shutting_down,
            task,
            state,
            messages,
            files: Vec::new(),
            next_provider: 0,
        };
        let file_sd = pool.config.file_sd_configs.clone();
        pool.sync_files(&pool.config.job_name.clone(), &file_sd);
        pool
    }

    /// A snapshot of every pool, by job name.
    pub fn pools(&self) -> BTreeMap<String, PoolState> {
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .iter()
            .map(|(name, pool)| (name.clone(), pool.state.lock().map(|s| s.clone()).unwrap_or_default()))
            .collect()
    }

    /// Stops every pool for a shutdown and waits for their loops. As
    /// Prometheus, no staleness markers are written: the series go on when
    /// the server starts again (its scrape loops see the server's context
    /// cancelled and skip `endOfRunStaleness`).
    pub async fn stop(&self) {
        let pools: Vec<Pool> = {
            let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *pools).into_values().collect()
        };
        for pool in &pools {
            pool.shutting_down.store(true, Ordering::Release);
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
    updates: mpsc::UnboundedSender<PoolMessage>,
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
            && (cancel.is_cancelled() || updates.send(PoolMessage::Groups(provider.clone(), groups)).is_err())
        {
            return;
        }
    }
}

/// A running scrape loop.
struct RunningLoop {
    cancel: CancellationToken,
    /// Set before `cancel` when another loop takes over the target.
    hand_over: Arc<AtomicBool>,
    task: JoinHandle<Option<Handover>>,
    health: Arc<Mutex<TargetHealth>>,
    forced_error: Option<String>,
}

/// One job: receives discovery updates, keeps one loop per target.
async fn run_pool(
    mut runtime: Arc<JobRuntime>,
    mut global: GlobalConfig,
    storage: Arc<dyn Storage>,
    state: Arc<Mutex<PoolState>>,
    mut messages: mpsc::UnboundedReceiver<PoolMessage>,
    cancel: CancellationToken,
    shutting_down: Arc<AtomicBool>,
) {
    let mut groups_by_provider: BTreeMap<String, Vec<TargetGroup>> = BTreeMap::new();
    let mut loops: HashMap<Target, RunningLoop> = HashMap::new();
    loop {
        tokio::select! {
            message = messages.recv() => {
                let restart_all = match message {
                    // The manager holds the sender while the pool exists.
                    None => {
                        cancel.cancelled().await;
                        break;
                    }
                    Some(PoolMessage::Groups(provider, groups)) => {
                        groups_by_provider.insert(provider, groups);
                        false
                    }
                    Some(PoolMessage::Reload(new_runtime, new_global)) => {
                        runtime = new_runtime;
                        global = new_global;
                        true
                    }
                };
                sync_targets(&runtime, &global, &storage, &state, &groups_by_provider, &mut loops, restart_all);
            }
            () = cancel.cancelled() => break,
        }
    }
    let quietly = shutting_down.load(Ordering::Acquire);
    for running in loops.values() {
        if quietly {
            // Handing over to no one: the loop ends without markers.
            running.hand_over.store(true, Ordering::Release);
        }
        running.cancel.cancel();
    }
    for (_, running) in loops {
        let _ = running.task.await;
    }
}

/// Brings the pool's loops in line with its discovered targets. A loop
/// whose target stays runs on, unless `restart_all` (new scrape settings)
/// or a change of the target_limit error. A loop that stops hands its state
/// to the new loop of a target with the same labels and URL (e.g. after a
/// reload, or a relabeled interval); other stopped loops mark their series
/// stale.
fn sync_targets(
    runtime: &Arc<JobRuntime>,
    global: &GlobalConfig,
    storage: &Arc<dyn Storage>,
    state: &Arc<Mutex<PoolState>>,
    groups_by_provider: &BTreeMap<String, Vec<TargetGroup>>,
    loops: &mut HashMap<Target, RunningLoop>,
    restart_all: bool,
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

    let stopping: Vec<Target> = loops
        .iter()
        .filter(|(target, running)| restart_all || !active.contains(target) || running.forced_error != forced_error)
        .map(|(target, _)| target.clone())
        .collect();
    let mut successors: HashMap<(&Labels, &str), RunningLoop> = HashMap::new();
    for target in &stopping {
        let Some(running) = loops.remove(target) else { continue };
        let successor = active
            .iter()
            .find(|t| t.labels == target.labels && t.scrape_url == target.scrape_url && !loops.contains_key(*t));
        if let Some(next) = successor {
            // The flag must be set before the loop sees its cancellation.
            running.hand_over.store(true, Ordering::Release);
            running.cancel.cancel();
            successors.insert((&next.labels, next.scrape_url.as_str()), running);
        } else {
            running.cancel.cancel();
        }
    }
    for target in &active {
        if loops.contains_key(target) {
            continue;
        }
        let previous = successors.remove(&(&target.labels, target.scrape_url.as_str()));
        let health = previous.as_ref().map_or_else(Arc::default, |p| Arc::clone(&p.health));
        let mut scraper = Scraper::with_health(
            target.clone(),
            Arc::clone(runtime),
            Arc::clone(storage),
            forced_error.clone(),
            Arc::clone(&health),
        );
        let cancel = CancellationToken::new();
        let hand_over = Arc::new(AtomicBool::new(false));
        let task = {
            let (cancel, hand_over) = (cancel.clone(), Arc::clone(&hand_over));
            tokio::spawn(async move {
                if let Some(previous) = previous
                    && let Ok(Some(handover)) = previous.task.await
                {
                    scraper.adopt(handover);
                }
                scraper.run(cancel, hand_over).await
            })
        };
        loops.insert(
            target.clone(),
            RunningLoop { cancel, hand_over, task, health, forced_error: forced_error.clone() },
        );
    }
    let dropped_count = dropped.len();
    let keep_dropped = job.keep_dropped_targets;
    if keep_dropped > 0 {
        dropped.truncate(keep_dropped as usize);
    }
    let active_targets = active
        .into_iter()
        .filter_map(|t| loops.get(&t).map(|running| ActiveTarget { health: Arc::clone(&running.health), target: t }))
        .collect();
    if let Ok(mut state) = state.lock() {
        *state = PoolState { active: active_targets, dropped, dropped_count };
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
    build_http_client(job.follow_redirects, job.enable_compression, job.tls_config.as_ref(), resolve)
}

/// The client for any outgoing HTTP of Vigil's (scrapes, notifications):
/// redirects, compression and TLS as configured.
pub(crate) fn build_http_client(
    follow_redirects: bool,
    enable_compression: bool,
    tls: Option<&TlsConfig>,
    resolve: Option<(&str, &[std::net::SocketAddr])>,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder().user_agent(concat!("Vigil/", env!("CARGO_PKG_VERSION")));
    if let Some((host, addrs)) = resolve {
        builder = builder.resolve_to_addrs(host, addrs);
    }
    if !follow_redirects {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    if !enable_compression {
        builder = builder.no_gzip();
    }
    if let Some(tls) = tls {
        builder = configure_tls(builder, tls)?;
    }
    builder.build().map_err(|e| format!("cannot build HTTP client: {e}"))
}

/// A credential given inline or in a file (read at each use, so a rotated
/// file takes effect without a reload; surrounding whitespace trimmed).
pub(crate) fn read_secret(inline: &str, file: Option<&std::path::Path>) -> Result<String, String> {
    match file {
        Some(path) => std::fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
        None => Ok(inline.to_owned()),
    }
}

pub(crate) fn read_pem(
    inline: &Option<String>,
    file: &Option<std::path::PathBuf>,
    what: &str,
) -> Result<Option<Vec<u8>>, String> {
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
