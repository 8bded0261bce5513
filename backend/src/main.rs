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

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Test { what: TestCommand::Rules { files } }) = &cli.command {
        return if vigil::rules::unittest::run(files) { ExitCode::SUCCESS } else { ExitCode::FAILURE };
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
