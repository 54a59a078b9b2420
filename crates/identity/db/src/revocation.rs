//! Token revocation events.

use common_db::{db_err, DbRow};
use common_error::Result;
use identity_model::RevocationEvent;

use crate::{col, new_id, Store};

fn from_row(row: &DbRow) -> Result<RevocationEvent> {
    Ok(RevocationEvent {
        user_id: col(row, "user_id")?,
        project_id: col(row, "project_id")?,
        domain_id: col(row, "domain_id")?,
        audit_id: col(row, "audit_id")?,
        audit_chain_id: col(row, "audit_chain_id")?,
        app_cred_id: col(row, "app_cred_id")?,
        issued_before: col(row, "issued_before")?,
        revoked_at: col(row, "revoked_at")?,
    })
}

impl Store {
    pub async fn revocation_create(&self, e: &RevocationEvent) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO revocation_event (id, user_id, project_id, domain_id, audit_id, \
             audit_chain_id, app_cred_id, issued_before, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id())
        .bind(e.user_id.clone())
        .bind(e.project_id.clone())
        .bind(e.domain_id.clone())
        .bind(e.audit_id.clone())
        .bind(e.audit_chain_id.clone())
        .bind(e.app_cred_id.clone())
        .bind(e.issued_before)
        .bind(e.revoked_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert revocation event"))?;
        tx.commit().await.map_err(db_err("commit revocation event"))
    }

    /// All events, oldest first.
    pub async fn revocation_list(&self) -> Result<Vec<RevocationEvent>> {
        let rows = sqlx::query(
            "SELECT user_id, project_id, domain_id, audit_id, audit_chain_id, app_cred_id, \
             issued_before, revoked_at FROM revocation_event ORDER BY revoked_at",
        )
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("list revocation events"))?;
        rows.iter().map(from_row).collect()
    }

    /// Removes events older than any token still alive (`revoked_at < before`).
    pub async fn revocation_prune(&self, before: i64) -> Result<u64> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query("DELETE FROM revocation_event WHERE revoked_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(db_err("prune revocation events"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit prune"))?;
        Ok(n)
    }
}
