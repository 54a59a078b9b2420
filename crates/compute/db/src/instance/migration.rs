//! Migrations (`compute_migration`): one row per resize, shown by `os-migrations`.

use common_db::{db_err, DbRow, Tx};
use common_error::Result;
use compute_model::Migration;

use crate::{col, now_text, Store};

pub(crate) const MIGRATION_COLUMNS: &str = "uuid, id, instance_uuid, migration_type, status, \
    source_compute, dest_compute, source_node, dest_node, old_flavor_id, new_flavor_id, \
    project_id, user_id, created_at, updated_at";

pub(crate) fn migration_row(r: &DbRow) -> Result<Migration> {
    Ok(Migration {
        uuid: col(r, "uuid")?,
        id: col(r, "id")?,
        instance_uuid: col(r, "instance_uuid")?,
        migration_type: col(r, "migration_type")?,
        status: col(r, "status")?,
        source_compute: col(r, "source_compute")?,
        dest_compute: col(r, "dest_compute")?,
        source_node: col(r, "source_node")?,
        dest_node: col(r, "dest_node")?,
        old_flavor_id: col(r, "old_flavor_id")?,
        new_flavor_id: col(r, "new_flavor_id")?,
        project_id: col(r, "project_id")?,
        user_id: col(r, "user_id")?,
        created_at: col(r, "created_at")?,
        updated_at: col(r, "updated_at")?,
    })
}

/// Inserts a migration; its integer `id` is the next free one (the given `id` is ignored).
pub(crate) async fn insert_migration(tx: &mut Tx<'static>, m: &Migration) -> Result<()> {
    let row = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS next FROM compute_migration")
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err("next migration id"))?;
    let id: i64 = col(&row, "next")?;
    sqlx::query(&format!(
        "INSERT INTO compute_migration ({MIGRATION_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&m.uuid)
    .bind(id)
    .bind(&m.instance_uuid)
    .bind(&m.migration_type)
    .bind(&m.status)
    .bind(&m.source_compute)
    .bind(&m.dest_compute)
    .bind(&m.source_node)
    .bind(&m.dest_node)
    .bind(&m.old_flavor_id)
    .bind(&m.new_flavor_id)
    .bind(&m.project_id)
    .bind(&m.user_id)
    .bind(&m.created_at)
    .bind(&m.updated_at)
    .execute(&mut **tx)
    .await
    .map_err(db_err("insert migration"))?;
    Ok(())
}

pub(crate) async fn set_status(tx: &mut Tx<'static>, uuid: &str, status: &str) -> Result<()> {
    sqlx::query("UPDATE compute_migration SET status = $1, updated_at = $2 WHERE uuid = $3")
        .bind(status)
        .bind(now_text())
        .bind(uuid)
        .execute(&mut **tx)
        .await
        .map_err(db_err("update migration"))?;
    Ok(())
}

impl Store {
    /// An instance's migrations, newest first.
    pub async fn migration_list_for_instance(&self, instance_uuid: &str) -> Result<Vec<Migration>> {
        let rows = sqlx::query(&format!(
            "SELECT {MIGRATION_COLUMNS} FROM compute_migration WHERE instance_uuid = $1 ORDER BY id DESC"
        ))
        .bind(instance_uuid)
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("read migrations"))?;
        rows.iter().map(migration_row).collect()
    }

    /// Sets a migration's status (`error` when a resize failed, ...).
    pub async fn migration_set_status(&self, uuid: &str, status: &str) -> Result<()> {
        let mut tx = self.db().begin().await?;
        set_status(&mut tx, uuid, status).await?;
        tx.commit().await.map_err(db_err("commit migration"))
    }
}
