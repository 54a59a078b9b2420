//! Application credentials: creation (secret shown once, roles a subset of the creator's),
//! listing, deletion, and the checks the auth method needs.

use std::collections::BTreeSet;

use base64::Engine as _;
use common_error::{Error, Result};
use identity_model::{ApplicationCredential, RevocationEvent, Scope};
use rand::RngCore as _;

use crate::auth::{DomainRef, UserRef};
use crate::{now, password, Identity};

/// Longest application credential name (Keystone's schema).
pub const MAX_NAME_LEN: usize = 255;
/// Longest secret accepted (the auth method accepts no longer one).
pub const MAX_SECRET_LEN: usize = 4096;

/// A role named in a create request, by id or by (global role) name.
#[derive(Debug, Clone, PartialEq)]
pub enum RoleRef {
    Id(String),
    Name(String),
}

/// What a create request asks for.
#[derive(Clone, PartialEq)]
pub struct NewAppCred {
    pub name: String,
    pub description: Option<String>,
    /// `None` (or empty): generate one.
    pub secret: Option<String>,
    pub expires_at: Option<i64>,
    /// Empty: all the roles of the caller's token.
    pub roles: Vec<RoleRef>,
    pub unrestricted: bool,
}

impl std::fmt::Debug for NewAppCred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAppCred")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .finish()
    }
}

/// The caller of a create request, as its token says.
#[derive(Debug, Clone, PartialEq)]
pub struct AppCredCaller {
    pub user_id: String,
    pub project_id: Option<String>,
    /// Ids of the token's (effective) roles.
    pub role_ids: Vec<String>,
    /// The application credential the token was issued with, if any.
    pub app_cred_id: Option<String>,
}

fn forbidden_action(what: &str) -> Error {
    Error::forbidden(format!(
        "You are not authorized to perform the requested action: {what}."
    ))
}

fn invalid(detail: &str) -> Error {
    Error::bad_request(format!("Invalid application credential: {detail}"))
}

