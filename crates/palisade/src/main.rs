//! `palisade`: the server and the offline tools.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use palisade_server::{Bootstrap, Config, Server, TlsMode};

// Every request allocates many small short-lived objects across two worker threads; mimalloc's
// thread-local free lists cut the allocator's share of a request by about a sixth
// (bench/run.sh: 10.3k → 12.2k req/s).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Serve the AWS APIs (IAM, STS, KMS, Secrets Manager, CloudTrail) on one port.
    ///
    /// Environment: PALISADE_KEK (the key-encryption key, base64 of 32 bytes, instead of
    /// --kek-file or <data-dir>/kek), PALISADE_ROOT_ACCESS_KEY_ID and
    /// PALISADE_ROOT_SECRET_ACCESS_KEY (install this root access key), PALISADE_DATA_DIR.
    Serve(ServeArgs),
    /// Find sensitive data in files the way Amazon Macie does (exit 0: none, 1: found, 2: an
    /// error, or content skipped for a reason other than its type or scanned only in part,
    /// whatever was found; files of a type scan does not read are listed as skipped only).
    Scan(palisade_discovery::cli::ScanArgs),
    /// Mask, pseudonymize or encrypt sensitive values in a CSV/TSV, JSON Lines, Parquet or
    /// text file, by a rules file or by the masking policies that apply to a principal.
    Mask(palisade_masking::cli::MaskArgs),
    /// Reverse the reversible transforms of `mask` (deterministic and envelope encryption,
    /// format-preserving encryption, date shift) with the keys.
    Unmask(palisade_masking::cli::UnmaskArgs),
    /// Evaluate and validate IAM policies offline.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Read audit records offline: check a trail's delivered files, or print the events a data
    /// directory recorded.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check a trail delivery directory: each log file, digest and checkpoint is valid,
    /// modified, missing, badly signed or unverified (no trusted key for it) (exit 0: all
    /// valid, 1: a finding, 2: error).
    Validate(palisade_audit::cli::ValidateArgs),
    /// Print the audit events recorded in a data directory, oldest first, one CloudTrail record
    /// per line. Reads without changing anything, so it can run beside a serving Palisade
    /// (exit 2 when the data directory cannot be read or its event log is damaged, after the
    /// events before the damage).
    Events {
        /// The server's data directory.
        #[arg(long, env = "PALISADE_DATA_DIR", default_value = "./palisade-data")]
        data_dir: PathBuf,
        /// Only this account's events (a 12-digit account id).
        #[arg(long, value_parser = parse_account)]
        account: Option<String>,
        /// Only events at or after this position in the log: events are numbered from 1 in the
        /// order they were recorded (positions skipped after a torn tail was cut off are never
        /// used, so lines and positions can differ after a crash). --positions prints them.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
        from: i64,
        /// Print each event as {"position": N, "record": {CloudTrail record}}, so that a later
        /// run can go on with --from N+1.
        #[arg(long)]
        positions: bool,
    },
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Evaluate one JSON case, or a JSON array of cases, and print one JSON result per case
    /// (exit 2 when the cases cannot be read or parsed).
    #[command(after_long_help = SIMULATE_CASE_FORMAT)]
    Simulate {
        /// The case file (`-` for standard input).
        file: PathBuf,
    },
    /// Check a policy document the way IAM Access Analyzer's ValidatePolicy does (exit 0: no
    /// errors, 1: errors found, 2: the document cannot be read or an option is wrong).
    Validate {
        /// The policy document (`-` for standard input).
        file: PathBuf,
        /// The policy's type.
        #[arg(long = "type", default_value = "identity", value_parser = policy_types())]
        kind: String,
        /// Output format.
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
}

