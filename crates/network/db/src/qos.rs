//! QoS policies (`net_qos_policy`), their bandwidth limit rules, the project default
//! (`net_qos_policy_default`) and the `qos_policy_id` of ports and networks
//! (`net_qos_port_binding`, `net_qos_network_binding`).

use std::collections::BTreeMap;

use common_db::{b2i, db_err, DbRow};
use common_error::{Error, Result};
use network_model::l3::{direction_str, parse_direction, BandwidthLimitRule, QosPolicy};
use sqlx::AnyConnection;

use crate::{col, flag, Store, WriteTx};

const COLUMNS: &str = "SELECT q.id, q.project_id, q.name, q.description, q.shared, \
     q.created_at, q.updated_at, q.revision_number, \
     (SELECT COUNT(*) FROM net_qos_policy_default d WHERE d.qos_policy_id = q.id) AS is_default \
     FROM net_qos_policy q";

const RULE_COLUMNS: &str = "SELECT id, qos_policy_id, max_kbps, max_burst_kbps, direction \
     FROM net_qos_bandwidth_limit_rule";

fn from_row(row: &DbRow) -> Result<QosPolicy> {
    Ok(QosPolicy {
        id: col(row, "id")?,
        project_id: col(row, "project_id")?,
        name: col(row, "name")?,
        description: col(row, "description")?,
        shared: flag(row, "shared")?,
        is_default: col::<i64>(row, "is_default")? > 0,
        rules: Vec::new(),
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        revision_number: col(row, "revision_number")?,
    })
}

fn rule_from_row(row: &DbRow) -> Result<BandwidthLimitRule> {
    let direction: String = col(row, "direction")?;
    Ok(BandwidthLimitRule {
        id: col(row, "id")?,
        qos_policy_id: col(row, "qos_policy_id")?,
        max_kbps: col(row, "max_kbps")?,
        max_burst_kbps: col(row, "max_burst_kbps")?,
        direction: parse_direction(&direction).ok_or_else(|| {
            Error::internal("decode qos rule", format!("direction {direction:?}"))
        })?,
    })
}

async fn fill_rules(c: &mut AnyConnection, policies: &mut [QosPolicy]) -> Result<()> {
    if policies.is_empty() {
        return Ok(());
    }
    let rows = if policies.len() == 1 {
        sqlx::query(&format!("{RULE_COLUMNS} WHERE qos_policy_id = $1"))
            .bind(&policies[0].id)
            .fetch_all(&mut *c)
            .await
    } else {
        sqlx::query(RULE_COLUMNS).fetch_all(&mut *c).await
    }
    .map_err(db_err("select qos rules"))?;
    let mut by_policy: BTreeMap<String, Vec<BandwidthLimitRule>> = BTreeMap::new();
    for r in &rows {
        let rule = rule_from_row(r)?;
        by_policy
            .entry(rule.qos_policy_id.clone())
            .or_default()
            .push(rule);
    }
    for p in policies {
        p.rules = by_policy.remove(&p.id).unwrap_or_default();
        p.rules.sort_by(|a, b| a.id.cmp(&b.id));
    }
    Ok(())
}

