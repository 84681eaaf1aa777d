use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    service_kit::run_binary(
        import_service::SERVICE,
        |env| {
            Ok((
                import_service::Settings::from_env(env)?,
                env.optional::<SocketAddr>(import_service::clocks::BIND_VARIABLE)?,
            ))
        },
        |(settings, clock_bind)| async move {
            // Unset: no terminal is listened to.
            let listener = clock_bind.map(TcpListener::bind).transpose()?;
            import_service::start_with_clocks(settings, listener).await
        },
    )
    .await
}
