//! Consumers and their allocations. A write locks every provider it touches (sorted, by
//! bumping the generation), replaces the consumers' allocations, and checks each touched
//! inventory's capacity and unit rules inside the same transaction.

use std::collections::{BTreeMap, BTreeSet};

use common_db::{db_err, map_err, DbRow, Tx};
use common_error::{Error, Result};
use placement_model::{Allocation, Consumer, ConsumerAllocations};

use crate::{bump, coded_conflict, col, generation_conflict, Store};

fn consumer_row(row: &DbRow) -> Result<Consumer> {
    Ok(Consumer {
        uuid: col(row, "uuid")?,
        project_id: col(row, "project_id")?,
        user_id: col(row, "user_id")?,
        generation: col(row, "generation")?,
        consumer_type: col(row, "consumer_type")?,
    })
}

fn alloc_row(row: &DbRow) -> Result<Allocation> {
    Ok(Allocation {
        consumer_uuid: col(row, "consumer_uuid")?,
        provider_uuid: col(row, "provider_uuid")?,
        resource_class: col(row, "resource_class")?,
        used: col(row, "used")?,
    })
}

const CONSUMER: &str =
    "SELECT uuid, project_id, user_id, generation, consumer_type FROM placement_consumer";
const ALLOC: &str =
    "SELECT consumer_uuid, provider_uuid, resource_class, used FROM placement_allocation";

async fn consumer_in(tx: &mut Tx<'static>, uuid: &str) -> Result<Option<Consumer>> {
    let row = sqlx::query(&format!("{CONSUMER} WHERE uuid = $1"))
        .bind(uuid)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err("read consumer"))?;
    row.as_ref().map(consumer_row).transpose()
}

impl Store {
    pub async fn consumer_get(&self, uuid: &str) -> Result<Option<Consumer>> {
        let row = sqlx::query(&format!("{CONSUMER} WHERE uuid = $1"))
            .bind(uuid)
            .fetch_optional(self.db().reader())
            .await
            .map_err(db_err("read consumer"))?;
        row.as_ref().map(consumer_row).transpose()
    }

    /// A consumer's allocations.
    pub async fn allocations_of_consumer(&self, uuid: &str) -> Result<Vec<Allocation>> {
        let rows = sqlx::query(&format!(
            "{ALLOC} WHERE consumer_uuid = $1 ORDER BY provider_uuid, resource_class"
        ))
        .bind(uuid)
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("read allocations"))?;
        rows.iter().map(alloc_row).collect()
    }

    /// A provider's allocations.
    pub async fn allocations_on_provider(&self, uuid: &str) -> Result<Vec<Allocation>> {
        let rows = sqlx::query(&format!(
            "{ALLOC} WHERE provider_uuid = $1 ORDER BY consumer_uuid, resource_class"
        ))
        .bind(uuid)
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("read allocations"))?;
        rows.iter().map(alloc_row).collect()
    }

    /// Usage per class of the consumers of a project (and user), with their consumer types.
    pub async fn usages_of_project(
        &self,
        project: &str,
        user: Option<&str>,
    ) -> Result<Vec<(Option<String>, String, String, i64)>> {
        let mut sql = "SELECT c.consumer_type AS consumer_type, c.uuid AS uuid, a.resource_class AS resource_class, a.used AS used \
             FROM placement_allocation a JOIN placement_consumer c ON c.uuid = a.consumer_uuid WHERE c.project_id = $1"
            .to_string();
        if user.is_some() {
            sql.push_str(" AND c.user_id = $2");
        }
        let mut q = sqlx::query(&sql).bind(project);
        if let Some(u) = user {
            q = q.bind(u);
        }
        let rows = q
            .fetch_all(self.db().reader())
            .await
            .map_err(db_err("read usages"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    col(r, "consumer_type")?,
                    col(r, "uuid")?,
                    col(r, "resource_class")?,
                    col(r, "used")?,
                ))
            })
            .collect()
    }

    /// Replaces the allocations of every consumer in `reqs` atomically. An empty
    /// allocation map removes the consumer.
    pub async fn allocations_write(&self, reqs: &[ConsumerAllocations]) -> Result<()> {
        let mut tx = self.db().begin().await?;
        let mut providers: BTreeSet<String> = BTreeSet::new();
        let mut existing: BTreeMap<String, Option<Consumer>> = BTreeMap::new();
        for r in reqs {
            let cur = consumer_in(&mut tx, &r.consumer_uuid).await?;
            if let Some(expected) = r.consumer_generation {
                match (&cur, expected) {
                    (None, None) => {}
                    (Some(c), Some(g)) if c.generation == g => {}
                    (None, Some(_)) => {
                        return Err(coded_conflict(
                            "placement.concurrent_update",
                            format!(
                                "consumer generation conflict - expected null but got {expected:?}"
                            ),
                        ))
                    }
                    (Some(c), _) => {
                        return Err(coded_conflict(
                            "placement.concurrent_update",
                            format!(
                                "consumer generation conflict - expected {} but got {}",
                                c.generation,
                                expected
                                    .map(|g| g.to_string())
                                    .unwrap_or_else(|| "None".into())
                            ),
                        ))
                    }
                }
            }
            let old = sqlx::query(
                "SELECT DISTINCT provider_uuid FROM placement_allocation WHERE consumer_uuid = $1",
            )
            .bind(&r.consumer_uuid)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err("read consumer providers"))?;
            for row in old {
                providers.insert(col(&row, "provider_uuid")?);
            }
            providers.extend(r.allocations.keys().cloned());
            existing.insert(r.consumer_uuid.clone(), cur);
        }
        for p in &providers {
            match bump(&mut tx, p, None).await {
                Ok(_) => {}
                Err(Error::NotFound { .. }) => {
                    return Err(Error::bad_request(format!(
                        "Allocation for resource provider '{p}' that does not exist."
                    )))
                }
                Err(e) => return Err(e),
            }
        }
        for r in reqs {
            sqlx::query("DELETE FROM placement_allocation WHERE consumer_uuid = $1")
                .bind(&r.consumer_uuid)
                .execute(&mut *tx)
                .await
                .map_err(db_err("clear allocations"))?;
            for (p, classes) in &r.allocations {
                for (c, used) in classes {
                    sqlx::query(
                        "INSERT INTO placement_allocation (consumer_uuid, provider_uuid, resource_class, used) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&r.consumer_uuid)
                    .bind(p)
                    .bind(c)
                    .bind(*used)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err("insert allocation"))?;
                }
            }
            write_consumer(
                &mut tx,
                r,
                existing.get(&r.consumer_uuid).cloned().flatten(),
            )
            .await?;
        }
        for r in reqs {
            for (p, classes) in &r.allocations {
                for (c, used) in classes {
                    check_capacity(&mut tx, p, c, *used).await?;
                }
            }
        }
        tx.commit().await.map_err(db_err("commit allocations"))?;
        Ok(())
    }
}

