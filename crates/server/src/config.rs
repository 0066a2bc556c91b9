//! Server configuration, as given on the command line.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The account created on first start unless configured otherwise.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// The region assumed when a request carries no credential scope.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The largest request body accepted by default. The largest payloads of the served operations
/// are IAM policy documents inside `SimulateCustomPolicy` and `GetAccountAuthorizationDetails`-style
/// batches, and KMS `ImportKeyMaterial`; all fit well within 1 MiB once form- or base64-encoded.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest request head (request line and headers) accepted by default.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Default of `--idle-timeout`: a client that connects and sends nothing is let go after this.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// How many connections are served at once by default; further ones wait in the accept queue.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// How many of those one client address may hold by default: one client that opens connections
/// and sends nothing cannot take every slot (slowloris).
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 512;
/// How many bytes of request bodies are held in memory at once, across all connections, by
/// default: bodies are read (and held until their request ends) before the signature is
/// checked, and HTTP/2 lets one connection send many at once.
pub const DEFAULT_MAX_INFLIGHT_BODY_BYTES: usize = 64 * 1024 * 1024;

/// How the server speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain HTTP.
    #[default]
    Off,
    /// A certificate chain and private key in PEM files.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
    /// A certificate for `localhost` and `127.0.0.1` generated at start and written to
    /// `<data-dir>/tls/cert.pem` so that clients can trust it.
    SelfSigned,
}

/// Whether authorization refuses what the policies do not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    /// Every request is authorized by the policy engine and denied requests are refused (the
    /// default in strict mode).
    #[default]
    Enforce,
    /// Every request is authorized, but a denial is only logged and recorded in the audit event
    /// (`additionalEventData.wouldBeDenied`); the request proceeds. For adopting Palisade
    /// without breaking existing clients.
    Audit,
    /// No authorization (`--dev`).
    Off,
}

impl Enforcement {
    /// The flag's value: `enforce`, `audit` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Enforce => "enforce",
            Enforcement::Audit => "audit",
            Enforcement::Off => "off",
        }
    }
}

impl std::str::FromStr for Enforcement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enforce" => Ok(Self::Enforce),
            "audit" => Ok(Self::Audit),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "unknown enforcement {other:?}: expected enforce, audit or off"
            )),
        }
    }
}

/// A secret setting (the root secret access key, the KEK): its `Debug` never shows it, so that
/// printing a [`Config`] cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Everything `palisade serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The data directory (store, credentials file, root key).
    pub data_dir: PathBuf,
    /// Accept any credentials and skip authorization (local testing only).
    pub dev: bool,
    /// The region of requests that carry no credential scope.
    pub region: String,
    /// The account whose root user is created on first start.
    pub account_id: String,
    /// TLS settings.
    pub tls: TlsMode,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// The largest request head accepted.
    pub max_header_bytes: usize,
    /// How many connections are served at once.
    pub max_connections: usize,
    /// How many connections one client address may hold at once.
    pub max_connections_per_ip: usize,
    /// How many bytes of request bodies are held at once, across all connections.
    pub max_inflight_body_bytes: usize,
    /// Seconds a connection with no request under way may move no byte before it is closed.
    pub idle_timeout_secs: u64,
    /// Root access key id given in the environment, replacing the generated one.
    pub root_access_key_id: Option<String>,
    /// Root secret access key given in the environment.
    pub root_secret_access_key: Option<Redacted>,
    /// A file holding the key-encryption key.
    pub kek_file: Option<PathBuf>,
    /// The key-encryption key given in the environment (base64).
    pub kek_env: Option<Redacted>,
    /// Whether denials are enforced or only audited; `--dev` turns authorization off whatever
    /// this says.
    pub enforcement: Enforcement,
    /// Secrets Manager rotation webhooks: a `RotationLambdaARN` whose function name is the
    /// first member rotates through the URL in the second (`--rotation-webhook NAME=URL`).
    pub rotation_webhooks: Vec<(String, String)>,
    /// Where trails deliver: `<trail_dir>/<bucket>/<prefix>/AWSLogs/…`.
    pub trail_dir: PathBuf,
    /// How often logging trails deliver new events.
    pub trail_delivery_interval: std::time::Duration,
    /// How often trails with log-file validation deliver a digest.
    pub trail_digest_interval: std::time::Duration,
    /// How often KMS's background task deletes keys, expires imported material and rotates.
    pub kms_task_interval: std::time::Duration,
    /// Refuse requests while audit events cannot be written (the default in strict mode).
    pub audit_fail_closed: bool,
    /// Whether requests are audited at all: off only to measure what auditing costs.
    pub audit_enabled: bool,
    /// Size at which the audit event log starts a new segment file.
    pub audit_segment_bytes: u64,
    /// The URL external services reach this server at, under which each account's outbound
    /// federation issuer lives. Empty: the address the server listens on, set at start.
    pub public_url: String,
}

impl Config {
    /// A configuration with the defaults of `palisade serve` for the given data directory.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4566)),
            trail_dir: data_dir.join("trails"),
            data_dir,
            dev: false,
            region: DEFAULT_REGION.to_owned(),
            account_id: DEFAULT_ACCOUNT.to_owned(),
            tls: TlsMode::Off,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            max_inflight_body_bytes: DEFAULT_MAX_INFLIGHT_BODY_BYTES,
            idle_timeout_secs: DEFAULT_IDLE_TIMEOUT_SECS,
            root_access_key_id: None,
            root_secret_access_key: None,
            kek_file: None,
            kek_env: None,
            enforcement: Enforcement::Enforce,
            rotation_webhooks: Vec::new(),
            trail_delivery_interval: std::time::Duration::from_secs(300),
            trail_digest_interval: std::time::Duration::from_secs(3600),
            kms_task_interval: std::time::Duration::from_secs(60),
            audit_fail_closed: true,
            audit_enabled: true,
            audit_segment_bytes: palisade_store::StoreOptions::default().event_segment_bytes,
            public_url: String::new(),
        }
    }
}
