//! The block storage service's store: every query on the volume tables (`vol_*`), rows
//! converted to `volume-model` types at the boundary, one migration set for SQLite and
//! PostgreSQL.
//!
//! Reads outside a transaction are `Store` methods on the read pool; writes (and the reads a
//! write decides on) go through a [`WriteTx`], one transaction per domain operation, so the
//! domain can check quota and insert in one atomic step. A status change is a
//! compare-and-set ([`WriteTx::volume_set_status`] names the statuses it may leave), so two
//! requests racing on one volume cannot both win. Must not depend on the domain or API layers
//! or other services.

use std::collections::BTreeMap;

use common_db::{b2i, db_err, Db, DbRow, Migration, Tx};
use common_error::{Error, Result};
use volume_model::driver::Connection;
use volume_model::{AttachStatus, Attachment, Snapshot, SnapshotStatus, Volume, VolumeStatus};

/// The volume schema, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "volumes",
    sql: include_str!("migrations/0001_volumes.sql"),
}];

/// The volume service's store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

/// One write transaction. Dropping it without [`commit`](WriteTx::commit) rolls back.
pub struct WriteTx {
    tx: Tx<'static>,
}

/// What a project uses, for quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub volumes: i64,
    pub snapshots: i64,
    /// GiB of volumes and snapshots.
    pub gigabytes: i64,
}

/// The current time in storage format (`2026-11-22T01:07:43.123456Z`).
pub fn now_text() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// A new resource id (a UUID, as Cinder's).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn col<'r, T>(row: &'r DbRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get::<T, _>(name)
        .map_err(|e| Error::internal(&format!("decode column {name}"), e))
}

fn flag(row: &DbRow, name: &str) -> Result<bool> {
    Ok(col::<i64>(row, name)? != 0)
}

fn json_col<T: serde::de::DeserializeOwned>(row: &DbRow, name: &str) -> Result<T> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| Error::internal(&format!("decode column {name}"), e))
}

fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn status_col<T>(row: &DbRow, name: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    let text: String = col(row, name)?;
    parse(&text).ok_or_else(|| Error::internal(&format!("decode column {name}"), text))
}

const VOLUME_COLUMNS: &str = "SELECT id, project_id, user_id, name, description, size, status, \
    attach_status, availability_zone, volume_type_id, bootable, multiattach, read_only, \
    snapshot_id, source_volid, image_id, metadata, image_metadata, host, created_at, \
    updated_at FROM vol_volume";

const ATTACHMENT_COLUMNS: &str = "SELECT id, volume_id, instance_uuid, attached_host, \
    mountpoint, attach_status, attach_mode, connection_info, attached_at, detached_at \
    FROM vol_attachment";

const SNAPSHOT_COLUMNS: &str = "SELECT id, volume_id, project_id, user_id, name, description, \
    size, status, metadata, created_at, updated_at FROM vol_snapshot";

fn volume_row(row: &DbRow) -> Result<Volume> {
    Ok(Volume {
        id: col(row, "id")?,
        project_id: col(row, "project_id")?,
        user_id: col(row, "user_id")?,
        name: col(row, "name")?,
        description: col(row, "description")?,
        size: col(row, "size")?,
        status: status_col(row, "status", VolumeStatus::parse)?,
        attach_status: status_col(row, "attach_status", AttachStatus::parse)?,
        availability_zone: col(row, "availability_zone")?,
        volume_type_id: col(row, "volume_type_id")?,
        bootable: flag(row, "bootable")?,
        multiattach: flag(row, "multiattach")?,
        read_only: flag(row, "read_only")?,
        snapshot_id: col(row, "snapshot_id")?,
        source_volid: col(row, "source_volid")?,
        image_id: col(row, "image_id")?,
        metadata: json_col(row, "metadata")?,
        image_metadata: json_col(row, "image_metadata")?,
        host: col(row, "host")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        attachments: Vec::new(),
    })
}

fn attachment_row(row: &DbRow) -> Result<Attachment> {
    let info: Option<String> = col(row, "connection_info")?;
    let connection_info: Option<Connection> = match info {
        Some(t) => Some(
            serde_json::from_str(&t)
                .map_err(|e| Error::internal("decode column connection_info", e))?,
        ),
        None => None,
    };
    Ok(Attachment {
        id: col(row, "id")?,
        volume_id: col(row, "volume_id")?,
        instance_uuid: col(row, "instance_uuid")?,
        attached_host: col(row, "attached_host")?,
        mountpoint: col(row, "mountpoint")?,
        attach_status: status_col(row, "attach_status", AttachStatus::parse)?,
        attach_mode: col(row, "attach_mode")?,
        connection_info,
        attached_at: col(row, "attached_at")?,
        detached_at: col(row, "detached_at")?,
    })
}

