//! An instance's metadata, tags and faults.

use std::collections::BTreeMap;

use common_db::{db_err, Tx};
use common_error::{Error, Result};
use compute_model::{Fault, Instance};

use super::sql::{chunks, Bind, Stmt};
use crate::{col, Store};

pub(crate) async fn insert_fault(tx: &mut Tx<'static>, uuid: &str, f: &Fault) -> Result<()> {
    sqlx::query(
        "INSERT INTO compute_instance_fault (id, instance_uuid, code, message, details, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(uuid)
    .bind(f.code)
    .bind(&f.message)
    .bind(&f.details)
    .bind(&f.created)
    .execute(&mut **tx)
    .await
    .map_err(db_err("insert instance fault"))?;
    Ok(())
}

/// Fails with `NotFound` unless the instance exists and is not deleted.
async fn live(tx: &mut Tx<'static>, uuid: &str) -> Result<()> {
    let row = sqlx::query("SELECT deleted FROM compute_instance WHERE uuid = $1")
        .bind(uuid)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err("read instance"))?;
    match row {
        Some(r) if col::<i64>(&r, "deleted")? == 0 => Ok(()),
        _ => Err(Error::not_found("instance", uuid)),
    }
}

async fn metadata_in(tx: &mut Tx<'static>, uuid: &str) -> Result<BTreeMap<String, String>> {
    let rows =
        sqlx::query("SELECT key, value FROM compute_instance_metadata WHERE instance_uuid = $1")
            .bind(uuid)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err("read instance metadata"))?;
    rows.iter()
        .map(|r| Ok((col(r, "key")?, col(r, "value")?)))
        .collect()
}

async fn tags_in(tx: &mut Tx<'static>, uuid: &str) -> Result<Vec<String>> {
    let rows =
        sqlx::query("SELECT tag FROM compute_instance_tag WHERE instance_uuid = $1 ORDER BY tag")
            .bind(uuid)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err("read instance tags"))?;
    rows.iter().map(|r| col(r, "tag")).collect()
}

fn too_many_tags(max: i64) -> Error {
    Error::BadRequest(format!(
        "The number of tags exceeded the per-server limit {max}"
    ))
}

impl Store {
    /// Loads metadata, tags and the latest fault of `instances` (a few queries in all).
    pub(crate) async fn fill(&self, instances: &mut [Instance]) -> Result<()> {
        if instances.is_empty() {
            return Ok(());
        }
        let uuids: Vec<String> = instances.iter().map(|i| i.uuid.clone()).collect();
        let mut meta: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut faults: BTreeMap<String, Fault> = BTreeMap::new();
        for part in chunks(&uuids) {
            let list: Vec<Bind> = part.iter().cloned().map(Bind::Text).collect();
            let mut s = Stmt::new("SELECT instance_uuid, key, value FROM compute_instance_metadata WHERE instance_uuid IN ");
            s.push_list(list.clone());
            for r in s
                .fetch_all(self.db().reader(), "read instance metadata")
                .await?
            {
                meta.entry(col(&r, "instance_uuid")?)
                    .or_default()
                    .insert(col(&r, "key")?, col(&r, "value")?);
            }
            let mut s = Stmt::new(
                "SELECT instance_uuid, tag FROM compute_instance_tag WHERE instance_uuid IN ",
            );
            s.push_list(list.clone()).push(" ORDER BY tag", vec![]);
            for r in s
                .fetch_all(self.db().reader(), "read instance tags")
                .await?
            {
                tags.entry(col(&r, "instance_uuid")?)
                    .or_default()
                    .push(col(&r, "tag")?);
            }
            let mut s = Stmt::new(
                "SELECT instance_uuid, code, message, details, created_at FROM compute_instance_fault WHERE instance_uuid IN ",
            );
            s.push_list(list).push(" ORDER BY created_at, id", vec![]);
            for r in s
                .fetch_all(self.db().reader(), "read instance faults")
                .await?
            {
                faults.insert(
                    col(&r, "instance_uuid")?,
                    Fault {
                        code: col(&r, "code")?,
                        message: col(&r, "message")?,
                        details: col(&r, "details")?,
                        created: col(&r, "created_at")?,
                    },
                );
            }
        }
        for i in instances.iter_mut() {
            i.metadata = meta.remove(&i.uuid).unwrap_or_default();
            i.tags = tags.remove(&i.uuid).unwrap_or_default();
            i.fault = faults.remove(&i.uuid);
        }
        Ok(())
    }

    /// Records a fault on an instance (deleted or not).
    pub async fn instance_fault_add(&self, uuid: &str, fault: &Fault) -> Result<()> {
        let mut tx = self.db().begin().await?;
        insert_fault(&mut tx, uuid, fault).await?;
        tx.commit().await.map_err(db_err("commit instance fault"))
    }

