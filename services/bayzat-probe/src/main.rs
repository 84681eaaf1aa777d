use std::process::ExitCode;

use bayzat_probe::{run, Assumptions, ProbeOptions, DEFAULT_UNKNOWN_EMPLOYEE};
use clap::Parser;
use domain::{BayzatEmpId, LocalPunchTime};
use settings::Env;

/// Checks a Bayzat attendance API (a sandbox, before go-live) against what the attendance bridge
/// assumes, and says what to configure.
///
/// The assumptions judged are sync-service's variables, read from the environment as
/// sync-service reads them: BAYZAT_RATE_LIMIT_DELAY, BAYZAT_RATE_LIMIT_MARGIN_MS,
/// BAYZAT_DUPLICATE_PATTERN, BAYZAT_HTTP_TIMEOUT.
///
/// Exit status: 0 the contract is as assumed, 1 configuration is needed (printed), 2 bad
/// arguments or variables, 3 the contract differs in a way no configuration covers, 4 the
/// service could not be probed with this URL and key.
#[derive(Parser)]
#[command(name = "bayzat-probe", version)]
struct Args {
    /// The attendance endpoint, e.g. a sandbox's https://…/attendance.
    #[arg(long, env = "BAYZAT_PROBE_API_URL")]
    api_url: String,
    /// The sandbox company's integration key (prefer the variable: arguments show in `ps`).
    #[arg(long, env = "BAYZAT_PROBE_KEY", hide_env_values = true)]
    key: String,
    /// A key of another sandbox company: shows whether the rate limit is per key.
    #[arg(long, env = "BAYZAT_PROBE_SECOND_KEY", hide_env_values = true)]
    second_key: Option<String>,
    /// An employee id the sandbox knows: one checkIn of theirs is sent twice to see how a
    /// duplicate is refused. Without it no punch is created and duplicates are not checked.
    #[arg(long, env = "BAYZAT_PROBE_EMPLOYEE")]
    employee: Option<BayzatEmpId>,
    /// The time of that punch, `YYYY-MM-DD HH:MM:SS` (default: yesterday at this UTC time).
    #[arg(long)]
    time: Option<LocalPunchTime>,
    /// An empId the sandbox does not know, for the unknown-employee refusal.
    #[arg(long, default_value = DEFAULT_UNKNOWN_EMPLOYEE)]
    unknown_employee: BayzatEmpId,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let assumptions = match Assumptions::from_env(&Env::process()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bayzat-probe: {e}");
            return ExitCode::from(2);
        }
    };
    let mut options = ProbeOptions::new(args.api_url, args.key);
    options.second_key = args.second_key.filter(|k| !k.trim().is_empty());
    options.employee = args.employee;
    options.unknown_employee = args.unknown_employee;
    if let Some(time) = args.time {
        options.time = time;
    }
    options.assumptions = assumptions;

    let report = run(&options).await;
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("bayzat-probe: cannot write the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report.render());
    }
    ExitCode::from(report.exit_code())
}
