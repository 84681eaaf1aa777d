use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    service_kit::run_binary(
        import_service::SERVICE,
        import_service::Settings::from_env,
        import_service::start,
    )
    .await
}
