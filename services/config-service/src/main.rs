use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use config_service::{cli, Settings, SERVICE};
use settings::Env;

#[derive(Parser)]
#[command(
    name = "config-service",
    about = "Companies, the employee directory, Bayzat credentials and the audit log"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API (the default).
    Serve,
    /// Print a person's bearer token signed as the IT portal (reads BRIDGE_PORTAL_SIGNING_KEY
    /// unless --key-file is given).
    MintToken {
        #[arg(long)]
        sub: String,
        /// viewer, operator, admin or service.
        #[arg(long)]
        role: auth::Role,
        /// Comma-separated company slugs the token may see; all when absent.
        #[arg(long, value_delimiter = ',')]
        companies: Option<Vec<String>>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// The one consumer the token is for, e.g. `console` for a console sign-in token (give it
        /// a short --ttl); the services' APIs refuse a token that has one.
        #[arg(long)]
        audience: Option<String>,
        /// A file holding the portal's private key as `kid:base64-private-key`.
        #[arg(long)]
        key_file: Option<String>,
    },
    /// Print a new Ed25519 key pair: the private key (for BRIDGE_SIGNING_KEY or
    /// BRIDGE_PORTAL_SIGNING_KEY) and the item to add to every service's BRIDGE_TRUSTED_KEYS.
    GenerateKey {
        /// The key's id, sent in each token's header (e.g. portal-2026-12).
        #[arg(long)]
        kid: String,
        /// Who signs with it: portal, console, sync-service, import-service or config-service.
        #[arg(long)]
        signer: auth::Signer,
    },
    /// Re-encrypt every stored Bayzat key under the newest master key (reads DATABASE_URL and
    /// BRIDGE_MASTER_KEYS).
    Reencrypt,
    /// Load a directory file (companies, report names, keys, employees) through the REST API
    /// as an admin (reads BRIDGE_PORTAL_SIGNING_KEY).
    LoadDirectory {
        file: String,
        /// config-service's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        url: String,
        /// Set every company's Bayzat api_url to this (e.g. the simulator's).
        #[arg(long)]
        api_url: Option<String>,
        /// Seconds to wait in all, at most, on the API's rate limit: a request answered 429 is
        /// sent again once the wait the answer names has passed.
        #[arg(long, default_value_t = cli::DEFAULT_MAX_RATE_LIMIT_WAIT.as_secs())]
        max_rate_limit_wait: u64,
    },
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("{SERVICE}: {message}");
    ExitCode::FAILURE
}

#[tokio::main]
async fn main() -> ExitCode {
    let env = Env::process();
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => {
            service_kit::run_binary(SERVICE, Settings::from_env, config_service::start).await
        }
        Command::MintToken {
            sub,
            role,
            companies,
            ttl,
            audience,
            key_file,
        } => match key_file
            .map(|file| {
                std::fs::read_to_string(&file)
                    .map(|text| {
                        Env::from_pairs([(
                            auth::PORTAL_SIGNING_KEY_VARIABLE,
                            text.trim().to_owned(),
                        )])
                    })
                    .map_err(|e| format!("{file}: {e}"))
            })
            .transpose()
        {
            Err(error) => fail(error),
            Ok(key_env) => match cli::mint_token_for(
                key_env.as_ref().unwrap_or(&env),
                &sub,
                role,
                companies,
                Duration::from_secs(ttl),
                audience.as_deref(),
            ) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(error) => fail(error),
            },
        },
        Command::GenerateKey { kid, signer } => match cli::generate_key(&kid, signer) {
            Ok((private, trusted)) => {
                println!("private: {private}");
                println!("trusted: {trusted}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(error),
        },
        Command::Reencrypt => {
            let settings = (|| {
                Ok::<_, settings::SettingsError>((
                    env.required::<String>("DATABASE_URL")?,
                    crypto::MasterKeys::from_env(&env)?,
                ))
            })();
            let (database_url, master_keys) = match settings {
                Ok(settings) => settings,
                Err(error) => return fail(error),
            };
            match cli::reencrypt(&database_url, &master_keys).await {
                Ok(done) => {
                    println!(
                        "re-encrypted {} of {} stored keys and {} webhook signing secrets",
                        done.moved, done.total, done.webhook_secrets_moved
                    );
                    if done.changed_meanwhile > 0 {
                        println!(
                            "{} keys were changed meanwhile and left as they are (already under the newest master key)",
                            done.changed_meanwhile
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => fail(error),
            }
        }
        Command::LoadDirectory {
            file,
            url,
            api_url,
            max_rate_limit_wait,
        } => {
            let max_rate_limit_wait = Duration::from_secs(max_rate_limit_wait);
            // The token outlives the longest wait on the rate limit.
            let token = match cli::mint_token(
                &env,
                "load-directory",
                auth::Role::Admin,
                None,
                Duration::from_secs(600) + max_rate_limit_wait,
            ) {
                Ok(token) => token,
                Err(error) => return fail(error),
            };
            match cli::load_directory_waiting(
                &url,
                &token,
                &file,
                api_url.as_deref(),
                max_rate_limit_wait,
            )
            .await
            {
                Ok(loaded) => {
                    println!("{loaded}");
                    ExitCode::SUCCESS
                }
                Err(error) => fail(error),
            }
        }
    }
}
