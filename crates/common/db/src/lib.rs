//! Database access shared by every service's `-db` crate: one pool type over SQLite and
//! PostgreSQL, one migration runner, and the mapping of driver errors onto `common_error::Error`.
//!
//! Queries are written once, in the SQL both engines accept: `$1` placeholders, `TEXT` and
//! `BIGINT` columns (booleans as 0/1, timestamps as RFC 3339 text), `ON CONFLICT`. On SQLite,
//! every write goes through a single writer connection so that concurrent writers queue instead
//! of failing with "database is locked"; reads use a pool in WAL mode. On PostgreSQL both
//! roles share one pool. This crate knows no service's tables.

use std::str::FromStr;
use std::time::Duration;

use common_error::{Error, Result};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use sqlx::{Any, Row, Transaction};

/// A row type returned by queries.
pub type DbRow = sqlx::any::AnyRow;
/// A write transaction.
pub type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Which engine is behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A handle on the database: cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    read: AnyPool,
    write: AnyPool,
    engine: Engine,
}

/// One migration of one service. Versions are per service and only ever appended.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Db {
    /// Connects to `url` (`sqlite://path` or `postgres://...`), creating a SQLite file if needed.
    pub async fn connect(url: &str, max_connections: u32, busy_timeout: Duration) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Engine::Postgres
        } else {
            return Err(Error::bad_request(format!(
                "unsupported database URL scheme in {url:?}"
            )));
        };
        match engine {
            Engine::Sqlite => {
                let url = sqlite_url(url);
                let busy_ms = busy_timeout.as_millis();
                let pragmas = format!(
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                     PRAGMA foreign_keys=ON; PRAGMA busy_timeout={busy_ms};"
                );
                let opts =
                    AnyConnectOptions::from_str(&url).map_err(db_err("parse database url"))?;
                let write = pool_options(1, &pragmas)
                    .connect_with(opts.clone())
                    .await
                    .map_err(db_err("open sqlite database"))?;
                let read = pool_options(max_connections.max(1), &pragmas)
                    .connect_with(opts)
                    .await
                    .map_err(db_err("open sqlite database"))?;
                Ok(Db {
                    read,
                    write,
                    engine,
                })
            }
            Engine::Postgres => {
                let opts =
                    AnyConnectOptions::from_str(url).map_err(db_err("parse database url"))?;
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections.max(2))
                    .test_before_acquire(false)
                    .acquire_timeout(busy_timeout)
                    .connect_with(opts)
                    .await
                    .map_err(db_err("connect to postgres"))?;
                Ok(Db {
                    read: pool.clone(),
                    write: pool,
                    engine,
                })
            }
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The pool for reads.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// Begins a write transaction (on SQLite, on the single writer connection).
    pub async fn begin(&self) -> Result<Tx<'static>> {
        self.write
            .begin()
            .await
            .map_err(db_err("begin transaction"))
    }

    /// Runs `migrations` of `service` that have not run yet, each in its own transaction.
    pub async fn migrate(&self, service: &str, migrations: &[Migration]) -> Result<usize> {
        self.write
            .execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (\
                 service TEXT NOT NULL, version BIGINT NOT NULL, name TEXT NOT NULL, \
                 PRIMARY KEY (service, version))",
            )
            .await
            .map_err(db_err("create schema_migrations"))?;
        let mut applied = 0;
        for m in migrations {
            let mut tx = self.begin().await?;
            let done: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM schema_migrations WHERE service = $1 AND version = $2",
            )
            .bind(service)
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("read schema_migrations"))?;
            if done.is_some() {
                continue;
            }
            for stmt in split_statements(m.sql) {
                tx.execute(stmt).await.map_err(|e| {
                    Error::internal(&format!("migration {service}/{} {}", m.version, m.name), e)
                })?;
            }
            sqlx::query(
                "INSERT INTO schema_migrations (service, version, name) VALUES ($1, $2, $3)",
            )
            .bind(service)
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *tx)
            .await
            .map_err(db_err("record migration"))?;
            tx.commit().await.map_err(db_err("commit migration"))?;
            tracing::info!(
                service,
                version = m.version,
                name = m.name,
                "applied migration"
            );
            applied += 1;
        }
        Ok(applied)
    }

    /// Runs one statement outside a transaction (administrative SQL such as CREATE DATABASE).
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        self.write
            .execute(sql)
            .await
            .map_err(db_err("execute statement"))?;
        Ok(())
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(db_err("ping database"))?;
        Ok(())
    }

    /// Closes both pools.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

fn pool_options(max: u32, pragmas: &str) -> AnyPoolOptions {
    let pragmas = pragmas.to_string();
    AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            let pragmas = pragmas.clone();
            Box::pin(async move {
                conn.execute(pragmas.as_str()).await?;
                Ok(())
            })
        })
}

fn sqlite_url(url: &str) -> String {
    if url.contains('?') || url.contains(":memory:") {
        url.to_string()
    } else {
        format!("{url}?mode=rwc")
    }
}

fn split_statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// Maps a driver error to `Error`: unique violations become `Conflict`, the rest `Internal`
/// with `what` as context.
pub fn db_err(what: &'static str) -> impl Fn(sqlx::Error) -> Error {
    move |e| map_err(what, e)
}

/// See [`db_err`].
pub fn map_err(what: &str, e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            Error::Conflict(format!("duplicate entry ({what})"))
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => Error::Conflict(format!(
            "referenced entity is missing or still in use ({what})"
        )),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Error::Unavailable(format!("{what}: {e}"))
        }
        _ => Error::internal(what, e),
    }
}

/// Whether `e` is a unique-constraint violation.
pub fn is_unique_violation(e: &Error) -> bool {
    matches!(e, Error::Conflict(m) if m.starts_with("duplicate entry"))
}

/// Encodes a boolean for a BIGINT column.
pub fn b2i(b: bool) -> i64 {
    i64::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &[Migration] = &[Migration {
        version: 1,
        name: "t",
        sql: "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL);",
    }];

    #[tokio::test]
    async fn migrations_run_once_and_unique_violation_is_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("x.db").display());
        let db = Db::connect(&url, 4, Duration::from_secs(5)).await.unwrap();
        assert_eq!(db.migrate("test", M).await.unwrap(), 1);
        assert_eq!(db.migrate("test", M).await.unwrap(), 0);
        let mut tx = db.begin().await.unwrap();
        sqlx::query("INSERT INTO t (id, n) VALUES ($1, $2)")
            .bind("a")
            .bind(1i64)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = db.begin().await.unwrap();
        let e = sqlx::query("INSERT INTO t (id, n) VALUES ($1, $2)")
            .bind("a")
            .bind(2i64)
            .execute(&mut *tx)
            .await
            .map_err(db_err("insert t"))
            .unwrap_err();
        assert!(is_unique_violation(&e), "{e:?}");
    }

    #[tokio::test]
    async fn concurrent_writers_never_fail_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("x.db").display());
        let db = Db::connect(&url, 4, Duration::from_secs(30)).await.unwrap();
        db.migrate("test", M).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..48i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut tx = db.begin().await?;
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err("count"))?;
                sqlx::query("INSERT INTO t (id, n) VALUES ($1, $2)")
                    .bind(format!("k{i}"))
                    .bind(n)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err("insert"))?;
                tx.commit().await.map_err(db_err("commit"))
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(db.reader())
            .await
            .unwrap();
        assert_eq!(n, 48);
    }
}
