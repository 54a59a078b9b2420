//! Compute services (Nova's `services` + `compute_nodes`, one row per agent host and
//! binary): heartbeats from the conductor, the operator's enable/disable/force-down, and the
//! read-only admin views built on them (instance counts per node, the migrations list).

use common_db::{b2i, db_err, DbRow};
use common_error::Result;
use compute_model::{ComputeService, Migration};

use crate::instance::sql::{Bind, Stmt};
use crate::{col, now_text, Store};

const COLUMNS: &str = "uuid, host, binary_name, availability_zone, disabled, disabled_reason, \
    forced_down, node_uuid, hypervisor_type, hypervisor_version, host_ip, vcpus, memory_mb, \
    local_gb, cpu_info, created_at, updated_at";

const MIGRATION_COLUMNS: &str = "uuid, id, instance_uuid, migration_type, status, \
    source_compute, dest_compute, source_node, dest_node, old_flavor_id, new_flavor_id, \
    project_id, user_id, created_at, updated_at";

fn service_row(r: &DbRow) -> Result<ComputeService> {
    Ok(ComputeService {
        uuid: col(r, "uuid")?,
        host: col(r, "host")?,
        binary: col(r, "binary_name")?,
        availability_zone: col(r, "availability_zone")?,
        disabled: col::<i64>(r, "disabled")? != 0,
        disabled_reason: col(r, "disabled_reason")?,
        forced_down: col::<i64>(r, "forced_down")? != 0,
        updated_at: col(r, "updated_at")?,
        node_uuid: col(r, "node_uuid")?,
        hypervisor_type: col(r, "hypervisor_type")?,
        hypervisor_version: col(r, "hypervisor_version")?,
        host_ip: col(r, "host_ip")?,
        vcpus: col(r, "vcpus")?,
        memory_mb: col(r, "memory_mb")?,
        local_gb: col(r, "local_gb")?,
        cpu_info: col(r, "cpu_info")?,
    })
}

fn migration_row(r: &DbRow) -> Result<Migration> {
    Ok(Migration {
        uuid: col(r, "uuid")?,
        id: col(r, "id")?,
        instance_uuid: col(r, "instance_uuid")?,
        migration_type: col(r, "migration_type")?,
        status: col(r, "status")?,
        source_compute: col(r, "source_compute")?,
        dest_compute: col(r, "dest_compute")?,
        source_node: col(r, "source_node")?,
        dest_node: col(r, "dest_node")?,
        old_flavor_id: col(r, "old_flavor_id")?,
        new_flavor_id: col(r, "new_flavor_id")?,
        project_id: col(r, "project_id")?,
        user_id: col(r, "user_id")?,
        created_at: col(r, "created_at")?,
        updated_at: col(r, "updated_at")?,
    })
}

/// An operator's change of a service; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceChange {
    pub disabled: Option<bool>,
    /// `Some(None)` clears it.
    pub disabled_reason: Option<Option<String>>,
    pub forced_down: Option<bool>,
}

/// Column filters of the migrations list (`None` matches everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationQuery {
    pub instance_uuid: Option<String>,
    pub status: Option<String>,
    /// Source or destination compute host.
    pub host: Option<String>,
    pub source_compute: Option<String>,
    pub migration_type: Option<String>,
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    /// `updated_at >=` (stored format).
    pub changes_since: Option<String>,
    /// `updated_at <=` (stored format).
    pub changes_before: Option<String>,
}

