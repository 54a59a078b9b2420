//! Security groups, their rules, and each project's `default` group.

use std::collections::HashMap;

use common_db::{b2i, db_err, DbRow};
use common_error::Result;
use network_model::{SecurityGroup, SecurityGroupRule};
use sqlx::AnyConnection;

use crate::{col, flag, Store, WriteTx};

const GROUP_COLUMNS: &str = "SELECT g.id, g.project_id, g.name, g.description, g.stateful, \
     g.created_at, g.updated_at, g.revision_number FROM net_security_group g";

const RULE_COLUMNS: &str = "SELECT r.id, r.project_id, r.security_group_id, r.direction, \
     r.ethertype, r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix, \
     r.remote_group_id, r.description, r.created_at, r.updated_at, r.revision_number \
     FROM net_security_group_rule r";

fn group_from_row(row: &DbRow) -> Result<SecurityGroup> {
    Ok(SecurityGroup {
        id: col(row, "id")?,
        project_id: col(row, "project_id")?,
        name: col(row, "name")?,
        description: col(row, "description")?,
        stateful: flag(row, "stateful")?,
        rules: Vec::new(),
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        revision_number: col(row, "revision_number")?,
    })
}

fn rule_from_row(row: &DbRow) -> Result<SecurityGroupRule> {
    Ok(SecurityGroupRule {
        id: col(row, "id")?,
        project_id: col(row, "project_id")?,
        security_group_id: col(row, "security_group_id")?,
        direction: col(row, "direction")?,
        ethertype: col(row, "ethertype")?,
        protocol: col(row, "protocol")?,
        port_range_min: col(row, "port_range_min")?,
        port_range_max: col(row, "port_range_max")?,
        remote_ip_prefix: col(row, "remote_ip_prefix")?,
        remote_group_id: col(row, "remote_group_id")?,
        description: col(row, "description")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        revision_number: col(row, "revision_number")?,
    })
}

async fn rules(c: &mut AnyConnection, group: Option<&str>) -> Result<Vec<SecurityGroupRule>> {
    let rows = match group {
        Some(g) => {
            sqlx::query(&format!(
                "{RULE_COLUMNS} WHERE r.security_group_id = $1 ORDER BY r.created_at, r.id"
            ))
            .bind(g)
            .fetch_all(c)
            .await
        }
        None => {
            sqlx::query(&format!("{RULE_COLUMNS} ORDER BY r.created_at, r.id"))
                .fetch_all(c)
                .await
        }
    }
    .map_err(db_err("select security group rules"))?;
    rows.iter().map(rule_from_row).collect()
}

