//! The state shared by every request.

use std::sync::Arc;

use palisade_seal::Sealer;
use palisade_store::Store;

use crate::audit::{AuditSink, AuditWriter};
use crate::authz::{Authorizer, PolicyAuthorizer, ResourcePolicies, RoleTrust};
use crate::config::{Config, Enforcement};
use crate::iam::Iam;
use crate::identity::KeyRing;

/// Shared by all connections.
#[derive(Debug)]
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The root key, unsealed.
    pub sealer: Arc<Sealer>,
    /// Access keys and their principals.
    pub keys: KeyRing,
    /// IAM's state (users, groups, roles, policies), in memory over the store.
    pub iam: Iam,
    /// Signature verification with its signing-key cache.
    pub verifier: palisade_sigv4::Verifier,
    /// Where audit events go.
    pub audit: AuditSink,
    /// The authorization step.
    pub authorizer: Box<dyn Authorizer>,
    /// Resource-based policies, by service signing name.
    pub resource_policies: ResourcePolicies,
    /// KMS's keys, aliases and grants, in memory over the store.
    pub kms: crate::services::kms::Kms,
    /// CloudTrail's trails.
    pub trails: crate::services::cloudtrail::Trails,
    /// Secrets Manager's state, in memory over the store.
    pub secrets: crate::services::secretsmanager::Secrets,
    /// OpenID Connect providers' signing keys, as last fetched.
    pub oidc_keys: crate::oidc::KeyCache,
    /// Each account's outbound identity federation issuer and signing keys.
    pub outbound: crate::outbound::Outbound,
    /// Room for request bodies in memory, in bytes (`Config::max_inflight_body_bytes`).
    pub body_budget: Arc<tokio::sync::Semaphore>,
    /// Which events of requests refused before their caller was known are recorded.
    pub unauthenticated_events: crate::audit::UnauthenticatedEvents,
}

impl AppState {
    /// The state over a store and root key, with its audit writer task started. The IAM state
    /// starts empty: call [`Iam::load`] on `iam` to read it from the store.
    pub fn new(config: Config, store: Arc<dyn Store>, sealer: Arc<Sealer>) -> (Self, AuditWriter) {
        let (audit, writer) = AuditSink::start(store.clone());
        let keys = KeyRing::new(store.clone(), sealer.clone());
        let enforcement = if config.dev {
            Enforcement::Off
        } else {
            config.enforcement
        };
        let mut resource_policies: ResourcePolicies = ResourcePolicies::new();
        resource_policies.insert("sts", Arc::new(RoleTrust));
        resource_policies.insert("kms", Arc::new(crate::services::kms::authz::KeyPolicies));
        resource_policies.insert(
            "secretsmanager",
            Arc::new(crate::services::secretsmanager::authz::SecretPolicies),
        );
        // Never below one largest body, which must always be able to arrive.
        let budget = config
            .max_inflight_body_bytes
            .max(config.max_body_bytes)
            .min(tokio::sync::Semaphore::MAX_PERMITS);
        let state = Self {
            iam: Iam::new(store.clone()),
            kms: crate::services::kms::Kms::new(store.clone(), sealer.clone()),
            trails: crate::services::cloudtrail::Trails::default(),
            secrets: crate::services::secretsmanager::Secrets::new(store.clone()),
            config,
            store,
            sealer,
            keys,
            verifier: palisade_sigv4::Verifier::default(),
            audit,
            authorizer: Box::new(PolicyAuthorizer { enforcement }),
            resource_policies,
            oidc_keys: crate::oidc::KeyCache::default(),
            outbound: crate::outbound::Outbound::default(),
            body_budget: Arc::new(tokio::sync::Semaphore::new(budget)),
            unauthenticated_events: crate::audit::UnauthenticatedEvents::default(),
        };
        (state, writer)
    }
}

/// A `--dev` state over a fresh store in `dir`, for the services' in-process tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) async fn test_app(dir: &std::path::Path) -> AppState {
    let store: Arc<dyn Store> = Arc::new(palisade_store::SqliteStore::open(dir).await.unwrap());
    let sealer = Arc::new(Sealer::new(&[9u8; 32]).unwrap());
    let mut config = Config::new(dir.to_path_buf());
    config.dev = true;
    AppState::new(config, store, sealer).0
}
