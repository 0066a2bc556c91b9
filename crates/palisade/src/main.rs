//! `palisade`: the server and the offline tools.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use palisade_server::{Bootstrap, Config, Server, TlsMode};

#[derive(Parser, Debug)]
#[command(
    name = "palisade",
    version,
    about = "A self-hosted AWS data-security plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the AWS APIs (STS, and the services of later releases) on one port.
    Serve(ServeArgs),
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// Data directory: the store, the root key and the credentials file.
    #[arg(long, env = "PALISADE_DATA_DIR", default_value = "./palisade-data")]
    data_dir: PathBuf,
    /// Accept any credentials and skip authorization (local testing only).
    #[arg(long)]
    dev: bool,
    /// Region of requests that carry no credential scope.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Account whose root user is created on first start.
    #[arg(long, default_value = "123456789012")]
    account_id: String,
    /// TLS certificate chain (PEM).
    #[arg(long, requires = "tls_key", conflicts_with = "tls_self_signed")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve TLS with a certificate generated at start (written to <data-dir>/tls/cert.pem).
    #[arg(long)]
    tls_self_signed: bool,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = palisade_server::config::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Largest request head (request line and headers) accepted, in bytes.
    #[arg(long, default_value_t = palisade_server::config::DEFAULT_MAX_HEADER_BYTES)]
    max_header_bytes: usize,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = palisade_server::config::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// File holding the 32-byte key-encryption key (raw or base64).
    #[arg(long)]
    kek_file: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PALISADE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let tls = match (args.tls_cert, args.tls_key, args.tls_self_signed) {
        (Some(cert), Some(key), _) => TlsMode::Files { cert, key },
        (_, _, true) => TlsMode::SelfSigned,
        _ => TlsMode::Off,
    };
    let config = Config {
        listen: args.listen,
        data_dir: args.data_dir,
        dev: args.dev,
        region: args.region,
        account_id: args.account_id,
        tls,
        max_body_bytes: args.max_body_bytes,
        max_header_bytes: args.max_header_bytes,
        max_connections: args.max_connections,
        root_access_key_id: std::env::var("PALISADE_ROOT_ACCESS_KEY_ID").ok(),
        root_secret_access_key: std::env::var("PALISADE_ROOT_SECRET_ACCESS_KEY").ok(),
        kek_file: args.kek_file,
        kek_env: std::env::var("PALISADE_KEK").ok(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let dev = config.dev;
        let server = Server::start(config).await.context("cannot start the server")?;
        if server.kek_source == palisade_seal::KekSource::Generated {
            tracing::warn!(
                path = %data_dir.join("kek").display(),
                "generated a key-encryption key next to the data it protects; \
                 pass --kek-file or PALISADE_KEK to keep it elsewhere"
            );
        }
        match &server.bootstrap {
            Some(Bootstrap::Created(path)) => {
                tracing::info!(path = %path.display(), "created the root user's access key; credentials written")
            }
            Some(Bootstrap::FromEnvironment(path)) => {
                tracing::info!(path = %path.display(), "installed the root access key from the environment")
            }
            Some(Bootstrap::Existing(path)) => {
                tracing::info!(path = %path.display(), "root credentials are in the credentials file")
            }
            None => tracing::warn!("--dev: any credentials are accepted and nothing is authorized"),
        }
        let url = server.endpoint_url();
        tracing::info!(endpoint = %url, mode = if dev { "dev" } else { "strict" }, "palisade is serving");
        // The line tests and scripts wait for; stdout, unlike the log.
        println!("palisade listening on {url}");
        server.serve(shutdown_signal()).await;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
