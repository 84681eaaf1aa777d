use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    service_kit::run_binary(
        config_service::SERVICE,
        config_service::Settings::from_env,
        config_service::start,
    )
    .await
}
