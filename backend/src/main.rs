//! The `vigil` command line. Flag names follow Prometheus's where the
//! concept is the same, so users can switch without relearning them.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use vigil::promql::EngineOptions;
use vigil::server::{self, ServerOptions};

#[derive(Debug, Parser)]
#[command(name = "vigil", version, about = "Metrics, alerts and dashboards in one program.")]
struct Cli {
    /// Configuration file (Prometheus's prometheus.yml format).
    #[arg(long = "config.file", default_value = "vigil.yml")]
    config_file: PathBuf,

    /// Base path for metrics storage.
    #[arg(long = "storage.tsdb.path", default_value = "data/")]
    storage_path: PathBuf,

    /// How long to retain samples in storage (e.g. 15d). With neither this
    /// nor the size set: 15d.
    #[arg(long = "storage.tsdb.retention.time", value_parser = parse_duration_ms)]
    retention_time: Option<i64>,

    /// Maximum number of bytes of storage blocks (and WAL) to retain, oldest
    /// blocks deleted first (units: B, KB, MB, GB, TB, PB, EB).
    #[arg(long = "storage.tsdb.retention.size", value_parser = vigil::tsdb::parse_size)]
    retention_size: Option<u64>,

    /// Width of the blocks the head is cut into (Prometheus's hidden flag).
    #[arg(long = "storage.tsdb.min-block-duration", default_value = "2h", value_parser = parse_duration_ms, hide = true)]
    min_block_duration: i64,

    /// Address to listen on for the UI, API and telemetry.
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9090")]
    listen_address: String,

    /// Enable the API endpoints for admin control actions: deleting series,
    /// cleaning tombstones and taking snapshots (off by default).
    #[arg(long = "web.enable-admin-api")]
    enable_admin_api: bool,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
    log_level: String,

    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", default_value = "2m", value_parser = parse_duration)]
    query_timeout: Duration,

    /// Maximum number of samples a single query can load into memory.
    /// Queries that would load more fail with an error.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    query_max_samples: usize,

    /// Maximum number of queries evaluated at once; the rest wait for a
    /// slot (their time waiting counts against their timeout).
    #[arg(long = "query.max-concurrency", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    query_max_concurrency: u32,

    /// How far back an instant selector looks for a sample.
    #[arg(long = "query.lookback-delta", default_value = "5m", value_parser = parse_duration)]
    query_lookback_delta: Duration,

    /// Accept `holt_winters`, the name Prometheus 2 gave
    /// `double_exponential_smoothing`, so old dashboards and rules keep working.
    #[arg(long = "promql.holt-winters")]
    promql_holt_winters: bool,

    /// The SQLite file dashboards and folders are kept in (default:
    /// dashboards.db inside --storage.tsdb.path).
    #[arg(long = "dashboards.path")]
    dashboards_path: Option<PathBuf>,

    /// A folder of Grafana dashboard JSON files loaded at start (files in a
    /// subfolder go into a folder of that name). Repeatable.
    #[arg(long = "dashboards.provisioning-dir")]
    dashboards_provisioning_dirs: Vec<PathBuf>,
    /// The capacity of the queue of alerts waiting for each Alertmanager;
    /// when full the oldest are dropped.
    #[arg(long = "alertmanager.notification-queue-capacity", default_value_t = 10_000)]
    notification_queue_capacity: usize,

    /// Send what is queued for Alertmanagers before stopping.
    #[arg(long = "alertmanager.drain-notification-queue-on-shutdown", default_value_t = true, action = clap::ArgAction::Set)]
    drain_notification_queue: bool,

    /// Minimum time between two sends of the same firing alert to Alertmanager.
    #[arg(long = "rules.alert.resend-delay", default_value = "1m", value_parser = parse_duration)]
    resend_delay: Duration,

    /// The URL under which Vigil is reached from outside, used in alerts'
    /// generator links (default: http://<hostname>:<port>).
    #[arg(long = "web.external-url")]
    external_url: Option<String>,

    /// Run the built-in Alertmanager with this configuration file
    /// (Alertmanager's alertmanager.yml format): alerts of Vigil's rules
    /// are routed, grouped and delivered to its receivers.
    #[arg(long = "alertmanager.config.file")]
    alertmanager_config: Option<PathBuf>,

    /// A tool to run instead of the server (without one, Vigil serves).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks, as `promtool test` does.
    Test {
        #[command(subcommand)]
        what: TestCommand,
    },
    /// Tools for the storage folder.
    #[command(subcommand)]
    Tsdb(TsdbCommand),
    /// Prints the share link of a dashboard file: the whole dashboard, time
    /// range and variables packed into the link (see the README's "Share
    /// links"), opened read-only by any Vigil at the link's address.
    Share {
        /// The dashboard JSON file (as exported, or as the dashboard API
        /// returns it).
        file: PathBuf,
        /// Start of the time range (default: the dashboard's).
        #[arg(long)]
        from: Option<String>,
        /// End of the time range (default: the dashboard's).
        #[arg(long)]
        to: Option<String>,
        /// A variable's value, as name=value; repeat a name for several values.
        #[arg(long = "var")]
        vars: Vec<String>,
        /// The Vigil the link opens in (default http://localhost:9090, or
        /// --web.external-url when given).
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TestCommand {
    /// Runs rule unit tests in promtool's format (`promtool test rules`).
    Rules {
        /// Test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// A duration in Prometheus's syntax (`90s`, `1h30m`, `0`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let ms = vigil_shared::promql::parse_duration(text)?;
    u64::try_from(ms).map(Duration::from_millis).map_err(|_| format!("negative duration {text:?}"))
}

/// Every long flag with its value (given or default) as text, for
/// `/api/v1/status/flags`, read from the parsed command line so a new flag
/// shows up there without further code.
fn flag_values(matches: &clap::ArgMatches) -> BTreeMap<String, String> {
    let mut flags = BTreeMap::new();
    for arg in Cli::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version") {
            continue;
        }
        let value = matches
            .get_raw(arg.get_id().as_str())
            .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>().join(","))
            .unwrap_or_default();
        flags.insert(long.to_owned(), value);
    }
    flags
}

