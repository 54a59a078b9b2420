//! Server groups (Nova's `instance_groups` with their policy, rules and members). The
//! `server_groups` quota is checked inside the create's transaction and the
//! `server_group_members` quota inside the member insert's, so concurrent writers never pass
//! them. A member whose instance is deleted no longer counts and is not shown.

use common_db::{db_err, DbRow, Tx};
use common_error::{Error, Result};
use compute_model::ServerGroup;

use crate::{col, now_text, Store};

/// The policies a server group may have (`soft-*` from 2.15).
pub const SERVER_GROUP_POLICIES: [&str; 4] = [
    "anti-affinity",
    "affinity",
    "soft-anti-affinity",
    "soft-affinity",
];

/// Members that are not deleted instances (an instance not yet inserted counts: the servers
/// work may add it first).
const LIVE_MEMBERS: &str = "SELECT group_uuid, instance_uuid FROM compute_server_group_member \
     WHERE instance_uuid NOT IN (SELECT uuid FROM compute_instance WHERE deleted <> 0)";

fn group_row(row: &DbRow) -> Result<ServerGroup> {
    Ok(ServerGroup {
        uuid: col(row, "uuid")?,
        name: col(row, "name")?,
        project_id: col(row, "project_id")?,
        user_id: col(row, "user_id")?,
        policy: col(row, "policy")?,
        max_server_per_host: col(row, "max_server_per_host")?,
        members: Vec::new(),
    })
}

const COLUMNS: &str = "uuid, name, project_id, user_id, policy, max_server_per_host";

async fn members_in(tx: &mut Tx<'static>, uuid: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(&format!(
        "{LIVE_MEMBERS} AND group_uuid = $1 ORDER BY instance_uuid"
    ))
    .bind(uuid)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err("read server group members"))?;
    rows.iter().map(|r| col(r, "instance_uuid")).collect()
}

