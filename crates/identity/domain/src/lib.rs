//! Identity's rules: who may authenticate and how, what a token resolves to, the life cycle of
//! domains, projects, users, groups, roles, assignments, the catalog and credentials.
//!
//! Uses its own model and store, the token provider and the config section; never HTTP types
//! and never another service's store. Policy is checked by the API layer before calling in.

pub mod application_credential;
pub mod assignment;
pub mod auth;
pub mod bootstrap;
mod cache;
pub mod catalog;
pub mod credential;
pub mod group;
pub mod password;
pub mod project;
pub mod role;
pub mod scope;
pub mod user;

use std::sync::Arc;

use common_config::IdentityConfig;
use common_error::Result;
use identity_db::Store;
use identity_token::{KeyRepository, TokenProvider};

pub use auth::{AuthRequest, IssuedToken, ScopeRequest};
pub use cache::Caches;
pub use identity_db::new_id;

/// The identity service's domain layer. Cheap to clone.
#[derive(Clone)]
pub struct Identity {
    pub(crate) store: Store,
    pub(crate) cfg: Arc<IdentityConfig>,
    pub(crate) tokens: Arc<TokenProvider>,
    pub(crate) caches: Arc<Caches>,
}

impl Identity {
    /// Builds the service over an already migrated store and a Fernet key repository (set up
    /// with staged and primary keys if empty).
    pub fn new(store: Store, cfg: IdentityConfig, keys: KeyRepository) -> Result<Identity> {
        keys.setup()?;
        let tokens = TokenProvider::new(keys)?;
        let caches = Caches::new(cfg.revocation_cache_secs);
        Ok(Identity { store, cfg: Arc::new(cfg), tokens: Arc::new(tokens), caches: Arc::new(caches) })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.cfg
    }

    pub fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    /// Forgets cached scopes and revocations (called after any write that changes what a
    /// token resolves to).
    pub(crate) fn invalidate(&self) {
        self.caches.invalidate();
    }
}

/// The current time in unix seconds.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
