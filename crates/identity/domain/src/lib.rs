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
    key_fingerprint: Arc<std::sync::Mutex<KeyWatch>>,
}

/// What the key repository looked like at the last (re)load.
#[derive(Default)]
struct KeyWatch {
    fingerprint: Vec<(String, u64, u128)>,
    checked: Option<std::time::Instant>,
}

impl Identity {
    /// Builds the service over an already migrated store and a Fernet key repository (set up
    /// with staged and primary keys if empty).
    pub fn new(store: Store, cfg: IdentityConfig, keys: KeyRepository) -> Result<Identity> {
        keys.setup()?;
        let tokens = TokenProvider::new(keys)?;
        let caches = Caches::new(cfg.revocation_cache_secs);
        let watch = KeyWatch {
            fingerprint: key_fingerprint(tokens.key_repository().path()),
            checked: None,
        };
        Ok(Identity {
            store,
            cfg: Arc::new(cfg),
            tokens: Arc::new(tokens),
            caches: Arc::new(caches),
            key_fingerprint: Arc::new(std::sync::Mutex::new(watch)),
        })
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

    /// Reloads the Fernet keys if the repository changed on disk (after `ferrostack admin
    /// fernet rotate`, possibly by another process). Checks at most once per `min_interval`.
    /// Returns whether keys were reloaded.
    pub fn reload_keys_if_changed(&self, min_interval: std::time::Duration) -> bool {
        let Ok(mut w) = self.key_fingerprint.lock() else {
            return false;
        };
        if w.checked.is_some_and(|t| t.elapsed() < min_interval) {
            return false;
        }
        w.checked = Some(std::time::Instant::now());
        let now = key_fingerprint(self.tokens.key_repository().path());
        if now == w.fingerprint {
            return false;
        }
        match self.tokens.reload() {
            Ok(()) => {
                tracing::info!("fernet key repository changed; keys reloaded");
                w.fingerprint = now;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "fernet key repository changed but could not be loaded; keeping old keys");
                false
            }
        }
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

fn key_fingerprint(dir: &std::path::Path) -> Vec<(String, u64, u128)> {
    let mut out: Vec<(String, u64, u128)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            let mtime = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_nanos();
            Some((e.file_name().to_string_lossy().into_owned(), m.len(), mtime))
        })
        .collect();
    out.sort();
    out
}
