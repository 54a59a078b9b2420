//! The network service's store: every query on the network tables (`net_*`), rows converted
//! to `network-model` types at the boundary, one migration set for SQLite and PostgreSQL.
//!
//! Reads outside a transaction are `Store` methods on the read pool; writes (and the reads
//! a write decides on) go through a [`WriteTx`], one transaction per domain operation, so
//! the domain can check quota, allocate IPs and insert in one atomic step. Uniqueness is
//! enforced by the schema (one address per subnet, one MAC per network, one network per
//! segment, one rule per fingerprint): a concurrent writer that loses gets
//! `common_db::is_unique_violation` and the domain retries. Must not depend on the domain or
//! API layers or other services.

mod ipam;
mod network;
mod port;
mod quota;
mod security_group;
mod subnet;

// Routers, floating IPs and QoS (the L3 work).
mod floating_ip;
mod qos;
mod router;

use common_db::{db_err, Db, DbRow, Migration, Tx};
use common_error::{Error, Result};

pub use ipam::{first_free, AddressRange};
pub use port::PortFilter;

/// The network schema, oldest first. A migration whose file holds no statement yet (a
/// placeholder) is skipped, so it runs once it is written.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "l2",
        sql: include_str!("migrations/0001_l2.sql"),
    },
    Migration {
        version: 2,
        name: "l3",
        sql: include_str!("migrations/0002_l3.sql"),
    },
];

/// The network service's store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

/// One write transaction. Dropping it without [`commit`](WriteTx::commit) rolls back.
pub struct WriteTx {
    pub(crate) tx: Tx<'static>,
}

impl WriteTx {
    /// Commits every write of the transaction.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(db_err("commit"))
    }

    /// The connection, for queries of modules that live outside this crate's files.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    /// Counts the rows of `table` owned by `project_id` (quota usage). `table` is one of the
    /// crate's own table names, never user input.
    pub async fn count_owned(&mut self, table: &str, project_id: &str) -> Result<i64> {
        count_owned(&mut *self.tx, table, project_id).await
    }
}

pub(crate) async fn count_owned<'e, E>(exec: E, table: &str, project_id: &str) -> Result<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if !table.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(Error::internal(
            "count rows",
            format!("bad table {table:?}"),
        ));
    }
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE project_id = $1");
    sqlx::query_scalar::<_, i64>(&sql)
        .bind(project_id)
        .fetch_one(exec)
        .await
        .map_err(db_err("count rows"))
}

impl Store {
    pub fn new(db: Db) -> Self {
        Store { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Applies the network service's migrations (placeholders skipped).
    pub async fn migrate(&self) -> Result<usize> {
        let ready: Vec<Migration> = MIGRATIONS
            .iter()
            .filter(|m| has_statement(m.sql))
            .copied()
            .collect();
        self.db.migrate("network", &ready).await
    }

    /// Begins a write transaction.
    pub async fn begin(&self) -> Result<WriteTx> {
        Ok(WriteTx {
            tx: self.db.begin().await?,
        })
    }

    /// Counts the rows of `table` owned by `project_id`, outside a transaction.
    pub async fn count_owned(&self, table: &str, project_id: &str) -> Result<i64> {
        count_owned(self.db.reader(), table, project_id).await
    }
}

fn has_statement(sql: &str) -> bool {
    sql.lines()
        .map(str::trim)
        .any(|l| !l.is_empty() && !l.starts_with("--"))
}

/// The current time in storage format, with microseconds so that rows created in the same
/// second keep their order (`2026-11-22T01:07:43.123456Z`); the API renders it with
/// `network_model::wire_time`.
pub fn now_text() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// A new resource id (a UUID, as Neutron's).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn col<'r, T>(row: &'r DbRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get::<T, _>(name)
        .map_err(|e| Error::internal(&format!("decode column {name}"), e))
}

pub(crate) fn flag(row: &DbRow, name: &str) -> Result<bool> {
    Ok(col::<i64>(row, name)? != 0)
}

/// A JSON text column decoded.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(row: &DbRow, name: &str) -> Result<T> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| Error::internal(&format!("decode column {name}"), e))
}

/// A value encoded for a JSON text column.
pub(crate) fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
mod tests;