pub(crate) async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<SecurityGroup>> {
    let row = sqlx::query(&format!("{GROUP_COLUMNS} WHERE g.id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err("select security group"))?;
    let Some(row) = row else { return Ok(None) };
    let mut g = group_from_row(&row)?;
    g.rules = rules(c, Some(id)).await?;
    Ok(Some(g))
}

pub(crate) async fn list(
    c: &mut AnyConnection,
    project: Option<&str>,
) -> Result<Vec<SecurityGroup>> {
    let rows = match project {
        Some(p) => {
            sqlx::query(&format!(
                "{GROUP_COLUMNS} WHERE g.project_id = $1 ORDER BY g.created_at, g.id"
            ))
            .bind(p)
            .fetch_all(&mut *c)
            .await
        }
        None => {
            sqlx::query(&format!("{GROUP_COLUMNS} ORDER BY g.created_at, g.id"))
                .fetch_all(&mut *c)
                .await
        }
    }
    .map_err(db_err("select security groups"))?;
    let mut groups = rows
        .iter()
        .map(group_from_row)
        .collect::<Result<Vec<_>>>()?;
    let mut by_group: HashMap<String, Vec<SecurityGroupRule>> = HashMap::new();
    for r in rules(c, None).await? {
        by_group
            .entry(r.security_group_id.clone())
            .or_default()
            .push(r);
    }
    for g in &mut groups {
        g.rules = by_group.remove(&g.id).unwrap_or_default();
    }
    Ok(groups)
}

async fn rule_get(c: &mut AnyConnection, id: &str) -> Result<Option<SecurityGroupRule>> {
    let row = sqlx::query(&format!("{RULE_COLUMNS} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(c)
        .await
        .map_err(db_err("select security group rule"))?;
    row.as_ref().map(rule_from_row).transpose()
}

async fn default_id(c: &mut AnyConnection, project: &str) -> Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT security_group_id FROM net_default_security_group WHERE project_id = $1",
    )
    .bind(project)
    .fetch_optional(c)
    .await
    .map_err(db_err("select default security group"))
}

impl Store {
    pub async fn security_group_get(&self, id: &str) -> Result<Option<SecurityGroup>> {
        get(&mut *self.reader().await?, id).await
    }

    /// Groups of `project`, or every group, with their rules.
    pub async fn security_group_list(&self, project: Option<&str>) -> Result<Vec<SecurityGroup>> {
        list(&mut *self.reader().await?, project).await
    }

    pub async fn security_group_rule_get(&self, id: &str) -> Result<Option<SecurityGroupRule>> {
        rule_get(&mut *self.reader().await?, id).await
    }

    /// Rules of `project` and of its groups, or every rule.
    pub async fn security_group_rule_list(
        &self,
        project: Option<&str>,
    ) -> Result<Vec<SecurityGroupRule>> {
        let mut c = self.reader().await?;
        let rows = match project {
            Some(p) => sqlx::query(&format!(
                "{RULE_COLUMNS} WHERE r.project_id = $1 OR r.security_group_id IN \
                 (SELECT id FROM net_security_group WHERE project_id = $1) ORDER BY r.created_at, r.id"
            ))
            .bind(p)
            .fetch_all(&mut *c)
            .await,
            None => sqlx::query(&format!("{RULE_COLUMNS} ORDER BY r.created_at, r.id"))
                .fetch_all(&mut *c)
                .await,
        }
        .map_err(db_err("select security group rules"))?;
        rows.iter().map(rule_from_row).collect()
    }

    /// The id of `project`'s `default` group, once created.
    pub async fn default_security_group_id(&self, project: &str) -> Result<Option<String>> {
        default_id(&mut *self.reader().await?, project).await
    }
}

impl WriteTx {
    pub async fn security_group_get(&mut self, id: &str) -> Result<Option<SecurityGroup>> {
        get(&mut self.tx, id).await
    }

    pub async fn security_group_rule_get(&mut self, id: &str) -> Result<Option<SecurityGroupRule>> {
        rule_get(&mut self.tx, id).await
    }

    pub async fn default_security_group_id(&mut self, project: &str) -> Result<Option<String>> {
        default_id(&mut self.tx, project).await
    }

    /// Records `group_id` as `project`'s default group. False when the project already has
    /// one (another request won the race): the caller rolls back and reads it.
    pub async fn default_security_group_claim(
        &mut self,
        project: &str,
        group_id: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO net_default_security_group (project_id, security_group_id) VALUES ($1, $2) \
             ON CONFLICT (project_id) DO NOTHING",
        )
        .bind(project)
        .bind(group_id)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert default security group"))?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn security_group_insert(&mut self, g: &SecurityGroup) -> Result<()> {
        sqlx::query(
            "INSERT INTO net_security_group (id, project_id, name, description, stateful, \
             created_at, updated_at, revision_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&g.id)
        .bind(&g.project_id)
        .bind(&g.name)
        .bind(&g.description)
        .bind(b2i(g.stateful))
        .bind(&g.created_at)
        .bind(&g.updated_at)
        .bind(g.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert security group"))?;
        Ok(())
    }

    pub async fn security_group_update(&mut self, g: &SecurityGroup) -> Result<()> {
        sqlx::query(
            "UPDATE net_security_group SET name = $2, description = $3, stateful = $4, \
             updated_at = $5, revision_number = $6 WHERE id = $1",
        )
        .bind(&g.id)
        .bind(&g.name)
        .bind(&g.description)
        .bind(b2i(g.stateful))
        .bind(&g.updated_at)
        .bind(g.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("update security group"))?;
        Ok(())
    }

    /// Ports that use a group.
    pub async fn security_group_ports(&mut self, id: &str) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM net_port_security_group WHERE security_group_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err("count security group ports"))
    }

    /// Deletes a group, its rules and the rules elsewhere that name it as remote group.
    pub async fn security_group_delete(&mut self, id: &str) -> Result<bool> {
        for sql in [
            "DELETE FROM net_security_group_rule WHERE security_group_id = $1 OR remote_group_id = $1",
            "DELETE FROM net_default_security_group WHERE security_group_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *self.tx)
                .await
                .map_err(db_err("delete security group rules"))?;
        }
        let r = sqlx::query("DELETE FROM net_security_group WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete security group"))?;
        Ok(r.rows_affected() > 0)
    }

    /// The rule with this fingerprint, if one exists.
    pub async fn security_group_rule_by_fingerprint(
        &mut self,
        fingerprint: &str,
    ) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT id FROM net_security_group_rule WHERE fingerprint = $1")
            .bind(fingerprint)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err("select rule fingerprint"))
    }

    /// Inserts a rule; an equal rule (same fingerprint) is a unique violation.
    pub async fn security_group_rule_insert(
        &mut self,
        r: &SecurityGroupRule,
        fingerprint: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO net_security_group_rule (id, project_id, security_group_id, direction, \
             ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix, \
             remote_group_id, description, fingerprint, created_at, updated_at, revision_number) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&r.id)
        .bind(&r.project_id)
        .bind(&r.security_group_id)
        .bind(&r.direction)
        .bind(&r.ethertype)
        .bind(r.protocol.clone())
        .bind(r.port_range_min)
        .bind(r.port_range_max)
        .bind(r.remote_ip_prefix.clone())
        .bind(r.remote_group_id.clone())
        .bind(&r.description)
        .bind(fingerprint)
        .bind(&r.created_at)
        .bind(&r.updated_at)
        .bind(r.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert security group rule"))?;
        Ok(())
    }

    /// Writes a rule's description (the only attribute Neutron lets change).
    pub async fn security_group_rule_update(&mut self, r: &SecurityGroupRule) -> Result<()> {
        sqlx::query(
            "UPDATE net_security_group_rule SET description = $2, updated_at = $3, \
             revision_number = $4 WHERE id = $1",
        )
        .bind(&r.id)
        .bind(&r.description)
        .bind(&r.updated_at)
        .bind(r.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("update security group rule"))?;
        Ok(())
    }

    pub async fn security_group_rule_delete(&mut self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM net_security_group_rule WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete security group rule"))?;
        Ok(r.rows_affected() > 0)
    }

    /// Bumps a group's revision (its rules changed).
    pub async fn security_group_touch(&mut self, id: &str, now: &str) -> Result<()> {
        sqlx::query(
            "UPDATE net_security_group SET revision_number = revision_number + 1, updated_at = $2 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("touch security group"))?;
        Ok(())
    }
}
