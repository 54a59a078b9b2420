//! Authentication: password, token (rescoping) and application-credential methods; token
//! issue, validation (local: decrypt + cached scope + cached revocation list) and revocation.

use std::sync::Arc;

use common_error::{Error, Result};
use identity_model::{ResolvedScope, RevocationEvent, Scope, DEFAULT_DOMAIN_ID};
use identity_token::{new_audit_id, Scope as TokenScope, TokenPayload};

use crate::{now, password, Identity};

/// A reference to a domain by id or name.
#[derive(Debug, Clone, PartialEq)]
pub enum DomainRef {
    Id(String),
    Name(String),
}

/// A reference to a user by id, or by name within a domain.
#[derive(Debug, Clone, PartialEq)]
pub enum UserRef {
    Id(String),
    Name { name: String, domain: DomainRef },
}

/// One authentication method with its data.
#[derive(Clone, PartialEq)]
pub enum AuthMethod {
    Password {
        user: UserRef,
        password: String,
    },
    Token {
        token: String,
    },
    ApplicationCredential {
        id: Option<String>,
        name: Option<String>,
        user: Option<UserRef>,
        secret: String,
    },
}

impl std::fmt::Debug for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthMethod::Password { user, .. } => write!(f, "Password({user:?})"),
            AuthMethod::Token { .. } => write!(f, "Token"),
            AuthMethod::ApplicationCredential { id, name, .. } => {
                write!(f, "ApplicationCredential({id:?}, {name:?})")
            }
        }
    }
}

/// The scope a client asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ScopeRequest {
    /// No scope given: the user's default project if they hold a role on it, else unscoped.
    #[default]
    Default,
    /// `"scope": "unscoped"` — explicitly unscoped.
    Unscoped,
    Project {
        id: Option<String>,
        name: Option<String>,
        domain: Option<DomainRef>,
    },
    Domain(DomainRef),
    System,
}

/// A parsed `POST /v3/auth/tokens` body.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthRequest {
    pub method: AuthMethod,
    pub scope: ScopeRequest,
}

/// The application credential a token was issued with.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenAppCred {
    pub id: String,
    pub name: String,
    pub restricted: bool,
}

/// A valid token and everything it resolves to.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub id: String,
    pub methods: Vec<String>,
    pub scope: Scope,
    pub resolved: Arc<ResolvedScope>,
    pub audit_ids: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub app_cred: Option<TokenAppCred>,
}

impl Identity {
    /// Authenticates and issues a token.
    pub async fn authenticate(&self, req: &AuthRequest) -> Result<IssuedToken> {
        let unauth = Error::unauthenticated;
        let now = now();
        let (user_id, mut methods, expires_at, audit_ids, app_cred) = match &req.method {
            AuthMethod::Password { user, password } => {
                let uid = self.check_password(user, password).await?;
                (
                    uid,
                    vec!["password".to_string()],
                    now + self.ttl(),
                    vec![new_audit_id()],
                    None,
                )
            }
            AuthMethod::Token { token } => {
                let old = self.validate(token).await?;
                if old.app_cred.is_some() {
                    return Err(Error::forbidden(
                        "Application credential tokens cannot be used to obtain other tokens.",
                    ));
                }
                let mut methods = old.methods.clone();
                if !methods.iter().any(|m| m == "token") {
                    methods.push("token".into());
                }
                let chain = old.audit_ids.last().cloned().unwrap_or_default();
                (
                    old.resolved.user.id.clone(),
                    methods,
                    old.expires_at,
                    vec![new_audit_id(), chain],
                    None,
                )
            }
            AuthMethod::ApplicationCredential {
                id,
                name,
                user,
                secret,
            } => {
                let ac = self
                    .check_app_cred(id.as_deref(), name.as_deref(), user.as_ref(), secret)
                    .await?;
                let exp = match ac.expires_at {
                    Some(e) => (now + self.ttl()).min(e),
                    None => now + self.ttl(),
                };
                let info = TokenAppCred {
                    id: ac.id.clone(),
                    name: ac.name.clone(),
                    restricted: !ac.unrestricted,
                };
                let roles: Vec<String> = ac.roles.iter().map(|r| r.id.clone()).collect();
                (
                    ac.user_id.clone(),
                    vec!["application_credential".into()],
                    exp,
                    vec![new_audit_id()],
                    Some((info, ac.project_id.clone(), roles)),
                )
            }
        };
        methods.dedup();
        let scope = match &app_cred {
            Some((_, project_id, _)) => {
                match &req.scope {
                    ScopeRequest::Default | ScopeRequest::Unscoped => {}
                    ScopeRequest::Project { .. } => {
                        if self.scope_from_request(&user_id, &req.scope).await?
                            != Scope::Project(project_id.clone())
                        {
                            return Err(unauth());
                        }
                    }
                    _ => return Err(unauth()),
                }
                Scope::Project(project_id.clone())
            }
            None => self.scope_from_request(&user_id, &req.scope).await?,
        };
        let app_cred_roles = app_cred
            .as_ref()
            .map(|(i, _, roles)| (i.id.as_str(), roles.as_slice()));
        let resolved = match self.resolve_scope(&user_id, &scope, app_cred_roles).await {
            Ok(r) => r,
            Err(Error::Unauthenticated(_)) if matches!(scope, Scope::Project(_)) => {
                if let Scope::Project(p) = &scope {
                    return Err(Error::Unauthenticated(format!(
                        "User {user_id} has no access to project {p}"
                    )));
                }
                return Err(unauth());
            }
            Err(e) => return Err(e),
        };
        let payload = TokenPayload {
            user_id: user_id.clone(),
            methods: methods.clone(),
            scope: match &scope {
                Scope::Unscoped => TokenScope::Unscoped,
                Scope::Project(p) => TokenScope::Project(p.clone()),
                Scope::Domain(d) => TokenScope::Domain(d.clone()),
                Scope::System => TokenScope::System,
            },
            expires_at,
            audit_ids: audit_ids.clone(),
            app_cred_id: app_cred.as_ref().map(|(i, _, _)| i.id.clone()),
        };
        let id = self.tokens.issue(&payload)?;
        Ok(IssuedToken {
            id,
            methods,
            scope,
            resolved,
            audit_ids,
            issued_at: now,
            expires_at,
            app_cred: app_cred.map(|(i, _, _)| i),
        })
    }

