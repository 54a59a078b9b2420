//! Roles (global and domain-specific) and role implications.

use common_db::{db_err, DbRow};
use common_error::Result;
use identity_model::{Role, NULL_DOMAIN_SENTINEL};

use crate::query::Select;
use crate::{col, extra_from_text, extra_to_text, Store};

const COLUMNS: &str = "SELECT id, name, domain_id, description, options FROM role";

fn from_row(row: &DbRow) -> Result<Role> {
    let domain_id: String = col(row, "domain_id")?;
    Ok(Role {
        id: col(row, "id")?,
        name: col(row, "name")?,
        domain_id: (domain_id != NULL_DOMAIN_SENTINEL).then_some(domain_id),
        description: col(row, "description")?,
        options: extra_from_text(&col::<String>(row, "options")?),
    })
}

impl Store {
    pub async fn role_create(&self, r: &Role) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO role (id, name, domain_id, description, options) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&r.id)
        .bind(&r.name)
        .bind(r.domain_id.clone().unwrap_or_else(|| NULL_DOMAIN_SENTINEL.into()))
        .bind(r.description.clone())
        .bind(extra_to_text(&r.options))
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert role"))?;
        tx.commit().await.map_err(db_err("commit role"))
    }

    pub async fn role_get(&self, id: &str) -> Result<Option<Role>> {
        let mut s = Select::new(COLUMNS);
        s.eq_text("id", id);
        s.fetch_all(self.db().reader())
            .await?
            .first()
            .map(from_row)
            .transpose()
    }

    /// Roles by name and domain (`None` = global roles only; `Some(d)` = roles of domain d).
    pub async fn role_list(
        &self,
        name: Option<&str>,
        domain_id: Option<&str>,
    ) -> Result<Vec<Role>> {
        let mut s = Select::new(COLUMNS);
        if let Some(n) = name {
            s.eq_text("name", n);
        }
        s.eq_text("domain_id", domain_id.unwrap_or(NULL_DOMAIN_SENTINEL));
        s.tail("ORDER BY name, id");
        s.fetch_all(self.db().reader())
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// All roles with these ids.
    pub async fn roles_by_ids(&self, ids: &[String]) -> Result<Vec<Role>> {
        let mut s = Select::new(COLUMNS);
        s.in_text("id", ids);
        s.tail("ORDER BY name, id");
        s.fetch_all(self.db().reader())
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    pub async fn role_update(&self, r: &Role) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query("UPDATE role SET name = $1, description = $2, options = $3 WHERE id = $4")
            .bind(&r.name)
            .bind(r.description.clone())
            .bind(extra_to_text(&r.options))
            .bind(&r.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("update role"))?;
        tx.commit().await.map_err(db_err("commit role"))
    }

    /// Deletes a role with its assignments and implications.
    pub async fn role_delete(&self, id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        for sql in [
            "DELETE FROM assignment WHERE role_id = $1",
            "DELETE FROM implied_role WHERE prior_role_id = $1 OR implied_role_id = $1",
            "DELETE FROM application_credential_role WHERE role_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err("delete role refs"))?;
        }
        let n = sqlx::query("DELETE FROM role WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete role"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit role delete"))?;
        Ok(n > 0)
    }

    /// Records that `prior` implies `implied` (idempotent).
    pub async fn implied_role_create(&self, prior: &str, implied: &str) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO implied_role (prior_role_id, implied_role_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(prior)
        .bind(implied)
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert implied role"))?;
        tx.commit().await.map_err(db_err("commit implied role"))
    }

    pub async fn implied_role_delete(&self, prior: &str, implied: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query(
            "DELETE FROM implied_role WHERE prior_role_id = $1 AND implied_role_id = $2",
        )
        .bind(prior)
        .bind(implied)
        .execute(&mut *tx)
        .await
        .map_err(db_err("delete implied role"))?
        .rows_affected();
        tx.commit().await.map_err(db_err("commit implied role"))?;
        Ok(n > 0)
    }

    /// All `(prior, implied)` pairs.
    pub async fn implied_role_list(&self) -> Result<Vec<(String, String)>> {
        let rows = Select::new("SELECT prior_role_id, implied_role_id FROM implied_role")
            .tail("ORDER BY prior_role_id, implied_role_id")
            .fetch_all(self.db().reader())
            .await?;
        rows.iter()
            .map(|r| Ok((col(r, "prior_role_id")?, col(r, "implied_role_id")?)))
            .collect()
    }
}