/// What `policy simulate --help` says of the input (bug: the format, its optional fields and
/// their defaults were only in the source).
const SIMULATE_CASE_FORMAT: &str = r#"A case (every field but principal and action optional):

  {"request": {
     "principal": "arn:aws:iam::111111111111:user/alice",
         (or "anonymous", or a service principal such as "lambda.amazonaws.com")
     "action": "s3:GetObject",
     "resource": "arn:aws:s3:::bucket/key",             default "*"
     "resourceAccount": "111111111111",
         default: the resource ARN's account, else the principal's
     "principalArn": "arn:aws:iam::111111111111:role/path/R",
         for a role session: the role's ARN with its path
     "userId": "AROAEXAMPLE:session",                     aws:userid
     "trust": "explicit" | "implicit",
         whether the resource policy must allow its own account's callers too;
         default explicit for kms:* and the role trust actions
     "context": {"aws:SourceIp": "10.1.2.3", "aws:TagKeys": ["a", "b"],
                 "aws:CurrentTime": {"type": "date", "value": "2030-01-01T00:00:00Z"},
                 "aws:SourceVpc": {"type": "stringList", "values": ["vpc-1", "vpc-2"]}}},
         typed values: string, numeric, boolean, ip, binary (base64), date, each also …List;
         without aws:CurrentTime or aws:EpochTime the case is evaluated now
   "identityPolicies": [POLICY, ...],
   "resourcePolicy": POLICY,
   "resourcePolicyType": "resource" | "trust",          default trust for sts:AssumeRole*
   "permissionsBoundaries": [POLICY, ...],
   "sessionPolicy": POLICY,
   "serviceControlPolicies": [[ROOT, ...], [OU, ...], [ACCOUNT, ...]],
   "resourceControlPolicies": [[ROOT, ...], ...],
   "endpointPolicies": [POLICY, ...]}

A POLICY is a policy document, as a JSON object or a string. A case may carry "name",
"description" and "expect", which are ignored. A result:

  {"decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied",
   "blockedBy": ["scp", ...], "matched": [{"layer", "level", "policy", "statement", "sid", "effect"}]}"#;

/// `policy validate --type`: the types, each with what it is, listed by `--help` (bug: the
/// help did not say which there are). The aliases map to the canonical name.
fn policy_types() -> clap::builder::PossibleValuesParser {
    use clap::builder::PossibleValue;
    clap::builder::PossibleValuesParser::new([
        PossibleValue::new("identity").help("a user's, group's or role's policy"),
        PossibleValue::new("resource")
            .help("a resource's own policy (KMS key, secret, S3 bucket, ...)"),
        PossibleValue::new("trust").help("a role's trust policy"),
        PossibleValue::new("boundary")
            .alias("permissions-boundary")
            .help("a permissions boundary"),
        PossibleValue::new("session").help("a session policy passed to AssumeRole*"),
        PossibleValue::new("scp").help("a service control policy"),
        PossibleValue::new("rcp").help("a resource control policy"),
        PossibleValue::new("endpoint")
            .aliases(["vpce", "vpc-endpoint"])
            .help("a VPC endpoint policy"),
    ])
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// Data directory: the store, the root key and the credentials file.
    #[arg(long, env = "PALISADE_DATA_DIR", default_value = "./palisade-data")]
    data_dir: PathBuf,
    /// Accept any credentials and skip identity-policy authorization (an explicit Deny in a key
    /// policy still applies; local testing only).
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
    /// Serve TLS with a certificate generated on the first start and kept
    /// (<data-dir>/tls/cert.pem).
    #[arg(long)]
    tls_self_signed: bool,
    /// Largest request body accepted, in bytes (at least 1024).
    #[arg(long, default_value_t = palisade_server::config::DEFAULT_MAX_BODY_BYTES, value_parser = at_least::<1024>)]
    max_body_bytes: usize,
    /// Largest request head (request line and headers) accepted, in bytes (at least 1024).
    #[arg(long, default_value_t = palisade_server::config::DEFAULT_MAX_HEADER_BYTES, value_parser = at_least::<1024>)]
    max_header_bytes: usize,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = palisade_server::config::DEFAULT_MAX_CONNECTIONS, value_parser = at_least::<1>)]
    max_connections: usize,
    /// Connections one client address may hold at once; more from it are closed at once.
    #[arg(long, default_value_t = palisade_server::config::DEFAULT_MAX_CONNECTIONS_PER_IP, value_parser = at_least::<1>)]
    max_connections_per_ip: usize,
    /// Bytes of request bodies held in memory at once across all connections (at least
    /// --max-body-bytes); a request waits for room before its body is read.
    #[arg(long, default_value_t = palisade_server::config::DEFAULT_MAX_INFLIGHT_BODY_BYTES, value_parser = at_least::<1024>)]
    max_inflight_body_bytes: usize,
    /// Seconds a connection with no request under way may stay silent before it is closed.
    #[arg(long, default_value_t = palisade_server::config::DEFAULT_IDLE_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=86400))]
    idle_timeout: u64,
    /// File holding the 32-byte key-encryption key (raw or base64).
    #[arg(long)]
    kek_file: Option<PathBuf>,
    /// Authorization in strict mode: `enforce` refuses what the policies do not allow; `audit`
    /// only logs and audits would-be denials; `off` skips authorization (`--dev` implies it).
    #[arg(long, default_value = "enforce", value_parser = ["enforce", "audit", "off"], conflicts_with = "dev")]
    enforcement: String,
    /// A Secrets Manager rotation webhook, NAME=URL (repeatable): a secret whose
    /// RotationLambdaARN names function NAME rotates by POSTing each step to URL.
    #[arg(long = "rotation-webhook", value_name = "NAME=URL", value_parser = parse_webhook)]
    rotation_webhook: Vec<(String, String)>,
    /// Where trails deliver log files, digests and checkpoints (default <data-dir>/trails).
    #[arg(long)]
    trail_dir: Option<PathBuf>,
    /// Seconds between a logging trail's deliveries (CloudTrail: about 5 minutes).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    trail_delivery_seconds: u64,
    /// Seconds between digest files (CloudTrail: one hour).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    trail_digest_seconds: u64,
    /// Seconds between runs of KMS's background task (key deletion, expiry of imported
    /// material, automatic rotation); tests shorten it to see expiry without waiting.
    #[arg(long, hide = true, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    kms_task_seconds: u64,
    /// Refuse requests while audit events cannot be written [default: true in strict mode,
    /// false with --dev].
    #[arg(long, value_name = "BOOL")]
    audit_fail_closed: Option<bool>,
    /// Do not audit at all. Only to measure what auditing costs (bench/audit-cost.sh).
    #[arg(long, hide = true)]
    no_audit_benchmark_only: bool,
    /// Size at which an audit log segment is closed (tests use tiny segments to exercise
    /// segment changes).
    #[arg(long, hide = true, default_value_t = 64 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    audit_segment_bytes: u64,
    /// The URL external services reach this server at: the base of each account's outbound
    /// identity federation issuer (`GetWebIdentityToken`'s `iss`) [default: the listen address]
    #[arg(long, env = "PALISADE_PUBLIC_URL", value_parser = parse_public_url)]
    public_url: Option<String>,
}

