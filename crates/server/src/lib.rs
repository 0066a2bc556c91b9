//! The AWS protocol gateway: one port that serves every Palisade service over the real AWS wire
//! protocols.
//!
//! A request's path through this crate (see `ARCHITECTURE.md`):
//!
//! 1. [`gateway`] accepts the connection (TLS or not, within the connection limit) and hands each
//!    request to the admin router (`/_palisade/*`, `/moto-api/*`) or to [`pipeline::handle`];
//!    [`cors`] answers browsers' preflights and marks responses to web pages readable.
//! 2. [`pipeline`] runs decode → authenticate → authorize → handle → audit → encode:
//!    [`route`] finds the service and operation, [`auth`] checks the SigV4 signature against
//!    the key in [`identity`], [`authz`] decides, [`services`] handles, [`audit`] makes the event
//!    durable, and [`protocol`] writes awsQuery XML or awsJson.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod config;
pub mod context;
pub mod cors;
pub mod error;
pub mod gateway;
pub mod iam;
pub mod identity;
pub mod mfa;
pub mod oidc;
pub mod outbound;
pub mod password;
pub mod pipeline;
pub mod protocol;
pub mod route;
pub mod saml;
pub mod services;
pub mod session;
pub mod state;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use palisade_seal::{KekSource, Sealer};
use palisade_store::{SqliteStore, Store, StoreOptions};
use tokio::net::TcpListener;

pub use config::{Config, Enforcement, TlsMode};
pub use identity::Bootstrap;

use crate::audit::AuditWriter;
use crate::state::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The root key could not be loaded.
    #[error(transparent)]
    Seal(#[from] palisade_seal::SealError),
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] palisade_store::StoreError),
    /// The root credentials could not be created.
    #[error(transparent)]
    Keys(#[from] identity::KeyError),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Only one of the root key variables was set.
    #[error("PALISADE_ROOT_ACCESS_KEY_ID and PALISADE_ROOT_SECRET_ACCESS_KEY must be set together")]
    HalfRootKey,
    /// The stored outbound federation issuers cannot be read back (their keys do not open
    /// under this root key, or a record is damaged).
    #[error("cannot load the outbound federation issuers: {0}")]
    Outbound(String),
    /// `--dev` on a data directory a strict server has run on.
    #[error(
        "{0} was created in strict mode (a strict server has run on it): --dev would let any request reset it; use another --data-dir for --dev"
    )]
    DevOnStrictData(String),
    /// Another server is running on the data directory.
    #[error(
        "another palisade server is using the data directory {0} (it holds the directory's lock)"
    )]
    Locked(String),
}

