//! The `vigil` command line. Flag names follow Prometheus's where the
//! concept is the same, so users can switch without relearning them.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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

    /// Address to listen on for the UI, API and telemetry.
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9090")]
    listen_address: String,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
    log_level: String,

    /// A tool to run instead of the server (without one, Vigil serves).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Tools for the storage folder.
    #[command(subcommand)]
    Tsdb(TsdbCommand),
}

#[derive(Debug, Subcommand)]
enum TsdbCommand {
    /// Load samples from a file into the storage folder.
    #[command(subcommand)]
    Import(ImportFormat),
}

#[derive(Debug, Subcommand)]
enum ImportFormat {
    /// Import an OpenMetrics text file with a timestamp (in seconds) on every
    /// sample, ending with `# EOF`, like `promtool tsdb create-blocks-from
    /// openmetrics`. On-disk blocks are not built yet, so the samples are
    /// written into the head's write-ahead log (<path>/wal), in committed
    /// batches; a Vigil started on the folder replays and serves them. Stop
    /// any Vigil using the folder first.
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
    let cli = Cli::parse();
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
    let options = ServerOptions {
        config_file: cli.config_file,
        storage_path: cli.storage_path,
        listen_address: cli.listen_address,
    };
    match runtime.block_on(server::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::FAILURE
        }
    }
}
