//! Identity's store: every query on identity tables, one transaction per method, rows
//! converted to `identity-model` types at the boundary. The only code that touches identity
//! SQL. Must not depend on the domain or API layers or on other services.

mod application_credential;
mod assignment;
mod catalog;
mod credential;
mod group;
mod project;
mod query;
mod revocation;
mod role;
mod user;

use common_db::{Db, Migration};
use common_error::{Error, Result};
use identity_model::Extra;

pub use assignment::AssignmentFilter;
pub use catalog::EndpointFilter;
pub use credential::CredentialFilter;
pub use user::UserAuthRow;

/// The identity schema, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "initial",
    sql: include_str!("migrations/0001_initial.sql"),
}];

/// Identity's store. Cheap to clone.
#[derive(Clone)]
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

    /// Applies identity's migrations.
    pub async fn migrate(&self) -> Result<usize> {
        self.db.migrate("identity", MIGRATIONS).await
    }
}

/// A new random id in Keystone's format (32 lowercase hex characters).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub(crate) fn now_text() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

pub(crate) fn extra_to_text(extra: &Extra) -> String {
    serde_json::Value::Object(extra.clone()).to_string()
}

pub(crate) fn extra_from_text(text: &str) -> Extra {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => Extra::new(),
    }
}

/// Reads a column, mapping decode errors to `Error::Internal`.
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
