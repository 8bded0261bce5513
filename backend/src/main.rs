//! The `vigil` command line. Flag names follow Prometheus's where the
//! concept is the same, so users can switch without relearning them.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
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

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
    log_level: String,
}

/// A Prometheus duration (`15d`, `2h`, `500ms`) in milliseconds.
fn parse_duration_ms(text: &str) -> Result<i64, String> {
    vigil_shared::promql::parse_duration(text)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        tsdb: vigil::tsdb::DbOptions::from_flags(cli.retention_time, cli.retention_size, cli.min_block_duration),
    };
    match runtime.block_on(server::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::FAILURE
        }
    }
}
