//! Flavors (Nova's `flavors`, `flavor_extra_specs`, `flavor_projects`): create with Nova's
//! two uniqueness errors, read with extra specs, list by visibility, update the description,
//! delete, extra specs and project access.

use std::collections::BTreeMap;

use common_db::{b2i, db_err, DbRow};
use common_error::{Error, Result};
use compute_model::Flavor;

use crate::instance::sql::{Bind, Stmt};
use crate::{col, now_text, Store};

const FLAVOR_COLUMNS: &str =
    "id, name, vcpus, ram, disk, ephemeral, swap, rxtx_factor, is_public, disabled, description";

/// Which flavors a list reads; the API sorts and pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlavorQuery {
    /// `Some(true)`: public ones (plus, with `project`, the private ones `project` may use);
    /// `Some(false)`: private ones only; `None`: all.
    pub is_public: Option<bool>,
    pub project: Option<String>,
    /// Leave out disabled flavors (what non-admins see).
    pub hide_disabled: bool,
    /// `ram >=`.
    pub min_ram: Option<i64>,
    /// `disk >=`.
    pub min_disk: Option<i64>,
}

fn flavor_row(row: &DbRow) -> Result<Flavor> {
    Ok(Flavor {
        id: col(row, "id")?,
        name: col(row, "name")?,
        vcpus: col(row, "vcpus")?,
        ram: col(row, "ram")?,
        disk: col(row, "disk")?,
        ephemeral: col(row, "ephemeral")?,
        swap: col(row, "swap")?,
        rxtx_factor: col(row, "rxtx_factor")?,
        is_public: col::<i64>(row, "is_public")? != 0,
        disabled: col::<i64>(row, "disabled")? != 0,
        description: col(row, "description")?,
        extra_specs: BTreeMap::new(),
    })
}

