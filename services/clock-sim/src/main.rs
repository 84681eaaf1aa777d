use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use clock_push::SerialNumber;
use clock_sim::{
    run_load, serve_biotime, write_csv, BioTimeConfig, LoadConfig, OfflineWindow, PinSource,
    ServerOptions, TerminalConfig,
};
use tracing_subscriber::EnvFilter;

/// Simulator of ZKTeco fingerprint clocks: push-protocol terminals, or a BioTime server's API.
#[derive(Debug, Parser)]
#[command(name = "clock-sim", version)]
struct Args {
    /// Log as JSON lines instead of plain text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Run terminals that push punches to a server, then write a CSV of every punch.
    Push(PushArgs),
    /// Serve a stand-in of the ZKBio Time / BioTime REST API.
    Biotime(BioTimeArgs),
}

#[derive(Debug, clap::Args)]
struct PushArgs {
    /// Base URL of the push server (the part before /iclock/).
    #[arg(long, env = "CLOCK_SIM_SERVER")]
    server: String,
    /// Number of terminals.
    #[arg(long, default_value_t = 1)]
    terminals: usize,
    /// Punches per second over all terminals.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seconds of punching.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// PINs: a range `1-500` or a list `1,2,007`; several separated by `;` are groups, terminal
    /// i (from 1) punching those of group (i - 1) % groups.
    #[arg(long, default_value = "1-100")]
    pins: String,
    /// Most ATTLOG lines per upload.
    #[arg(long, default_value_t = 20)]
    batch_size: usize,
    /// Seconds each terminal's clock is ahead (negative: behind).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    skew_secs: i64,
    /// Share of acknowledged batches sent a second time (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    retransmit_ratio: f64,
    /// Seconds between command polls.
    #[arg(long, default_value_t = 10)]
    heartbeat_secs: u64,
    /// Terminal serial numbers are this prefix and a 5-digit number.
    #[arg(long, default_value = "SIM")]
    serial_prefix: String,
    /// Where to write the punch log.
    #[arg(long, default_value = "clock-sim-punches.csv")]
    csv: PathBuf,
    /// Seconds to wait after the last punch for every buffer to empty.
    #[arg(long, default_value_t = 30)]
    drain_secs: u64,
    /// Seed of the PIN choice and the retransmission draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The first this many terminals go off the network for --offline-secs, --offline-after-secs
    /// into the run, keeping their punches until they are back.
    #[arg(long, default_value_t = 0)]
    offline_terminals: usize,
    /// Seconds from the start of the run until the offline terminals drop off.
    #[arg(long, default_value_t = 0)]
    offline_after_secs: u64,
    /// Seconds the offline terminals stay off the network.
    #[arg(long, default_value_t = 0)]
    offline_secs: u64,
}

#[derive(Debug, clap::Args)]
struct BioTimeArgs {
    /// Address to listen on.
    #[arg(long, env = "CLOCK_SIM_BIND", default_value = "127.0.0.1:8097")]
    bind: String,
    #[arg(long, default_value = "admin")]
    username: String,
    #[arg(long, default_value = "admin")]
    password: String,
    /// Seconds a JWT token stays valid.
    #[arg(long, default_value_t = 3600)]
    token_ttl_secs: u64,
    /// Page size when a request names none.
    #[arg(long, default_value_t = clock_sim::biotime::DEFAULT_PAGE_SIZE)]
    page_size: usize,
    /// Worker threads (default: one per physical core).
    #[arg(long)]
    workers: Option<usize>,
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
    match args.mode {
        Mode::Push(push) => run_push(push).await,
        Mode::Biotime(bio) => run_biotime(bio).await,
    }
}

async fn run_push(args: PushArgs) -> ExitCode {
    let pins = match PinSource::parse(&args.pins) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("--pins: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !(0.0..=1.0).contains(&args.retransmit_ratio) {
        tracing::error!("--retransmit-ratio must be between 0 and 1");
        return ExitCode::FAILURE;
    }
    let placeholder = SerialNumber::parse("SIM").expect("a valid serial");
    let mut terminal = TerminalConfig::new(placeholder, args.server.clone());
    terminal.batch_size = args.batch_size.max(1);
    terminal.skew_secs = args.skew_secs;
    terminal.retransmit_ratio = args.retransmit_ratio;
    terminal.heartbeat_interval = Duration::from_secs(args.heartbeat_secs.max(1));
    let config = LoadConfig {
        base_url: args.server.clone(),
        terminals: args.terminals,
        rate: args.rate,
        duration: Duration::from_secs(args.duration_secs),
        pins,
        serial_prefix: args.serial_prefix,
        terminal,
        drain: Duration::from_secs(args.drain_secs),
        seed: args.seed,
        offline: (args.offline_terminals > 0 && args.offline_secs > 0).then(|| OfflineWindow {
            terminals: args.offline_terminals,
            after: Duration::from_secs(args.offline_after_secs),
            length: Duration::from_secs(args.offline_secs),
        }),
    };
    tracing::info!(
        server = %args.server,
        terminals = args.terminals,
        rate = args.rate,
        duration_secs = args.duration_secs,
        "clock-sim pushing"
    );
    let report = match run_load(config).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let written = std::fs::File::create(&args.csv)
        .map_err(csv::Error::from)
        .and_then(|f| write_csv(&report.punches, std::io::BufWriter::new(f)));
    if let Err(e) = written {
        tracing::error!(path = %args.csv.display(), "cannot write the punch log: {e}");
        return ExitCode::FAILURE;
    }
    println!("{}", report.summary());
    if report.drained {
        ExitCode::SUCCESS
    } else {
        tracing::warn!("some punches were never acknowledged");
        ExitCode::from(2)
    }
}

async fn run_biotime(args: BioTimeArgs) -> ExitCode {
    let config = BioTimeConfig {
        username: args.username,
        password: args.password,
        token_ttl: Duration::from_secs(args.token_ttl_secs),
        default_page_size: args.page_size.max(1),
        ..BioTimeConfig::default()
    };
    let options = ServerOptions {
        workers: args.workers,
        handle_signals: true,
        shutdown_timeout_secs: 5,
    };
    let (server, addr) = match serve_biotime(&args.bind, config, &options) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(bind = %args.bind, "cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%addr, "clock-sim biotime listening");
    match server.await {
        Ok(()) => {
            tracing::info!("clock-sim biotime stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