impl Store {
    /// Records a heartbeat: inserts the service (a new uuid when `s.uuid` is empty) or
    /// updates what the agent reports of an existing (host, binary), keeping its uuid,
    /// `disabled`, `disabled_reason` and `forced_down`. Sets `updated_at` to now.
    pub async fn service_heartbeat(&self, s: &ComputeService) -> Result<ComputeService> {
        let now = now_text();
        let uuid = if s.uuid.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            s.uuid.clone()
        };
        let mut tx = self.db().begin().await?;
        sqlx::query(&format!(
            "INSERT INTO compute_service ({COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT (host, binary_name) DO UPDATE SET \
             availability_zone = excluded.availability_zone, node_uuid = excluded.node_uuid, \
             hypervisor_type = excluded.hypervisor_type, \
             hypervisor_version = excluded.hypervisor_version, host_ip = excluded.host_ip, \
             vcpus = excluded.vcpus, memory_mb = excluded.memory_mb, \
             local_gb = excluded.local_gb, cpu_info = excluded.cpu_info, \
             updated_at = excluded.updated_at"
        ))
        .bind(&uuid)
        .bind(&s.host)
        .bind(&s.binary)
        .bind(&s.availability_zone)
        .bind(b2i(s.disabled))
        .bind(s.disabled_reason.clone())
        .bind(b2i(s.forced_down))
        .bind(&s.node_uuid)
        .bind(&s.hypervisor_type)
        .bind(s.hypervisor_version)
        .bind(&s.host_ip)
        .bind(s.vcpus)
        .bind(s.memory_mb)
        .bind(s.local_gb)
        .bind(&s.cpu_info)
        .bind(&now)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(db_err("record service heartbeat"))?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM compute_service WHERE host = $1 AND binary_name = $2"
        ))
        .bind(&s.host)
        .bind(&s.binary)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("read service"))?;
        let out = service_row(&row)?;
        tx.commit()
            .await
            .map_err(db_err("commit service heartbeat"))?;
        Ok(out)
    }

    /// Every service, oldest first (the order gives pre-2.53 integer ids).
    pub async fn service_list(&self) -> Result<Vec<ComputeService>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM compute_service ORDER BY created_at, uuid"
        ))
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("list services"))?;
        rows.iter().map(service_row).collect()
    }

    pub async fn service_get(&self, uuid: &str) -> Result<Option<ComputeService>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM compute_service WHERE uuid = $1"
        ))
        .bind(uuid)
        .fetch_optional(self.db().reader())
        .await
        .map_err(db_err("read service"))?;
        row.as_ref().map(service_row).transpose()
    }

    /// Applies `c` to service `uuid`; `None` when there is no such service.
    pub async fn service_update(
        &self,
        uuid: &str,
        c: &ServiceChange,
    ) -> Result<Option<ComputeService>> {
        let mut s = Stmt::new("UPDATE compute_service SET uuid = uuid");
        if let Some(d) = c.disabled {
            s.push(", disabled = ?", vec![Bind::Int(b2i(d))]);
        }
        if let Some(r) = &c.disabled_reason {
            s.push(", disabled_reason = ?", vec![Bind::OptText(r.clone())]);
        }
        if let Some(f) = c.forced_down {
            s.push(", forced_down = ?", vec![Bind::Int(b2i(f))]);
        }
        s.push(" WHERE uuid = ?", vec![Bind::from(uuid)]);
        let mut tx = self.db().begin().await?;
        let n = s.execute(&mut tx, "update service").await?;
        tx.commit().await.map_err(db_err("commit service update"))?;
        if n == 0 {
            return Ok(None);
        }
        self.service_get(uuid).await
    }

    /// Deletes service `uuid`; false when there was none.
    pub async fn service_delete(&self, uuid: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query("DELETE FROM compute_service WHERE uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete service"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit service delete"))?;
        Ok(n == 1)
    }

    /// Live instances allocated against compute node `node` (a provider uuid).
    pub async fn instance_count_on_node(&self, node: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT count(*) AS n FROM compute_instance WHERE node = $1 AND deleted = 0",
        )
        .bind(node)
        .fetch_one(self.db().reader())
        .await
        .map_err(db_err("count instances on node"))?;
        col(&row, "n")
    }

    /// Live instances on compute host `host`.
    pub async fn instance_count_on_host(&self, host: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT count(*) AS n FROM compute_instance WHERE host = $1 AND deleted = 0",
        )
        .bind(host)
        .fetch_one(self.db().reader())
        .await
        .map_err(db_err("count instances on host"))?;
        col(&row, "n")
    }

    /// Migrations matching `q`, newest first (`created_at`, then `id`, descending).
    pub async fn migration_list(&self, q: &MigrationQuery) -> Result<Vec<Migration>> {
        let mut s = Stmt::new(&format!(
            "SELECT {MIGRATION_COLUMNS} FROM compute_migration WHERE 1 = 1"
        ));
        for (column, v) in [
            ("instance_uuid", &q.instance_uuid),
            ("status", &q.status),
            ("source_compute", &q.source_compute),
            ("migration_type", &q.migration_type),
            ("project_id", &q.project_id),
            ("user_id", &q.user_id),
        ] {
            if let Some(v) = v {
                s.push(&format!(" AND {column} = ?"), vec![Bind::from(v.as_str())]);
            }
        }
        if let Some(h) = &q.host {
            s.push(
                " AND (source_compute = ? OR dest_compute = ?)",
                vec![Bind::from(h.as_str()), Bind::from(h.as_str())],
            );
        }
        if let Some(t) = &q.changes_since {
            s.push(" AND updated_at >= ?", vec![Bind::from(t.as_str())]);
        }
        if let Some(t) = &q.changes_before {
            s.push(" AND updated_at <= ?", vec![Bind::from(t.as_str())]);
        }
        s.push(" ORDER BY created_at DESC, id DESC", vec![]);
        let rows = s.fetch_all(self.db().reader(), "list migrations").await?;
        rows.iter().map(migration_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(host: &str) -> ComputeService {
        ComputeService {
            uuid: String::new(),
            host: host.into(),
            binary: "nova-compute".into(),
            availability_zone: "nova".into(),
            disabled: false,
            disabled_reason: None,
            forced_down: false,
            updated_at: String::new(),
            node_uuid: format!("node-{host}"),
            hypervisor_type: "QEMU".into(),
            hypervisor_version: 8002000,
            host_ip: "127.0.0.1".into(),
            vcpus: 4,
            memory_mb: 8192,
            local_gb: 100,
            cpu_info: "{}".into(),
        }
    }

    #[tokio::test]
    async fn heartbeat_upserts_and_keeps_the_operator_fields() {
        let (s, _d) = crate::test_store().await;
        let first = s.service_heartbeat(&svc("h1")).await.unwrap();
        assert!(!first.uuid.is_empty());
        assert!(!first.updated_at.is_empty());
        let change = ServiceChange {
            disabled: Some(true),
            disabled_reason: Some(Some("maintenance".into())),
            forced_down: Some(true),
        };
        let upd = s
            .service_update(&first.uuid, &change)
            .await
            .unwrap()
            .unwrap();
        assert!(upd.disabled && upd.forced_down);
        let mut again = svc("h1");
        again.vcpus = 8;
        again.disabled = false;
        let second = s.service_heartbeat(&again).await.unwrap();
        assert_eq!(second.uuid, first.uuid);
        assert_eq!(second.vcpus, 8);
        assert!(second.disabled && second.forced_down);
        assert_eq!(second.disabled_reason.as_deref(), Some("maintenance"));
        assert!(second.updated_at >= first.updated_at);
        s.service_heartbeat(&svc("h2")).await.unwrap();
        let hosts: Vec<String> = s
            .service_list()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.host)
            .collect();
        assert_eq!(hosts, vec!["h1", "h2"]);
        assert!(s.service_update("nope", &change).await.unwrap().is_none());
        assert!(s.service_delete(&first.uuid).await.unwrap());
        assert!(!s.service_delete(&first.uuid).await.unwrap());
        assert!(s.service_get(&first.uuid).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn counts_and_migrations() {
        let (s, _d) = crate::test_store().await;
        assert_eq!(s.instance_count_on_node("n1").await.unwrap(), 0);
        s.db()
            .execute_raw(
                "INSERT INTO compute_migration (uuid, id, instance_uuid, migration_type, status, \
                 source_compute, dest_compute, source_node, dest_node, old_flavor_id, \
                 new_flavor_id, project_id, user_id, created_at, updated_at) VALUES \
                 ('m1', 1, 'i1', 'resize', 'finished', 'h1', 'h2', 'n1', 'n2', '1', '2', 'p', \
                 'u', '2026-01-01T00:00:00.000000', '2026-01-01T00:00:00.000000'), \
                 ('m2', 2, 'i2', 'resize', 'error', 'h2', 'h2', 'n2', 'n2', '1', '2', 'p', \
                 'u', '2026-01-02T00:00:00.000000', '2026-01-02T00:00:00.000000')",
            )
            .await
            .unwrap();
        let all = s.migration_list(&MigrationQuery::default()).await.unwrap();
        assert_eq!(all.iter().map(|m| m.id).collect::<Vec<_>>(), vec![2, 1]);
        let on_h1 = MigrationQuery {
            host: Some("h1".into()),
            ..MigrationQuery::default()
        };
        assert_eq!(s.migration_list(&on_h1).await.unwrap()[0].uuid, "m1");
        let errors = MigrationQuery {
            status: Some("error".into()),
            ..MigrationQuery::default()
        };
        assert_eq!(s.migration_list(&errors).await.unwrap()[0].uuid, "m2");
    }
}
