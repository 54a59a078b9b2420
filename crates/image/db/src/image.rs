//! Images: rows, properties and tags; status compare-and-set; soft deletion; usage and blob
//! reference counts.

use std::collections::{BTreeMap, HashMap};

use common_db::{b2i, db_err, DbRow, Tx};
use common_error::{Error, Result};
use image_model::{Image, Status, Usage, Visibility};

use crate::query::{Bind, Select};
use crate::{col, flag, now_text, Store};

pub(crate) const COLUMNS: &str =
    "SELECT i.id, i.name, i.status, i.visibility, i.protected, i.os_hidden, \
     i.owner, i.disk_format, i.container_format, i.size, i.virtual_size, i.checksum, \
     i.os_hash_algo, i.os_hash_value, i.min_disk, i.min_ram, i.created_at, i.updated_at, \
     i.blob, i.generation FROM image i";

/// The data columns an upload or import sets (all `None` when an image goes back to queued).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataFields {
    pub size: Option<i64>,
    pub virtual_size: Option<i64>,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub blob: Option<String>,
}

fn from_row(row: &DbRow) -> Result<Image> {
    let status: String = col(row, "status")?;
    let visibility: String = col(row, "visibility")?;
    Ok(Image {
        id: col(row, "id")?,
        name: col(row, "name")?,
        status: Status::parse(&status)
            .ok_or_else(|| Error::internal("decode image", format!("status {status:?}")))?,
        visibility: Visibility::parse(&visibility)
            .ok_or_else(|| Error::internal("decode image", format!("visibility {visibility:?}")))?,
        protected: flag(row, "protected")?,
        os_hidden: flag(row, "os_hidden")?,
        owner: col(row, "owner")?,
        disk_format: col(row, "disk_format")?,
        container_format: col(row, "container_format")?,
        size: col(row, "size")?,
        virtual_size: col(row, "virtual_size")?,
        checksum: col(row, "checksum")?,
        os_hash_algo: col(row, "os_hash_algo")?,
        os_hash_value: col(row, "os_hash_value")?,
        min_disk: col(row, "min_disk")?,
        min_ram: col(row, "min_ram")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        tags: Vec::new(),
        properties: BTreeMap::new(),
        blob: col(row, "blob")?,
        generation: col(row, "generation")?,
    })
}

async fn write_children(tx: &mut Tx<'_>, img: &Image) -> Result<()> {
    sqlx::query("DELETE FROM image_property WHERE image_id = $1")
        .bind(&img.id)
        .execute(&mut **tx)
        .await
        .map_err(db_err("clear image properties"))?;
    sqlx::query("DELETE FROM image_tag WHERE image_id = $1")
        .bind(&img.id)
        .execute(&mut **tx)
        .await
        .map_err(db_err("clear image tags"))?;
    for (k, v) in &img.properties {
        sqlx::query("INSERT INTO image_property (image_id, name, value) VALUES ($1, $2, $3)")
            .bind(&img.id)
            .bind(k)
            .bind(v)
            .execute(&mut **tx)
            .await
            .map_err(db_err("insert image property"))?;
    }
    for t in &img.tags {
        sqlx::query("INSERT INTO image_tag (image_id, value) VALUES ($1, $2)")
            .bind(&img.id)
            .bind(t)
            .execute(&mut **tx)
            .await
            .map_err(db_err("insert image tag"))?;
    }
    Ok(())
}

