//! Roles (global and domain-specific) and role implications: validation, uniqueness of a
//! name within its domain, the `immutable` option, and Keystone's rules on what may be
//! implied.

use std::collections::HashMap;

use common_error::{Error, Result};
use identity_model::{Actor, AssignmentTarget, Extra, Role};
use serde_json::Value;

use crate::Identity;

/// Longest role name (Keystone's schema limit).
pub const MAX_NAME_LEN: usize = 255;
/// Longest role description (Keystone's column size).
pub const MAX_DESCRIPTION_LEN: usize = 255;
/// Roles that may never be implied (Keystone's `[assignment] prohibited_implied_role`).
pub const PROHIBITED_IMPLIED_ROLES: &[&str] = &["admin"];
/// The one role option Keystone knows.
pub const IMMUTABLE: &str = "immutable";

/// A partial update of a role, as `PATCH /v3/roles/{id}` carries it.
#[derive(Debug, Clone, Default)]
pub struct RoleUpdate {
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    /// Present when the request names a domain; it may not change.
    pub domain_id: Option<Option<String>>,
    /// Options to set; a `null` value removes the option.
    pub options: Option<Extra>,
    /// How many attributes the request sets (an immutable role accepts only an update that
    /// does nothing but clear `immutable`).
    pub fields: usize,
}

/// Checks a role name: 1 to 255 characters, not all white space.
pub fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::bad_request(format!(
            "Invalid input for field 'name': '{name}' does not match '[\\\\S]+'"
        )));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(Error::bad_request(format!(
            "Invalid input for field 'name': '{name}' is too long (maximum {MAX_NAME_LEN} characters)."
        )));
    }
    Ok(())
}

fn check_description(d: Option<&str>) -> Result<()> {
    if d.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_LEN) {
        return Err(Error::bad_request(format!(
            "Invalid input for field 'description': longer than {MAX_DESCRIPTION_LEN} characters."
        )));
    }
    Ok(())
}

/// Checks role options: only `immutable`, a boolean or null.
pub fn check_options(o: &Extra) -> Result<()> {
    for (k, v) in o {
        if k != IMMUTABLE {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'options': Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
        if !matches!(v, Value::Bool(_) | Value::Null) {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'options/{IMMUTABLE}': {v} is not of type 'boolean', 'null'"
            )));
        }
    }
    Ok(())
}

