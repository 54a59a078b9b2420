//! Server groups (Nova's `InstanceGroup`): create within the `server_groups` quota, show,
//! list (a project's, or every project's for admins), delete, and the membership the
//! servers work keeps within the `server_group_members` quota. A group of another project
//! is `NotFound` (kind `server group`) for non-admins.

use common_error::{Error, Result};
use compute_model::ServerGroup;

use crate::{Compute, Context};

/// A validated `POST /os-server-groups` body (the API maps the pre-2.64 `policies` list to
/// `policy`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerGroupCreate {
    pub name: String,
    pub policy: String,
    /// The 2.64 `rules.max_server_per_host` (anti-affinity only).
    pub max_server_per_host: Option<i64>,
}

impl Compute {
    /// Creates a group owned by the caller's project and user. `BadRequest` "Only
    /// anti-affinity policy supports rules." for rules on another policy; `Forbidden` "Quota
    /// exceeded, too many server groups." over the quota.
    pub async fn server_group_create(
        &self,
        ctx: &Context,
        req: ServerGroupCreate,
    ) -> Result<ServerGroup> {
        if req.max_server_per_host.is_some() && req.policy != "anti-affinity" {
            return Err(Error::bad_request(
                "Only anti-affinity policy supports rules.",
            ));
        }
        let limit = self
            .quota_limits(&ctx.project_id)
            .await?
            .get("server_groups")
            .copied()
            .unwrap_or(-1);
        let g = ServerGroup {
            uuid: uuid::Uuid::new_v4().to_string(),
            name: req.name,
            project_id: ctx.project_id.clone(),
            user_id: ctx.user_id.clone(),
            policy: req.policy,
            max_server_per_host: req.max_server_per_host,
            members: Vec::new(),
        };
        self.store.server_group_create(&g, limit).await
    }

    /// The group if `ctx` may see it (its project's, or any for admins), else `NotFound`.
    pub async fn server_group_get(&self, ctx: &Context, uuid: &str) -> Result<ServerGroup> {
        match self.store.server_group_get(uuid).await? {
            Some(g) if ctx.is_admin || g.project_id == ctx.project_id => Ok(g),
            _ => Err(Error::not_found("server group", uuid)),
        }
    }

    /// The caller's project's groups, or every project's with `all_projects`.
    pub async fn server_group_list(
        &self,
        ctx: &Context,
        all_projects: bool,
    ) -> Result<Vec<ServerGroup>> {
        if all_projects {
            self.store.server_group_list(None).await
        } else {
            self.store.server_group_list(Some(&ctx.project_id)).await
        }
    }

    pub async fn server_group_delete(&self, ctx: &Context, uuid: &str) -> Result<()> {
        self.server_group_get(ctx, uuid).await?;
        if self.store.server_group_delete(uuid).await? {
            Ok(())
        } else {
            Err(Error::not_found("server group", uuid))
        }
    }

    /// Adds `instance_uuid` to group `uuid` within the group project's
    /// `server_group_members` quota (`Forbidden` "Quota exceeded, too many servers in
    /// group"); `NotFound` when the group is gone. For the servers work.
    pub async fn server_group_add_member(&self, uuid: &str, instance_uuid: &str) -> Result<()> {
        let g = self
            .store
            .server_group_get(uuid)
            .await?
            .ok_or_else(|| Error::not_found("server group", uuid))?;
        let limit = self
            .quota_limits(&g.project_id)
            .await?
            .get("server_group_members")
            .copied()
            .unwrap_or(-1);
        self.store
            .server_group_add_member(uuid, instance_uuid, limit)
            .await
    }

    /// Removes `instance_uuid` from group `uuid` (no-op when it is not a member).
    pub async fn server_group_remove_member(&self, uuid: &str, instance_uuid: &str) -> Result<()> {
        self.store
            .server_group_remove_member(uuid, instance_uuid)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{admin, compute, member};

    fn req(policy: &str, max: Option<i64>) -> ServerGroupCreate {
        ServerGroupCreate {
            name: "g".into(),
            policy: policy.into(),
            max_server_per_host: max,
        }
    }

    #[tokio::test]
    async fn visibility_rules_and_quotas() {
        let (mut c, _d) = compute().await;
        c.cfg.quota_server_groups = 1;
        c.cfg.quota_server_group_members = 1;
        let p1 = member("p1");
        assert_eq!(
            c.server_group_create(&p1, req("affinity", Some(2))).await,
            Err(Error::bad_request(
                "Only anti-affinity policy supports rules."
            ))
        );
        let g = c
            .server_group_create(&p1, req("anti-affinity", Some(2)))
            .await
            .unwrap();
        assert_eq!(g.project_id, "p1");
        assert_eq!(
            c.server_group_create(&p1, req("affinity", None)).await,
            Err(Error::forbidden("Quota exceeded, too many server groups."))
        );
        assert_eq!(c.server_group_get(&p1, &g.uuid).await.unwrap().uuid, g.uuid);
        assert_eq!(
            c.server_group_get(&member("p2"), &g.uuid).await,
            Err(Error::not_found("server group", &g.uuid))
        );
        assert!(c.server_group_get(&admin(), &g.uuid).await.is_ok());
        assert!(c
            .server_group_list(&member("p2"), false)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(c.server_group_list(&admin(), true).await.unwrap().len(), 1);
        c.server_group_add_member(&g.uuid, "i1").await.unwrap();
        assert_eq!(
            c.server_group_add_member(&g.uuid, "i2").await,
            Err(Error::forbidden(
                "Quota exceeded, too many servers in group"
            ))
        );
        c.server_group_remove_member(&g.uuid, "i1").await.unwrap();
        c.server_group_add_member(&g.uuid, "i2").await.unwrap();
        assert!(c.server_group_delete(&member("p2"), &g.uuid).await.is_err());
        c.server_group_delete(&p1, &g.uuid).await.unwrap();
        assert!(c.server_group_get(&p1, &g.uuid).await.is_err());
    }
}
