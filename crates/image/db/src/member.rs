//! Image members: the projects a shared image is offered to, and their answers.

use common_db::{db_err, DbRow};
use common_error::{Error, Result};
use image_model::{Member, MemberStatus};

use crate::query::{Bind, Select};
use crate::{col, now_text, Store};

const COLUMNS: &str = "SELECT image_id, member, status, created_at, updated_at FROM image_member";

fn from_row(row: &DbRow) -> Result<Member> {
    let status: String = col(row, "status")?;
    Ok(Member {
        image_id: col(row, "image_id")?,
        member_id: col(row, "member")?,
        status: MemberStatus::parse(&status)
            .ok_or_else(|| Error::internal("decode image member", format!("status {status:?}")))?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

impl Store {
    /// Adds a pending member; a duplicate is a `Conflict`.
    pub async fn member_create(&self, image_id: &str, member_id: &str) -> Result<Member> {
        let now = now_text();
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO image_member (image_id, member, status, created_at, updated_at) \
             VALUES ($1, $2, 'pending', $3, $3)",
        )
        .bind(image_id)
        .bind(member_id)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match common_db::map_err("insert image member", e) {
            Error::Conflict(_) => Error::Conflict(format!(
                "Member {member_id} is duplicated for image {image_id}"
            )),
            other => other,
        })?;
        tx.commit().await.map_err(db_err("commit image member"))?;
        Ok(Member {
            image_id: image_id.into(),
            member_id: member_id.into(),
            status: MemberStatus::Pending,
            created_at: now.clone(),
            updated_at: now,
        })
    }

    /// The members of an image, optionally only `member_id`'s own entry.
    pub async fn member_list(&self, image_id: &str, only: Option<&str>) -> Result<Vec<Member>> {
        let mut s = Select::new(COLUMNS);
        s.cond("image_id = ?", vec![Bind::Text(image_id.into())]);
        if let Some(m) = only {
            s.cond("member = ?", vec![Bind::Text(m.into())]);
        }
        s.tail("ORDER BY created_at, member".into());
        s.fetch_all(self.db().reader())
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// Number of members of an image.
    pub async fn member_count(&self, image_id: &str) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM image_member WHERE image_id = $1")
            .bind(image_id)
            .fetch_one(self.db().reader())
            .await
            .map_err(db_err("count image members"))?;
        Ok(n)
    }

    /// Sets a member's status; `None` when there is no such member.
    pub async fn member_set_status(
        &self,
        image_id: &str,
        member_id: &str,
        status: MemberStatus,
    ) -> Result<Option<Member>> {
        let mut tx = self.db().begin().await?;
        let res = sqlx::query("UPDATE image_member SET status = $1, updated_at = $2 WHERE image_id = $3 AND member = $4")
            .bind(status.as_str())
            .bind(now_text())
            .bind(image_id)
            .bind(member_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("update image member"))?;
        tx.commit().await.map_err(db_err("commit image member"))?;
        if res.rows_affected() == 0 {
            return Ok(None);
        }
        Ok(self.member_list(image_id, Some(member_id)).await?.pop())
    }

    /// Removes a member; false when there was none.
    pub async fn member_delete(&self, image_id: &str, member_id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let res = sqlx::query("DELETE FROM image_member WHERE image_id = $1 AND member = $2")
            .bind(image_id)
            .bind(member_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete image member"))?;
        tx.commit().await.map_err(db_err("commit image member"))?;
        Ok(res.rows_affected() == 1)
    }
}