/// A Prometheus duration (`15d`, `2h`, `500ms`) in milliseconds.
fn parse_duration_ms(text: &str) -> Result<i64, String> {
    vigil_shared::promql::parse_duration(text)
}

#[derive(Debug, Subcommand)]
enum TsdbCommand {
    /// Load samples from a file into the storage folder.
    #[command(subcommand)]
    Import(ImportFormat),
    /// Analyze a block as `promtool tsdb analyze` does: series, samples,
    /// chunks and bytes per sample, then churn, label pair cardinality and
    /// the largest metric names. Reads only; safe beside a running Vigil.
    Analyze {
        /// Storage folder (default: the top-level --storage.tsdb.path, data/).
        #[arg(long = "storage.tsdb.path")]
        storage_path: Option<PathBuf>,
        /// How many items to show in each list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Analyze the head (as its WAL describes it) instead of a block.
        #[arg(long, conflicts_with = "block_id")]
        head: bool,
        /// Block to analyze (default: the last one created).
        block_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ImportFormat {
    /// Import an OpenMetrics text file with a timestamp (in seconds) on every
    /// sample, ending with `# EOF`, like `promtool tsdb create-blocks-from
    /// openmetrics`: the samples are written as 2h blocks into the storage
    /// folder, whatever their age, and a Vigil started on the folder serves
    /// them. Stop any Vigil using the folder first.
    Openmetrics {
        /// The OpenMetrics file.
        file: PathBuf,
        /// Storage folder to import into (default: the top-level
        /// --storage.tsdb.path, data/).
        #[arg(long = "storage.tsdb.path")]
        storage_path: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Some(Command::Test { what: TestCommand::Rules { files } }) = &cli.command {
        return if vigil::rules::unittest::run(files) { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    if let Some(Command::Tsdb(TsdbCommand::Import(ImportFormat::Openmetrics { file, storage_path }))) = &cli.command {
        let storage_path = storage_path.as_ref().unwrap_or(&cli.storage_path);
        return match vigil::tsdb::import::import_openmetrics_into(file, storage_path) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vigil: import failed: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Tsdb(TsdbCommand::Analyze { storage_path, limit, head, block_id })) = &cli.command {
        use vigil::tsdb::analyze;
        let storage_path = storage_path.as_ref().unwrap_or(&cli.storage_path);
        let analysis = if *head {
            analyze::analyze_head(storage_path, *limit)
        } else {
            analyze::find_block(storage_path, block_id.as_deref()).and_then(|dir| analyze::analyze_block(&dir, *limit))
        };
        return match analysis {
            Ok(analysis) => {
                print!("{analysis}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vigil: analyze: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Share { file, from, to, vars, url }) = &cli.command {
        let base = url.as_deref().or(cli.external_url.as_deref()).unwrap_or(vigil::dashboards::share_cli::DEFAULT_BASE);
        return match vigil::dashboards::share_cli::link(file, from.as_deref(), to.as_deref(), vars, base) {
            Ok(link) => {
                println!("{link}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vigil: share: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("vigil={0},{0}", cli.log_level)));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vigil: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let defaults = EngineOptions::default();
    let engine = EngineOptions {
        // As Prometheus's engine: a zero lookback means the default one.
        lookback_ms: match cli.query_lookback_delta.as_millis() {
            0 => defaults.lookback_ms,
            ms => ms.try_into().unwrap_or(i64::MAX),
        },
        max_samples: cli.query_max_samples,
        timeout: Some(cli.query_timeout),
        enable_holt_winters: cli.promql_holt_winters,
        ..defaults
    };
    let options = ServerOptions {
        flags: flag_values(&matches),
        config_file: cli.config_file,
        dashboards_path: cli.dashboards_path.unwrap_or_else(|| cli.storage_path.join("dashboards.db")),
        dashboards_provisioning_dirs: cli.dashboards_provisioning_dirs,
        storage_path: cli.storage_path,
        listen_address: cli.listen_address,
        engine,
        max_concurrency: cli.query_max_concurrency as usize,
        tsdb: vigil::tsdb::DbOptions::from_flags(cli.retention_time, cli.retention_size, cli.min_block_duration),
        notifier: vigil::notifier::NotifierOptions {
            queue_capacity: cli.notification_queue_capacity,
            drain_on_shutdown: cli.drain_notification_queue,
            ..Default::default()
        },
        resend_delay: cli.resend_delay,
        external_url: cli.external_url,
        alertmanager_config: cli.alertmanager_config,
        enable_admin_api: cli.enable_admin_api,
    };
    match runtime.block_on(server::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::FAILURE
        }
    }
}
