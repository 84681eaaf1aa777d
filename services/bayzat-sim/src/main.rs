use std::io::IsTerminal;
use std::process::ExitCode;

use bayzat_sim::{keys_from_directory_file, serve, ServerOptions, SimConfig};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Simulator of the Bayzat attendance API, for tests, demos and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "bayzat-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "BAYZAT_SIM_BIND", default_value = "127.0.0.1:8090")]
    bind: String,
    /// A directory.json whose `bayzat_simulator` section gives the initial keys.
    #[arg(long, env = "BAYZAT_SIM_LOAD")]
    load: Option<std::path::PathBuf>,
    /// Rate-limit interval of the loaded keys.
    #[arg(long, default_value_t = bayzat_sim::DEFAULT_INTERVAL_MS)]
    interval_ms: u64,
    /// Record limit of the loaded keys.
    #[arg(long, default_value_t = bayzat_sim::DEFAULT_MAX_RECORDS)]
    max_records: usize,
    /// Worker threads (default: one per physical core).
    #[arg(long)]
    workers: Option<usize>,
    /// Log as JSON lines instead of plain text.
    #[arg(long)]
    log_json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if args.log_json {
        logs.json().init();
    } else {
        logs.init();
    }

    let keys = match &args.load {
        Some(path) => match keys_from_directory_file(path) {
            Ok(keys) => keys
                .into_iter()
                .map(|k| {
                    k.with_interval_ms(args.interval_ms)
                        .with_max_records(args.max_records)
                })
                .collect(),
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        },
        None => Vec::new(),
    };
    let key_count = keys.len();
    let options = ServerOptions {
        workers: args.workers,
        handle_signals: true,
        shutdown_timeout_secs: 5,
    };
    let (server, addr) = match serve(&args.bind, SimConfig { keys }, &options) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(bind = %args.bind, "cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%addr, keys = key_count, "bayzat-sim listening");
    match server.await {
        Ok(()) => {
            tracing::info!("bayzat-sim stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
