//! Compute services and what is built on them (Nova's `HostAPI`, `servicegroup` and
//! `availability_zones`): up/down from the last heartbeat, the operator's enable, disable
//! and force-down, delete of an idle service, hypervisors with their usage (placement's
//! allocations on the node, instance counts), availability zones, and the migrations list.

use std::collections::BTreeMap;

use common_error::{Error, Result};
pub use compute_db::{MigrationQuery, ServiceChange};
use compute_model::{ComputeService, Migration};

use crate::quota::parse_stored;
use crate::Compute;

/// A service with what the API shows beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceState {
    pub service: ComputeService,
    /// The pre-2.53 integer id (its position, oldest first, from 1).
    pub id: i64,
    /// Heard from within `service_down_secs` and not forced down.
    pub up: bool,
}

/// A compute node as `os-hypervisors` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypervisor {
    pub state: ServiceState,
    pub vcpus_used: i64,
    pub memory_mb_used: i64,
    pub local_gb_used: i64,
    pub running_vms: i64,
}

/// One availability zone: whether any enabled service is in it, and (for the detail view)
/// host → binary → (up, enabled, updated_at) of its enabled services.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    pub available: bool,
    pub hosts: BTreeMap<String, BTreeMap<String, (bool, bool, String)>>,
}

impl Compute {
    /// Nova's `servicegroup` DB driver: up when heard from within `service_down_secs` and
    /// not forced down.
    pub fn service_is_up(&self, s: &ComputeService) -> bool {
        if s.forced_down {
            return false;
        }
        let Some(seen) = parse_stored(&s.updated_at) else {
            return false;
        };
        let age = chrono::Utc::now().naive_utc() - seen;
        age.num_milliseconds() < (self.cfg.service_down_secs as i64).saturating_mul(1000)
    }

    /// Every service with its integer id and state, oldest first.
    pub async fn service_list(&self) -> Result<Vec<ServiceState>> {
        Ok(self
            .store
            .service_list()
            .await?
            .into_iter()
            .enumerate()
            .map(|(i, s)| ServiceState {
                up: self.service_is_up(&s),
                id: i as i64 + 1,
                service: s,
            })
            .collect())
    }

    /// The service with uuid `id`, else `NotFound` kind `service`.
    pub async fn service_get(&self, id: &str) -> Result<ServiceState> {
        self.service_list()
            .await?
            .into_iter()
            .find(|s| s.service.uuid == id)
            .ok_or_else(|| Error::not_found("service", id))
    }

    /// Applies an operator's change to service `id`. Only `nova-compute` services may be
    /// changed (`BadRequest` with Nova's message).
    pub async fn service_update(&self, id: &str, change: &ServiceChange) -> Result<ServiceState> {
        let s = self.service_get(id).await?;
        if s.service.binary != "nova-compute" {
            return Err(Error::bad_request(format!(
                "Updating a {} service is not supported. Only nova-compute services can be \
                 updated.",
                s.service.binary
            )));
        }
        self.store
            .service_update(id, change)
            .await?
            .ok_or_else(|| Error::not_found("service", id))?;
        self.service_get(id).await
    }

    /// The pre-2.53 form: the service of `binary` on `host` (`NotFound` kind `host binary`).
    pub async fn service_update_by_host(
        &self,
        host: &str,
        binary: &str,
        change: &ServiceChange,
    ) -> Result<ServiceState> {
        if binary != "nova-compute" {
            return Err(Error::bad_request(format!(
                "Updating a {binary} service is not supported. Only nova-compute services can \
                 be updated."
            )));
        }
        let s = self
            .service_list()
            .await?
            .into_iter()
            .find(|s| s.service.host == host && s.service.binary == binary)
            .ok_or_else(|| Error::not_found("host binary", format!("{binary} {host}")))?;
        self.service_update(&s.service.uuid, change).await
    }

    /// Deletes a service. A compute service still hosting instances is `Conflict` with
    /// Nova's message.
    pub async fn service_delete(&self, id: &str) -> Result<()> {
        let s = self.service_get(id).await?;
        if s.service.binary == "nova-compute"
            && self.store.instance_count_on_host(&s.service.host).await? > 0
        {
            return Err(Error::conflict(
                "Unable to delete compute service that is hosting instances. Migrate or delete \
                 the instances first.",
            ));
        }
        if self.store.service_delete(id).await? {
            Ok(())
        } else {
            Err(Error::not_found("service", id))
        }
    }

