//! Load generator for a running palisade: signs real SigV4 requests and reports throughput and
//! latency percentiles.
//!
//! ```text
//! cargo run --release -p palisade-loadgen -- --endpoint http://127.0.0.1:4566 \
//!     --credentials palisade-data/credentials --connections 64 --seconds 10
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use palisade_sigv4::{Canonicalization, SigningParams};
use tokio::net::TcpStream;

#[derive(Parser, Debug, Clone)]
#[command(about = "Drives a palisade server with signed requests")]
struct Args {
    /// Server endpoint (http only).
    #[arg(long, default_value = "http://127.0.0.1:4566")]
    endpoint: String,
    /// AWS shared-credentials file to take the key from.
    #[arg(long, default_value = "palisade-data/credentials")]
    credentials: PathBuf,
    /// Profile within the credentials file.
    #[arg(long, default_value = "palisade")]
    profile: String,
    /// Concurrent connections, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Measured duration.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured warm-up before.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Runtime worker threads of the load generator.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The operation to call.
    #[arg(long, default_value = "sts:GetCallerIdentity")]
    operation: String,
    /// The JSON body for awsJson operations (KMS, Secrets Manager, CloudTrail).
    #[arg(long, default_value = "{}")]
    body: String,
    /// Label printed with the result.
    #[arg(long, default_value = "palisade")]
    label: String,
}

struct Operation {
    service: &'static str,
    content_type: &'static str,
    target: Option<&'static str>,
    body: &'static str,
}

/// `sts:GetCallerIdentity`, or any operation of an awsJson service (`kms:Encrypt`,
/// `secretsmanager:GetSecretValue`, ...) with `body` as its JSON input.
fn operation(name: &str, body: &str) -> anyhow::Result<Operation> {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let json = |service: &'static str, prefix: &str, op: &str| Operation {
        service,
        content_type: "application/x-amz-json-1.1",
        target: Some(leak(format!("{prefix}.{op}"))),
        body: leak(body.to_owned()),
    };
    Ok(match name.split_once(':') {
        Some(("sts", "GetCallerIdentity")) => Operation {
            service: "sts",
            content_type: "application/x-www-form-urlencoded; charset=utf-8",
            target: None,
            body: "Action=GetCallerIdentity&Version=2011-06-15",
        },
        Some(("kms", op)) => json("kms", "TrentService", op),
        Some(("secretsmanager", op)) => json("secretsmanager", "secretsmanager", op),
        Some(("cloudtrail", op)) => json(
            "cloudtrail",
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
            op,
        ),
        _ => bail!(
            "unknown operation `{name}` (known: sts:GetCallerIdentity, kms:*, secretsmanager:*, \
             cloudtrail:*)"
        ),
    })
}

fn read_credentials(path: &PathBuf, profile: &str) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read credentials file {}", path.display()))?;
    let mut in_profile = false;
    let (mut id, mut secret) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_profile = line == format!("[{profile}]");
        } else if in_profile && let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_owned()),
                "aws_secret_access_key" => secret = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    match (id, secret) {
        (Some(i), Some(s)) => Ok((i, s)),
        _ => bail!("profile `{profile}` not found in {}", path.display()),
    }
}

struct Stats {
    latencies_us: Vec<u32>,
    errors: u64,
}

async fn connection(
    authority: String,
    op: &'static Operation,
    key: String,
    secret: String,
    warmup_until: Instant,
    until: Instant,
) -> anyhow::Result<Stats> {
    let connect = || async {
        let stream = TcpStream::connect(&authority)
            .await
            .with_context(|| format!("cannot connect to {authority}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        anyhow::Ok(sender)
    };
    let mut sender = connect().await?;
    let mut stats = Stats {
        latencies_us: Vec::with_capacity(65536),
        errors: 0,
    };
    // A signature stays valid for minutes, and real clients sign on machines of their own: the
    // load generator re-signs once a second so that its own SHA-256 and HMAC work does not
    // take CPU from the server it measures on the same two cores. The server still verifies
    // every request in full.
    let mut signed_at: Option<Instant> = None;
    let mut signed_headers: Vec<(String, String)> = Vec::new();
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        if signed_at.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            let mut headers: Vec<(&str, &str)> = vec![
                ("host", authority.as_str()),
                ("content-type", op.content_type),
            ];
            if let Some(t) = op.target {
                headers.push(("x-amz-target", t));
            }
            let signed = palisade_sigv4::sign(
                &palisade_sigv4::Request {
                    method: "POST",
                    path: "/",
                    query: "",
                    headers: &headers,
                },
                op.body.as_bytes(),
                &SigningParams {
                    access_key_id: &key,
                    secret_access_key: &secret,
                    security_token: None,
                    region: "us-east-1",
                    service: op.service,
                    time: time::OffsetDateTime::now_utc(),
                    canonicalization: Canonicalization::AWS,
                    content_sha256_header: false,
                },
            )?;
            signed_headers = headers
                .iter()
                .copied()
                .chain(signed.headers())
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            signed_at = Some(now);
        }
        let mut builder = Request::post("/");
        for (n, v) in &signed_headers {
            builder = builder.header(n.as_str(), v.as_str());
        }
        let request = builder.body(Full::new(Bytes::from_static(op.body.as_bytes())))?;
        let start = Instant::now();
        // Servers that close connections (moto_server's Werkzeug does) get a new one; the
        // failed request counts as an error.
        if sender.ready().await.is_err() {
            sender = connect().await?;
        }
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(_) => {
                stats.errors += 1;
                sender = connect().await?;
                continue;
            }
        };
        let ok = response.status().is_success();
        response.into_body().collect().await?;
        if start >= warmup_until {
            if ok {
                let us = start.elapsed().as_micros();
                stats
                    .latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
            } else {
                stats.errors += 1;
            }
        }
    }
    Ok(stats)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (key, secret) = read_credentials(&args.credentials, &args.profile)?;
    let authority = args
        .endpoint
        .strip_prefix("http://")
        .context("only http:// endpoints are supported")?
        .trim_end_matches('/')
        .to_owned();
    let op: &'static Operation = Box::leak(Box::new(operation(&args.operation, &args.body)?));
    let start = Instant::now();
    let warmup_until = start + Duration::from_secs(args.warmup);
    let until = warmup_until + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| {
            tokio::spawn(connection(
                authority.clone(),
                op,
                key.clone(),
                secret.clone(),
                warmup_until,
                until,
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let stats = t.await??;
        latencies.extend(stats.latencies_us);
        errors += stats.errors;
    }
    latencies.sort_unstable();
    let rps = latencies.len() as f64 / args.seconds as f64;
    println!(
        "{{\"label\": \"{}\", \"operation\": \"{}\", \"connections\": {}, \"seconds\": {}, \"requests\": {}, \"errors\": {}, \"rps\": {:.0}, \"p50_us\": {}, \"p99_us\": {}}}",
        args.label,
        args.operation,
        args.connections,
        args.seconds,
        latencies.len(),
        errors,
        rps,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
    Ok(())
}