async fn write_consumer(
    tx: &mut Tx<'static>,
    r: &ConsumerAllocations,
    cur: Option<Consumer>,
) -> Result<()> {
    let res = match (cur, r.allocations.is_empty()) {
        (Some(_), true) => sqlx::query("DELETE FROM placement_consumer WHERE uuid = $1")
            .bind(&r.consumer_uuid)
            .execute(&mut **tx)
            .await,
        (None, true) => return Ok(()),
        (Some(c), false) => sqlx::query(
            "UPDATE placement_consumer SET project_id = $1, user_id = $2, generation = generation + 1, \
             consumer_type = $3 WHERE uuid = $4 AND generation = $5",
        )
        .bind(&r.project_id)
        .bind(&r.user_id)
        .bind(r.consumer_type.clone().or(c.consumer_type.clone()))
        .bind(&r.consumer_uuid)
        .bind(c.generation)
        .execute(&mut **tx)
        .await,
        (None, false) => sqlx::query(
            "INSERT INTO placement_consumer (uuid, project_id, user_id, generation, consumer_type) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(&r.consumer_uuid)
        .bind(&r.project_id)
        .bind(&r.user_id)
        .bind(&r.consumer_type)
        .execute(&mut **tx)
        .await,
    };
    match res {
        Ok(done) if done.rows_affected() == 0 && !r.allocations.is_empty() => {
            Err(generation_conflict("consumer"))
        }
        Ok(_) => Ok(()),
        Err(e) => match map_err("write consumer", e) {
            Error::Conflict(_) => Err(generation_conflict("consumer")),
            other => Err(other),
        },
    }
}

async fn check_capacity(tx: &mut Tx<'static>, p: &str, c: &str, amount: i64) -> Result<()> {
    let inv = sqlx::query(
        "SELECT total, reserved, min_unit, max_unit, step_size, allocation_ratio FROM placement_inventory \
         WHERE provider_uuid = $1 AND resource_class = $2",
    )
    .bind(p)
    .bind(c)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err("read inventory"))?;
    let Some(row) = inv else {
        return Err(Error::Conflict(format!(
            "Unable to allocate inventory: Inventory for '{c}' on resource provider '{p}' invalid."
        )));
    };
    let inv = placement_model::Inventory {
        resource_class: c.into(),
        total: col(&row, "total")?,
        reserved: col(&row, "reserved")?,
        min_unit: col(&row, "min_unit")?,
        max_unit: col(&row, "max_unit")?,
        step_size: col(&row, "step_size")?,
        allocation_ratio: col(&row, "allocation_ratio")?,
    };
    if !inv.unit_ok(amount) {
        return Err(Error::bad_request(format!(
            "Unable to allocate inventory: Unable to create allocation for '{c}' on resource provider '{p}'. \
             The requested amount would violate inventory constraints."
        )));
    }
    let used: i64 = sqlx::query(
        "SELECT used FROM placement_allocation WHERE provider_uuid = $1 AND resource_class = $2",
    )
    .bind(p)
    .bind(c)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err("read usage"))?
    .iter()
    .map(|r| col::<i64>(r, "used"))
    .sum::<Result<i64>>()?;
    if used > inv.capacity() {
        return Err(Error::Conflict(format!(
            "Unable to allocate inventory: Unable to create allocation for '{c}' on resource provider '{p}'. \
             The requested amount would exceed the capacity."
        )));
    }
    Ok(())
}