    /// Every compute node (the `nova-compute` services) with its usage: VCPU, MEMORY_MB and
    /// DISK_GB allocated on it in placement, and its live instances.
    pub async fn hypervisor_list(&self) -> Result<Vec<Hypervisor>> {
        let mut out = Vec::new();
        for s in self.service_list().await? {
            if s.service.binary != "nova-compute" {
                continue;
            }
            let node = s.service.node_uuid.clone();
            let usage = if node.is_empty() {
                BTreeMap::new()
            } else {
                self.placement.provider_usages(&node).await?
            };
            let get = |k: &str| usage.get(k).copied().unwrap_or(0);
            out.push(Hypervisor {
                vcpus_used: get("VCPU"),
                memory_mb_used: get("MEMORY_MB"),
                local_gb_used: get("DISK_GB"),
                running_vms: self.store.instance_count_on_node(&node).await?,
                state: s,
            });
        }
        Ok(out)
    }

    /// Availability zones of the services: available ones (with an enabled service) first,
    /// then the others, each sorted by name.
    pub async fn availability_zones(&self) -> Result<Vec<Zone>> {
        let services = self.service_list().await?;
        let mut available: BTreeMap<String, Zone> = BTreeMap::new();
        for s in services.iter().filter(|s| !s.service.disabled) {
            let z = available
                .entry(s.service.availability_zone.clone())
                .or_insert_with(|| Zone {
                    name: s.service.availability_zone.clone(),
                    available: true,
                    hosts: BTreeMap::new(),
                });
            z.hosts.entry(s.service.host.clone()).or_default().insert(
                s.service.binary.clone(),
                (s.up, true, s.service.updated_at.clone()),
            );
        }
        let mut unavailable: BTreeMap<String, Zone> = BTreeMap::new();
        for s in services.iter().filter(|s| s.service.disabled) {
            if !available.contains_key(&s.service.availability_zone) {
                unavailable
                    .entry(s.service.availability_zone.clone())
                    .or_insert_with(|| Zone {
                        name: s.service.availability_zone.clone(),
                        available: false,
                        hosts: BTreeMap::new(),
                    });
            }
        }
        Ok(available
            .into_values()
            .chain(unavailable.into_values())
            .collect())
    }

    /// (name, uuid) of the live instances on compute node `node`.
    pub async fn hypervisor_servers(&self, node: &str) -> Result<Vec<(String, String)>> {
        let q = compute_db::InstanceQuery {
            node: Some(node.to_string()),
            ..compute_db::InstanceQuery::default()
        };
        Ok(self
            .store
            .instance_list(&q)
            .await?
            .into_iter()
            .map(|i| (i.name, i.uuid))
            .collect())
    }

    /// Migrations matching `q`, newest first.
    pub async fn migration_list(&self, q: &MigrationQuery) -> Result<Vec<Migration>> {
        self.store.migration_list(q).await
    }
}