    /// Replaces (`replace`) or merges an instance's metadata; returns the whole set.
    /// `Forbidden` ("Maximum number of metadata items exceeds N") when the result would have
    /// more than `max_items` (negative: unlimited) items.
    pub async fn instance_metadata_set(
        &self,
        uuid: &str,
        items: &BTreeMap<String, String>,
        replace: bool,
        max_items: i64,
    ) -> Result<BTreeMap<String, String>> {
        let mut tx = self.db().begin().await?;
        live(&mut tx, uuid).await?;
        if replace {
            sqlx::query("DELETE FROM compute_instance_metadata WHERE instance_uuid = $1")
                .bind(uuid)
                .execute(&mut *tx)
                .await
                .map_err(db_err("clear instance metadata"))?;
        }
        for (k, v) in items {
            sqlx::query(
                "INSERT INTO compute_instance_metadata (instance_uuid, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (instance_uuid, key) DO UPDATE SET value = excluded.value",
            )
            .bind(uuid)
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(db_err("write instance metadata"))?;
        }
        let all = metadata_in(&mut tx, uuid).await?;
        if max_items >= 0 && all.len() as i64 > max_items {
            return Err(Error::Forbidden(format!(
                "Maximum number of metadata items exceeds {max_items}"
            )));
        }
        tx.commit()
            .await
            .map_err(db_err("commit instance metadata"))?;
        Ok(all)
    }

    /// Removes one metadata key; `NotFound` ("metadata item") when absent.
    pub async fn instance_metadata_delete(&self, uuid: &str, key: &str) -> Result<()> {
        let mut tx = self.db().begin().await?;
        live(&mut tx, uuid).await?;
        let n = sqlx::query(
            "DELETE FROM compute_instance_metadata WHERE instance_uuid = $1 AND key = $2",
        )
        .bind(uuid)
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(db_err("delete instance metadata"))?
        .rows_affected();
        if n == 0 {
            return Err(Error::not_found("metadata item", key));
        }
        tx.commit()
            .await
            .map_err(db_err("commit instance metadata"))
    }

    /// Replaces the tag set; `BadRequest` beyond `max` tags. Returns the set, sorted.
    pub async fn instance_tags_set(
        &self,
        uuid: &str,
        tags: &[String],
        max: i64,
    ) -> Result<Vec<String>> {
        let mut tx = self.db().begin().await?;
        live(&mut tx, uuid).await?;
        sqlx::query("DELETE FROM compute_instance_tag WHERE instance_uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(db_err("clear instance tags"))?;
        for t in tags {
            sqlx::query(
                "INSERT INTO compute_instance_tag (instance_uuid, tag) VALUES ($1, $2) \
                 ON CONFLICT (instance_uuid, tag) DO NOTHING",
            )
            .bind(uuid)
            .bind(t)
            .execute(&mut *tx)
            .await
            .map_err(db_err("write instance tag"))?;
        }
        let all = tags_in(&mut tx, uuid).await?;
        if all.len() as i64 > max {
            return Err(too_many_tags(max));
        }
        tx.commit().await.map_err(db_err("commit instance tags"))?;
        Ok(all)
    }

    /// Adds one tag; false when it was there already. `BadRequest` beyond `max` tags.
    pub async fn instance_tag_add(&self, uuid: &str, tag: &str, max: i64) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        live(&mut tx, uuid).await?;
        let n = sqlx::query(
            "INSERT INTO compute_instance_tag (instance_uuid, tag) VALUES ($1, $2) \
             ON CONFLICT (instance_uuid, tag) DO NOTHING",
        )
        .bind(uuid)
        .bind(tag)
        .execute(&mut *tx)
        .await
        .map_err(db_err("write instance tag"))?
        .rows_affected();
        if tags_in(&mut tx, uuid).await?.len() as i64 > max {
            return Err(too_many_tags(max));
        }
        tx.commit().await.map_err(db_err("commit instance tags"))?;
        Ok(n == 1)
    }

    /// Removes one tag; `NotFound` ("tag") when absent.
    pub async fn instance_tag_delete(&self, uuid: &str, tag: &str) -> Result<()> {
        let mut tx = self.db().begin().await?;
        live(&mut tx, uuid).await?;
        let n =
            sqlx::query("DELETE FROM compute_instance_tag WHERE instance_uuid = $1 AND tag = $2")
                .bind(uuid)
                .bind(tag)
                .execute(&mut *tx)
                .await
                .map_err(db_err("delete instance tag"))?
                .rows_affected();
        if n == 0 {
            return Err(Error::not_found("tag", tag));
        }
        tx.commit().await.map_err(db_err("commit instance tags"))
    }
}