fn snapshot_row(row: &DbRow) -> Result<Snapshot> {
    Ok(Snapshot {
        id: col(row, "id")?,
        volume_id: col(row, "volume_id")?,
        project_id: col(row, "project_id")?,
        user_id: col(row, "user_id")?,
        name: col(row, "name")?,
        description: col(row, "description")?,
        size: col(row, "size")?,
        status: status_col(row, "status", SnapshotStatus::parse)?,
        metadata: json_col(row, "metadata")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

/// Attaches each volume's live attachments.
async fn fill_attachments<'e, E>(exec: E, vols: &mut [Volume]) -> Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if vols.is_empty() {
        return Ok(());
    }
    let sql =
        format!("{ATTACHMENT_COLUMNS} WHERE attach_status <> 'deleted' ORDER BY created_at, id");
    let rows = sqlx::query(&sql)
        .fetch_all(exec)
        .await
        .map_err(db_err("select attachments"))?;
    let mut by_volume: BTreeMap<String, Vec<Attachment>> = BTreeMap::new();
    for r in &rows {
        let a = attachment_row(r)?;
        by_volume.entry(a.volume_id.clone()).or_default().push(a);
    }
    for v in vols {
        v.attachments = by_volume.remove(&v.id).unwrap_or_default();
    }
    Ok(())
}

impl Store {
    pub fn new(db: Db) -> Self {
        Store { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Applies the volume service's migrations.
    pub async fn migrate(&self) -> Result<usize> {
        self.db.migrate("volume", MIGRATIONS).await
    }

    /// Begins a write transaction.
    pub async fn begin(&self) -> Result<WriteTx> {
        Ok(WriteTx {
            tx: self.db.begin().await?,
        })
    }

    /// Volume `id` with its attachments, any project's.
    pub async fn volume(&self, id: &str) -> Result<Option<Volume>> {
        let sql = format!("{VOLUME_COLUMNS} WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.db.reader())
            .await
            .map_err(db_err("select volume"))?;
        let Some(row) = row else { return Ok(None) };
        let mut v = [volume_row(&row)?];
        fill_attachments(self.db.reader(), &mut v).await?;
        let [v] = v;
        Ok(Some(v))
    }

    /// Every volume of `project_id` (every project's with `None`), oldest first.
    pub async fn volumes(&self, project_id: Option<&str>) -> Result<Vec<Volume>> {
        let rows = match project_id {
            Some(p) => {
                let sql = format!("{VOLUME_COLUMNS} WHERE project_id = $1 ORDER BY created_at, id");
                sqlx::query(&sql).bind(p).fetch_all(self.db.reader()).await
            }
            None => {
                let sql = format!("{VOLUME_COLUMNS} ORDER BY created_at, id");
                sqlx::query(&sql).fetch_all(self.db.reader()).await
            }
        }
        .map_err(db_err("select volumes"))?;
        let mut vols = rows.iter().map(volume_row).collect::<Result<Vec<_>>>()?;
        fill_attachments(self.db.reader(), &mut vols).await?;
        Ok(vols)
    }

    /// Attachment `id` (deleted ones too).
    pub async fn attachment(&self, id: &str) -> Result<Option<Attachment>> {
        let sql = format!("{ATTACHMENT_COLUMNS} WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.db.reader())
            .await
            .map_err(db_err("select attachment"))?
            .as_ref()
            .map(attachment_row)
            .transpose()
    }

    /// Every live attachment (recovery checks them against the driver's exports).
    pub async fn attachments(&self) -> Result<Vec<Attachment>> {
        let sql = format!(
            "{ATTACHMENT_COLUMNS} WHERE attach_status <> 'deleted' ORDER BY created_at, id"
        );
        sqlx::query(&sql)
            .fetch_all(self.db.reader())
            .await
            .map_err(db_err("select attachments"))?
            .iter()
            .map(attachment_row)
            .collect()
    }

    pub async fn snapshot(&self, id: &str) -> Result<Option<Snapshot>> {
        let sql = format!("{SNAPSHOT_COLUMNS} WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.db.reader())
            .await
            .map_err(db_err("select snapshot"))?
            .as_ref()
            .map(snapshot_row)
            .transpose()
    }

    /// Snapshots of `project_id` (every project's with `None`), oldest first.
    pub async fn snapshots(&self, project_id: Option<&str>) -> Result<Vec<Snapshot>> {
        let rows = match project_id {
            Some(p) => {
                let sql =
                    format!("{SNAPSHOT_COLUMNS} WHERE project_id = $1 ORDER BY created_at, id");
                sqlx::query(&sql).bind(p).fetch_all(self.db.reader()).await
            }
            None => {
                let sql = format!("{SNAPSHOT_COLUMNS} ORDER BY created_at, id");
                sqlx::query(&sql).fetch_all(self.db.reader()).await
            }
        }
        .map_err(db_err("select snapshots"))?;
        rows.iter().map(snapshot_row).collect()
    }

    /// The quota overrides of `project_id` (resource → limit).
    pub async fn quotas(&self, project_id: &str) -> Result<BTreeMap<String, i64>> {
        let rows = sqlx::query("SELECT resource, hard_limit FROM vol_quota WHERE project_id = $1")
            .bind(project_id)
            .fetch_all(self.db.reader())
            .await
            .map_err(db_err("select quotas"))?;
        rows.iter()
            .map(|r| Ok((col(r, "resource")?, col(r, "hard_limit")?)))
            .collect()
    }
}

impl WriteTx {
    /// Commits every write of the transaction.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(db_err("commit"))
    }

    /// What `project_id` uses now (inside the transaction, for a quota check before an
    /// insert).
    pub async fn usage(&mut self, project_id: &str) -> Result<Usage> {
        // SUM of a BIGINT is NUMERIC on PostgreSQL: cast it back.
        let (volumes, vgb): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM vol_volume \
             WHERE project_id = $1",
        )
        .bind(project_id)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err("count volumes"))?;
        let (snapshots, sgb): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM vol_snapshot \
             WHERE project_id = $1",
        )
        .bind(project_id)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err("count snapshots"))?;
        Ok(Usage {
            volumes,
            snapshots,
            gigabytes: vgb + sgb,
        })
    }

    pub async fn volume_insert(&mut self, v: &Volume) -> Result<()> {
        sqlx::query(
            "INSERT INTO vol_volume (id, project_id, user_id, name, description, size, status, \
             attach_status, availability_zone, volume_type_id, bootable, multiattach, read_only, \
             snapshot_id, source_volid, image_id, metadata, image_metadata, host, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16, $17, $18, $19, $20, $21)",
        )
        .bind(&v.id)
        .bind(&v.project_id)
        .bind(&v.user_id)
        .bind(&v.name)
        .bind(&v.description)
        .bind(v.size)
        .bind(v.status.as_str())
        .bind(v.attach_status.as_str())
        .bind(&v.availability_zone)
        .bind(&v.volume_type_id)
        .bind(b2i(v.bootable))
        .bind(b2i(v.multiattach))
        .bind(b2i(v.read_only))
        .bind(&v.snapshot_id)
        .bind(&v.source_volid)
        .bind(&v.image_id)
        .bind(json_text(&v.metadata))
        .bind(json_text(&v.image_metadata))
        .bind(&v.host)
        .bind(&v.created_at)
        .bind(&v.updated_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert volume"))?;
        Ok(())
    }

    /// Volume `id` as the transaction sees it (without attachments).
    pub async fn volume(&mut self, id: &str) -> Result<Option<Volume>> {
        let sql = format!("{VOLUME_COLUMNS} WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err("select volume"))?
            .as_ref()
            .map(volume_row)
            .transpose()
    }

    /// Moves volume `id` to `to` if its status is one of `from`; whether it moved.
    pub async fn volume_set_status(
        &mut self,
        id: &str,
        from: &[VolumeStatus],
        to: VolumeStatus,
    ) -> Result<bool> {
        let list: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        // The statuses are the model's constants, never user input.
        let sql =
            format!(
            "UPDATE vol_volume SET status = $1, updated_at = $2 WHERE id = $3 AND status IN ({})",
            if list.is_empty() { "''".to_string() } else { list.join(", ") }
        );
        let r = sqlx::query(&sql)
            .bind(to.as_str())
            .bind(now_text())
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("update volume status"))?;
        Ok(r.rows_affected() == 1)
    }

    /// Writes every mutable field of `v` (name, description, size, statuses, flags, metadata).
    pub async fn volume_update(&mut self, v: &Volume) -> Result<()> {
        sqlx::query(
            "UPDATE vol_volume SET name = $1, description = $2, size = $3, status = $4, \
             attach_status = $5, bootable = $6, read_only = $7, metadata = $8, \
             image_metadata = $9, project_id = $10, user_id = $11, updated_at = $12 \
             WHERE id = $13",
        )
        .bind(&v.name)
        .bind(&v.description)
        .bind(v.size)
        .bind(v.status.as_str())
        .bind(v.attach_status.as_str())
        .bind(b2i(v.bootable))
        .bind(b2i(v.read_only))
        .bind(json_text(&v.metadata))
        .bind(json_text(&v.image_metadata))
        .bind(&v.project_id)
        .bind(&v.user_id)
        .bind(now_text())
        .bind(&v.id)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("update volume"))?;
        Ok(())
    }

    /// Removes volume `id` and its attachment records.
    pub async fn volume_delete(&mut self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM vol_attachment WHERE volume_id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete attachments"))?;
        sqlx::query("DELETE FROM vol_volume WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete volume"))?;
        Ok(())
    }

    /// Live attachments of volume `id`.
    pub async fn attachments_of(&mut self, volume_id: &str) -> Result<Vec<Attachment>> {
        let sql = format!(
            "{ATTACHMENT_COLUMNS} WHERE volume_id = $1 AND attach_status <> 'deleted' \
             ORDER BY created_at, id"
        );
        sqlx::query(&sql)
            .bind(volume_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err("select attachments"))?
            .iter()
            .map(attachment_row)
            .collect()
    }

    /// Inserts or replaces attachment `a`.
    pub async fn attachment_put(&mut self, a: &Attachment) -> Result<()> {
        sqlx::query("DELETE FROM vol_attachment WHERE id = $1")
            .bind(&a.id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("replace attachment"))?;
        let info = a.connection_info.as_ref().map(json_text);
        sqlx::query(
            "INSERT INTO vol_attachment (id, volume_id, instance_uuid, attached_host, mountpoint, \
             attach_status, attach_mode, connection_info, attached_at, detached_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&a.id)
        .bind(&a.volume_id)
        .bind(&a.instance_uuid)
        .bind(&a.attached_host)
        .bind(&a.mountpoint)
        .bind(a.attach_status.as_str())
        .bind(&a.attach_mode)
        .bind(info)
        .bind(&a.attached_at)
        .bind(&a.detached_at)
        .bind(now_text())
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert attachment"))?;
        Ok(())
    }

    pub async fn attachment_delete(&mut self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM vol_attachment WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete attachment"))?;
        Ok(())
    }

    pub async fn snapshot_insert(&mut self, s: &Snapshot) -> Result<()> {
        sqlx::query(
            "INSERT INTO vol_snapshot (id, volume_id, project_id, user_id, name, description, \
             size, status, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11)",
        )
        .bind(&s.id)
        .bind(&s.volume_id)
        .bind(&s.project_id)
        .bind(&s.user_id)
        .bind(&s.name)
        .bind(&s.description)
        .bind(s.size)
        .bind(s.status.as_str())
        .bind(json_text(&s.metadata))
        .bind(&s.created_at)
        .bind(&s.updated_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert snapshot"))?;
        Ok(())
    }

    /// Snapshots of volume `volume_id` (a volume with snapshots cannot be deleted).
    pub async fn snapshot_count_of(&mut self, volume_id: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM vol_snapshot WHERE volume_id = $1")
            .bind(volume_id)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(db_err("count snapshots"))
    }

    pub async fn snapshot_set_status(&mut self, id: &str, to: SnapshotStatus) -> Result<()> {
        sqlx::query("UPDATE vol_snapshot SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(to.as_str())
            .bind(now_text())
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("update snapshot status"))?;
        Ok(())
    }

    pub async fn snapshot_delete(&mut self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM vol_snapshot WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete snapshot"))?;
        Ok(())
    }

    /// Sets (or with `None` removes) a quota override.
    pub async fn quota_set(
        &mut self,
        project_id: &str,
        resource: &str,
        limit: Option<i64>,
    ) -> Result<()> {
        sqlx::query("DELETE FROM vol_quota WHERE project_id = $1 AND resource = $2")
            .bind(project_id)
            .bind(resource)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete quota"))?;
        if let Some(l) = limit {
            sqlx::query(
                "INSERT INTO vol_quota (project_id, resource, hard_limit) VALUES ($1, $2, $3)",
            )
            .bind(project_id)
            .bind(resource)
            .bind(l)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("insert quota"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