impl Store {
    /// Inserts `g` unless its project already has `limit` groups (negative: unlimited):
    /// `Forbidden` "Quota exceeded, too many server groups." then.
    pub async fn server_group_create(&self, g: &ServerGroup, limit: i64) -> Result<ServerGroup> {
        let mut tx = self.db().begin().await?;
        sqlx::query("UPDATE compute_server_group SET name = name WHERE project_id = $1")
            .bind(&g.project_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("lock server groups"))?;
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM compute_server_group WHERE project_id = $1")
                .bind(&g.project_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("count server groups"))?;
        if limit >= 0 && col::<i64>(&row, "n")? >= limit {
            return Err(Error::forbidden("Quota exceeded, too many server groups."));
        }
        sqlx::query(
            "INSERT INTO compute_server_group (uuid, name, project_id, user_id, policy, \
             max_server_per_host, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&g.uuid)
        .bind(&g.name)
        .bind(&g.project_id)
        .bind(&g.user_id)
        .bind(&g.policy)
        .bind(g.max_server_per_host)
        .bind(now_text())
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert server group"))?;
        tx.commit().await.map_err(db_err("commit server group"))?;
        Ok(ServerGroup {
            members: Vec::new(),
            ..g.clone()
        })
    }

    /// The group with its live members.
    pub async fn server_group_get(&self, uuid: &str) -> Result<Option<ServerGroup>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM compute_server_group WHERE uuid = $1"
        ))
        .bind(uuid)
        .fetch_optional(self.db().reader())
        .await
        .map_err(db_err("read server group"))?;
        let Some(row) = row else { return Ok(None) };
        let mut g = group_row(&row)?;
        let rows = sqlx::query(&format!(
            "{LIVE_MEMBERS} AND group_uuid = $1 ORDER BY instance_uuid"
        ))
        .bind(uuid)
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("read server group members"))?;
        g.members = rows
            .iter()
            .map(|r| col(r, "instance_uuid"))
            .collect::<Result<_>>()?;
        Ok(Some(g))
    }

    /// Groups of `project` (every project's with `None`), oldest first, with live members.
    pub async fn server_group_list(&self, project: Option<&str>) -> Result<Vec<ServerGroup>> {
        let rows = match project {
            Some(p) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM compute_server_group WHERE project_id = $1 \
                 ORDER BY created_at, uuid"
                ))
                .bind(p.to_string())
                .fetch_all(self.db().reader())
                .await
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM compute_server_group ORDER BY created_at, uuid"
                ))
                .fetch_all(self.db().reader())
                .await
            }
        }
        .map_err(db_err("list server groups"))?;
        let mut groups = rows.iter().map(group_row).collect::<Result<Vec<_>>>()?;
        let members = sqlx::query(&format!("{LIVE_MEMBERS} ORDER BY instance_uuid"))
            .fetch_all(self.db().reader())
            .await
            .map_err(db_err("read server group members"))?;
        let mut by_group: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for r in &members {
            by_group
                .entry(col(r, "group_uuid")?)
                .or_default()
                .push(col(r, "instance_uuid")?);
        }
        for g in &mut groups {
            g.members = by_group.remove(&g.uuid).unwrap_or_default();
        }
        Ok(groups)
    }

    /// How many groups `project` has.
    pub async fn server_group_count(&self, project: &str) -> Result<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM compute_server_group WHERE project_id = $1")
                .bind(project)
                .fetch_one(self.db().reader())
                .await
                .map_err(db_err("count server groups"))?;
        col(&row, "n")
    }

    /// Deletes a group and its memberships; false when there was none.
    pub async fn server_group_delete(&self, uuid: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        sqlx::query("DELETE FROM compute_server_group_member WHERE group_uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete server group members"))?;
        let n = sqlx::query("DELETE FROM compute_server_group WHERE uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete server group"))?
            .rows_affected();
        tx.commit()
            .await
            .map_err(db_err("commit server group delete"))?;
        Ok(n == 1)
    }

    /// Adds `instance_uuid` to group `uuid` unless the group already has `limit` live members
    /// (negative: unlimited): `Forbidden` "Quota exceeded, too many servers in group" then;
    /// `NotFound` when the group is gone. Adding a member twice is a no-op.
    pub async fn server_group_add_member(
        &self,
        uuid: &str,
        instance_uuid: &str,
        limit: i64,
    ) -> Result<()> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query("UPDATE compute_server_group SET name = name WHERE uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(db_err("lock server group"))?
            .rows_affected();
        if n == 0 {
            return Err(Error::not_found("server group", uuid));
        }
        let members = members_in(&mut tx, uuid).await?;
        if members.iter().any(|m| m == instance_uuid) {
            return Ok(());
        }
        if limit >= 0 && members.len() as i64 >= limit {
            return Err(Error::forbidden(
                "Quota exceeded, too many servers in group",
            ));
        }
        sqlx::query(
            "INSERT INTO compute_server_group_member (group_uuid, instance_uuid) VALUES ($1, $2) \
             ON CONFLICT (group_uuid, instance_uuid) DO NOTHING",
        )
        .bind(uuid)
        .bind(instance_uuid)
        .execute(&mut *tx)
        .await
        .map_err(db_err("add server group member"))?;
        tx.commit()
            .await
            .map_err(db_err("commit server group member"))?;
        Ok(())
    }

    /// Removes `instance_uuid` from group `uuid` (no-op when it is not a member).
    pub async fn server_group_remove_member(&self, uuid: &str, instance_uuid: &str) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "DELETE FROM compute_server_group_member WHERE group_uuid = $1 AND instance_uuid = $2",
        )
        .bind(uuid)
        .bind(instance_uuid)
        .execute(&mut *tx)
        .await
        .map_err(db_err("remove server group member"))?;
        tx.commit()
            .await
            .map_err(db_err("commit server group member"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(uuid: &str, project: &str) -> ServerGroup {
        ServerGroup {
            uuid: uuid.into(),
            name: format!("g-{uuid}"),
            project_id: project.into(),
            user_id: "u".into(),
            policy: "anti-affinity".into(),
            max_server_per_host: Some(2),
            members: vec![],
        }
    }

    #[tokio::test]
    async fn create_list_get_delete_with_the_groups_quota() {
        let (s, _d) = crate::test_store().await;
        s.server_group_create(&group("g1", "p1"), 2).await.unwrap();
        s.server_group_create(&group("g2", "p1"), 2).await.unwrap();
        s.server_group_create(&group("g3", "p2"), 2).await.unwrap();
        assert_eq!(
            s.server_group_create(&group("g4", "p1"), 2).await,
            Err(Error::Forbidden(
                "Quota exceeded, too many server groups.".into()
            ))
        );
        assert_eq!(
            s.server_group_get("g1").await.unwrap(),
            Some(group("g1", "p1"))
        );
        let ids = |v: Vec<ServerGroup>| v.into_iter().map(|g| g.uuid).collect::<Vec<_>>();
        assert_eq!(
            ids(s.server_group_list(Some("p1")).await.unwrap()),
            vec!["g1", "g2"]
        );
        assert_eq!(s.server_group_list(None).await.unwrap().len(), 3);
        assert_eq!(s.server_group_count("p1").await.unwrap(), 2);
        assert!(s.server_group_delete("g1").await.unwrap());
        assert!(!s.server_group_delete("g1").await.unwrap());
        assert_eq!(s.server_group_get("g1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn members_quota_and_deleted_instances() {
        let (s, _d) = crate::test_store().await;
        s.server_group_create(&group("g1", "p1"), -1).await.unwrap();
        s.server_group_add_member("g1", "i1", 2).await.unwrap();
        s.server_group_add_member("g1", "i1", 2).await.unwrap();
        s.server_group_add_member("g1", "i2", 2).await.unwrap();
        assert_eq!(
            s.server_group_add_member("g1", "i3", 2).await,
            Err(Error::Forbidden(
                "Quota exceeded, too many servers in group".into()
            ))
        );
        assert_eq!(
            s.server_group_add_member("nope", "i3", 2).await,
            Err(Error::not_found("server group", "nope"))
        );
        // A deleted instance leaves room and is no longer shown.
        s.db()
            .execute_raw(
            "INSERT INTO compute_instance (uuid, name, project_id, user_id, image_ref, flavor, \
             vm_state, power_state, hostname, locked, config_drive, access_ip_v4, access_ip_v6, \
             launch_index, reservation_id, progress, created_at, updated_at, deleted, generation) \
             VALUES ('i2', 'n', 'p1', 'u', '', '{}', 'deleted', 0, 'n', 0, 0, '', '', 0, 'r', 0, \
             't', 't', 1, 1)",
        )
        .await
        .unwrap();
        assert_eq!(
            s.server_group_get("g1").await.unwrap().unwrap().members,
            vec!["i1"]
        );
        s.server_group_add_member("g1", "i3", 2).await.unwrap();
        s.server_group_remove_member("g1", "i1").await.unwrap();
        let g = s.server_group_list(Some("p1")).await.unwrap();
        assert_eq!(g[0].members, vec!["i3"]);
    }
}
