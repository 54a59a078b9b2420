//! Per-project quota overrides (`net_quota`); defaults live in configuration.

use common_db::db_err;
use common_error::Result;
use network_model::QuotaSet;
use sqlx::AnyConnection;

use crate::{col, Store, WriteTx};

async fn get(c: &mut AnyConnection, project: &str) -> Result<QuotaSet> {
    let rows = sqlx::query("SELECT resource, hard_limit FROM net_quota WHERE project_id = $1")
        .bind(project)
        .fetch_all(c)
        .await
        .map_err(db_err("select quotas"))?;
    rows.iter()
        .map(|r| Ok((col(r, "resource")?, col(r, "hard_limit")?)))
        .collect()
}

impl Store {
    /// A project's overrides.
    pub async fn quota_get(&self, project: &str) -> Result<QuotaSet> {
        get(&mut *self.reader().await?, project).await
    }

    /// Every project with an override.
    pub async fn quota_projects(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT DISTINCT project_id FROM net_quota ORDER BY project_id")
            .fetch_all(self.db().reader())
            .await
            .map_err(db_err("select quota projects"))
    }
}

impl WriteTx {
    pub async fn quota_get(&mut self, project: &str) -> Result<QuotaSet> {
        get(&mut self.tx, project).await
    }

    pub async fn quota_set(&mut self, project: &str, resource: &str, limit: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO net_quota (project_id, resource, hard_limit) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = $3",
        )
        .bind(project)
        .bind(resource)
        .bind(limit)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("upsert quota"))?;
        Ok(())
    }

    /// Removes every override of a project (back to defaults).
    pub async fn quota_delete(&mut self, project: &str) -> Result<()> {
        sqlx::query("DELETE FROM net_quota WHERE project_id = $1")
            .bind(project)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete quotas"))?;
        Ok(())
    }
}
