//! `opentrail`: the one binary. `serve` runs every service on one port; more subcommands
//! (`validate-logs`, `import`, `lookup`, `query`, …) join as they are built.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use opentrail_core::credentials::Origin;
use opentrail_server::ServerConfig;

mod client;
mod filter_cmd;
mod import;
mod lookup;
mod match_cmd;
mod validate_logs;

#[derive(Parser)]
#[command(name = "opentrail", version, about = "A self-hosted AWS CloudTrail")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every AWS service on one port.
    Serve {
        /// Where all state is kept.
        #[arg(long, default_value = "./opentrail-data", env = "OPENTRAIL_DATA_DIR")]
        data_dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:4599", env = "OPENTRAIL_LISTEN")]
        listen: SocketAddr,
    },
    /// Validate trail log files against their signed digest files, like
    /// `aws cloudtrail validate-logs`.
    ValidateLogs(validate_logs::Args),
    /// Print the events an EventBridge event pattern matches (grep for events).
    Match(match_cmd::Args),
    /// Print the log lines or records a CloudWatch Logs filter pattern matches.
    Filter(filter_cmd::Args),
    /// Import CloudTrail log files (local paths or s3:// prefixes) into a running server.
    Import(import::Args),
    /// Search event history: several attributes at once, any record field, human time ranges.
    Lookup(lookup::Args),
}

fn main() -> anyhow::Result<()> {
    opentrail_server::disable_transparent_huge_pages();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OPENTRAIL_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,fjall=warn,lsm_tree=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { data_dir, listen } => serve(data_dir, listen),
        Command::ValidateLogs(args) => std::process::exit(validate_logs::run(args)),
        Command::Match(args) => std::process::exit(match_cmd::run(args)),
        Command::Filter(args) => std::process::exit(filter_cmd::run(args)),
        Command::Import(args) => std::process::exit(import::run(args)),
        Command::Lookup(args) => std::process::exit(lookup::run(args)),
    }
}

fn serve(data_dir: PathBuf, listen: SocketAddr) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let config = ServerConfig::from_env(data_dir.clone())?;
        let account = config.account_id.clone();
        let state = opentrail_server::start(config)
            .await
            .with_context(|| format!("opening data directory {}", data_dir.display()))?;
        if matches!(state.credentials_origin, Origin::Generated) {
            let root = &state.credentials.root;
            println!(
                "Generated root credentials (shown once; kept in {}):",
                data_dir.join("credentials.json").display()
            );
            println!("  AWS_ACCESS_KEY_ID={}", root.access_key_id);
            println!("  AWS_SECRET_ACCESS_KEY={}", root.secret_access_key);
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let local = listener.local_addr()?;
        println!("opentrail listening on http://{local} (account {account})");
        tracing::info!(%local, data_dir = %data_dir.display(), "serving");
        opentrail_server::run(state, listener, shutdown_signal()).await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
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
