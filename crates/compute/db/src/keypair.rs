//! Keypairs (Nova's `key_pairs`): per user, unique by name, with the `key_pairs` quota
//! checked inside the insert's transaction so concurrent imports never pass it.

use common_db::{db_err, DbRow};
use common_error::{Error, Result};
use compute_model::Keypair;

use crate::{col, Store};

/// The key types Nova knows (`type`, 2.2+).
pub const KEYPAIR_TYPES: [&str; 2] = ["ssh", "x509"];

fn keypair_row(row: &DbRow) -> Result<Keypair> {
    Ok(Keypair {
        name: col(row, "name")?,
        user_id: col(row, "user_id")?,
        key_type: col(row, "key_type")?,
        public_key: col(row, "public_key")?,
        fingerprint: col(row, "fingerprint")?,
        created_at: col(row, "created_at")?,
    })
}

const COLUMNS: &str = "name, user_id, key_type, public_key, fingerprint, created_at";

impl Store {
    /// Inserts `k` unless its user already has `limit` keypairs (a negative limit is
    /// unlimited): `Forbidden` "Quota exceeded, too many key pairs." then, and `Conflict`
    /// "Key pair '<name>' already exists." for a taken name.
    pub async fn keypair_create(&self, k: &Keypair, limit: i64) -> Result<Keypair> {
        let mut tx = self.db().begin().await?;
        // Take the writer lock first (PostgreSQL: lock the user's rows) so that two
        // concurrent imports count each other.
        sqlx::query("UPDATE compute_keypair SET name = name WHERE user_id = $1")
            .bind(&k.user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("lock keypairs"))?;
        let existing = sqlx::query("SELECT name FROM compute_keypair WHERE user_id = $1")
            .bind(&k.user_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err("count keypairs"))?;
        let names = existing
            .iter()
            .map(|r| col::<String>(r, "name"))
            .collect::<Result<Vec<_>>>()?;
        if names.contains(&k.name) {
            return Err(Error::conflict(format!(
                "Key pair '{}' already exists.",
                k.name
            )));
        }
        if limit >= 0 && names.len() as i64 >= limit {
            return Err(Error::forbidden("Quota exceeded, too many key pairs."));
        }
        sqlx::query(
            "INSERT INTO compute_keypair (user_id, name, key_type, public_key, fingerprint, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&k.user_id)
        .bind(&k.name)
        .bind(&k.key_type)
        .bind(&k.public_key)
        .bind(&k.fingerprint)
        .bind(&k.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match common_db::map_err("insert keypair", e) {
            Error::Conflict(_) => Error::conflict(format!("Key pair '{}' already exists.", k.name)),
            other => other,
        })?;
        tx.commit().await.map_err(db_err("commit keypair"))?;
        Ok(k.clone())
    }

    /// `user_id`'s keypair `name`.
    pub async fn keypair_get(&self, user_id: &str, name: &str) -> Result<Option<Keypair>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM compute_keypair WHERE user_id = $1 AND name = $2"
        ))
        .bind(user_id)
        .bind(name)
        .fetch_optional(self.db().reader())
        .await
        .map_err(db_err("read keypair"))?;
        row.as_ref().map(keypair_row).transpose()
    }

    /// `user_id`'s keypairs by name: after `marker` (a name; `BadRequest` "Marker <m> could
    /// not be found." when it is not one), at most `limit`.
    pub async fn keypair_list(
        &self,
        user_id: &str,
        limit: Option<usize>,
        marker: Option<&str>,
    ) -> Result<Vec<Keypair>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM compute_keypair WHERE user_id = $1 ORDER BY name"
        ))
        .bind(user_id)
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("list keypairs"))?;
        let mut all = rows.iter().map(keypair_row).collect::<Result<Vec<_>>>()?;
        if let Some(m) = marker {
            let Some(pos) = all.iter().position(|k| k.name == m) else {
                return Err(Error::bad_request(format!(
                    "Marker {m} could not be found."
                )));
            };
            all.drain(..=pos);
        }
        if let Some(l) = limit {
            all.truncate(l);
        }
        Ok(all)
    }

    /// How many keypairs `user_id` has.
    pub async fn keypair_count(&self, user_id: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM compute_keypair WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(self.db().reader())
            .await
            .map_err(db_err("count keypairs"))?;
        col(&row, "n")
    }

    /// Deletes `user_id`'s keypair `name`; false when there was none.
    pub async fn keypair_delete(&self, user_id: &str, name: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query("DELETE FROM compute_keypair WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete keypair"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit keypair delete"))?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: &str, name: &str) -> Keypair {
        Keypair {
            name: name.into(),
            user_id: user.into(),
            key_type: "ssh".into(),
            public_key: "ssh-ed25519 AAAA test".into(),
            fingerprint: "aa:bb".into(),
            created_at: "2026-01-01T00:00:00.000000".into(),
        }
    }

    #[tokio::test]
    async fn create_get_list_delete() {
        let (s, _d) = crate::test_store().await;
        s.keypair_create(&key("u1", "b"), 10).await.unwrap();
        s.keypair_create(&key("u1", "a"), 10).await.unwrap();
        s.keypair_create(&key("u2", "a"), 10).await.unwrap();
        assert_eq!(
            s.keypair_get("u1", "a").await.unwrap(),
            Some(key("u1", "a"))
        );
        assert_eq!(s.keypair_get("u3", "a").await.unwrap(), None);
        let names = |v: Vec<Keypair>| v.into_iter().map(|k| k.name).collect::<Vec<_>>();
        assert_eq!(
            names(s.keypair_list("u1", None, None).await.unwrap()),
            vec!["a", "b"]
        );
        assert_eq!(
            names(s.keypair_list("u1", Some(1), Some("a")).await.unwrap()),
            vec!["b"]
        );
        assert_eq!(
            s.keypair_list("u1", None, Some("zz")).await,
            Err(Error::BadRequest("Marker zz could not be found.".into()))
        );
        assert_eq!(s.keypair_count("u1").await.unwrap(), 2);
        assert!(s.keypair_delete("u1", "a").await.unwrap());
        assert!(!s.keypair_delete("u1", "a").await.unwrap());
    }

    #[tokio::test]
    async fn duplicates_conflict_and_the_quota_holds() {
        let (s, _d) = crate::test_store().await;
        s.keypair_create(&key("u1", "a"), 2).await.unwrap();
        assert_eq!(
            s.keypair_create(&key("u1", "a"), 2).await,
            Err(Error::Conflict("Key pair 'a' already exists.".into()))
        );
        s.keypair_create(&key("u1", "b"), 2).await.unwrap();
        assert_eq!(
            s.keypair_create(&key("u1", "c"), 2).await,
            Err(Error::Forbidden(
                "Quota exceeded, too many key pairs.".into()
            ))
        );
        s.keypair_create(&key("u1", "c"), -1).await.unwrap();
    }
}
