//! Compute's store: every query on compute tables (flavors, keypairs, server groups,
//! quotas, services, instances and their metadata/tags/faults/actions, workflows,
//! migrations). One transaction per method; instance writes compare-and-set on the
//! instance's `generation` (and, where a transition is guarded, its state) so races resolve
//! exactly. Rows stay private and become `compute-model` types here. Must not depend on any
//! other service's crates or on compute's domain or API.

mod flavor;
mod instance;
mod keypair;
mod quota;
mod server_group;
mod service;
mod workflow;

pub use flavor::*;
pub use instance::*;
pub use keypair::*;
pub use quota::*;
pub use server_group::*;
pub use service::*;
pub use workflow::*;

use common_db::{Db, DbRow, Migration};
use common_error::{Error, Result};

/// The compute schema, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "instance_network",
        sql: include_str!("migrations/0002_instance_network.sql"),
    },
];

/// Compute's store. Cheap to clone.
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

    /// Applies compute's migrations.
    pub async fn migrate(&self) -> Result<usize> {
        self.db.migrate("compute", MIGRATIONS).await
    }
}

/// Now, as stored (RFC 3339 with microseconds, UTC, no offset suffix).
pub fn now_text() -> String {
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

/// A store on a fresh SQLite file (kept alive by the returned directory), for unit tests.
#[cfg(test)]
pub(crate) async fn test_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let db = Db::connect(&url, 4, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let s = Store::new(db);
    s.migrate().await.unwrap();
    (s, dir)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn migrations_apply() {
        let (s, _dir) = super::test_store().await;
        assert_eq!(s.migrate().await.unwrap(), 0, "second run applies nothing");
    }
}