pub(crate) async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<QosPolicy>> {
    let row = sqlx::query(&format!("{COLUMNS} WHERE q.id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err("select qos policy"))?;
    let Some(row) = row else { return Ok(None) };
    let mut p = [from_row(&row)?];
    fill_rules(c, &mut p).await?;
    let [p] = p;
    Ok(Some(p))
}

/// Policies `project` may see (its own and shared ones), or every policy.
pub(crate) async fn list(c: &mut AnyConnection, project: Option<&str>) -> Result<Vec<QosPolicy>> {
    let rows = match project {
        Some(p) => {
            sqlx::query(&format!(
                "{COLUMNS} WHERE q.project_id = $1 OR q.shared = 1 ORDER BY q.created_at, q.id"
            ))
            .bind(p)
            .fetch_all(&mut *c)
            .await
        }
        None => {
            sqlx::query(&format!("{COLUMNS} ORDER BY q.created_at, q.id"))
                .fetch_all(&mut *c)
                .await
        }
    }
    .map_err(db_err("select qos policies"))?;
    let mut out = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    fill_rules(c, &mut out).await?;
    Ok(out)
}

async fn bindings(
    c: &mut AnyConnection,
    table: &str,
    key: &str,
) -> Result<BTreeMap<String, String>> {
    let rows = sqlx::query(&format!("SELECT {key}, policy_id FROM {table}"))
        .fetch_all(&mut *c)
        .await
        .map_err(db_err("select qos bindings"))?;
    rows.iter()
        .map(|r| Ok((col(r, key)?, col(r, "policy_id")?)))
        .collect()
}

async fn binding(
    c: &mut AnyConnection,
    table: &str,
    key: &str,
    id: &str,
) -> Result<Option<String>> {
    sqlx::query_scalar(&format!("SELECT policy_id FROM {table} WHERE {key} = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err("select qos binding"))
}

const PORT_BINDING: (&str, &str) = ("net_qos_port_binding", "port_id");
const NETWORK_BINDING: (&str, &str) = ("net_qos_network_binding", "network_id");

impl Store {
    pub async fn qos_policy_get(&self, id: &str) -> Result<Option<QosPolicy>> {
        get(&mut *self.reader().await?, id).await
    }

    /// Policies `project` may see (own and shared), or all when `None`.
    pub async fn qos_policy_list(&self, project: Option<&str>) -> Result<Vec<QosPolicy>> {
        list(&mut *self.reader().await?, project).await
    }

    /// `qos_policy_id` of every port that has one.
    pub async fn qos_port_bindings(&self) -> Result<BTreeMap<String, String>> {
        bindings(&mut *self.reader().await?, PORT_BINDING.0, PORT_BINDING.1).await
    }

    /// `qos_policy_id` of every network that has one.
    pub async fn qos_network_bindings(&self) -> Result<BTreeMap<String, String>> {
        bindings(
            &mut *self.reader().await?,
            NETWORK_BINDING.0,
            NETWORK_BINDING.1,
        )
        .await
    }

    /// A port's `qos_policy_id`.
    pub async fn qos_policy_of_port(&self, port_id: &str) -> Result<Option<String>> {
        binding(
            &mut *self.reader().await?,
            PORT_BINDING.0,
            PORT_BINDING.1,
            port_id,
        )
        .await
    }

    /// A network's `qos_policy_id`.
    pub async fn qos_policy_of_network(&self, network_id: &str) -> Result<Option<String>> {
        binding(
            &mut *self.reader().await?,
            NETWORK_BINDING.0,
            NETWORK_BINDING.1,
            network_id,
        )
        .await
    }
}

impl WriteTx {
    pub async fn qos_policy_get(&mut self, id: &str) -> Result<Option<QosPolicy>> {
        get(&mut self.tx, id).await
    }

    pub async fn qos_policy_insert(&mut self, p: &QosPolicy) -> Result<()> {
        sqlx::query(
            "INSERT INTO net_qos_policy (id, project_id, name, description, shared, created_at, \
             updated_at, revision_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&p.id)
        .bind(&p.project_id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(b2i(p.shared))
        .bind(&p.created_at)
        .bind(&p.updated_at)
        .bind(p.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert qos policy"))?;
        Ok(())
    }

    /// Writes a policy's own columns (not `is_default`, not its rules).
    pub async fn qos_policy_update(&mut self, p: &QosPolicy) -> Result<()> {
        sqlx::query(
            "UPDATE net_qos_policy SET name = $2, description = $3, shared = $4, updated_at = $5, \
             revision_number = $6 WHERE id = $1",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(b2i(p.shared))
        .bind(&p.updated_at)
        .bind(p.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("update qos policy"))?;
        Ok(())
    }

    /// Deletes a policy with its rules and default mark (bindings must be gone).
    pub async fn qos_policy_delete(&mut self, id: &str) -> Result<bool> {
        for sql in [
            "DELETE FROM net_qos_bandwidth_limit_rule WHERE qos_policy_id = $1",
            "DELETE FROM net_qos_policy_default WHERE qos_policy_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *self.tx)
                .await
                .map_err(db_err("delete qos policy children"))?;
        }
        let r = sqlx::query("DELETE FROM net_qos_policy WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete qos policy"))?;
        Ok(r.rows_affected() > 0)
    }

    /// The project's default policy, if any.
    pub async fn qos_default_of(&mut self, project_id: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT qos_policy_id FROM net_qos_policy_default WHERE project_id = $1")
            .bind(project_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err("select default qos policy"))
    }

    /// Marks (or unmarks) a policy as its project's default. Another default of the project
    /// is a unique violation.
    pub async fn qos_set_default(&mut self, p: &QosPolicy, is_default: bool) -> Result<()> {
        if is_default {
            sqlx::query(
                "INSERT INTO net_qos_policy_default (project_id, qos_policy_id) VALUES ($1, $2)",
            )
            .bind(&p.project_id)
            .bind(&p.id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("insert default qos policy"))?;
        } else {
            sqlx::query("DELETE FROM net_qos_policy_default WHERE qos_policy_id = $1")
                .bind(&p.id)
                .execute(&mut *self.tx)
                .await
                .map_err(db_err("delete default qos policy"))?;
        }
        Ok(())
    }

    /// A port or network bound to the policy: `("port" | "network", id)`.
    pub async fn qos_policy_user(
        &mut self,
        policy_id: &str,
    ) -> Result<Option<(&'static str, String)>> {
        for (kind, (table, key)) in [("network", NETWORK_BINDING), ("port", PORT_BINDING)] {
            let id: Option<String> = sqlx::query_scalar(&format!(
                "SELECT {key} FROM {table} WHERE policy_id = $1 ORDER BY {key} LIMIT 1"
            ))
            .bind(policy_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err("select qos bindings"))?;
            if let Some(id) = id {
                return Ok(Some((kind, id)));
            }
        }
        Ok(None)
    }

    pub async fn qos_rule_insert(&mut self, r: &BandwidthLimitRule) -> Result<()> {
        sqlx::query(
            "INSERT INTO net_qos_bandwidth_limit_rule (id, qos_policy_id, max_kbps, \
             max_burst_kbps, direction) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&r.id)
        .bind(&r.qos_policy_id)
        .bind(r.max_kbps)
        .bind(r.max_burst_kbps)
        .bind(direction_str(r.direction))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert qos rule"))?;
        Ok(())
    }

    pub async fn qos_rule_update(&mut self, r: &BandwidthLimitRule) -> Result<()> {
        sqlx::query(
            "UPDATE net_qos_bandwidth_limit_rule SET max_kbps = $2, max_burst_kbps = $3, \
             direction = $4 WHERE id = $1",
        )
        .bind(&r.id)
        .bind(r.max_kbps)
        .bind(r.max_burst_kbps)
        .bind(direction_str(r.direction))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("update qos rule"))?;
        Ok(())
    }

    pub async fn qos_rule_delete(&mut self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM net_qos_bandwidth_limit_rule WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete qos rule"))?;
        Ok(r.rows_affected() > 0)
    }

    /// A port's `qos_policy_id`.
    pub async fn qos_policy_of_port(&mut self, port_id: &str) -> Result<Option<String>> {
        binding(&mut self.tx, PORT_BINDING.0, PORT_BINDING.1, port_id).await
    }

    /// A network's `qos_policy_id`.
    pub async fn qos_policy_of_network(&mut self, network_id: &str) -> Result<Option<String>> {
        binding(
            &mut self.tx,
            NETWORK_BINDING.0,
            NETWORK_BINDING.1,
            network_id,
        )
        .await
    }

    /// Sets or clears (`None`) a port's `qos_policy_id`.
    pub async fn qos_bind_port(&mut self, port_id: &str, policy_id: Option<&str>) -> Result<()> {
        self.qos_bind(PORT_BINDING, port_id, policy_id).await
    }

    /// Sets or clears (`None`) a network's `qos_policy_id`.
    pub async fn qos_bind_network(
        &mut self,
        network_id: &str,
        policy_id: Option<&str>,
    ) -> Result<()> {
        self.qos_bind(NETWORK_BINDING, network_id, policy_id).await
    }

    async fn qos_bind(
        &mut self,
        (table, key): (&str, &str),
        id: &str,
        policy_id: Option<&str>,
    ) -> Result<()> {
        sqlx::query(&format!("DELETE FROM {table} WHERE {key} = $1"))
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("clear qos binding"))?;
        if let Some(p) = policy_id {
            sqlx::query(&format!(
                "INSERT INTO {table} ({key}, policy_id) VALUES ($1, $2)"
            ))
            .bind(id)
            .bind(p)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("insert qos binding"))?;
        }
        Ok(())
    }
}
