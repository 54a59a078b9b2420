//! Resource providers, their traits and aggregates, and the snapshot lists filter on.

use std::collections::BTreeMap;

use common_db::{db_err, map_err, DbRow};
use common_error::{Error, Result};
use placement_model::{Inventory, ResourceProvider, Snapshot};

use crate::{bump, coded_conflict, col, now_text, Store};

fn from_row(row: &DbRow) -> Result<ResourceProvider> {
    Ok(ResourceProvider {
        uuid: col(row, "uuid")?,
        name: col(row, "name")?,
        generation: col(row, "generation")?,
        parent_provider_uuid: col(row, "parent_uuid")?,
        root_provider_uuid: col(row, "root_uuid")?,
    })
}

const COLUMNS: &str =
    "SELECT uuid, name, generation, parent_uuid, root_uuid FROM placement_provider";

fn dup(e: sqlx::Error, uuid: &str, name: &str) -> Error {
    match map_err("write resource provider", e) {
        Error::Conflict(_) => coded_conflict(
            "placement.duplicate_name",
            format!("Conflicting resource provider name: {name} already exists (or uuid {uuid})."),
        ),
        other => other,
    }
}

impl Store {
    /// Creates a provider (generation 0); the parent must exist (`BadRequest` otherwise).
    pub async fn provider_create(
        &self,
        uuid: &str,
        name: &str,
        parent: Option<&str>,
    ) -> Result<ResourceProvider> {
        let mut tx = self.db().begin().await?;
        let root = match parent {
            Some(p) => {
                let r: Option<(String,)> =
                    sqlx::query_as("SELECT root_uuid FROM placement_provider WHERE uuid = $1")
                        .bind(p)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err("read parent provider"))?;
                match r {
                    Some((root,)) => root,
                    None => {
                        return Err(Error::bad_request(format!(
                            "parent provider UUID {p} does not exist."
                        )))
                    }
                }
            }
            None => uuid.to_string(),
        };
        let now = now_text();
        sqlx::query(
            "INSERT INTO placement_provider (uuid, name, generation, parent_uuid, root_uuid, created_at, updated_at) \
             VALUES ($1, $2, 0, $3, $4, $5, $5)",
        )
        .bind(uuid)
        .bind(name)
        .bind(parent)
        .bind(&root)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(|e| dup(e, uuid, name))?;
        tx.commit().await.map_err(db_err("commit provider"))?;
        Ok(ResourceProvider {
            uuid: uuid.into(),
            name: name.into(),
            generation: 0,
            parent_provider_uuid: parent.map(str::to_string),
            root_provider_uuid: root,
        })
    }

    pub async fn provider_get(&self, uuid: &str) -> Result<Option<ResourceProvider>> {
        let row = sqlx::query(&format!("{COLUMNS} WHERE uuid = $1"))
            .bind(uuid)
            .fetch_optional(self.db().reader())
            .await
            .map_err(db_err("read provider"))?;
        row.as_ref().map(from_row).transpose()
    }

    /// Renames and/or re-parents a provider. Re-parenting is only allowed from none to one
    /// (or to the same), as Placement does below 1.37; the subtree's root follows.
    pub async fn provider_update(
        &self,
        uuid: &str,
        name: &str,
        parent: Option<&str>,
    ) -> Result<ResourceProvider> {
        let mut tx = self.db().begin().await?;
        let cur = sqlx::query(&format!("{COLUMNS} WHERE uuid = $1"))
            .bind(uuid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("read provider"))?;
        let cur = match cur {
            Some(r) => from_row(&r)?,
            None => return Err(Error::not_found("resource provider", uuid)),
        };
        let mut root = cur.root_provider_uuid.clone();
        if parent != cur.parent_provider_uuid.as_deref() {
            let Some(p) = parent else {
                return Err(Error::bad_request(
                    "un-parenting a provider is not allowed.",
                ));
            };
            if cur.parent_provider_uuid.is_some() {
                return Err(Error::bad_request(
                    "re-parenting a provider is not currently allowed.",
                ));
            }
            let r: Option<(String,)> =
                sqlx::query_as("SELECT root_uuid FROM placement_provider WHERE uuid = $1")
                    .bind(p)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err("read parent provider"))?;
            let Some((proot,)) = r else {
                return Err(Error::bad_request(format!(
                    "parent provider UUID {p} does not exist."
                )));
            };
            if proot == cur.root_provider_uuid {
                return Err(Error::bad_request(
                    "creating loop in the provider tree is not allowed.",
                ));
            }
            root = proot;
            sqlx::query("UPDATE placement_provider SET root_uuid = $1 WHERE root_uuid = $2")
                .bind(&root)
                .bind(&cur.root_provider_uuid)
                .execute(&mut *tx)
                .await
                .map_err(db_err("update provider tree"))?;
        }
        sqlx::query("UPDATE placement_provider SET name = $1, parent_uuid = $2, updated_at = $3 WHERE uuid = $4")
            .bind(name)
            .bind(parent)
            .bind(now_text())
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(|e| dup(e, uuid, name))?;
        tx.commit().await.map_err(db_err("commit provider"))?;
        Ok(ResourceProvider {
            name: name.into(),
            parent_provider_uuid: parent.map(str::to_string),
            root_provider_uuid: root,
            ..cur
        })
    }

    /// Deletes a provider with its inventories, traits and aggregates; 409 when it has
    /// allocations or children.
    pub async fn provider_delete(&self, uuid: &str) -> Result<()> {
        let mut tx = self.db().begin().await?;
        bump(&mut tx, uuid, None).await?;
        let (kids,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM placement_provider WHERE parent_uuid = $1")
                .bind(uuid)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("count children"))?;
        if kids > 0 {
            return Err(coded_conflict(
                "placement.resource_provider.cannot_delete_parent",
                format!("Unable to delete parent resource provider {uuid}: It has child resource providers."),
            ));
        }
        let (allocs,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM placement_allocation WHERE provider_uuid = $1")
                .bind(uuid)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("count allocations"))?;
        if allocs > 0 {
            return Err(coded_conflict(
                "placement.resource_provider.inuse",
                format!(
                    "Unable to delete resource provider {uuid}: Resource provider has allocations."
                ),
            ));
        }
        for table in [
            "placement_inventory",
            "placement_provider_trait",
            "placement_provider_aggregate",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE provider_uuid = $1"))
                .bind(uuid)
                .execute(&mut *tx)
                .await
                .map_err(db_err("delete provider data"))?;
        }
        sqlx::query("DELETE FROM placement_provider WHERE uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete provider"))?;
        tx.commit()
            .await
            .map_err(db_err("commit provider delete"))?;
        Ok(())
    }

    /// Replaces a provider's traits (all must exist) under a generation check.
    pub async fn provider_set_traits(
        &self,
        uuid: &str,
        generation: i64,
        traits: &[String],
    ) -> Result<i64> {
        self.replace_set(
            uuid,
            Some(generation),
            "placement_provider_trait",
            "trait",
            traits,
        )
        .await
    }

    /// Replaces a provider's aggregates, with a generation check when given.
    pub async fn provider_set_aggregates(
        &self,
        uuid: &str,
        generation: Option<i64>,
        aggs: &[String],
    ) -> Result<i64> {
        self.replace_set(
            uuid,
            generation,
            "placement_provider_aggregate",
            "aggregate_uuid",
            aggs,
        )
        .await
    }

    async fn replace_set(
        &self,
        uuid: &str,
        generation: Option<i64>,
        table: &str,
        column: &str,
        items: &[String],
    ) -> Result<i64> {
        let mut tx = self.db().begin().await?;
        let gen = bump(&mut tx, uuid, generation).await?;
        sqlx::query(&format!("DELETE FROM {table} WHERE provider_uuid = $1"))
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(db_err("clear provider set"))?;
        for it in items {
            sqlx::query(&format!("INSERT INTO {table} (provider_uuid, {column}) VALUES ($1, $2) ON CONFLICT DO NOTHING"))
                .bind(uuid)
                .bind(it)
                .execute(&mut *tx)
                .await
                .map_err(db_err("insert provider set"))?;
        }
        tx.commit().await.map_err(db_err("commit provider set"))?;
        Ok(gen)
    }

    /// Everything about every provider, read in one go.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let r = self.db().reader();
        let mut s = Snapshot::default();
        for row in sqlx::query(&format!("{COLUMNS} ORDER BY created_at, uuid"))
            .fetch_all(r)
            .await
            .map_err(db_err("list providers"))?
        {
            s.providers.push(from_row(&row)?);
        }
        for row in sqlx::query(
            "SELECT provider_uuid, resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio \
             FROM placement_inventory",
        )
        .fetch_all(r)
        .await
        .map_err(db_err("list inventories"))?
        {
            let inv = Inventory {
                resource_class: col(&row, "resource_class")?,
                total: col(&row, "total")?,
                reserved: col(&row, "reserved")?,
                min_unit: col(&row, "min_unit")?,
                max_unit: col(&row, "max_unit")?,
                step_size: col(&row, "step_size")?,
                allocation_ratio: col(&row, "allocation_ratio")?,
            };
            let p: String = col(&row, "provider_uuid")?;
            s.inventories.entry(p).or_default().insert(inv.resource_class.clone(), inv);
        }
        for row in
            sqlx::query("SELECT provider_uuid, resource_class, used FROM placement_allocation")
                .fetch_all(r)
                .await
                .map_err(db_err("list allocations"))?
        {
            let p: String = col(&row, "provider_uuid")?;
            let c: String = col(&row, "resource_class")?;
            let u: i64 = col(&row, "used")?;
            *s.usages.entry(p).or_default().entry(c).or_insert(0) += u;
        }
        s.traits = pairs(
            self,
            "SELECT provider_uuid AS a, trait AS b FROM placement_provider_trait ORDER BY b",
        )
        .await?;
        s.aggregates =
            pairs(self, "SELECT provider_uuid AS a, aggregate_uuid AS b FROM placement_provider_aggregate ORDER BY b").await?;
        Ok(s)
    }
}

async fn pairs(st: &Store, sql: &str) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in sqlx::query(sql)
        .fetch_all(st.db().reader())
        .await
        .map_err(db_err("list provider sets"))?
    {
        out.entry(col(&row, "a")?)
            .or_default()
            .push(col(&row, "b")?);
    }
    Ok(out)
}