/// A size or count option with a floor: below it the server would start and then refuse every
/// request (a signed request's head alone is several hundred bytes), which is worse than
/// refusing the option.
fn at_least<const MIN: usize>(s: &str) -> Result<usize, String> {
    let n: usize = s
        .parse()
        .map_err(|e| format!("{s:?} is not a whole number: {e}"))?;
    if n < MIN {
        return Err(format!("{n} is below the minimum of {MIN}"));
    }
    Ok(n)
}

/// `--public-url`: a base URL, to which the issuer path is appended, so no query or fragment.
fn parse_public_url(s: &str) -> Result<String, String> {
    let uri: http::Uri = s.parse().map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let host_ok = uri.host().is_some_and(|h| !h.is_empty());
    if !scheme_ok || !host_ok || uri.query().is_some() || s.contains('#') {
        return Err(format!(
            "expected an http:// or https:// URL with a host and no query or fragment, got {s:?}"
        ));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

fn parse_webhook(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, url)) if !name.is_empty() && url.starts_with("http://") => {
            Ok((name.to_owned(), url.to_owned()))
        }
        _ => Err(format!("expected NAME=http://host:port/path, got {s:?}")),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            if let Err(e) = serve(args) {
                eprintln!("palisade serve: {}", error_chain(&e));
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Scan(args) => std::process::exit(palisade_discovery::cli::run(args)),
        // Any failure is 2, as in scan and audit validate (and clap's usage errors): the
        // commands have no "found something" outcome that 1 would stand for.
        Command::Mask(args) => {
            remove_output_on_signal("mask");
            if let Err(e) = palisade_masking::cli::run_mask(&args) {
                eprintln!("palisade mask: {e}");
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Unmask(args) => {
            remove_output_on_signal("unmask");
            if let Err(e) = palisade_masking::cli::run_unmask(&args) {
                eprintln!("palisade unmask: {e}");
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Audit(AuditCommand::Validate(args)) => {
            std::process::exit(palisade_audit::cli::run(&args))
        }
        Command::Audit(AuditCommand::Events {
            data_dir,
            account,
            from,
            positions,
        }) => {
            // An unreadable data directory is an I/O error (2), as in scan and audit validate.
            if let Err(e) = print_events(&data_dir, account.as_deref(), from, positions) {
                eprintln!("palisade audit events: {}", error_chain(&e));
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Policy(command) => std::process::exit(policy(command)),
    }
}

/// An error and its causes on one line, each cause once: many errors name their cause in
/// their own message, and printing the chain repeated it (bug: `serve --tls-cert nope.pem`
/// printed "No such file or directory" twice, under "Caused by").
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn read_input(file: &std::path::Path) -> anyhow::Result<String> {
    if file == std::path::Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("cannot read standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
    }
}

/// `--account`: an account id, so that a typo is an error rather than an empty listing.
fn parse_account(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not an account id: an account id is 12 digits"
        ))
    }
}

/// Prints the recorded audit events (`palisade audit events`): each CloudTrail record as it was
/// recorded, or with `positions` inside `{"position":N,"record":…}` (the record's text is
/// already JSON, so it is embedded, not parsed again).
fn print_events(
    data_dir: &std::path::Path,
    account: Option<&str>,
    from: i64,
    positions: bool,
) -> anyhow::Result<()> {
    let dir = data_dir.join("events");
    anyhow::ensure!(
        dir.is_dir(),
        "{} holds no audit event log (no events/ directory)",
        data_dir.display()
    );
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = None;
    palisade_store::read_events(&dir, |seq, row| {
        if seq < from || account.is_some_and(|a| a != row.account_id) {
            return true;
        }
        let written = if positions {
            writeln!(out, "{{\"position\":{seq},\"record\":{}}}", row.record)
        } else {
            writeln!(out, "{}", row.record)
        };
        match written {
            Ok(()) => true,
            Err(e) => {
                // A closed pipe (`| head`) ends the listing; other errors are reported.
                failed = Some(e);
                false
            }
        }
    })
    .with_context(|| format!("reading {}", dir.display()))?;
    match failed {
        Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => {
            let _ = out.flush();
            Ok(())
        }
    }
}

/// Writes a command's output to standard output; returns the exit status when it cannot be
/// written. A closed pipe (`| head`) ends the output quietly with `status_if_closed`, as ripgrep
/// does; any other error is reported and is status 2.
fn print_output(
    command: &str,
    status_if_closed: i32,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Option<i32> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => None,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Some(status_if_closed),
        Err(e) => {
            eprintln!("{command}: cannot write output: {e}");
            Some(2)
        }
    }
}

/// Runs a `palisade policy` command; returns the exit status (2 when the input cannot be read
/// or an argument is wrong, as in scan and audit validate).
fn policy(command: PolicyCommand) -> i32 {
    let read = |file: &std::path::Path, command: &str| {
        read_input(file).map_err(|e| {
            eprintln!("palisade policy {command}: {e:#}");
            2
        })
    };
    match command {
        PolicyCommand::Simulate { file } => {
            let input = match read(&file, "simulate") {
                Ok(text) => text,
                Err(code) => return code,
            };
            match palisade_policy::simulate::simulate_cases(&input) {
                Ok(results) => print_output("palisade policy simulate", 0, |out| {
                    results.iter().try_for_each(|r| writeln!(out, "{r}"))
                })
                .unwrap_or(0),
                Err(e) => {
                    eprintln!("palisade policy simulate: {e}");
                    2
                }
            }
        }
        PolicyCommand::Validate { file, kind, format } => {
            let kind: palisade_policy::PolicyKind = match kind.parse() {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("palisade policy validate: {e}");
                    return 2;
                }
            };
            let input = match read(&file, "validate") {
                Ok(text) => text,
                Err(code) => return code,
            };
            let findings = palisade_policy::lint::validate_policy(&input, kind);
            let text = if format == "json" {
                format!("{}\n", palisade_policy::lint::findings_to_json(&findings))
            } else {
                palisade_policy::lint::render_table(&findings)
            };
            let code = i32::from(palisade_policy::lint::has_errors(&findings));
            print_output("palisade policy validate", code, |out| {
                out.write_all(text.as_bytes())
            })
            .unwrap_or(code)
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PALISADE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in a log file or journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // A typo here would silently create another account, or a Region no client names.
    if args.account_id.len() != 12 || !args.account_id.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!(
            "invalid --account-id {:?}: an account id is 12 digits",
            args.account_id
        );
    }
    let region_ok = palisade_server::auth::region_partition(&args.region).is_some();
    if !region_ok {
        anyhow::bail!(
            "invalid --region {:?}: not an AWS Region name, such as us-east-1 or eu-west-3",
            args.region
        );
    }
    if let Some(partition) = palisade_server::auth::region_partition(&args.region)
        .filter(|p| *p != palisade_server::auth::SERVED_PARTITION)
    {
        anyhow::bail!(
            "invalid --region {:?}: it is in the {partition} partition, and palisade serves the {} partition's Regions only (its ARNs begin arn:{}:)",
            args.region,
            palisade_server::auth::SERVED_PARTITION,
            palisade_server::auth::SERVED_PARTITION
        );
    }
    let tls = match (args.tls_cert, args.tls_key, args.tls_self_signed) {
        (Some(cert), Some(key), _) => TlsMode::Files { cert, key },
        (_, _, true) => TlsMode::SelfSigned,
        _ => TlsMode::Off,
    };
    let data_dir_for_trails = args.data_dir.clone();
    // An issuer URL on 0.0.0.0 names no host an external service can reach.
    let unreachable_issuer = args.public_url.is_none() && args.listen.ip().is_unspecified();
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
        max_connections_per_ip: args.max_connections_per_ip,
        max_inflight_body_bytes: args.max_inflight_body_bytes.max(args.max_body_bytes),
        idle_timeout_secs: args.idle_timeout,
        root_access_key_id: std::env::var("PALISADE_ROOT_ACCESS_KEY_ID").ok(),
        root_secret_access_key: std::env::var("PALISADE_ROOT_SECRET_ACCESS_KEY")
            .ok()
            .map(palisade_server::config::Redacted),
        kek_file: args.kek_file,
        kek_env: std::env::var("PALISADE_KEK")
            .ok()
            .map(palisade_server::config::Redacted),
        enforcement: args
            .enforcement
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?,
        rotation_webhooks: args.rotation_webhook,
        trail_dir: args
            .trail_dir
            .unwrap_or_else(|| data_dir_for_trails.join("trails")),
        trail_delivery_interval: std::time::Duration::from_secs(args.trail_delivery_seconds),
        trail_digest_interval: std::time::Duration::from_secs(args.trail_digest_seconds),
        kms_task_interval: std::time::Duration::from_secs(args.kms_task_seconds),
        audit_fail_closed: args.audit_fail_closed.unwrap_or(!args.dev),
        audit_enabled: !args.no_audit_benchmark_only,
        audit_segment_bytes: args.audit_segment_bytes,
        public_url: args.public_url.unwrap_or_default(),
    };
    if args.no_audit_benchmark_only {
        eprintln!("WARNING: auditing is off (--no-audit-benchmark-only): nothing is recorded");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        #[cfg(unix)]
        let _file_size_signal = survive_file_size_limit();
        #[cfg(unix)]
        raise_open_file_limit(config.max_connections);
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
            Some(Bootstrap::Withheld(path)) => {
                tracing::warn!(
                    path = %path.display(),
                    "the root user's access keys are not in the credentials file and no new one was made: \
                     use the key you kept, or set PALISADE_ROOT_ACCESS_KEY_ID and PALISADE_ROOT_SECRET_ACCESS_KEY"
                )
            }
            Some(Bootstrap::Existing(path)) => {
                tracing::info!(path = %path.display(), "root credentials are in the credentials file")
            }
            None => tracing::warn!("--dev: any credentials are accepted and nothing is authorized"),
        }
        let url = server.endpoint_url();
        if unreachable_issuer {
            tracing::warn!(
                endpoint = %url,
                "listening on every address without --public-url: outbound federation issuers \
                 (GetWebIdentityToken) will name {url}, which external services cannot reach"
            );
        }
        let enforcement = if dev { "off" } else { server.enforcement() };
        if !dev && enforcement != "enforce" {
            tracing::warn!(
                enforcement,
                "--enforcement {enforcement}: requests the policies deny are not refused"
            );
        }
        tracing::info!(endpoint = %url, mode = if dev { "dev" } else { "strict" }, enforcement, "palisade is serving");
        // The line tests and scripts wait for; stdout, unlike the log.
        println!("palisade listening on {url}");
        server.serve(shutdown_signal()).await;
        tracing::info!("stopped");
        Ok(())
    })
}

