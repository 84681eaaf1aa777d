use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "console", about = "The operators' web console")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the console (the default).
    Serve,
    /// Print an HTML page that signs `sub` in when opened in a browser, as the IT portal does
    /// (reads BRIDGE_PORTAL_SIGNING_KEY; the login token in it is valid for a minute).
    SignInPage {
        #[arg(long)]
        sub: String,
        /// viewer, operator or admin.
        #[arg(long)]
        role: auth::Role,
        /// Comma-separated company slugs; all when absent.
        #[arg(long, value_delimiter = ',')]
        companies: Option<Vec<String>>,
        /// The console's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => {
            service_kit::run_binary(
                console::SERVICE,
                console::Settings::from_env,
                console::start,
            )
            .await
        }
        Command::SignInPage {
            sub,
            role,
            companies,
            url,
        } => match console::sign_in_page(&settings::Env::process(), &sub, role, companies, &url) {
            Ok(page) => {
                println!("{page}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{}: {error}", console::SERVICE);
                ExitCode::FAILURE
            }
        },
    }
}
