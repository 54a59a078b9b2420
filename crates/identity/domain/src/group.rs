//! Groups and group membership. Membership changes what a member's tokens resolve to, so
//! every change forgets cached scopes; removing a member (or deleting a group that held
//! roles) revokes the members' tokens, as Keystone does.

use common_error::{Error, Result};
use identity_db::AssignmentFilter;
use identity_model::{Extra, Group, ListFilter, RevocationEvent, User};

use crate::user::{check_name, duplicate, ExpiryFilter};
use crate::Identity;

/// A partial update of a group (`PATCH /v3/groups/{group_id}`).
#[derive(Debug, Default, Clone)]
pub struct GroupPatch {
    pub name: Option<String>,
    /// Allowed only when equal to the group's domain.
    pub domain_id: Option<String>,
    /// `Some(None)` (a JSON null) clears the description.
    pub description: Option<Option<String>>,
    /// Extra attributes, merged into the current ones.
    pub extra: Extra,
}

fn not_member(user_id: &str, group_id: &str) -> Error {
    Error::not_found(
        "group membership",
        format!("user {user_id} in group {group_id}"),
    )
}

impl Identity {
    /// Creates a group in `g.domain_id` (which must exist) with a fresh id.
    pub async fn group_create(&self, mut g: Group) -> Result<Group> {
        g.name = check_name(&g.name)?;
        self.domain_get(&g.domain_id).await?;
        if self
            .store
            .group_get_by_name(&g.domain_id, &g.name)
            .await?
            .is_some()
        {
            return Err(duplicate("group", &g.name, Some(&g.domain_id)));
        }
        g.id = crate::new_id();
        self.store.group_create(&g).await.map_err(|e| match e {
            Error::Conflict(_) => duplicate("group", &g.name, Some(&g.domain_id)),
            other => other,
        })?;
        Ok(g)
    }

    /// A group by id.
    pub async fn group_get(&self, id: &str) -> Result<Group> {
        self.store
            .group_get(id)
            .await?
            .ok_or_else(|| Error::not_found("group", id))
    }

    /// Groups matching the filter's name and domain.
    pub async fn group_list(&self, f: &ListFilter) -> Result<Vec<Group>> {
        self.store.group_list(f).await
    }

    /// Applies a partial update.
    pub async fn group_update(&self, id: &str, patch: GroupPatch) -> Result<Group> {
        let mut g = self.group_get(id).await?;
        if patch.domain_id.as_ref().is_some_and(|d| *d != g.domain_id) {
            return Err(Error::bad_request("Cannot change Domain ID"));
        }
        let old_name = g.name.clone();
        if let Some(n) = &patch.name {
            g.name = check_name(n)?;
        }
        if let Some(d) = patch.description {
            g.description = d.unwrap_or_default();
        }
        g.extra.extend(patch.extra);
        if g.name != old_name
            && self
                .store
                .group_get_by_name(&g.domain_id, &g.name)
                .await?
                .is_some_and(|o| o.id != g.id)
        {
            return Err(duplicate("group", &g.name, None));
        }
        self.store.group_update(&g).await.map_err(|e| match e {
            Error::Conflict(_) => duplicate("group", &g.name, None),
            other => other,
        })?;
        Ok(g)
    }

    /// Deletes a group with its memberships and grants. If it held roles, its members'
    /// tokens are revoked.
    pub async fn group_delete(&self, id: &str) -> Result<()> {
        let g = self.group_get(id).await?;
        let af = AssignmentFilter {
            group_ids: Some(vec![g.id.clone()]),
            ..Default::default()
        };
        let had_roles = !self.store.assignment_list(&af).await?.is_empty();
        let members = self.store.users_in_group(&g.id).await?;
        if !self.store.group_delete(&g.id).await? {
            return Err(Error::not_found("group", id));
        }
        if had_roles {
            for m in members {
                self.revoke(RevocationEvent {
                    user_id: Some(m.id),
                    ..Default::default()
                })
                .await?;
            }
        }
        self.invalidate();
        Ok(())
    }

    /// Adds a user to a group (idempotent). 404 if either is unknown.
    pub async fn group_add_user(&self, group_id: &str, user_id: &str) -> Result<()> {
        self.group_get(group_id).await?;
        self.user_get(user_id).await?;
        self.store
            .group_add_user(group_id, user_id)
            .await
            .map_err(|e| match e {
                // The user or group vanished between the checks and the insert.
                Error::Conflict(_) => Error::not_found("user", user_id),
                other => other,
            })?;
        self.invalidate();
        Ok(())
    }

    /// Removes a user from a group and revokes the user's tokens. 404 if either is unknown
    /// or the user is not a member.
    pub async fn group_remove_user(&self, group_id: &str, user_id: &str) -> Result<()> {
        if !self.store.group_remove_user(group_id, user_id).await? {
            self.group_get(group_id).await?;
            self.user_get(user_id).await?;
            return Err(not_member(user_id, group_id));
        }
        self.revoke(RevocationEvent {
            user_id: Some(user_id.to_string()),
            ..Default::default()
        })
        .await
    }

    /// Succeeds if the user is a member of the group; 404 otherwise.
    pub async fn group_check_user(&self, group_id: &str, user_id: &str) -> Result<()> {
        self.group_get(group_id).await?;
        self.user_get(user_id).await?;
        if self.store.group_has_user(group_id, user_id).await? {
            Ok(())
        } else {
            Err(not_member(user_id, group_id))
        }
    }

    /// The members of a group, filtered by name, domain, enabled and password expiry.
    pub async fn group_list_users(
        &self,
        group_id: &str,
        f: &ListFilter,
        expires: Option<&ExpiryFilter>,
    ) -> Result<Vec<User>> {
        self.group_get(group_id).await?;
        let mut users = self.store.users_in_group(group_id).await?;
        users.retain(|u| {
            f.name.as_ref().is_none_or(|n| *n == u.name)
                && f.domain_id.as_ref().is_none_or(|d| *d == u.domain_id)
                && f.enabled.is_none_or(|e| e == u.enabled)
                && expires.is_none_or(|x| x.matches(u.password_expires_at))
        });
        Ok(users)
    }

    /// The groups a user belongs to, optionally only those named `name`.
    pub async fn user_list_groups(&self, user_id: &str, name: Option<&str>) -> Result<Vec<Group>> {
        self.user_get(user_id).await?;
        let mut groups = self.store.groups_for_user(user_id).await?;
        if let Some(n) = name {
            groups.retain(|g| g.name == n);
        }
        Ok(groups)
    }
}
