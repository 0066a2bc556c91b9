//! The state shared by every request.

use std::sync::Arc;

use palisade_seal::Sealer;
use palisade_store::Store;

use crate::audit::AuditSink;
use crate::authz::Authorizer;
use crate::config::Config;
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
    /// Signature verification with its signing-key cache.
    pub verifier: palisade_sigv4::Verifier,
    /// Where audit events go.
    pub audit: AuditSink,
    /// The authorization step.
    pub authorizer: Box<dyn Authorizer>,
}
