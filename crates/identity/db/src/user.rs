//! Users and their password hashes.

use common_db::{b2i, db_err, DbRow};
use common_error::Result;
use identity_model::{ListFilter, User};

use crate::query::{Bind, Select};
use crate::{col, extra_from_text, extra_to_text, flag, now_text, Store};

const COLUMNS: &str = "SELECT id, name, domain_id, enabled, default_project_id, description, \
     email, password_expires_at, extra, password_hash, password_created_at FROM identity_user";

/// A user with what password authentication needs.
#[derive(Debug, Clone)]
pub struct UserAuthRow {
    pub user: User,
    pub password_hash: Option<String>,
    pub password_created_at: Option<i64>,
}

fn from_row(row: &DbRow) -> Result<UserAuthRow> {
    Ok(UserAuthRow {
        user: User {
            id: col(row, "id")?,
            name: col(row, "name")?,
            domain_id: col(row, "domain_id")?,
            enabled: flag(row, "enabled")?,
            default_project_id: col(row, "default_project_id")?,
            description: col(row, "description")?,
            email: col(row, "email")?,
            password_expires_at: col(row, "password_expires_at")?,
            extra: extra_from_text(&col::<String>(row, "extra")?),
        },
        password_hash: col(row, "password_hash")?,
        password_created_at: col(row, "password_created_at")?,
    })
}

impl Store {
    /// Inserts a user. A duplicate name in the domain is a `Conflict`.
    pub async fn user_create(&self, u: &User, password_hash: Option<&str>, now: i64) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO identity_user (id, name, domain_id, enabled, password_hash, \
             password_created_at, password_expires_at, default_project_id, description, email, \
             extra, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&u.id)
        .bind(&u.name)
        .bind(&u.domain_id)
        .bind(b2i(u.enabled))
        .bind(password_hash.map(str::to_string))
        .bind(password_hash.map(|_| now))
        .bind(u.password_expires_at)
        .bind(u.default_project_id.clone())
        .bind(u.description.clone())
        .bind(u.email.clone())
        .bind(extra_to_text(&u.extra))
        .bind(now_text())
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert user"))?;
        tx.commit().await.map_err(db_err("commit user"))
    }

    pub async fn user_get(&self, id: &str) -> Result<Option<User>> {
        Ok(self.user_auth_row(id).await?.map(|r| r.user))
    }

    /// A user with its password hash.
    pub async fn user_auth_row(&self, id: &str) -> Result<Option<UserAuthRow>> {
        let mut s = Select::new(COLUMNS);
        s.eq_text("id", id);
        s.fetch_all(self.db().reader())
            .await?
            .first()
            .map(from_row)
            .transpose()
    }

    /// A user by name within a domain, with its password hash.
    pub async fn user_auth_row_by_name(
        &self,
        domain_id: &str,
        name: &str,
    ) -> Result<Option<UserAuthRow>> {
        let mut s = Select::new(COLUMNS);
        s.eq_text("domain_id", domain_id).eq_text("name", name);
        s.fetch_all(self.db().reader())
            .await?
            .first()
            .map(from_row)
            .transpose()
    }

    pub async fn user_list(&self, f: &ListFilter) -> Result<Vec<User>> {
        let mut s = Select::new(COLUMNS);
        if let Some(n) = &f.name {
            s.eq_text("name", n);
        }
        if let Some(d) = &f.domain_id {
            s.eq_text("domain_id", d);
        }
        if let Some(e) = f.enabled {
            s.cond("enabled = ?", vec![Bind::Int(b2i(e))]);
        }
        s.tail("ORDER BY name, id");
        let rows = s.fetch_all(self.db().reader()).await?;
        rows.iter().map(|r| from_row(r).map(|u| u.user)).collect()
    }

    /// Rewrites a user's mutable fields and, with `password_hash`, replaces the password, in
    /// one transaction. A duplicate name in the domain is a `Conflict`.
    pub async fn user_update(&self, u: &User, password_hash: Option<&str>, now: i64) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "UPDATE identity_user SET name = $1, enabled = $2, default_project_id = $3, \
             description = $4, email = $5, extra = $6, password_expires_at = $7 WHERE id = $8",
        )
        .bind(&u.name)
        .bind(b2i(u.enabled))
        .bind(u.default_project_id.clone())
        .bind(u.description.clone())
        .bind(u.email.clone())
        .bind(extra_to_text(&u.extra))
        .bind(u.password_expires_at)
        .bind(&u.id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update user"))?;
        if let Some(hash) = password_hash {
            sqlx::query(
                "UPDATE identity_user SET password_hash = $1, password_created_at = $2 WHERE id = $3",
            )
            .bind(hash)
            .bind(now)
            .bind(&u.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("set password"))?;
        }
        tx.commit().await.map_err(db_err("commit user"))
    }

    /// The members of a group, by name.
    pub async fn user_list_in_group(&self, group_id: &str) -> Result<Vec<User>> {
        let mut s = Select::new(COLUMNS);
        s.cond(
            "id IN (SELECT user_id FROM group_membership WHERE group_id = ?)",
            vec![Bind::Text(group_id.to_string())],
        );
        s.tail("ORDER BY name, id");
        let rows = s.fetch_all(self.db().reader()).await?;
        rows.iter().map(|r| from_row(r).map(|u| u.user)).collect()
    }

    /// Replaces a user's password hash.
    pub async fn user_set_password(&self, id: &str, hash: &str, now: i64) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "UPDATE identity_user SET password_hash = $1, password_created_at = $2 WHERE id = $3",
        )
        .bind(hash)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("set password"))?;
        tx.commit().await.map_err(db_err("commit password"))
    }

    /// Deletes a user, their memberships, assignments, credentials and (by cascade)
    /// application credentials.
    pub async fn user_delete(&self, id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        for (sql, what) in [
            (
                "DELETE FROM assignment WHERE actor_id = $1 AND kind LIKE 'User%'",
                "delete user assignments",
            ),
            (
                "DELETE FROM group_membership WHERE user_id = $1",
                "delete user memberships",
            ),
            (
                "DELETE FROM credential WHERE user_id = $1",
                "delete user credentials",
            ),
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err(what))?;
        }
        let n = sqlx::query("DELETE FROM identity_user WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete user"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit user delete"))?;
        Ok(n > 0)
    }
}