/// A file-size limit (`ulimit -f`) makes a write past it raise SIGXFSZ, whose default action
/// ends the process without a word (bug: the server died when its event log outgrew the limit,
/// and again at each restart, before it listened). Listening for the signal leaves the write
/// to fail with EFBIG instead, which the store reports as it does a full disk, and fail-closed
/// mode answers 503. A handler once registered stays for the process's life; the stream is
/// kept anyway, never read (the signals coalesce).
#[cfg(unix)]
fn survive_file_size_limit() -> Option<tokio::signal::unix::Signal> {
    let kind = tokio::signal::unix::SignalKind::from_raw(rustix::process::Signal::XFSZ.as_raw());
    match tokio::signal::unix::signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot catch SIGXFSZ: a file-size limit (ulimit -f) will end the server when a file outgrows it");
            None
        }
    }
}

/// Raises the soft limit of open files to the hard one, as a server holding thousands of
/// connections must (bug: with the usual soft limit of 1,024 below `--max-connections`, clients
/// used up the descriptors, and the event log could not start its next segment, refusing every
/// request with 503). Warns when even the hard limit leaves too few.
#[cfg(unix)]
fn raise_open_file_limit(max_connections: usize) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // Descriptors beyond connections: the store, the event log's segments, trail files, TLS
    // material, outbound calls.
    const SPARE: u64 = 256;
    let limit = getrlimit(Resource::Nofile);
    // An unlimited hard limit is still capped by the kernel (fs.nr_open, 1,048,576 by default).
    let hard = limit.maximum.unwrap_or(1 << 20);
    let mut soft = limit.current.unwrap_or(hard);
    if soft < hard {
        match setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: limit.maximum,
            },
        ) {
            Ok(()) => soft = hard,
            Err(e) => tracing::debug!(error = %e, soft, hard, "cannot raise the open-file limit"),
        }
    }
    let needed = (max_connections as u64).saturating_add(SPARE);
    if soft < needed {
        tracing::warn!(
            limit = soft,
            max_connections,
            "the open-file limit ({soft}) is below --max-connections ({max_connections}) plus {SPARE} for the store: \
             once clients hold that many connections new ones wait, and the event log may be unable to start a segment; \
             raise the limit (ulimit -n, LimitNOFILE=) or lower --max-connections"
        );
    }
}

