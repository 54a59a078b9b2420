//! Short-lived caches that keep token validation off the database: what a (user, scope)
//! resolves to, and the revocation list. Writes in this process clear them at once; other
//! processes (split mode) see changes after `revocation_cache_secs`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use identity_model::{ApplicationCredential, ResolvedScope, RevocationEvent, Scope};

use crate::catalog::CatalogEntry;

type ScopeKey = (String, Scope, Option<String>);

struct Inner {
    scopes: HashMap<ScopeKey, Arc<ResolvedScope>>,
    revocations: Option<Arc<Vec<RevocationEvent>>>,
    catalog: Option<Arc<Vec<CatalogEntry>>>,
    app_creds: HashMap<String, Arc<ApplicationCredential>>,
    born: Instant,
}

/// The caches of one identity service instance.
pub struct Caches {
    ttl: Duration,
    inner: RwLock<Inner>,
}

const MAX_SCOPES: usize = 50_000;

impl Caches {
    pub fn new(ttl_secs: u64) -> Self {
        Caches {
            ttl: Duration::from_secs(ttl_secs),
            inner: RwLock::new(Inner {
                scopes: HashMap::new(),
                revocations: None,
                catalog: None,
                app_creds: HashMap::new(),
                born: Instant::now(),
            }),
        }
    }

    fn fresh(&self, inner: &Inner) -> bool {
        inner.born.elapsed() < self.ttl
    }

    pub(crate) fn scope(&self, key: &ScopeKey) -> Option<Arc<ResolvedScope>> {
        let inner = self.inner.read().ok()?;
        if !self.fresh(&inner) {
            return None;
        }
        inner.scopes.get(key).cloned()
    }

    pub(crate) fn put_scope(&self, key: ScopeKey, value: Arc<ResolvedScope>) {
        if let Ok(mut inner) = self.inner.write() {
            self.expire(&mut inner);
            if inner.scopes.len() >= MAX_SCOPES {
                inner.scopes.clear();
            }
            inner.scopes.insert(key, value);
        }
    }

    pub(crate) fn revocations(&self) -> Option<Arc<Vec<RevocationEvent>>> {
        let inner = self.inner.read().ok()?;
        if !self.fresh(&inner) {
            return None;
        }
        inner.revocations.clone()
    }

    pub(crate) fn put_revocations(&self, events: Arc<Vec<RevocationEvent>>) {
        if let Ok(mut inner) = self.inner.write() {
            self.expire(&mut inner);
            inner.revocations = Some(events);
        }
    }

    /// The unsubstituted catalog (services with their endpoints), if cached.
    pub(crate) fn catalog(&self) -> Option<Arc<Vec<CatalogEntry>>> {
        let inner = self.inner.read().ok()?;
        if !self.fresh(&inner) {
            return None;
        }
        inner.catalog.clone()
    }

    pub(crate) fn put_catalog(&self, entries: Arc<Vec<CatalogEntry>>) {
        if let Ok(mut inner) = self.inner.write() {
            self.expire(&mut inner);
            inner.catalog = Some(entries);
        }
    }

    /// An application credential by id, if cached (deleting one clears the caches).
    pub(crate) fn app_cred(&self, id: &str) -> Option<Arc<ApplicationCredential>> {
        let inner = self.inner.read().ok()?;
        if !self.fresh(&inner) {
            return None;
        }
        inner.app_creds.get(id).cloned()
    }

    pub(crate) fn put_app_cred(&self, ac: Arc<ApplicationCredential>) {
        if let Ok(mut inner) = self.inner.write() {
            self.expire(&mut inner);
            if inner.app_creds.len() >= MAX_SCOPES {
                inner.app_creds.clear();
            }
            inner.app_creds.insert(ac.id.clone(), ac);
        }
    }

    fn expire(&self, inner: &mut Inner) {
        if !self.fresh(inner) {
            inner.scopes.clear();
            inner.revocations = None;
            inner.catalog = None;
            inner.app_creds.clear();
            inner.born = Instant::now();
        }
    }

    /// Drops everything.
    pub fn invalidate(&self) {
        if let Ok(mut inner) = self.inner.write() {
            inner.scopes.clear();
            inner.revocations = None;
            inner.catalog = None;
            inner.app_creds.clear();
            inner.born = Instant::now();
        }
    }
}