    fn ttl(&self) -> i64 {
        self.cfg.token_expiration_secs as i64
    }

    async fn resolve_domain(&self, d: &DomainRef) -> Result<identity_model::Project> {
        let found = match d {
            DomainRef::Id(id) => self.store.project_get(id).await?.filter(|p| p.is_domain),
            DomainRef::Name(n) => self.store.domain_get_by_name(n).await?,
        };
        found.ok_or_else(Error::unauthenticated)
    }

    /// Checks a password and returns the user id. Every failure is the same 401.
    async fn check_password(&self, user: &UserRef, pw: &str) -> Result<String> {
        let row = match user {
            UserRef::Id(id) => self.store.user_auth_row(id).await?,
            UserRef::Name { name, domain } => match self.resolve_domain(domain).await {
                Ok(d) => self.store.user_auth_row_by_name(&d.id, name).await?,
                Err(_) => None,
            },
        };
        let Some(row) = row else {
            let _ = password::verify(pw, password::dummy_hash()).await;
            return Err(Error::unauthenticated());
        };
        let hash = row
            .password_hash
            .as_deref()
            .unwrap_or(password::dummy_hash());
        let ok = password::verify(pw, hash).await? && row.password_hash.is_some();
        if !ok || !row.user.enabled {
            return Err(Error::unauthenticated());
        }
        if let Some(exp) = row.user.password_expires_at {
            if exp <= now() {
                return Err(Error::Unauthenticated(
                    "The password is expired and needs to be changed.".into(),
                ));
            }
        }
        let domain = self.store.project_get(&row.user.domain_id).await?;
        if !domain.is_some_and(|d| d.enabled) {
            return Err(Error::unauthenticated());
        }
        Ok(row.user.id)
    }

    /// Turns a scope request into a scope for `user_id`.
    async fn scope_from_request(&self, user_id: &str, req: &ScopeRequest) -> Result<Scope> {
        let unauth = Error::unauthenticated;
        Ok(match req {
            ScopeRequest::Unscoped => Scope::Unscoped,
            ScopeRequest::Default => {
                let user = self.store.user_get(user_id).await?.ok_or_else(unauth)?;
                match user.default_project_id {
                    Some(p)
                        if self.store.project_get(&p).await?.is_some_and(|p| p.enabled)
                            && self
                                .has_any_role(user_id, &Scope::Project(p.clone()))
                                .await? =>
                    {
                        Scope::Project(p)
                    }
                    _ => Scope::Unscoped,
                }
            }
            ScopeRequest::Project { id: Some(id), .. } => Scope::Project(id.clone()),
            ScopeRequest::Project {
                id: None,
                name: Some(name),
                domain: Some(d),
            } => {
                let d = self.resolve_domain(d).await?;
                let p = self
                    .store
                    .project_get_by_name(&d.id, name)
                    .await?
                    .ok_or_else(unauth)?;
                Scope::Project(p.id)
            }
            ScopeRequest::Project { .. } => {
                return Err(Error::bad_request(
                    "Project scope requires an id, or a name and a domain.",
                ))
            }
            ScopeRequest::Domain(d) => Scope::Domain(self.resolve_domain(d).await?.id),
            ScopeRequest::System => Scope::System,
        })
    }

