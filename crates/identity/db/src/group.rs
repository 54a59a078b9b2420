//! Groups and group membership.

use common_db::{db_err, DbRow};
use common_error::Result;
use identity_model::{Group, ListFilter, User};

use crate::query::Select;
use crate::{col, extra_from_text, extra_to_text, Store};

const COLUMNS: &str = "SELECT id, name, domain_id, description, extra FROM identity_group";

fn from_row(row: &DbRow) -> Result<Group> {
    Ok(Group {
        id: col(row, "id")?,
        name: col(row, "name")?,
        domain_id: col(row, "domain_id")?,
        description: col(row, "description")?,
        extra: extra_from_text(&col::<String>(row, "extra")?),
    })
}

impl Store {
    pub async fn group_create(&self, g: &Group) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO identity_group (id, name, domain_id, description, extra) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&g.id)
        .bind(&g.name)
        .bind(&g.domain_id)
        .bind(&g.description)
        .bind(extra_to_text(&g.extra))
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert group"))?;
        tx.commit().await.map_err(db_err("commit group"))
    }

    pub async fn group_get(&self, id: &str) -> Result<Option<Group>> {
        let mut s = Select::new(COLUMNS);
        s.eq_text("id", id);
        s.fetch_all(self.db().reader())
            .await?
            .first()
            .map(from_row)
            .transpose()
    }

    pub async fn group_list(&self, f: &ListFilter) -> Result<Vec<Group>> {
        let mut s = Select::new(COLUMNS);
        if let Some(n) = &f.name {
            s.eq_text("name", n);
        }
        if let Some(d) = &f.domain_id {
            s.eq_text("domain_id", d);
        }
        s.tail("ORDER BY name, id");
        s.fetch_all(self.db().reader())
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    pub async fn group_update(&self, g: &Group) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "UPDATE identity_group SET name = $1, description = $2, extra = $3 WHERE id = $4",
        )
        .bind(&g.name)
        .bind(&g.description)
        .bind(extra_to_text(&g.extra))
        .bind(&g.id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update group"))?;
        tx.commit().await.map_err(db_err("commit group"))
    }

    pub async fn group_delete(&self, id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        for (sql, what) in [
            (
                "DELETE FROM assignment WHERE actor_id = $1 AND kind LIKE 'Group%'",
                "delete group assignments",
            ),
            (
                "DELETE FROM group_membership WHERE group_id = $1",
                "delete group memberships",
            ),
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err(what))?;
        }
        let n = sqlx::query("DELETE FROM identity_group WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete group"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit group delete"))?;
        Ok(n > 0)
    }

    /// Adds a user to a group (idempotent).
    pub async fn group_add_user(&self, group_id: &str, user_id: &str) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO group_membership (user_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(group_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("add group member"))?;
        tx.commit().await.map_err(db_err("commit group member"))
    }

    /// Removes a user from a group; returns whether they were a member.
    pub async fn group_remove_user(&self, group_id: &str, user_id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query("DELETE FROM group_membership WHERE user_id = $1 AND group_id = $2")
            .bind(user_id)
            .bind(group_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("remove group member"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit group member"))?;
        Ok(n > 0)
    }

    pub async fn group_has_user(&self, group_id: &str, user_id: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM group_membership WHERE user_id = $1 AND group_id = $2",
        )
        .bind(user_id)
        .bind(group_id)
        .fetch_one(self.db().reader())
        .await
        .map_err(db_err("check group member"))?;
        Ok(n > 0)
    }

    /// The groups a user belongs to.
    pub async fn groups_for_user(&self, user_id: &str) -> Result<Vec<Group>> {
        let mut s = Select::new(COLUMNS);
        s.cond(
            "id IN (SELECT group_id FROM group_membership WHERE user_id = ?)",
            vec![crate::query::Bind::Text(user_id.to_string())],
        );
        s.tail("ORDER BY name, id");
        s.fetch_all(self.db().reader())
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// The users in a group, by name.
    pub async fn users_in_group(&self, group_id: &str) -> Result<Vec<User>> {
        self.user_list_in_group(group_id).await
    }

    /// A group by name within a domain.
    pub async fn group_get_by_name(&self, domain_id: &str, name: &str) -> Result<Option<Group>> {
        let mut s = Select::new(COLUMNS);
        s.eq_text("domain_id", domain_id).eq_text("name", name);
        s.fetch_all(self.db().reader())
            .await?
            .first()
            .map(from_row)
            .transpose()
    }
}
