//! Placement's store: every query on placement tables. Writes that change what a provider
//! offers or what is allocated from it lock the provider row first (by bumping its
//! generation, compare-and-set when the caller gave one), in a sorted order, and check
//! capacity inside the same transaction, so concurrent claims can never overcommit: on
//! SQLite all writes go through one writer connection; on PostgreSQL the row locks
//! serialise writers of the same provider.

mod alloc;
mod provider;
mod resources;

pub use resources::CustomTable;

use common_db::{db_err, Db, DbRow, Migration, Tx};
use common_error::{Error, Result};

/// The placement schema, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "initial",
    sql: include_str!("migrations/0001_initial.sql"),
}];

/// Separates a Placement error code from the message inside a `common_error::Error`.
pub const CODE_SEP: char = '\u{1f}';

/// A 409 carrying one of Placement's error codes (`placement.concurrent_update`, ...).
pub fn coded_conflict(code: &str, msg: impl std::fmt::Display) -> Error {
    Error::Conflict(format!("{code}{CODE_SEP}{msg}"))
}

/// A generation mismatch.
pub fn generation_conflict(what: &str) -> Error {
    coded_conflict(
        "placement.concurrent_update",
        format!("{what} generation conflict. Please retry."),
    )
}

/// Placement's store. Cheap to clone.
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

    /// Applies placement's migrations.
    pub async fn migrate(&self) -> Result<usize> {
        self.db.migrate("placement", MIGRATIONS).await
    }
}

pub(crate) fn now_text() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

pub(crate) fn col<'r, T>(row: &'r DbRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get::<T, _>(name)
        .map_err(|e| Error::internal(&format!("decode column {name}"), e))
}

/// Locks a provider for this transaction by bumping its generation; with `expected`, only
/// when the generation still is that (else a `placement.concurrent_update` 409). Returns
/// the new generation; a missing provider is a 404.
pub(crate) async fn bump(tx: &mut Tx<'static>, uuid: &str, expected: Option<i64>) -> Result<i64> {
    let n = match expected {
        Some(g) => sqlx::query(
            "UPDATE placement_provider SET generation = generation + 1 WHERE uuid = $1 AND generation = $2",
        )
        .bind(uuid)
        .bind(g)
        .execute(&mut **tx)
        .await,
        None => sqlx::query("UPDATE placement_provider SET generation = generation + 1 WHERE uuid = $1")
            .bind(uuid)
            .execute(&mut **tx)
            .await,
    }
    .map_err(db_err("bump provider generation"))?
    .rows_affected();
    let gen: Option<(i64,)> =
        sqlx::query_as("SELECT generation FROM placement_provider WHERE uuid = $1")
            .bind(uuid)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err("read provider generation"))?;
    match (n, gen) {
        (_, None) => Err(Error::not_found("resource provider", uuid)),
        (0, Some(_)) => Err(generation_conflict("resource provider")),
        (_, Some((g,))) => Ok(g),
    }
}
