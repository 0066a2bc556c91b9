//! The state shared by every request.

use std::sync::Arc;

use palisade_seal::Sealer;
use palisade_store::Store;

use crate::audit::{AuditSink, AuditWriter};
use crate::authz::{Authorizer, RootOnly};
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

impl AppState {
    /// The state over a store and root key, with its audit writer task started.
    pub fn new(config: Config, store: Arc<dyn Store>, sealer: Arc<Sealer>) -> (Self, AuditWriter) {
        let (audit, writer) = AuditSink::start(store.clone());
        let keys = KeyRing::new(store.clone(), sealer.clone());
        let state = Self {
            config,
            store,
            sealer,
            keys,
            verifier: palisade_sigv4::Verifier::default(),
            audit,
            authorizer: Box::new(RootOnly),
        };
        (state, writer)
    }
}