impl Store {
    /// Inserts `f` (with its extra specs). `Conflict` with Nova's message when the name or
    /// the id is taken.
    pub async fn flavor_create(&self, f: &Flavor) -> Result<Flavor> {
        let mut tx = self.db().begin().await?;
        let taken = sqlx::query("SELECT id, name FROM compute_flavor WHERE id = $1 OR name = $2")
            .bind(&f.id)
            .bind(&f.name)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err("read flavors"))?;
        for r in &taken {
            if col::<String>(r, "name")? == f.name {
                return Err(Error::conflict(format!(
                    "Flavor with name {} already exists.",
                    f.name
                )));
            }
        }
        if !taken.is_empty() {
            return Err(Error::conflict(format!(
                "Flavor with ID {} already exists.",
                f.id
            )));
        }
        let now = now_text();
        sqlx::query(
            "INSERT INTO compute_flavor (id, name, vcpus, ram, disk, ephemeral, swap, rxtx_factor, \
             is_public, disabled, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&f.id)
        .bind(&f.name)
        .bind(f.vcpus)
        .bind(f.ram)
        .bind(f.disk)
        .bind(f.ephemeral)
        .bind(f.swap)
        .bind(f.rxtx_factor)
        .bind(b2i(f.is_public))
        .bind(b2i(f.disabled))
        .bind(f.description.clone())
        .bind(&now)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match common_db::map_err("insert flavor", e) {
            Error::Conflict(_) => {
                Error::conflict(format!("Flavor with ID {} already exists.", f.id))
            }
            other => other,
        })?;
        for (k, v) in &f.extra_specs {
            sqlx::query(
                "INSERT INTO compute_flavor_extra_spec (flavor_id, key, value) VALUES ($1, $2, $3)",
            )
            .bind(&f.id)
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(db_err("insert flavor extra spec"))?;
        }
        tx.commit().await.map_err(db_err("commit flavor"))?;
        Ok(f.clone())
    }

    /// The flavor with flavorid `id` and its extra specs.
    pub async fn flavor_get(&self, id: &str) -> Result<Option<Flavor>> {
        let row = sqlx::query(&format!(
            "SELECT {FLAVOR_COLUMNS} FROM compute_flavor WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db().reader())
        .await
        .map_err(db_err("read flavor"))?;
        let Some(row) = row else { return Ok(None) };
        let mut f = flavor_row(&row)?;
        f.extra_specs = self.flavor_extra_specs(id).await?;
        Ok(Some(f))
    }

    /// Flavors matching `q`, with extra specs, by flavorid.
    pub async fn flavor_list(&self, q: &FlavorQuery) -> Result<Vec<Flavor>> {
        let mut s = Stmt::new(&format!(
            "SELECT {FLAVOR_COLUMNS} FROM compute_flavor WHERE 1 = 1"
        ));
        match (q.is_public, &q.project) {
            (Some(true), Some(p)) => {
                s.push(
                    " AND (is_public = 1 OR id IN (SELECT flavor_id FROM compute_flavor_project \
                     WHERE project_id = ?))",
                    vec![Bind::from(p.as_str())],
                );
            }
            (Some(public), _) => {
                s.push(" AND is_public = ?", vec![Bind::Int(b2i(public))]);
            }
            (None, _) => {}
        }
        if q.hide_disabled {
            s.push(" AND disabled = 0", vec![]);
        }
        if let Some(r) = q.min_ram {
            s.push(" AND ram >= ?", vec![Bind::Int(r)]);
        }
        if let Some(d) = q.min_disk {
            s.push(" AND disk >= ?", vec![Bind::Int(d)]);
        }
        s.push(" ORDER BY id", vec![]);
        let rows = s.fetch_all(self.db().reader(), "list flavors").await?;
        let mut out = rows.iter().map(flavor_row).collect::<Result<Vec<_>>>()?;
        let specs = sqlx::query("SELECT flavor_id, key, value FROM compute_flavor_extra_spec")
            .fetch_all(self.db().reader())
            .await
            .map_err(db_err("read flavor extra specs"))?;
        let mut by_flavor: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for r in &specs {
            by_flavor
                .entry(col(r, "flavor_id")?)
                .or_default()
                .insert(col(r, "key")?, col(r, "value")?);
        }
        for f in &mut out {
            if let Some(s) = by_flavor.remove(&f.id) {
                f.extra_specs = s;
            }
        }
        Ok(out)
    }

    /// Sets the description; false when there is no such flavor.
    pub async fn flavor_update_description(
        &self,
        id: &str,
        description: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query(
            "UPDATE compute_flavor SET description = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(description.map(str::to_string))
        .bind(now_text())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update flavor"))?
        .rows_affected();
        tx.commit().await.map_err(db_err("commit flavor"))?;
        Ok(n == 1)
    }

    /// Deletes a flavor with its extra specs and access list; false when there is none.
    /// Servers keep their embedded copy.
    pub async fn flavor_delete(&self, id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        for sql in [
            "DELETE FROM compute_flavor_extra_spec WHERE flavor_id = $1",
            "DELETE FROM compute_flavor_project WHERE flavor_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err("delete flavor details"))?;
        }
        let n = sqlx::query("DELETE FROM compute_flavor WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete flavor"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit flavor delete"))?;
        Ok(n == 1)
    }

    /// The extra specs of flavor `id` (empty when none).
    pub async fn flavor_extra_specs(&self, id: &str) -> Result<BTreeMap<String, String>> {
        let rows =
            sqlx::query("SELECT key, value FROM compute_flavor_extra_spec WHERE flavor_id = $1")
                .bind(id)
                .fetch_all(self.db().reader())
                .await
                .map_err(db_err("read flavor extra specs"))?;
        rows.iter()
            .map(|r| Ok((col(r, "key")?, col(r, "value")?)))
            .collect()
    }

    /// Adds or replaces extra specs of flavor `id`; false when there is no such flavor.
    pub async fn flavor_extra_specs_set(
        &self,
        id: &str,
        specs: &BTreeMap<String, String>,
    ) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let exists = sqlx::query("SELECT id FROM compute_flavor WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("read flavor"))?
            .is_some();
        if !exists {
            return Ok(false);
        }
        for (k, v) in specs {
            sqlx::query(
                "INSERT INTO compute_flavor_extra_spec (flavor_id, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (flavor_id, key) DO UPDATE SET value = $3",
            )
            .bind(id)
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(db_err("write flavor extra spec"))?;
        }
        tx.commit()
            .await
            .map_err(db_err("commit flavor extra specs"))?;
        Ok(true)
    }

    /// Removes one extra spec; false when it was not set.
    pub async fn flavor_extra_spec_delete(&self, id: &str, key: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n =
            sqlx::query("DELETE FROM compute_flavor_extra_spec WHERE flavor_id = $1 AND key = $2")
                .bind(id)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db_err("delete flavor extra spec"))?
                .rows_affected();
        tx.commit()
            .await
            .map_err(db_err("commit flavor extra spec"))?;
        Ok(n == 1)
    }

    /// Projects granted access to flavor `id`, sorted.
    pub async fn flavor_access_list(&self, id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT project_id FROM compute_flavor_project WHERE flavor_id = $1 ORDER BY project_id",
        )
        .bind(id)
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("read flavor access"))?;
        rows.iter().map(|r| col(r, "project_id")).collect()
    }

    /// Grants `project` access to flavor `id`: false when it already has it.
    pub async fn flavor_access_add(&self, id: &str, project: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query(
            "INSERT INTO compute_flavor_project (flavor_id, project_id) VALUES ($1, $2) \
             ON CONFLICT (flavor_id, project_id) DO NOTHING",
        )
        .bind(id)
        .bind(project)
        .execute(&mut *tx)
        .await
        .map_err(db_err("grant flavor access"))?
        .rows_affected();
        tx.commit().await.map_err(db_err("commit flavor access"))?;
        Ok(n == 1)
    }

    /// Revokes `project`'s access to flavor `id`: false when it had none.
    pub async fn flavor_access_remove(&self, id: &str, project: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query(
            "DELETE FROM compute_flavor_project WHERE flavor_id = $1 AND project_id = $2",
        )
        .bind(id)
        .bind(project)
        .execute(&mut *tx)
        .await
        .map_err(db_err("revoke flavor access"))?
        .rows_affected();
        tx.commit().await.map_err(db_err("commit flavor access"))?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flavor(id: &str, name: &str, public: bool) -> Flavor {
        Flavor {
            id: id.into(),
            name: name.into(),
            vcpus: 1,
            ram: 512,
            disk: 1,
            ephemeral: 0,
            swap: 0,
            rxtx_factor: 1.0,
            is_public: public,
            disabled: false,
            description: None,
            extra_specs: BTreeMap::from([("hw:cpu_policy".to_string(), "shared".to_string())]),
        }
    }

    #[tokio::test]
    async fn create_get_and_duplicates_are_named_like_nova() {
        let (s, _d) = crate::test_store().await;
        s.flavor_create(&flavor("1", "m1.tiny", true))
            .await
            .unwrap();
        let got = s.flavor_get("1").await.unwrap().unwrap();
        assert_eq!(got, flavor("1", "m1.tiny", true));
        assert_eq!(
            s.flavor_create(&flavor("2", "m1.tiny", true)).await,
            Err(Error::Conflict(
                "Flavor with name m1.tiny already exists.".into()
            ))
        );
        assert_eq!(
            s.flavor_create(&flavor("1", "other", true)).await,
            Err(Error::Conflict("Flavor with ID 1 already exists.".into()))
        );
        assert!(s.flavor_get("2").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn lists_by_visibility_and_access() {
        let (s, _d) = crate::test_store().await;
        s.flavor_create(&flavor("1", "public", true)).await.unwrap();
        s.flavor_create(&flavor("2", "private", false))
            .await
            .unwrap();
        s.flavor_create(&flavor("3", "other-private", false))
            .await
            .unwrap();
        assert!(s.flavor_access_add("2", "p1").await.unwrap());
        assert!(
            !s.flavor_access_add("2", "p1").await.unwrap(),
            "second grant"
        );
        let ids = |v: Vec<Flavor>| v.into_iter().map(|f| f.id).collect::<Vec<_>>();
        let member = FlavorQuery {
            is_public: Some(true),
            project: Some("p1".into()),
            hide_disabled: true,
            ..FlavorQuery::default()
        };
        assert_eq!(ids(s.flavor_list(&member).await.unwrap()), vec!["1", "2"]);
        let stranger = FlavorQuery {
            project: Some("p2".into()),
            ..member.clone()
        };
        assert_eq!(ids(s.flavor_list(&stranger).await.unwrap()), vec!["1"]);
        let all = FlavorQuery::default();
        assert_eq!(ids(s.flavor_list(&all).await.unwrap()), vec!["1", "2", "3"]);
        let private = FlavorQuery {
            is_public: Some(false),
            ..FlavorQuery::default()
        };
        assert_eq!(ids(s.flavor_list(&private).await.unwrap()), vec!["2", "3"]);
        let big = FlavorQuery {
            min_ram: Some(1024),
            ..FlavorQuery::default()
        };
        assert!(s.flavor_list(&big).await.unwrap().is_empty());
        assert_eq!(s.flavor_access_list("2").await.unwrap(), vec!["p1"]);
        assert!(s.flavor_access_remove("2", "p1").await.unwrap());
        assert!(!s.flavor_access_remove("2", "p1").await.unwrap());
    }

    #[tokio::test]
    async fn extra_specs_description_and_delete() {
        let (s, _d) = crate::test_store().await;
        s.flavor_create(&flavor("1", "f", true)).await.unwrap();
        let more = BTreeMap::from([
            ("hw:cpu_policy".to_string(), "dedicated".to_string()),
            ("k".to_string(), "v".to_string()),
        ]);
        assert!(s.flavor_extra_specs_set("1", &more).await.unwrap());
        assert!(!s.flavor_extra_specs_set("9", &more).await.unwrap());
        assert_eq!(s.flavor_extra_specs("1").await.unwrap(), more);
        assert!(s.flavor_extra_spec_delete("1", "k").await.unwrap());
        assert!(!s.flavor_extra_spec_delete("1", "k").await.unwrap());
        assert!(s
            .flavor_update_description("1", Some("small"))
            .await
            .unwrap());
        assert_eq!(
            s.flavor_get("1")
                .await
                .unwrap()
                .unwrap()
                .description
                .as_deref(),
            Some("small")
        );
        assert!(s.flavor_delete("1").await.unwrap());
        assert!(!s.flavor_delete("1").await.unwrap());
        assert!(s.flavor_extra_specs("1").await.unwrap().is_empty());
    }
}
