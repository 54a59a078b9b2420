//! Credentials (`/v3/credentials`: EC2 key pairs, certificates, TOTP seeds...). The blob is
//! stored as given and must never be logged.

use common_db::{db_err, DbRow};
use common_error::Result;
use identity_model::Credential;

use crate::query::Select;
use crate::{col, extra_from_text, extra_to_text, Store};

const COLUMNS: &str = "SELECT id, user_id, project_id, cred_type, blob, extra FROM credential";

fn from_row(row: &DbRow) -> Result<Credential> {
    Ok(Credential {
        id: col(row, "id")?,
        user_id: col(row, "user_id")?,
        project_id: col(row, "project_id")?,
        cred_type: col(row, "cred_type")?,
        blob: col(row, "blob")?,
        extra: extra_from_text(&col::<String>(row, "extra")?),
    })
}

/// Filters for listing credentials.
#[derive(Debug, Clone, Default)]
pub struct CredentialFilter {
    pub user_id: Option<String>,
    pub cred_type: Option<String>,
}

impl Store {
    /// Inserts a credential; a duplicate id is a `Conflict`.
    pub async fn credential_create(&self, c: &Credential) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO credential (id, user_id, project_id, cred_type, blob, extra) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.id)
        .bind(&c.user_id)
        .bind(c.project_id.clone())
        .bind(&c.cred_type)
        .bind(&c.blob)
        .bind(extra_to_text(&c.extra))
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert credential"))?;
        tx.commit().await.map_err(db_err("commit credential"))
    }

    pub async fn credential_get(&self, id: &str) -> Result<Option<Credential>> {
        let mut s = Select::new(COLUMNS);
        s.eq_text("id", id);
        s.fetch_all(self.db().reader())
            .await?
            .first()
            .map(from_row)
            .transpose()
    }

    pub async fn credential_list(&self, f: &CredentialFilter) -> Result<Vec<Credential>> {
        let mut s = Select::new(COLUMNS);
        if let Some(u) = &f.user_id {
            s.eq_text("user_id", u);
        }
        if let Some(t) = &f.cred_type {
            s.eq_text("cred_type", t);
        }
        s.tail("ORDER BY user_id, id");
        s.fetch_all(self.db().reader())
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// Rewrites a credential's mutable fields (everything but the id).
    pub async fn credential_update(&self, c: &Credential) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "UPDATE credential SET user_id = $1, project_id = $2, cred_type = $3, blob = $4, \
             extra = $5 WHERE id = $6",
        )
        .bind(&c.user_id)
        .bind(c.project_id.clone())
        .bind(&c.cred_type)
        .bind(&c.blob)
        .bind(extra_to_text(&c.extra))
        .bind(&c.id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update credential"))?;
        tx.commit().await.map_err(db_err("commit credential"))
    }

    /// Deletes a credential. Returns whether it existed.
    pub async fn credential_delete(&self, id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query("DELETE FROM credential WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete credential"))?
            .rows_affected();
        tx.commit()
            .await
            .map_err(db_err("commit credential delete"))?;
        Ok(n > 0)
    }

    /// Deletes every credential of a user (Keystone does this when the user is deleted).
    pub async fn credentials_delete_for_user(&self, user_id: &str) -> Result<u64> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query("DELETE FROM credential WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete user credentials"))?
            .rows_affected();
        tx.commit()
            .await
            .map_err(db_err("commit user credentials delete"))?;
        Ok(n)
    }

    /// Deletes every credential bound to a project (Keystone does this when the project is
    /// deleted).
    pub async fn credentials_delete_for_project(&self, project_id: &str) -> Result<u64> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query("DELETE FROM credential WHERE project_id = $1")
            .bind(project_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete project credentials"))?
            .rows_affected();
        tx.commit()
            .await
            .map_err(db_err("commit project credentials delete"))?;
        Ok(n)
    }
}
