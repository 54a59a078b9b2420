//! The image service's store: every query on image tables, one transaction per write
//! method, rows converted to `image-model` types at the boundary. Status changes are
//! compare-and-set on the current status (and updates on the generation), so concurrent
//! requests resolve exactly. Must not depend on the domain or API layers or other services.

mod image;
mod list;
mod member;
mod query;
mod stage;

use common_db::{Db, Migration};
use common_error::{Error, Result};

pub use image::DataFields;

/// The image schema, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "initial",
    sql: include_str!("migrations/0001_initial.sql"),
}];

/// The image service's store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

impl Store {
    pub fn new(db: Db) -> Self {
        Store { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Applies the image service's migrations.
    pub async fn migrate(&self) -> Result<usize> {
        self.db.migrate("image", MIGRATIONS).await
    }
}

/// The current time in storage format.
pub fn now_text() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

/// A new image id (a UUID, as Glance's).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn col<'r, T>(row: &'r common_db::DbRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get::<T, _>(name)
        .map_err(|e| Error::internal(&format!("decode column {name}"), e))
}

pub(crate) fn flag(row: &common_db::DbRow, name: &str) -> Result<bool> {
    Ok(col::<i64>(row, name)? != 0)
}

#[cfg(test)]
mod tests;