    /// Validates a token: signature and payload, expiry, revocation, and what it resolves to
    /// now. Every failure is `Unauthenticated`.
    pub async fn validate(&self, token: &str) -> Result<IssuedToken> {
        let (payload, issued_at) = match self.tokens.validate(token) {
            Ok(v) => v,
            Err(e) => {
                // Keys may have been rotated by another process since the last reload.
                if self.reload_keys_if_changed(std::time::Duration::from_secs(1)) {
                    self.tokens.validate(token)?
                } else {
                    return Err(e.into());
                }
            }
        };
        if payload.expires_at <= now() {
            return Err(Error::unauthenticated());
        }
        let scope = match &payload.scope {
            TokenScope::Unscoped => Scope::Unscoped,
            TokenScope::Project(p) => Scope::Project(p.clone()),
            TokenScope::Domain(d) => Scope::Domain(d.clone()),
            TokenScope::System => Scope::System,
        };
        let (app_cred, app_cred_roles) = match &payload.app_cred_id {
            Some(id) => {
                let ac = self.app_cred_for_token(id).await?;
                let roles: Vec<String> = ac.roles.iter().map(|r| r.id.clone()).collect();
                (
                    Some(TokenAppCred {
                        id: ac.id,
                        name: ac.name,
                        restricted: !ac.unrestricted,
                    }),
                    Some(roles),
                )
            }
            None => (None, None),
        };
        let resolved = self
            .resolve_scope(
                &payload.user_id,
                &scope,
                app_cred
                    .as_ref()
                    .zip(app_cred_roles.as_deref())
                    .map(|(a, r)| (a.id.as_str(), r)),
            )
            .await?;
        if self.is_revoked(&payload, issued_at, &resolved).await? {
            return Err(Error::unauthenticated());
        }
        Ok(IssuedToken {
            id: token.to_string(),
            methods: payload.methods,
            scope,
            resolved,
            audit_ids: payload.audit_ids,
            issued_at,
            expires_at: payload.expires_at,
            app_cred,
        })
    }

    async fn revocations(&self) -> Result<Arc<Vec<RevocationEvent>>> {
        if let Some(hit) = self.caches.revocations() {
            return Ok(hit);
        }
        let events = Arc::new(self.store.revocation_list().await?);
        self.caches.put_revocations(events.clone());
        Ok(events)
    }

    async fn is_revoked(
        &self,
        p: &TokenPayload,
        issued_at: i64,
        r: &ResolvedScope,
    ) -> Result<bool> {
        let events = self.revocations().await?;
        let project_id = r.project.as_ref().map(|p| p.id.as_str());
        let project_domain = r.project.as_ref().and_then(|p| p.domain_id.as_deref());
        let domain_id = r.domain.as_ref().map(|d| d.id.as_str());
        let audit_id = p.audit_ids.first().map(String::as_str);
        let chain_id = p.audit_ids.last().map(String::as_str);
        Ok(events.iter().any(|e| {
            issued_at <= e.issued_before
                && e.user_id.as_deref().is_none_or(|u| u == p.user_id)
                && e.project_id
                    .as_deref()
                    .is_none_or(|x| Some(x) == project_id)
                && e.domain_id.as_deref().is_none_or(|x| {
                    Some(x) == domain_id || Some(x) == project_domain || x == r.user.domain_id
                })
                && e.audit_id.as_deref().is_none_or(|x| Some(x) == audit_id)
                && e.audit_chain_id
                    .as_deref()
                    .is_none_or(|x| Some(x) == chain_id)
                && e.app_cred_id
                    .as_deref()
                    .is_none_or(|x| Some(x) == p.app_cred_id.as_deref())
        }))
    }

    /// Records a revocation event and forgets cached state.
    pub async fn revoke(&self, mut event: RevocationEvent) -> Result<()> {
        let now = now();
        event.revoked_at = now;
        if event.issued_before == 0 {
            event.issued_before = now;
        }
        self.store.revocation_create(&event).await?;
        self.store.revocation_prune(now - self.ttl() - 60).await?;
        self.invalidate();
        Ok(())
    }

    /// `DELETE /v3/auth/tokens`: revokes the token (and any token rescoped from it).
    pub async fn token_revoke(&self, token: &IssuedToken) -> Result<()> {
        self.revoke(RevocationEvent {
            audit_id: token.audit_ids.first().cloned(),
            ..Default::default()
        })
        .await
    }

    /// Whether `domain` names the default domain (used by bootstrap and rendering).
    pub fn is_default_domain(domain: &str) -> bool {
        domain == DEFAULT_DOMAIN_ID
    }
}
