//! Test doubles and an environment for domain tests: placement and image in memory, a
//! recording fake agent per host on an in-process bus, a SQLite store in a temp dir, and
//! the conductor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common_bus::{Bus, InProcBus, RpcHandler, ServerHandle, Value};
use common_config::ComputeConfig;
use common_error::{Error, Result};
use compute_db::{status, Store};
use compute_model::rpc::{agent_topic, AgentRequest, InstanceSpec};
use compute_model::{ComputeService, Flavor, Instance, Keypair, PowerState, ServerGroup};

use crate::conductor::ConductorHandle;
use crate::ports::{Allocations, HostCandidate, ImageInfo, ImagePort, PlacementPort};
use crate::server::{Networks, ServerCreate};
use crate::{Compute, Context};

/// Placement in memory: providers with capacities, consumers with allocations.
#[derive(Default)]
pub(crate) struct MemPlacement {
    pub capacity: Mutex<BTreeMap<String, BTreeMap<String, i64>>>,
    pub allocs: Mutex<BTreeMap<String, Allocations>>,
}

impl MemPlacement {
    fn used(
        allocs: &BTreeMap<String, Allocations>,
        provider: &str,
        except: &str,
    ) -> BTreeMap<String, i64> {
        let mut u = BTreeMap::new();
        for (c, a) in allocs {
            if c == except {
                continue;
            }
            for (k, v) in a.get(provider).into_iter().flatten() {
                *u.entry(k.clone()).or_insert(0) += v;
            }
        }
        u
    }

