//! Quota limits (`compute_quota`: a project's overrides of the configured defaults) and the
//! usage the instance store keeps (`compute_quota_usage`, written only by the instance store
//! inside its own transactions).

use std::collections::BTreeMap;

use common_db::db_err;
use common_error::Result;

use crate::{col, Store};

/// Every quota resource Nova's `os-quota-sets` knows, in Nova's order.
pub const QUOTA_RESOURCES: [&str; 14] = [
    "instances",
    "cores",
    "ram",
    "floating_ips",
    "fixed_ips",
    "metadata_items",
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
    "security_groups",
    "security_group_rules",
    "key_pairs",
    "server_groups",
    "server_group_members",
];

impl Store {
    /// `project_id`'s limits: `defaults` overridden by the project's rows. Resources that are
    /// only in the project's rows are included as well.
    pub async fn quota_limits(
        &self,
        project_id: &str,
        defaults: &BTreeMap<String, i64>,
    ) -> Result<BTreeMap<String, i64>> {
        let mut limits = defaults.clone();
        limits.extend(self.quota_overrides(project_id).await?);
        Ok(limits)
    }

    /// Only the limits set for `project_id` (no defaults).
    pub async fn quota_overrides(&self, project_id: &str) -> Result<BTreeMap<String, i64>> {
        let rows =
            sqlx::query("SELECT resource, hard_limit FROM compute_quota WHERE project_id = $1")
                .bind(project_id)
                .fetch_all(self.db().reader())
                .await
                .map_err(db_err("read quota limits"))?;
        rows.iter()
            .map(|r| Ok((col(r, "resource")?, col(r, "hard_limit")?)))
            .collect()
    }

    /// Sets `project_id`'s limits for the given resources (others keep theirs), in one
    /// transaction.
    pub async fn quota_set(&self, project_id: &str, limits: &BTreeMap<String, i64>) -> Result<()> {
        let mut tx = self.db().begin().await?;
        for (resource, limit) in limits {
            sqlx::query(
                "INSERT INTO compute_quota (project_id, resource, hard_limit) VALUES ($1, $2, $3) \
                 ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = $3",
            )
            .bind(project_id)
            .bind(resource)
            .bind(*limit)
            .execute(&mut *tx)
            .await
            .map_err(db_err("write quota limit"))?;
        }
        tx.commit().await.map_err(db_err("commit quota limits"))?;
        Ok(())
    }

    /// Drops every limit set for `project_id`: it is back on the defaults.
    pub async fn quota_delete(&self, project_id: &str) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query("DELETE FROM compute_quota WHERE project_id = $1")
            .bind(project_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete quota limits"))?;
        tx.commit().await.map_err(db_err("commit quota delete"))?;
        Ok(())
    }

    /// What `project_id` uses of instances, cores and ram (0 for each with no row yet).
    pub async fn quota_usage(&self, project_id: &str) -> Result<BTreeMap<String, i64>> {
        let mut used: BTreeMap<String, i64> = crate::INSTANCE_QUOTA_RESOURCES
            .iter()
            .map(|r| (r.to_string(), 0))
            .collect();
        let rows =
            sqlx::query("SELECT resource, in_use FROM compute_quota_usage WHERE project_id = $1")
                .bind(project_id)
                .fetch_all(self.db().reader())
                .await
                .map_err(db_err("read quota usage"))?;
        for r in &rows {
            used.insert(col(r, "resource")?, col(r, "in_use")?);
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kv: &[(&str, i64)]) -> BTreeMap<String, i64> {
        kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[tokio::test]
    async fn limits_override_defaults_and_delete_reverts() {
        let (s, _d) = crate::test_store().await;
        let defaults = m(&[("instances", 10), ("cores", 20)]);
        assert_eq!(s.quota_limits("p1", &defaults).await.unwrap(), defaults);
        s.quota_set("p1", &m(&[("instances", 7), ("key_pairs", 3)]))
            .await
            .unwrap();
        s.quota_set("p1", &m(&[("instances", 8)])).await.unwrap();
        assert_eq!(
            s.quota_limits("p1", &defaults).await.unwrap(),
            m(&[("instances", 8), ("cores", 20), ("key_pairs", 3)])
        );
        assert_eq!(s.quota_limits("p2", &defaults).await.unwrap(), defaults);
        s.quota_delete("p1").await.unwrap();
        assert_eq!(s.quota_limits("p1", &defaults).await.unwrap(), defaults);
    }

    #[tokio::test]
    async fn usage_reads_zero_without_rows() {
        let (s, _d) = crate::test_store().await;
        assert_eq!(
            s.quota_usage("p1").await.unwrap(),
            m(&[("instances", 0), ("cores", 0), ("ram", 0)])
        );
        s.db()
            .execute_raw(
                "INSERT INTO compute_quota_usage (project_id, resource, in_use) \
                 VALUES ('p1', 'cores', 4)",
            )
            .await
            .unwrap();
        assert_eq!(s.quota_usage("p1").await.unwrap()["cores"], 4);
    }
}
