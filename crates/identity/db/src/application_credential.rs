//! Application credentials and the roles each one carries. The secret is stored only as a
//! bcrypt hash; roles are stored by id and loaded from the role table on the way out.

use std::collections::HashMap;

use common_db::{b2i, db_err, DbRow};
use common_error::Result;
use identity_model::ApplicationCredential;

use crate::query::Select;
use crate::{col, flag, now_text, Store};

const COLUMNS: &str =
    "SELECT id, name, description, secret_hash, user_id, project_id, expires_at, \
                       unrestricted FROM application_credential";

fn from_row(row: &DbRow) -> Result<ApplicationCredential> {
    Ok(ApplicationCredential {
        id: col(row, "id")?,
        name: col(row, "name")?,
        description: col(row, "description")?,
        user_id: col(row, "user_id")?,
        project_id: col(row, "project_id")?,
        expires_at: col(row, "expires_at")?,
        unrestricted: flag(row, "unrestricted")?,
        roles: Vec::new(),
        secret_hash: col(row, "secret_hash")?,
    })
}

impl Store {
    /// Inserts an application credential with its roles (`ac.roles`, by id). A duplicate name
    /// for the user is a `Conflict`.
    pub async fn app_cred_create(&self, ac: &ApplicationCredential) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO application_credential (id, name, description, secret_hash, user_id, \
             project_id, expires_at, unrestricted, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&ac.id)
        .bind(&ac.name)
        .bind(ac.description.clone())
        .bind(&ac.secret_hash)
        .bind(&ac.user_id)
        .bind(&ac.project_id)
        .bind(ac.expires_at)
        .bind(b2i(ac.unrestricted))
        .bind(now_text())
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert application credential"))?;
        for r in &ac.roles {
            sqlx::query(
                "INSERT INTO application_credential_role (application_credential_id, role_id) \
                 VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&ac.id)
            .bind(&r.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("insert application credential role"))?;
        }
        tx.commit()
            .await
            .map_err(db_err("commit application credential"))
    }

    /// An application credential by id, with its (still existing) roles.
    pub async fn app_cred_get(&self, id: &str) -> Result<Option<ApplicationCredential>> {
        let mut s = Select::new(COLUMNS);
        s.eq_text("id", id);
        Ok(self
            .app_creds_with_roles(s.fetch_all(self.db().reader()).await?)
            .await?
            .pop())
    }

    /// A user's application credentials, optionally only the one named `name`, by name.
    pub async fn app_cred_list(
        &self,
        user_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<ApplicationCredential>> {
        let mut s = Select::new(COLUMNS);
        s.eq_text("user_id", user_id);
        if let Some(n) = name {
            s.eq_text("name", n);
        }
        s.tail("ORDER BY name, id");
        self.app_creds_with_roles(s.fetch_all(self.db().reader()).await?)
            .await
    }

    /// Deletes an application credential and its role rows. Returns whether it existed.
    pub async fn app_cred_delete(&self, id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        sqlx::query("DELETE FROM application_credential_role WHERE application_credential_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete application credential roles"))?;
        let n = sqlx::query("DELETE FROM application_credential WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete application credential"))?
            .rows_affected();
        tx.commit()
            .await
            .map_err(db_err("commit application credential delete"))?;
        Ok(n > 0)
    }

    /// Deletes every application credential of a user (or, with `project_id`, those of the
    /// user on that project). Returns the ids deleted.
    pub async fn app_creds_delete_for_user(
        &self,
        user_id: &str,
        project_id: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut tx = self.db().begin().await?;
        let mut s = Select::new("SELECT id FROM application_credential");
        s.eq_text("user_id", user_id);
        if let Some(p) = project_id {
            s.eq_text("project_id", p);
        }
        let ids = s
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| col::<String>(r, "id"))
            .collect::<Result<Vec<_>>>()?;
        for id in &ids {
            sqlx::query(
                "DELETE FROM application_credential_role WHERE application_credential_id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete application credential roles"))?;
            sqlx::query("DELETE FROM application_credential WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err("delete application credential"))?;
        }
        tx.commit()
            .await
            .map_err(db_err("commit application credentials delete"))?;
        Ok(ids)
    }

    async fn app_creds_with_roles(&self, rows: Vec<DbRow>) -> Result<Vec<ApplicationCredential>> {
        let mut out = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        if out.is_empty() {
            return Ok(out);
        }
        let ids: Vec<String> = out.iter().map(|a| a.id.clone()).collect();
        let mut s = Select::new(
            "SELECT application_credential_id, role_id FROM application_credential_role",
        );
        if ids.len() <= 500 {
            s.in_text("application_credential_id", &ids);
        }
        let links = s.fetch_all(self.db().reader()).await?;
        let mut by_cred: HashMap<String, Vec<String>> = HashMap::new();
        for l in &links {
            by_cred
                .entry(col(l, "application_credential_id")?)
                .or_default()
                .push(col(l, "role_id")?);
        }
        let mut role_ids: Vec<String> = by_cred.values().flatten().cloned().collect();
        role_ids.sort();
        role_ids.dedup();
        let roles: HashMap<String, identity_model::Role> = self
            .roles_by_ids(&role_ids)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        for ac in &mut out {
            let mine = by_cred.remove(&ac.id).unwrap_or_default();
            ac.roles = mine
                .iter()
                .filter_map(|id| roles.get(id).cloned())
                .collect();
            ac.roles
                .sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        }
        Ok(out)
    }
}