    pub(crate) fn of(&self, consumer: &str) -> Allocations {
        self.allocs
            .lock()
            .unwrap()
            .get(consumer)
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl PlacementPort for MemPlacement {
    async fn candidates(
        &self,
        resources: &BTreeMap<String, i64>,
        _required: &[String],
        _forbidden: &[String],
        limit: usize,
    ) -> Result<Vec<HostCandidate>> {
        let cap = self.capacity.lock().unwrap().clone();
        let allocs = self.allocs.lock().unwrap().clone();
        let mut out = Vec::new();
        for (p, c) in cap {
            let used = Self::used(&allocs, &p, "");
            let fits = resources.iter().all(|(k, v)| {
                c.get(k).copied().unwrap_or(0) - used.get(k).copied().unwrap_or(0) >= *v
            });
            if fits {
                out.push(HostCandidate {
                    provider: p.clone(),
                    allocations: [(p.clone(), resources.clone())].into_iter().collect(),
                    capacity: c,
                    used,
                    traits: Vec::new(),
                    aggregates: Vec::new(),
                });
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn claim(
        &self,
        consumer: &str,
        _p: &str,
        _u: &str,
        allocations: &Allocations,
    ) -> Result<()> {
        let cap = self.capacity.lock().unwrap().clone();
        let mut allocs = self.allocs.lock().unwrap();
        for (p, res) in allocations {
            let used = Self::used(&allocs, p, consumer);
            let c = cap
                .get(p)
                .ok_or_else(|| Error::conflict("no such provider"))?;
            for (k, v) in res {
                if used.get(k).copied().unwrap_or(0) + v > c.get(k).copied().unwrap_or(0) {
                    return Err(Error::conflict("capacity exceeded"));
                }
            }
        }
        allocs.insert(consumer.to_string(), allocations.clone());
        Ok(())
    }

    async fn release(&self, consumer: &str) -> Result<()> {
        self.allocs.lock().unwrap().remove(consumer);
        Ok(())
    }

    async fn allocations(&self, consumer: &str) -> Result<Allocations> {
        Ok(self.of(consumer))
    }

    async fn provider_usages(&self, provider: &str) -> Result<BTreeMap<String, i64>> {
        Ok(Self::used(&self.allocs.lock().unwrap(), provider, ""))
    }
}

/// The image service in memory.
#[derive(Default)]
pub(crate) struct MemImages {
    pub images: Mutex<BTreeMap<String, ImageInfo>>,
}

#[async_trait::async_trait]
impl ImagePort for MemImages {
    async fn get(&self, _ctx: &Context, id: &str) -> Result<ImageInfo> {
        self.images
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found("image", id))
    }

    async fn create(
        &self,
        _ctx: &Context,
        name: &str,
        disk_format: &str,
        properties: &BTreeMap<String, String>,
    ) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let img = ImageInfo {
            id: id.clone(),
            name: name.into(),
            status: "queued".into(),
            disk_format: disk_format.into(),
            container_format: "bare".into(),
            properties: properties.clone(),
            ..ImageInfo::default()
        };
        self.images.lock().unwrap().insert(id.clone(), img);
        Ok(id)
    }

    async fn delete(&self, _ctx: &Context, id: &str) -> Result<()> {
        self.images.lock().unwrap().remove(id);
        Ok(())
    }
}

/// A compute agent that keeps VMs as power states and records every request.
#[derive(Default)]
pub(crate) struct FakeAgent {
    pub vms: Mutex<BTreeMap<String, PowerState>>,
    pub calls: Mutex<Vec<AgentRequest>>,
    /// Methods (bus names) that fail with an internal error.
    pub fail: Mutex<BTreeSet<String>>,
    /// Methods that fail as an unreachable agent does (`Unavailable`).
    pub unreachable: Mutex<BTreeSet<String>>,
}

impl FakeAgent {
    pub(crate) fn methods(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.to_wire().unwrap().0)
            .collect()
    }

    pub(crate) fn spawned(&self) -> Vec<InstanceSpec> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| match r {
                AgentRequest::Spawn { spec } => Some(spec.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn state(&self, uuid: &str) -> Option<PowerState> {
        self.vms.lock().unwrap().get(uuid).copied()
    }

    fn power(&self, uuid: &str, to: PowerState) -> Result<Value> {
        let mut vms = self.vms.lock().unwrap();
        let vm = vms
            .get_mut(uuid)
            .ok_or_else(|| Error::not_found("instance", uuid))?;
        *vm = to;
        Ok(serde_json::json!({ "power_state": to }))
    }
}

#[async_trait::async_trait]
impl RpcHandler for FakeAgent {
    async fn handle(&self, method: &str, args: Value) -> Result<Value> {
        let req =
            AgentRequest::from_wire(method, args).map_err(|e| Error::bad_request(e.to_string()))?;
        self.calls.lock().unwrap().push(req.clone());
        if self.unreachable.lock().unwrap().contains(method) {
            return Err(Error::Unavailable(format!("call {method} timed out")));
        }
        if self.fail.lock().unwrap().contains(method) {
            return Err(Error::Internal(format!("injected failure of {method}")));
        }
        use AgentRequest as R;
        match req {
            R::Spawn { spec } => {
                self.vms
                    .lock()
                    .unwrap()
                    .insert(spec.uuid.clone(), PowerState::Running);
                Ok(serde_json::json!({ "power_state": PowerState::Running }))
            }
            R::Destroy { uuid } => {
                self.vms.lock().unwrap().remove(&uuid);
                Ok(serde_json::json!({}))
            }
            R::PowerOff { uuid, .. } => self.power(&uuid, PowerState::Shutdown),
            R::PowerOn { spec }
            | R::Resume { spec }
            | R::Resize { spec }
            | R::Rescue { spec, .. }
            | R::Unrescue { spec } => self.power(&spec.uuid, PowerState::Running),
            R::Reboot { uuid, .. } | R::Unpause { uuid } => self.power(&uuid, PowerState::Running),
            R::Pause { uuid } => self.power(&uuid, PowerState::Paused),
            R::Suspend { uuid } => self.power(&uuid, PowerState::Suspended),
            R::ConsoleOutput { uuid, length } => {
                self.state(&uuid)
                    .ok_or_else(|| Error::not_found("instance", &uuid))?;
                let lines: Vec<String> = (1..=5).map(|n| format!("line {n}")).collect();
                let keep = length
                    .map(|l| l.max(0) as usize)
                    .unwrap_or(lines.len())
                    .min(lines.len());
                Ok(serde_json::json!({ "output": lines[lines.len() - keep..].join("\n") }))
            }
            R::Snapshot { uuid, .. } => {
                self.state(&uuid)
                    .ok_or_else(|| Error::not_found("instance", &uuid))?;
                Ok(serde_json::json!({}))
            }
            R::PowerStates {} => Ok(serde_json::json!({ "states": *self.vms.lock().unwrap() })),
            R::Sync { keep } => {
                let mut vms = self.vms.lock().unwrap();
                let gone: Vec<String> = vms.keys().filter(|u| !keep.contains(u)).cloned().collect();
                for u in &gone {
                    vms.remove(u);
                }
                Ok(serde_json::json!({ "destroyed": gone }))
            }
        }
    }
}

pub(crate) fn flavor(id: &str, vcpus: i64, ram: i64, disk: i64) -> Flavor {
    Flavor {
        id: id.into(),
        name: format!("m1.{id}"),
        vcpus,
        ram,
        disk,
        ephemeral: 0,
        swap: 0,
        rxtx_factor: 1.0,
        is_public: true,
        disabled: false,
        description: None,
        extra_specs: BTreeMap::new(),
    }
}

/// A cloud for domain tests: hosts `h1`, `h2`... each with an agent, flavors `tiny`,
/// `small`, `huge`, `private`, image `img` (active), key `k1` of user `u-p1`.
pub(crate) struct Env {
    pub compute: Compute,
    pub placement: Arc<MemPlacement>,
    pub images: Arc<MemImages>,
    /// The network service, for clouds made by [`Env::networked`].
    pub network: Option<Arc<super::testkit_net::FakeNetwork>>,
    pub agents: BTreeMap<String, Arc<FakeAgent>>,
    agent_servers: BTreeMap<String, ServerHandle>,
    pub conductor: Option<ConductorHandle>,
    _dir: tempfile::TempDir,
}

pub(crate) fn ctx(project: &str) -> Context {
    Context {
        user_id: format!("u-{project}"),
        project_id: project.into(),
        roles: vec!["member".into()],
        is_admin: false,
        request_id: format!("req-{}", uuid::Uuid::new_v4()),
    }
}

pub(crate) fn admin() -> Context {
    Context {
        is_admin: true,
        roles: vec!["admin".into()],
        ..ctx("admin-project")
    }
}

pub(crate) fn create_req(name: &str) -> ServerCreate {
    ServerCreate {
        name: name.into(),
        image_ref: Some("img".into()),
        flavor_ref: "tiny".into(),
        networks: Some(Networks::None),
        min_count: 1,
        max_count: 1,
        ..ServerCreate::default()
    }
}

impl Env {
    pub(crate) async fn new(hosts: usize) -> Env {
        Env::with(ComputeConfig::default(), hosts).await
    }

    pub(crate) async fn with(cfg: ComputeConfig, hosts: usize) -> Env {
        Env::build(cfg, hosts, None).await
    }

    /// A cloud with a network service in memory (no networks yet).
    pub(crate) async fn networked(hosts: usize) -> Env {
        let net = Arc::new(super::testkit_net::FakeNetwork::default());
        Env::build(ComputeConfig::default(), hosts, Some(net)).await
    }

    pub(crate) fn net(&self) -> &super::testkit_net::FakeNetwork {
        self.network.as_deref().unwrap()
    }

    async fn build(
        cfg: ComputeConfig,
        hosts: usize,
        network: Option<Arc<super::testkit_net::FakeNetwork>>,
    ) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("c.db").display());
        let db = common_db::Db::connect(&url, 4, Duration::from_secs(30))
            .await
            .unwrap();
        let store = Store::new(db);
        store.migrate().await.unwrap();
        let placement = Arc::new(MemPlacement::default());
        let images = Arc::new(MemImages::default());
        let bus: Arc<dyn Bus> = Arc::new(InProcBus::new());
        let mut compute = Compute::new(
            store.clone(),
            placement.clone(),
            images.clone(),
            bus.clone(),
            cfg,
        );
        if let Some(n) = &network {
            compute = compute.with_network(n.clone());
        }
        for f in [
            flavor("tiny", 1, 512, 1),
            flavor("small", 2, 2048, 10),
            flavor("huge", 64, 1_000_000, 1000),
            Flavor {
                is_public: false,
                ..flavor("private", 1, 512, 1)
            },
            Flavor {
                disabled: true,
                ..flavor("disabled", 1, 512, 1)
            },
        ] {
            store.flavor_create(&f).await.unwrap();
        }
        images.images.lock().unwrap().insert(
            "img".into(),
            ImageInfo {
                id: "img".into(),
                name: "img".into(),
                status: "active".into(),
                disk_format: "qcow2".into(),
                container_format: "bare".into(),
                size: 1 << 20,
                properties: [("hw_disk_bus".to_string(), "virtio".to_string())]
                    .into_iter()
                    .collect(),
                ..ImageInfo::default()
            },
        );
        let key = Keypair {
            name: "k1".into(),
            user_id: "u-p1".into(),
            key_type: "ssh".into(),
            public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample test".into(),
            fingerprint: "aa:bb".into(),
            created_at: compute_db::now_text(),
        };
        store.keypair_create(&key, -1).await.unwrap();
        let mut env = Env {
            compute,
            placement,
            images,
            network,
            agents: BTreeMap::new(),
            agent_servers: BTreeMap::new(),
            conductor: None,
            _dir: dir,
        };
        for n in 1..=hosts {
            env.add_host(&format!("h{n}"), 8, 16384, 100).await;
        }
        env.conductor = Some(env.compute.conductor_start().await.unwrap());
        env
    }

    /// A compute host: its provider, its service (heartbeat now) and its agent.
    pub(crate) async fn add_host(&mut self, host: &str, vcpus: i64, ram: i64, disk: i64) {
        let node = format!("node-{host}");
        let cap: BTreeMap<String, i64> = [("VCPU", vcpus), ("MEMORY_MB", ram), ("DISK_GB", disk)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        self.placement
            .capacity
            .lock()
            .unwrap()
            .insert(node.clone(), cap);
        self.compute
            .store
            .service_heartbeat(&service(host, &node))
            .await
            .unwrap();
        let agent = Arc::new(FakeAgent::default());
        self.agents.insert(host.into(), agent.clone());
        self.agent_up(host).await;
    }

    pub(crate) async fn agent_up(&mut self, host: &str) {
        let agent = self.agents[host].clone();
        let h = self
            .compute
            .bus
            .serve(&agent_topic(host), agent)
            .await
            .unwrap();
        self.agent_servers.insert(host.into(), h);
    }

    pub(crate) fn agent(&self, host: &str) -> &FakeAgent {
        &self.agents[host]
    }

    pub(crate) fn conductor(&self) -> &ConductorHandle {
        self.conductor.as_ref().unwrap()
    }

    /// Waits until every workflow of `uuid` has ended and the conductor is idle.
    pub(crate) async fn settle(&self, uuid: &str) {
        self.until(|| async {
            let wfs = self
                .compute
                .store
                .workflow_list_for_instance(uuid)
                .await
                .unwrap();
            wfs.iter()
                .all(|w| w.status == status::DONE || w.status == status::FAILED)
                && self.conductor().running() == 0
        })
        .await;
    }

    /// Waits (at most a generous while, so a bug fails instead of hanging) until `cond`.
    pub(crate) async fn until<F, Fut>(&self, cond: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..6000 {
            if cond().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached");
    }

    pub(crate) async fn get(&self, uuid: &str) -> Instance {
        self.compute
            .store
            .instance_get(uuid, true)
            .await
            .unwrap()
            .unwrap()
    }

    /// Creates one server and waits for its build.
    pub(crate) async fn boot(&self, ctx: &Context, name: &str) -> Instance {
        let made = self
            .compute
            .server_create(ctx, create_req(name))
            .await
            .unwrap();
        self.settle(&made[0].uuid).await;
        self.get(&made[0].uuid).await
    }

    /// Stops the conductor dead (running workflows aborted) and starts a new one, which
    /// recovers; waits for what the recovery started.
    pub(crate) async fn restart(&mut self) {
        if let Some(c) = self.conductor.take() {
            c.abort().await;
        }
        self.conductor = Some(self.compute.conductor_start().await.unwrap());
    }

    /// Stops the conductor dead; workflows asked for wait on the bus.
    pub(crate) async fn hold_conductor(&mut self) {
        if let Some(c) = self.conductor.take() {
            c.abort().await;
        }
    }

    pub(crate) async fn usage(&self, project: &str) -> BTreeMap<String, i64> {
        self.compute.store.quota_usage(project).await.unwrap()
    }

    pub(crate) async fn group(&self, project: &str, policy: &str) -> String {
        let g = ServerGroup {
            uuid: uuid::Uuid::new_v4().to_string(),
            name: "g".into(),
            project_id: project.into(),
            user_id: format!("u-{project}"),
            policy: policy.into(),
            max_server_per_host: None,
            members: Vec::new(),
        };
        self.compute
            .store
            .server_group_create(&g, -1)
            .await
            .unwrap();
        g.uuid
    }
}

pub(crate) fn service(host: &str, node: &str) -> ComputeService {
    ComputeService {
        uuid: String::new(),
        host: host.into(),
        binary: "nova-compute".into(),
        availability_zone: "nova".into(),
        disabled: false,
        disabled_reason: None,
        forced_down: false,
        updated_at: String::new(),
        node_uuid: node.into(),
        hypervisor_type: "fake".into(),
        hypervisor_version: 1000,
        host_ip: "127.0.0.1".into(),
        vcpus: 8,
        memory_mb: 16384,
        local_gb: 100,
        cpu_info: r#"{"arch": "x86_64"}"#.into(),
    }
}