/// A `Compute` over a temporary SQLite store, the in-process bus, in-memory placement
/// (usages set per provider) and no images, for this crate's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use common_error::{Error, Result};

    use crate::ports::{Allocations, HostCandidate, ImageInfo, ImagePort, PlacementPort};
    use crate::{Compute, Context, Store};

    #[derive(Default)]
    pub(crate) struct FakePlacement {
        pub usages: Mutex<BTreeMap<String, BTreeMap<String, i64>>>,
    }

    #[async_trait::async_trait]
    impl PlacementPort for FakePlacement {
        async fn candidates(
            &self,
            _: &BTreeMap<String, i64>,
            _: &[String],
            _: &[String],
            _: usize,
        ) -> Result<Vec<HostCandidate>> {
            Ok(Vec::new())
        }
        async fn claim(&self, _: &str, _: &str, _: &str, _: &Allocations) -> Result<()> {
            Err(Error::conflict("no hosts"))
        }
        async fn release(&self, _: &str) -> Result<()> {
            Ok(())
        }
        async fn allocations(&self, _: &str) -> Result<Allocations> {
            Ok(Allocations::new())
        }
        async fn provider_usages(&self, provider: &str) -> Result<BTreeMap<String, i64>> {
            Ok(self
                .usages
                .lock()
                .unwrap()
                .get(provider)
                .cloned()
                .unwrap_or_default())
        }
    }

    struct NoImages;

    #[async_trait::async_trait]
    impl ImagePort for NoImages {
        async fn get(&self, _: &Context, id: &str) -> Result<ImageInfo> {
            Err(Error::not_found("image", id))
        }
        async fn create(
            &self,
            _: &Context,
            _: &str,
            _: &str,
            _: &BTreeMap<String, String>,
        ) -> Result<String> {
            Err(Error::conflict("no images"))
        }
        async fn delete(&self, _: &Context, _: &str) -> Result<()> {
            Ok(())
        }
    }

    /// A compute with its placement fake; the directory keeps the database alive.
    pub(crate) async fn compute_with() -> (Compute, Arc<FakePlacement>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("c.db").display());
        let db = common_db::Db::connect(&url, 4, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let store = Store::new(db);
        store.migrate().await.unwrap();
        let placement = Arc::new(FakePlacement::default());
        let c = Compute::new(
            store,
            placement.clone(),
            Arc::new(NoImages),
            Arc::new(common_bus::InProcBus::new()),
            common_config::ComputeConfig::default(),
        );
        (c, placement, dir)
    }

    pub(crate) async fn compute() -> (Compute, tempfile::TempDir) {
        let (c, _, d) = compute_with().await;
        (c, d)
    }

    pub(crate) fn member(project: &str) -> Context {
        Context {
            user_id: format!("user-{project}"),
            project_id: project.into(),
            roles: vec!["member".into(), "reader".into()],
            is_admin: false,
            request_id: "req-test".into(),
        }
    }

    pub(crate) fn admin() -> Context {
        Context {
            user_id: "admin".into(),
            project_id: "admin-project".into(),
            roles: vec!["admin".into(), "member".into(), "reader".into()],
            is_admin: true,
            request_id: "req-test".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::compute_with;
    use super::*;

    fn svc(host: &str, zone: &str) -> ComputeService {
        ComputeService {
            uuid: String::new(),
            host: host.into(),
            binary: "nova-compute".into(),
            availability_zone: zone.into(),
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
    async fn state_follows_heartbeats_and_forced_down() {
        let (c, _p, _d) = compute_with().await;
        let s = c.store.service_heartbeat(&svc("h1", "nova")).await.unwrap();
        let st = c.service_get(&s.uuid).await.unwrap();
        assert!(st.up);
        assert_eq!(st.id, 1);
        let mut old = s.clone();
        old.updated_at = "2000-01-01T00:00:00.000000".into();
        assert!(!c.service_is_up(&old));
        let down = ServiceChange {
            forced_down: Some(true),
            ..ServiceChange::default()
        };
        assert!(!c.service_update(&s.uuid, &down).await.unwrap().up);
        assert_eq!(
            c.service_update("nope", &down).await,
            Err(Error::not_found("service", "nope"))
        );
        let by_host = c
            .service_update_by_host("h1", "nova-scheduler", &down)
            .await;
        assert_eq!(
            by_host,
            Err(Error::bad_request(
                "Updating a nova-scheduler service is not supported. Only nova-compute \
                 services can be updated."
            ))
        );
        assert!(c
            .service_update_by_host("h9", "nova-compute", &down)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn hypervisors_zones_and_delete() {
        let (c, p, _d) = compute_with().await;
        let a = c.store.service_heartbeat(&svc("h1", "nova")).await.unwrap();
        c.store.service_heartbeat(&svc("h2", "az2")).await.unwrap();
        p.usages.lock().unwrap().insert(
            "node-h1".into(),
            BTreeMap::from([("VCPU".to_string(), 2), ("MEMORY_MB".to_string(), 1024)]),
        );
        let hv = c.hypervisor_list().await.unwrap();
        assert_eq!(hv.len(), 2);
        assert_eq!(
            (hv[0].vcpus_used, hv[0].memory_mb_used, hv[0].local_gb_used),
            (2, 1024, 0)
        );
        assert_eq!(hv[0].running_vms, 0);
        let disable = ServiceChange {
            disabled: Some(true),
            disabled_reason: Some(Some("maintenance".into())),
            ..ServiceChange::default()
        };
        c.service_update_by_host("h2", "nova-compute", &disable)
            .await
            .unwrap();
        let zones = c.availability_zones().await.unwrap();
        let summary: Vec<(String, bool)> = zones
            .iter()
            .map(|z| (z.name.clone(), z.available))
            .collect();
        assert_eq!(
            summary,
            vec![("nova".to_string(), true), ("az2".to_string(), false)]
        );
        assert!(zones[0].hosts["h1"]["nova-compute"].0);
        c.service_delete(&a.uuid).await.unwrap();
        assert_eq!(c.service_list().await.unwrap().len(), 1);
    }
}