/// On SIGINT or SIGTERM, removes the temporary output of `mask` or `unmask` and exits with
/// 128 + the signal's number. Without this the signal ended the process before the temporary
/// file's removal on drop, leaving a hidden `.palisade-mask-*.tmp` with partial output (clear
/// values, for unmask) beside the destination. The handlers are registered before this
/// returns, so no signal falls between.
#[cfg(unix)]
fn remove_output_on_signal(command: &'static str) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    else {
        eprintln!(
            "palisade {command}: cannot listen for signals; an interrupted run may leave its temporary output"
        );
        return;
    };
    let listeners = {
        let _entered = runtime.enter();
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    let (Ok(mut interrupt), Ok(mut terminate)) = listeners else {
        eprintln!(
            "palisade {command}: cannot listen for signals; an interrupted run may leave its temporary output"
        );
        return;
    };
    std::thread::spawn(move || {
        let status = runtime.block_on(async {
            tokio::select! {
                _ = interrupt.recv() => 130,
                _ = terminate.recv() => 143,
            }
        });
        if palisade_masking::cli::remove_pending_output() {
            eprintln!("palisade {command}: interrupted; the output was not written");
        } else {
            eprintln!("palisade {command}: interrupted");
        }
        std::process::exit(status);
    });
}

#[cfg(not(unix))]
fn remove_output_on_signal(_command: &'static str) {}

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
