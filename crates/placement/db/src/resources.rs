//! Custom resource classes and traits, and provider inventories.

use common_db::{db_err, map_err};
use common_error::{Error, Result};
use placement_model::Inventory;

use crate::{bump, coded_conflict, col, Store};

impl Store {
    /// Custom names in `table` (`placement_class` or `placement_trait`).
    pub async fn custom_names(&self, table: CustomTable) -> Result<Vec<String>> {
        let rows = sqlx::query(&format!("SELECT name FROM {} ORDER BY name", table.name()))
            .fetch_all(self.db().reader())
            .await
            .map_err(db_err("list custom names"))?;
        rows.iter().map(|r| col(r, "name")).collect()
    }

    /// Adds a custom name; `Ok(false)` when it already existed.
    pub async fn custom_create(&self, table: CustomTable, name: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query(&format!(
            "INSERT INTO {} (name) VALUES ($1) ON CONFLICT DO NOTHING",
            table.name()
        ))
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err("insert custom name", e))?
        .rows_affected();
        tx.commit().await.map_err(db_err("commit custom name"))?;
        Ok(n > 0)
    }

    /// Deletes a custom name: 404 when absent, 409 when in use.
    pub async fn custom_delete(&self, table: CustomTable, name: &str) -> Result<()> {
        let mut tx = self.db().begin().await?;
        let (used_sql, code, what) = match table {
            CustomTable::Class => (
                "SELECT COUNT(*) FROM placement_inventory WHERE resource_class = $1",
                "placement.undefined",
                "resource class",
            ),
            CustomTable::Trait => (
                "SELECT COUNT(*) FROM placement_provider_trait WHERE trait = $1",
                "placement.undefined",
                "trait",
            ),
        };
        let (used,): (i64,) = sqlx::query_as(used_sql)
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("count custom name use"))?;
        if used > 0 {
            return Err(coded_conflict(
                code,
                format!("The {what} {name} is in use."),
            ));
        }
        let n = sqlx::query(&format!("DELETE FROM {} WHERE name = $1", table.name()))
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete custom name"))?
            .rows_affected();
        if n == 0 {
            return Err(Error::not_found(what, name));
        }
        tx.commit()
            .await
            .map_err(db_err("commit custom name delete"))?;
        Ok(())
    }

    /// Replaces some of a provider's inventories under a generation check. `set` lists the
    /// records to write; `remove_others` deletes every class not in `set` (PUT of the whole
    /// inventory), `remove` deletes just these classes. Removing a class that has
    /// allocations is a `placement.inventory.inuse` 409.
    pub async fn inventories_write(
        &self,
        uuid: &str,
        generation: i64,
        set: &[Inventory],
        remove_others: bool,
        remove: &[String],
    ) -> Result<i64> {
        let mut tx = self.db().begin().await?;
        let gen = bump(&mut tx, uuid, Some(generation)).await?;
        let existing: Vec<String> =
            sqlx::query("SELECT resource_class FROM placement_inventory WHERE provider_uuid = $1")
                .bind(uuid)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err("read inventories"))?
                .iter()
                .map(|r| col(r, "resource_class"))
                .collect::<Result<_>>()?;
        let gone: Vec<&String> = existing
            .iter()
            .filter(|c| {
                if remove_others {
                    !set.iter().any(|i| &i.resource_class == *c)
                } else {
                    remove.contains(c)
                }
            })
            .collect();
        for c in gone {
            let (used,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM placement_allocation WHERE provider_uuid = $1 AND resource_class = $2",
            )
            .bind(uuid)
            .bind(c)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("count allocations"))?;
            if used > 0 {
                return Err(coded_conflict(
                    "placement.inventory.inuse",
                    format!("Inventory for '{c}' on resource provider '{uuid}' in use."),
                ));
            }
            sqlx::query(
                "DELETE FROM placement_inventory WHERE provider_uuid = $1 AND resource_class = $2",
            )
            .bind(uuid)
            .bind(c)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete inventory"))?;
        }
        for i in set {
            sqlx::query(
                "INSERT INTO placement_inventory (provider_uuid, resource_class, total, reserved, min_unit, max_unit, \
                 step_size, allocation_ratio) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (provider_uuid, resource_class) DO UPDATE SET total = excluded.total, \
                 reserved = excluded.reserved, min_unit = excluded.min_unit, max_unit = excluded.max_unit, \
                 step_size = excluded.step_size, allocation_ratio = excluded.allocation_ratio",
            )
            .bind(uuid)
            .bind(&i.resource_class)
            .bind(i.total)
            .bind(i.reserved)
            .bind(i.min_unit)
            .bind(i.max_unit)
            .bind(i.step_size)
            .bind(i.allocation_ratio)
            .execute(&mut *tx)
            .await
            .map_err(db_err("write inventory"))?;
        }
        tx.commit().await.map_err(db_err("commit inventories"))?;
        Ok(gen)
    }
}

/// The tables of custom names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomTable {
    Class,
    Trait,
}

impl CustomTable {
    fn name(self) -> &'static str {
        match self {
            CustomTable::Class => "placement_class",
            CustomTable::Trait => "placement_trait",
        }
    }
}