impl Store {
    /// Inserts an image with its properties and tags. A used id (even of a deleted image) is
    /// a `Conflict`.
    pub async fn image_create(&self, img: &Image) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO image (id, name, status, visibility, protected, os_hidden, owner, \
             disk_format, container_format, size, virtual_size, checksum, os_hash_algo, \
             os_hash_value, min_disk, min_ram, blob, created_at, updated_at, deleted, generation) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, 0, $20)",
        )
        .bind(&img.id)
        .bind(img.name.clone())
        .bind(img.status.as_str())
        .bind(img.visibility.as_str())
        .bind(b2i(img.protected))
        .bind(b2i(img.os_hidden))
        .bind(img.owner.clone())
        .bind(img.disk_format.clone())
        .bind(img.container_format.clone())
        .bind(img.size)
        .bind(img.virtual_size)
        .bind(img.checksum.clone())
        .bind(img.os_hash_algo.clone())
        .bind(img.os_hash_value.clone())
        .bind(img.min_disk)
        .bind(img.min_ram)
        .bind(img.blob.clone())
        .bind(&img.created_at)
        .bind(&img.updated_at)
        .bind(img.generation)
        .execute(&mut *tx)
        .await
        .map_err(|e| match common_db::map_err("insert image", e) {
            Error::Conflict(_) => Error::Conflict(format!(
                "An image with identifier {} already exists",
                img.id
            )),
            other => other,
        })?;
        write_children(&mut tx, img).await?;
        tx.commit().await.map_err(db_err("commit image"))
    }

    /// A live (not deleted) image by id, with properties and tags.
    pub async fn image_get(&self, id: &str) -> Result<Option<Image>> {
        let mut s = Select::new(COLUMNS);
        s.cond("i.id = ?", vec![Bind::Text(id.to_string())])
            .cond("i.deleted = 0", vec![]);
        let rows = s.fetch_all(self.db().reader()).await?;
        Ok(self.with_children(rows).await?.pop())
    }

    /// Converts rows and loads their properties and tags in two queries.
    pub(crate) async fn with_children(&self, rows: Vec<DbRow>) -> Result<Vec<Image>> {
        let mut images = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        if images.is_empty() {
            return Ok(images);
        }
        let ids: Vec<String> = images.iter().map(|i| i.id.clone()).collect();
        let mut props: HashMap<String, BTreeMap<String, String>> = HashMap::new();
        let mut tags: HashMap<String, Vec<String>> = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut s = Select::new("SELECT image_id, name, value FROM image_property");
            s.in_text("image_id", chunk);
            for r in s.fetch_all(self.db().reader()).await? {
                props
                    .entry(col(&r, "image_id")?)
                    .or_default()
                    .insert(col(&r, "name")?, col(&r, "value")?);
            }
            let mut s = Select::new("SELECT image_id, value FROM image_tag");
            s.in_text("image_id", chunk);
            for r in s.fetch_all(self.db().reader()).await? {
                tags.entry(col(&r, "image_id")?)
                    .or_default()
                    .push(col(&r, "value")?);
            }
        }
        for img in &mut images {
            img.properties = props.remove(&img.id).unwrap_or_default();
            let mut t = tags.remove(&img.id).unwrap_or_default();
            t.sort();
            img.tags = t;
        }
        Ok(images)
    }

    /// Saves the metadata of `img` (everything but status and data fields) if its generation
    /// is still `img.generation`; returns the new generation. A lost race is a `Conflict`.
    pub async fn image_update(&self, img: &Image) -> Result<i64> {
        let mut tx = self.db().begin().await?;
        let res = sqlx::query(
            "UPDATE image SET name = $1, visibility = $2, protected = $3, os_hidden = $4, \
             owner = $5, disk_format = $6, container_format = $7, min_disk = $8, min_ram = $9, \
             updated_at = $10, generation = generation + 1 \
             WHERE id = $11 AND deleted = 0 AND generation = $12",
        )
        .bind(img.name.clone())
        .bind(img.visibility.as_str())
        .bind(b2i(img.protected))
        .bind(b2i(img.os_hidden))
        .bind(img.owner.clone())
        .bind(img.disk_format.clone())
        .bind(img.container_format.clone())
        .bind(img.min_disk)
        .bind(img.min_ram)
        .bind(&img.updated_at)
        .bind(&img.id)
        .bind(img.generation)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update image"))?;
        if res.rows_affected() == 0 {
            return Err(Error::conflict(
                "The image was changed by another request; try again.",
            ));
        }
        write_children(&mut tx, img).await?;
        tx.commit().await.map_err(db_err("commit image update"))?;
        Ok(img.generation + 1)
    }

    /// Moves a live image from one of `from` to `to`, setting the data fields when given.
    /// Returns false when the image is gone or in another status.
    pub async fn image_transition(
        &self,
        id: &str,
        from: &[Status],
        to: Status,
        data: Option<&DataFields>,
    ) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let ok = transition(&mut tx, id, from, to, data).await?;
        tx.commit().await.map_err(db_err("commit image status"))?;
        Ok(ok)
    }

    /// Soft-deletes a live image (status `deleted`) and its stage, members, tags and
    /// properties. Returns the blob keys it referenced, or `None` if it was already gone.
    pub async fn image_delete(&self, id: &str) -> Result<Option<Vec<String>>> {
        let mut tx = self.db().begin().await?;
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT blob FROM image WHERE id = $1 AND deleted = 0")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err("read image"))?;
        let Some((blob,)) = row else {
            return Ok(None);
        };
        let staged: Option<(String,)> =
            sqlx::query_as("SELECT blob FROM image_stage WHERE image_id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err("read image stage"))?;
        let now = now_text();
        sqlx::query(
            "UPDATE image SET status = 'deleted', deleted = 1, deleted_at = $1, updated_at = $1, \
             blob = NULL, generation = generation + 1 WHERE id = $2",
        )
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("delete image"))?;
        for table in ["image_stage", "image_member", "image_tag", "image_property"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE image_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err("delete image children"))?;
        }
        tx.commit().await.map_err(db_err("commit image delete"))?;
        Ok(Some(blob.into_iter().chain(staged.map(|s| s.0)).collect()))
    }

    /// How many live images and stages reference blob `key`.
    pub async fn blob_refs(&self, key: &str) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM image WHERE blob = $1 AND deleted = 0) + \
             (SELECT COUNT(*) FROM image_stage WHERE blob = $1)",
        )
        .bind(key)
        .fetch_one(self.db().reader())
        .await
        .map_err(db_err("count blob references"))?;
        Ok(n)
    }

    /// Every blob key a live image or stage references.
    pub async fn blob_keys(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT blob FROM image WHERE blob IS NOT NULL AND deleted = 0 \
             UNION SELECT blob FROM image_stage",
        )
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("list blob keys"))?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Images stuck in a transient upload state (after a crash): (id, status).
    pub async fn images_in_flight(&self) -> Result<Vec<(String, Status)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, status FROM image WHERE deleted = 0 AND status IN ('saving', 'uploading', 'importing')",
        )
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("list images in flight"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, s)| Status::parse(&s).map(|s| (id, s)))
            .collect())
    }

    /// What `owner` holds.
    pub async fn usage(&self, owner: &str) -> Result<Usage> {
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
        let (count, bytes, uploading): (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN status IN ('saving', 'uploading', 'importing') \
             THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM image WHERE owner = $1 AND deleted = 0",
        )
        .bind(owner)
        .fetch_one(self.db().reader())
        .await
        .map_err(db_err("image usage"))?;
        let (staged,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(s.size), 0) AS BIGINT) FROM image_stage s JOIN image i ON i.id = s.image_id \
             WHERE i.owner = $1 AND i.deleted = 0",
        )
        .bind(owner)
        .fetch_one(self.db().reader())
        .await
        .map_err(db_err("image staging usage"))?;
        Ok(Usage {
            count,
            bytes: bytes + staged,
            staged_bytes: staged,
            uploading,
        })
    }
}