/// A started server, bound and ready to serve.
pub struct Server {
    state: Arc<AppState>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    writer: AuditWriter,
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    /// What happened to the root credentials (strict mode).
    pub bootstrap: Option<Bootstrap>,
    /// Where the root key came from.
    pub kek_source: KekSource,
    /// The data directory's lock, held while the server lives.
    _lock: std::fs::File,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .field("bootstrap", &self.bootstrap)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Prepares the data directory, the root key, the store and the root credentials, and binds
    /// the listener.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        // Given TLS files need nothing of the data directory: checked before it is created.
        let given_tls = tls::given_config(&config.tls)?;
        let data_dir = config.data_dir.clone();
        let created = !data_dir.exists();
        let started = Self::start_with(config, given_tls).await;
        if started.is_err() && created {
            // A start that fails leaves no trace (bug: an empty data directory was left
            // behind); `remove_dir` removes nothing that was written into it.
            let _ = std::fs::remove_dir(&data_dir);
        }
        started
    }

    async fn start_with(
        mut config: Config,
        given_tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<Self, StartError> {
        create_private_dir(&config.data_dir)?;
        // `--dev` lets any request reset the store, audit log included: never on a data
        // directory a strict server created (and wrote root credentials into). The file
        // stands for stores made before the store's own mark (below).
        if config.dev && config.data_dir.join("credentials").exists() {
            return Err(StartError::DevOnStrictData(
                config.data_dir.display().to_string(),
            ));
        }
        // One server per data directory: two would each keep the store and the event log in
        // memory, overwrite each other's writes and interleave frames in the same segment. The
        // directory itself is locked, not a file in it that an operator could take for a stale
        // lock after a crash and delete (which let a second server in).
        let lock_path = config.data_dir.clone();
        let lock = std::fs::File::open(&lock_path).map_err(|source| StartError::DataDir {
            path: lock_path.display().to_string(),
            source,
        })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StartError::Locked(config.data_dir.display().to_string()));
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StartError::DataDir {
                    path: lock_path.display().to_string(),
                    source,
                });
            }
        }
        // Bound before anything is created in the data directory: a port in use fails the
        // start with nothing left behind.
        let addr = config.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let (kek, kek_source) = palisade_seal::load_kek(
            config.kek_file.as_deref(),
            config.kek_env.as_ref().map(|k| k.0.as_str()),
            &config.data_dir,
        )?;
        let sealer = Arc::new(Sealer::new(&kek)?);
        // Checked before the store is opened (where the record exists): a KEK that is not the
        // data directory's would otherwise start a server that can read none of its keys and
        // seals new ones under the wrong KEK.
        // A key file others may read unseals everything in the data directory for them.
        if let KekSource::File(f) = &kek_source
            && let Ok(meta) = std::fs::metadata(f)
            && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0
        {
            tracing::warn!(
                path = %f,
                "the --kek-file can be read by other users than its owner: chmod 600 it"
            );
        }
        let kek_name = match &kek_source {
            KekSource::File(f) => f.clone(),
            KekSource::Environment => "PALISADE_KEK".to_owned(),
            KekSource::DataDir | KekSource::Generated => {
                config.data_dir.join("kek").display().to_string()
            }
        };
        let kek_check = palisade_seal::verify_kek(&sealer, &config.data_dir, &kek_name)?;
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open_with(
                &config.data_dir,
                &StoreOptions {
                    event_segment_bytes: config.audit_segment_bytes,
                },
            )
            .await?,
        );
        if kek_check == palisade_seal::KekCheck::Absent {
            // A data directory without its check record (made before the record existed, or
            // restored without it) proves the KEK by a sealed record of its own first: an
            // access key, else (a `--dev` data directory, or one whose keys were all deleted)
            // a KMS key's material, else a trail signing key. The record itself is written
            // once the start has opened everything else it holds (the TLS key among them).
            let opens = match store.all_access_keys().await?.first() {
                Some(k) => Some(
                    sealer
                        .open(
                            palisade_seal::Purpose::AccessKeySecret,
                            &k.access_key_id,
                            &k.sealed_secret,
                        )
                        .is_ok(),
                ),
                None => match services::kms::state::kek_opens_a_key(store.as_ref(), &sealer).await?
                {
                    Some(opens) => Some(opens),
                    None => {
                        services::cloudtrail::delivery::kek_opens_a_signing_key(
                            store.as_ref(),
                            &sealer,
                        )
                        .await?
                    }
                },
            };
            if opens == Some(false) {
                return Err(palisade_seal::wrong_kek(&kek_name, &config.data_dir).into());
            }
        }
        // The store says whether a strict server ever ran on it: the credentials file alone
        // is no proof, as an operator may delete it once the key is kept elsewhere (bug:
        // `--dev` then started on the strict store and let any request reset it).
        let strict_marked = !store.documents(STRICT_MARKER).await?.is_empty();
        if config.dev && strict_marked {
            return Err(StartError::DevOnStrictData(
                config.data_dir.display().to_string(),
            ));
        }
        let root_key = match (&config.root_access_key_id, &config.root_secret_access_key) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.0.clone())),
            (None, None) => None,
            _ => return Err(StartError::HalfRootKey),
        };
        let tls = match given_tls {
            Some(c) => Some(c),
            None => tls::server_config(&config.tls, &config.data_dir, &sealer)?,
        }
        .map(tokio_rustls::TlsAcceptor::from);
        // A restore started without its `--account-id` makes a new account beside the one it
        // holds and points the credentials file at it: said, since the old account's users,
        // keys and secrets then seem gone.
        let accounts = store.accounts().await?;
        if !accounts.is_empty() && !accounts.contains(&config.account_id) {
            tracing::warn!(
                account = %config.account_id,
                existing = %accounts.join(", "),
                "the data directory holds other accounts than --account-id names: a new account is \
                 created (give --account-id to serve an existing one)"
            );
        }
        let bootstrap = if config.dev {
            store.ensure_account(&config.account_id).await?;
            None
        } else {
            let keys = identity::KeyRing::new(store.clone(), sealer.clone());
            Some(
                identity::bootstrap_root(
                    store.as_ref(),
                    &keys,
                    &config.data_dir,
                    &config.account_id,
                    root_key.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                )
                .await?,
            )
        };
        // Marked once the strict start has got this far (a start refused earlier, such as for
        // half a root key, leaves the store as `--dev` may still use it).
        if !config.dev && !strict_marked {
            store
                .apply_documents(&[palisade_store::DocumentChange::Put(
                    palisade_store::Document {
                        collection: STRICT_MARKER.to_owned(),
                        key: "strict".to_owned(),
                        body: Vec::new(),
                    },
                )])
                .await?;
        }
        if config.public_url.is_empty() {
            config.public_url = gateway::endpoint_url(local_addr, tls.is_some());
        }
        let (state, writer) = AppState::new(config, store, sealer);
        state.iam.load().await?;
        state.kms.load().await?;
        state.trails.load(state.store.as_ref()).await?;
        state.secrets.load().await?;
        state
            .outbound
            .load(state.store.as_ref(), &state.sealer)
            .await
            .map_err(|e| StartError::Outbound(e.to_string()))?;
        if kek_check == palisade_seal::KekCheck::Absent {
            palisade_seal::write_kek_check(&state.sealer, &state.config.data_dir)?;
        }
        let state = Arc::new(state);
        services::secretsmanager::rotation::start(&state);
        services::kms::start(&state);
        services::cloudtrail::delivery::start(&state);
        Ok(Self {
            state,
            listener,
            tls,
            writer,
            local_addr,
            bootstrap,
            kek_source,
            _lock: lock,
        })
    }

    /// What authorization does: `enforce`, `audit` or `off`.
    pub fn enforcement(&self) -> &'static str {
        if self.state.config.dev {
            "off"
        } else {
            self.state.config.enforcement.as_str()
        }
    }

    /// The URL clients should use.
    pub fn endpoint_url(&self) -> String {
        gateway::endpoint_url(self.local_addr, self.tls.is_some())
    }

    /// Serves until `shutdown` resolves; then drains connections and flushes the audit queue.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Self {
            state,
            listener,
            tls,
            writer,
            ..
        } = self;
        gateway::serve(state.clone(), listener, tls, shutdown).await;
        if tokio::time::timeout(std::time::Duration::from_secs(5), state.keys.flush())
            .await
            .is_err()
        {
            tracing::warn!("access keys' last uses were not all written within 5s");
        }
        // The last AuditSink goes with the state; then the writer drains and stops.
        drop(state);
        if tokio::time::timeout(std::time::Duration::from_secs(10), writer.finish())
            .await
            .is_err()
        {
            tracing::warn!("audit writer did not drain within 10s");
        }
    }
}

/// The store collection whose one document records that a strict server ran on the store.
const STRICT_MARKER: &str = "server.strict";

fn create_private_dir(path: &std::path::Path) -> Result<(), StartError> {
    let wrap = |source| StartError::DataDir {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(path).map_err(wrap)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(wrap)?;
    }
    Ok(())
}