/// Whether the role carries `immutable: true`.
pub fn is_immutable(r: &Role) -> bool {
    r.options
        .get(IMMUTABLE)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn merge_options(into: &mut Extra, set: &Extra) {
    for (k, v) in set {
        if v.is_null() {
            into.remove(k);
        } else {
            into.insert(k.clone(), v.clone());
        }
    }
}

fn duplicate(r: &Role) -> Error {
    match &r.domain_id {
        Some(d) => Error::conflict(format!(
            "Conflict occurred attempting to store role - Duplicate entry found with name {} at domain ID {d}.",
            r.name
        )),
        None => Error::conflict(format!(
            "Conflict occurred attempting to store role - Duplicate entry found with name {}.",
            r.name
        )),
    }
}

fn immutable_error(verb: &str, id: &str) -> Error {
    Error::forbidden(format!(
        "Unable to {verb} immutable role resource: `{id}. Set resource option \"immutable\" to false first."
    ))
}

impl Identity {
    /// Creates a role. A domain-specific role's domain must exist; the name must be unique
    /// within the role's domain (or among global roles).
    pub async fn role_create(&self, mut r: Role) -> Result<Role> {
        check_name(&r.name)?;
        check_description(r.description.as_deref())?;
        check_options(&r.options)?;
        r.options.retain(|_, v| !v.is_null());
        if let Some(d) = &r.domain_id {
            self.domain_get(d).await?;
        }
        if self.store.role_get(&r.id).await?.is_some() {
            return Err(Error::conflict(format!(
                "Conflict occurred attempting to store role - Duplicate entry found with ID {}.",
                r.id
            )));
        }
        if !self
            .store
            .role_list(Some(&r.name), r.domain_id.as_deref())
            .await?
            .is_empty()
        {
            return Err(duplicate(&r));
        }
        self.store.role_create(&r).await.map_err(|e| match e {
            Error::Conflict(_) => duplicate(&r),
            other => other,
        })?;
        Ok(r)
    }

    /// A role by id.
    pub async fn role_get(&self, id: &str) -> Result<Role> {
        self.store
            .role_get(id)
            .await?
            .ok_or_else(|| Error::not_found("role", id))
    }

    /// Roles by name, global ones (`domain_id` = `None`) or those of one domain.
    pub async fn role_list(
        &self,
        name: Option<&str>,
        domain_id: Option<&str>,
    ) -> Result<Vec<Role>> {
        self.store.role_list(name, domain_id).await
    }

    /// Applies a partial update. The domain may not change; an immutable role only accepts
    /// an update that clears `immutable`.
    pub async fn role_update(&self, id: &str, u: RoleUpdate) -> Result<Role> {
        let mut r = self.role_get(id).await?;
        if is_immutable(&r) {
            let clears = u.fields == 1
                && u.options.as_ref().is_some_and(|o| {
                    o.len() == 1
                        && matches!(o.get(IMMUTABLE), Some(Value::Bool(false) | Value::Null))
                });
            if !clears {
                return Err(immutable_error("update", id));
            }
        }
        if let Some(d) = &u.domain_id {
            if *d != r.domain_id {
                return Err(Error::bad_request("Update of `domain_id` is not allowed."));
            }
        }
        if let Some(o) = &u.options {
            check_options(o)?;
            merge_options(&mut r.options, o);
        }
        if let Some(d) = u.description {
            check_description(d.as_deref())?;
            r.description = d;
        }
        if let Some(n) = u.name {
            check_name(&n)?;
            if n != r.name {
                let clash = self
                    .store
                    .role_list(Some(&n), r.domain_id.as_deref())
                    .await?;
                r.name = n;
                if clash.iter().any(|c| c.id != r.id) {
                    return Err(duplicate(&r));
                }
            }
        }
        self.store.role_update(&r).await.map_err(|e| match e {
            Error::Conflict(_) => duplicate(&r),
            other => other,
        })?;
        self.invalidate();
        Ok(r)
    }

    /// Deletes a role with its assignments and implications. Tokens are re-resolved on their
    /// next validation, so the role disappears from them at once.
    pub async fn role_delete(&self, id: &str) -> Result<()> {
        let r = self.role_get(id).await?;
        if is_immutable(&r) {
            return Err(immutable_error("delete", id));
        }
        // As Keystone: users who held the role on a project lose their application
        // credentials for that project.
        let f = identity_db::AssignmentFilter {
            role_ids: Some(vec![id.to_string()]),
            ..Default::default()
        };
        let mut purge: Vec<(String, String)> = self
            .store
            .assignment_list(&f)
            .await?
            .into_iter()
            .filter_map(|a| match (a.actor, a.target) {
                (Actor::User(u), AssignmentTarget::Project(p)) => Some((u, p)),
                _ => None,
            })
            .collect();
        purge.sort();
        purge.dedup();
        for (user_id, project_id) in purge {
            self.app_creds_purge(&user_id, Some(&project_id)).await?;
        }
        self.store.role_delete(id).await?;
        self.invalidate();
        Ok(())
    }

    /// Records that `prior` implies `implied`. Refuses a prohibited implied role (`admin`),
    /// a global role implying a domain-specific one (403), and an existing rule (409).
    /// Returns both roles.
    pub async fn implied_role_create(
        &self,
        prior_id: &str,
        implied_id: &str,
    ) -> Result<(Role, Role)> {
        let prior = self.role_get(prior_id).await?;
        let implied = self.role_get(implied_id).await?;
        if PROHIBITED_IMPLIED_ROLES.contains(&implied.name.as_str()) {
            return Err(Error::forbidden(format!(
                "{implied_id} cannot be an implied roles."
            )));
        }
        if prior.domain_id.is_none() && implied.domain_id.is_some() {
            return Err(Error::forbidden(
                "Global role cannot imply a domain-specific role",
            ));
        }
        if self.implies(prior_id, implied_id).await? {
            return Err(Error::conflict(
                "Conflict occurred attempting to store implied_role - Duplicate entry.",
            ));
        }
        self.store.implied_role_create(prior_id, implied_id).await?;
        self.invalidate();
        Ok((prior, implied))
    }

    async fn implies(&self, prior_id: &str, implied_id: &str) -> Result<bool> {
        Ok(self
            .store
            .implied_role_list()
            .await?
            .iter()
            .any(|(p, i)| p == prior_id && i == implied_id))
    }

    /// One implication rule with both roles, or 404.
    pub async fn implied_role_get(&self, prior_id: &str, implied_id: &str) -> Result<(Role, Role)> {
        let prior = self.role_get(prior_id).await?;
        let implied = self.role_get(implied_id).await?;
        if !self.implies(prior_id, implied_id).await? {
            return Err(implied_not_found(prior_id, implied_id));
        }
        Ok((prior, implied))
    }

    /// Removes an implication rule (404 when there is none).
    pub async fn implied_role_delete(&self, prior_id: &str, implied_id: &str) -> Result<()> {
        self.role_get(prior_id).await?;
        self.role_get(implied_id).await?;
        if !self.store.implied_role_delete(prior_id, implied_id).await? {
            return Err(implied_not_found(prior_id, implied_id));
        }
        self.invalidate();
        Ok(())
    }

    /// A role and the roles it directly implies.
    pub async fn implied_roles_of(&self, prior_id: &str) -> Result<(Role, Vec<Role>)> {
        let prior = self.role_get(prior_id).await?;
        let ids: Vec<String> = self
            .store
            .implied_role_list()
            .await?
            .into_iter()
            .filter(|(p, _)| p == prior_id)
            .map(|(_, i)| i)
            .collect();
        let implied = self.store.roles_by_ids(&ids).await?;
        Ok((prior, implied))
    }

    /// Every implication rule, grouped by prior role (ordered by the prior role's name).
    pub async fn role_inferences(&self) -> Result<Vec<(Role, Vec<Role>)>> {
        let pairs = self.store.implied_role_list().await?;
        let mut ids: Vec<String> = pairs
            .iter()
            .flat_map(|(p, i)| [p.clone(), i.clone()])
            .collect();
        ids.sort();
        ids.dedup();
        let roles: HashMap<String, Role> = self
            .store
            .roles_by_ids(&ids)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let mut out: Vec<(Role, Vec<Role>)> = Vec::new();
        for (p, i) in &pairs {
            let (Some(prior), Some(implied)) = (roles.get(p), roles.get(i)) else {
                continue;
            };
            match out.iter_mut().find(|(r, _)| r.id == *p) {
                Some((_, list)) => list.push(implied.clone()),
                None => out.push((prior.clone(), vec![implied.clone()])),
            }
        }
        out.sort_by(|a, b| (&a.0.name, &a.0.id).cmp(&(&b.0.name, &b.0.id)));
        for (_, list) in &mut out {
            list.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        }
        Ok(out)
    }
}

/// Keystone's `ImpliedRoleNotFound` ("<prior> does not imply <implied>.") in the shape our
/// error type renders: "Could not find implied role: <prior> does not imply <implied>."
fn implied_not_found(prior: &str, implied: &str) -> Error {
    Error::not_found("implied role", format!("{prior} does not imply {implied}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_options_are_checked() {
        assert!(check_name("member").is_ok());
        assert_eq!(check_name("   ").unwrap_err().status(), 400);
        assert_eq!(check_name(&"x".repeat(256)).unwrap_err().status(), 400);
        assert!(check_name(&"x".repeat(255)).is_ok());
        let ok: Extra = serde_json::from_value(json!({"immutable": true})).unwrap();
        assert!(check_options(&ok).is_ok());
        let null: Extra = serde_json::from_value(json!({"immutable": null})).unwrap();
        assert!(check_options(&null).is_ok());
        let bad: Extra = serde_json::from_value(json!({"immutable": "yes"})).unwrap();
        assert_eq!(check_options(&bad).unwrap_err().status(), 400);
        let unknown: Extra = serde_json::from_value(json!({"other": true})).unwrap();
        assert_eq!(check_options(&unknown).unwrap_err().status(), 400);
    }

    #[test]
    fn null_options_are_removed_on_merge() {
        let mut o: Extra = serde_json::from_value(json!({"immutable": true})).unwrap();
        merge_options(
            &mut o,
            &serde_json::from_value(json!({"immutable": null})).unwrap(),
        );
        assert!(o.is_empty());
    }
}