/// A random url-safe secret from 64 random bytes, as Keystone generates them.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Identity {
    /// Refuses tokens issued with a restricted application credential (they may not manage
    /// application credentials or credentials).
    pub async fn app_cred_check_manager(
        &self,
        app_cred_id: Option<&str>,
        what: &str,
    ) -> Result<()> {
        let Some(id) = app_cred_id else { return Ok(()) };
        match self.store.app_cred_get(id).await? {
            Some(ac) if ac.unrestricted => Ok(()),
            _ => Err(forbidden_action(&format!(
                "Using method 'application_credential' is not allowed for managing additional {what}"
            ))),
        }
    }

    /// Creates an application credential for `user_id` on the caller's project. Returns it
    /// and its secret (which is stored only as a hash).
    pub async fn app_cred_create(
        &self,
        user_id: &str,
        caller: &AppCredCaller,
        new: NewAppCred,
    ) -> Result<(ApplicationCredential, String)> {
        self.app_cred_check_manager(caller.app_cred_id.as_deref(), "application credentials")
            .await?;
        if caller.user_id != user_id {
            return Err(forbidden_action(
                "Cannot create an application credential for another user",
            ));
        }
        let project_id = caller
            .project_id
            .clone()
            .ok_or_else(|| forbidden_action("identity:create_application_credential"))?;
        let name = new.name.clone();
        if name.trim().is_empty() || name.chars().count() > MAX_NAME_LEN {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'name': '{name}' must be 1 to {MAX_NAME_LEN} characters"
            )));
        }
        if new.expires_at.is_some_and(|e| e <= now()) {
            return Err(Error::bad_request(
                "The 'expires_at' must not be before now. The server could not comply with the request since it is \
                 either malformed or otherwise incorrect. The client is assumed to be in error.",
            ));
        }
        let role_ids = self.app_cred_roles(caller, &new.roles).await?;
        let held: BTreeSet<String> = self
            .effective_roles(user_id, &Scope::Project(project_id.clone()))
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        if let Some(missing) = role_ids.iter().find(|r| !held.contains(*r)) {
            return Err(invalid(&format!(
                "Could not find role assignment with role: {missing}, user or group: {user_id}, project, domain, \
                 or system: {project_id}."
            )));
        }
        let duplicate = || {
            Error::conflict(format!(
                "Conflict occurred attempting to store application_credential - Duplicate entry found with name {name}."
            ))
        };
        if !self
            .store
            .app_cred_list(user_id, Some(&name))
            .await?
            .is_empty()
        {
            return Err(duplicate());
        }
        let secret = match new.secret {
            Some(s) if !s.is_empty() => s,
            _ => generate_secret(),
        };
        if secret.len() > MAX_SECRET_LEN {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'secret': longer than {MAX_SECRET_LEN} characters"
            )));
        }
        let ids: Vec<String> = role_ids.into_iter().collect();
        let ac = ApplicationCredential {
            id: identity_db::new_id(),
            name: name.clone(),
            description: new.description,
            user_id: user_id.to_string(),
            project_id,
            expires_at: new.expires_at,
            unrestricted: new.unrestricted,
            roles: self.store.roles_by_ids(&ids).await?,
            secret_hash: password::hash(&secret, self.cfg.password_hash_rounds).await?,
        };
        self.store.app_cred_create(&ac).await.map_err(|e| match e {
            Error::Conflict(_) => duplicate(),
            other => other,
        })?;
        Ok((ac, secret))
    }

    /// The role ids a new application credential gets: the requested ones with the roles
    /// they imply, each held by the caller's token; or all the token's roles.
    async fn app_cred_roles(
        &self,
        caller: &AppCredCaller,
        wanted: &[RoleRef],
    ) -> Result<BTreeSet<String>> {
        if wanted.is_empty() {
            return Ok(caller.role_ids.iter().cloned().collect());
        }
        let mut ids = BTreeSet::new();
        for r in wanted {
            match r {
                RoleRef::Id(id) => {
                    ids.insert(id.clone());
                }
                RoleRef::Name(n) => {
                    let found = self.store.role_list(Some(n), None).await?;
                    match found.as_slice() {
                        [] => return Err(Error::not_found("role", n.clone())),
                        [one] => {
                            ids.insert(one.id.clone());
                        }
                        _ => {
                            return Err(Error::bad_request(format!(
                                "There are multiple role entities named '{n}'. Please use ID instead of names to \
                                 resolve the ambiguity."
                            )))
                        }
                    }
                }
            }
        }
        let unassigned = || invalid("Cannot create an application credential with unassigned role");
        if ids.iter().any(|id| !caller.role_ids.contains(id)) {
            return Err(unassigned());
        }
        let expanded: BTreeSet<String> = self
            .expand_implied(ids.clone())
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        ids.extend(expanded);
        if ids.iter().any(|id| !caller.role_ids.contains(id)) {
            return Err(unassigned());
        }
        Ok(ids)
    }

    /// An application credential by id; 404 when there is none.
    pub async fn app_cred_get(&self, id: &str) -> Result<ApplicationCredential> {
        self.store
            .app_cred_get(id)
            .await?
            .ok_or_else(|| Error::not_found("Application Credential", id))
    }

    /// A user's application credentials, optionally only the one named `name`.
    pub async fn app_cred_list(
        &self,
        user_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<ApplicationCredential>> {
        self.store.app_cred_list(user_id, name).await
    }

    /// Deletes an application credential and revokes the tokens issued with it.
    pub async fn app_cred_delete(&self, id: &str) -> Result<()> {
        if !self.store.app_cred_delete(id).await? {
            return Err(Error::not_found("Application Credential", id));
        }
        self.revoke(RevocationEvent {
            app_cred_id: Some(id.to_string()),
            ..Default::default()
        })
        .await
    }

    /// Deletes a user's application credentials (all, or those on `project_id`) and revokes
    /// their tokens. Keystone does this when a user is disabled or deleted, or loses their
    /// roles on a project.
    pub async fn app_creds_purge(&self, user_id: &str, project_id: Option<&str>) -> Result<()> {
        for id in self
            .store
            .app_creds_delete_for_user(user_id, project_id)
            .await?
        {
            self.revoke(RevocationEvent {
                app_cred_id: Some(id),
                ..Default::default()
            })
            .await?;
        }
        Ok(())
    }

    /// Finds an application credential by id, or by name and user, checks its secret and
    /// expiry and that its user is enabled. Every failure is the same 401.
    pub(crate) async fn check_app_cred(
        &self,
        id: Option<&str>,
        name: Option<&str>,
        user: Option<&UserRef>,
        secret: &str,
    ) -> Result<ApplicationCredential> {
        let found = match (id, name) {
            (Some(id), _) => self.store.app_cred_get(id).await?,
            (None, Some(name)) => match self.app_cred_owner(user).await? {
                Some(uid) => self.store.app_cred_list(&uid, Some(name)).await?.into_iter().next(),
                None => None,
            },
            (None, None) => {
                return Err(Error::bad_request(
                    "Expecting to find id or name in application credential. The server could not comply with the \
                     request since it is either malformed or otherwise incorrect. The client is assumed to be in error.",
                ))
            }
        };
        let Some(ac) = found else {
            let _ = password::verify(secret, password::dummy_hash()).await;
            return Err(Error::unauthenticated());
        };
        if !password::verify(secret, &ac.secret_hash).await? {
            return Err(Error::unauthenticated());
        }
        if ac.expires_at.is_some_and(|e| e <= now()) {
            return Err(Error::unauthenticated());
        }
        match self.store.user_get(&ac.user_id).await? {
            Some(u) if u.enabled => Ok(ac),
            _ => Err(Error::unauthenticated()),
        }
    }

    /// The user id a `user` reference of an application-credential auth names, if it exists.
    async fn app_cred_owner(&self, user: Option<&UserRef>) -> Result<Option<String>> {
        Ok(match user {
            None => None,
            Some(UserRef::Id(id)) => Some(id.clone()),
            Some(UserRef::Name { name, domain }) => {
                let d = match domain {
                    DomainRef::Id(id) => self.store.project_get(id).await?.filter(|p| p.is_domain),
                    DomainRef::Name(n) => self.store.domain_get_by_name(n).await?,
                };
                match d {
                    Some(d) => self
                        .store
                        .user_auth_row_by_name(&d.id, name)
                        .await?
                        .map(|r| r.user.id),
                    None => None,
                }
            }
        })
    }

    /// The application credential a token names; 401 when it is gone or expired.
    pub(crate) async fn app_cred_for_token(&self, id: &str) -> Result<ApplicationCredential> {
        let ac = match self.caches.app_cred(id) {
            Some(hit) => hit,
            None => {
                let found = self
                    .store
                    .app_cred_get(id)
                    .await?
                    .ok_or_else(Error::unauthenticated)?;
                let found = std::sync::Arc::new(found);
                self.caches.put_app_cred(found.clone());
                found
            }
        };
        if ac.expires_at.is_none_or(|e| e > now()) {
            Ok((*ac).clone())
        } else {
            Err(Error::unauthenticated())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_url_safe_and_distinct() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.len(), 86);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
