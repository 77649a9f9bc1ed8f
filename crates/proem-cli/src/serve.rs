//! `proem serve` and `proem migrate`.

use anyhow::Context;
use proem_core::config::LogFormat;
use proem_core::{Clock, Config, Store};
use proem_server::AppState;
use tokio_util::sync::CancellationToken;

use crate::cli::ServerArgs;

pub fn load_config(args: &ServerArgs) -> anyhow::Result<Config> {
    Config::load(args.config.as_deref(), args.overrides()).map_err(anyhow::Error::msg)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    init_logging(config.log_format);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let state = AppState::open(config, Clock::system())
        .await
        .map_err(anyhow::Error::msg)?;
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested; finishing in-flight requests");
        trigger.cancel();
    });
    proem_server::serve(state, listener, shutdown).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Opens the configured database and applies pending migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.effective_database_url();
    let store = Store::connect(&url, Clock::system())
        .await
        .with_context(|| {
            format!(
                "cannot open database {}",
                proem_core::store::redact_url(&url)
            )
        })?;
    store.migrate().await?;
    Ok(store)
}

pub async fn migrate(args: ServerArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    init_logging(config.log_format);
    let store = open_store(&config).await?;
    eprintln!(
        "database at schema version {}",
        store.schema_version().await?
    );
    store.close().await;
    Ok(())
}