/// The status compare-and-set, inside a caller's transaction.
pub(crate) async fn transition(
    tx: &mut Tx<'_>,
    id: &str,
    from: &[Status],
    to: Status,
    data: Option<&DataFields>,
) -> Result<bool> {
    if from.is_empty() {
        return Ok(false);
    }
    let mut sql =
        String::from("UPDATE image SET status = $1, updated_at = $2, generation = generation + 1");
    let mut n = 2;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if data.is_some() {
        let cols = [
            "size",
            "virtual_size",
            "checksum",
            "os_hash_algo",
            "os_hash_value",
            "blob",
        ];
        for c in cols {
            sql.push_str(&format!(", {c} = {}", next()));
        }
    }
    let id_mark = next();
    let marks: Vec<String> = from.iter().map(|_| next()).collect();
    sql.push_str(&format!(
        " WHERE id = {id_mark} AND deleted = 0 AND status IN ({})",
        marks.join(", ")
    ));
    let mut q = sqlx::query(&sql).bind(to.as_str()).bind(now_text());
    if let Some(d) = data {
        q = q
            .bind(d.size)
            .bind(d.virtual_size)
            .bind(d.checksum.clone())
            .bind(d.os_hash_algo.clone())
            .bind(d.os_hash_value.clone())
            .bind(d.blob.clone());
    }
    q = q.bind(id);
    for f in from {
        q = q.bind(f.as_str());
    }
    let res = q
        .execute(&mut **tx)
        .await
        .map_err(db_err("update image status"))?;
    Ok(res.rows_affected() == 1)
}
