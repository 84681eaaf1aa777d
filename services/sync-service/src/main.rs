use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    service_kit::run_binary(
        sync_service::SERVICE,
        sync_service::Settings::from_env,
        sync_service::start,
    )
    .await
}
