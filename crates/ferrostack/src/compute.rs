//! Compute's ports wired to the real services in this process: placement (claims,
//! candidates, the compute node's inventory) and image (what a server boots from, the
//! agent's image cache, snapshots). In split mode these become REST/bus clients; the
//! compute crates do not change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use common_bus::Bus;
use common_config::Config;
use common_db::Db;
use common_policy::Enforcer;
use compute_virt::VirtDriver;

use common_error::{Error, Result};
use compute_domain::ports::{Allocations, HostCandidate, ImageInfo, ImagePort, PlacementPort};
use compute_domain::{Compute, Context};
use futures_util::StreamExt as _;
use image_domain::{Caller, DataError, Images, NewImage};
use placement_domain::{Group, Placement, TraitReq};
use placement_model::{ConsumerAllocations, Inventory};
use tokio::io::AsyncWriteExt as _;

/// Placement in this process.
#[derive(Clone)]
pub struct LocalPlacement(pub Placement);

#[async_trait::async_trait]
impl PlacementPort for LocalPlacement {
    async fn candidates(
        &self,
        resources: &BTreeMap<String, i64>,
        required: &[String],
        forbidden: &[String],
        limit: usize,
    ) -> Result<Vec<HostCandidate>> {
        let group = Group {
            suffix: String::new(),
            resources: resources.clone(),
            required: TraitReq {
                all: required.to_vec(),
                any_of: Vec::new(),
                forbidden: forbidden.to_vec(),
            },
            ..Group::default()
        };
        let (cands, snap) = self
            .0
            .candidates(&[group], false, &TraitReq::default(), Some(limit))
            .await?;
        let root_of = |p: &str| {
            snap.providers
                .iter()
                .find(|rp| rp.uuid == p)
                .map(|rp| rp.root_provider_uuid.clone())
                .unwrap_or_else(|| p.to_string())
        };
        let mut out = Vec::with_capacity(cands.len());
        for c in cands {
            let Some(first) = c.allocations.keys().next() else {
                continue;
            };
            let root = root_of(first);
            let capacity = snap
                .inventories
                .get(&root)
                .map(|m| {
                    m.iter()
                        .map(|(k, inv)| (k.clone(), inv.capacity()))
                        .collect()
                })
                .unwrap_or_default();
            out.push(HostCandidate {
                used: snap.usages.get(&root).cloned().unwrap_or_default(),
                traits: snap.traits.get(&root).cloned().unwrap_or_default(),
                aggregates: snap.aggregates.get(&root).cloned().unwrap_or_default(),
                provider: root,
                allocations: c.allocations,
                capacity,
            });
        }
        Ok(out)
    }

    async fn claim(
        &self,
        consumer: &str,
        project_id: &str,
        user_id: &str,
        allocations: &Allocations,
    ) -> Result<()> {
        self.0
            .store
            .allocations_write(&[ConsumerAllocations {
                consumer_uuid: consumer.to_string(),
                project_id: project_id.to_string(),
                user_id: user_id.to_string(),
                consumer_generation: None,
                consumer_type: Some("INSTANCE".into()),
                allocations: allocations.clone(),
                provider_generations: BTreeMap::new(),
            }])
            .await
    }

    async fn release(&self, consumer: &str) -> Result<()> {
        let Some(c) = self.0.store.consumer_get(consumer).await? else {
            return Ok(());
        };
        self.0
            .store
            .allocations_write(&[ConsumerAllocations {
                consumer_uuid: c.uuid,
                project_id: c.project_id,
                user_id: c.user_id,
                consumer_generation: None,
                consumer_type: c.consumer_type,
                allocations: BTreeMap::new(),
                provider_generations: BTreeMap::new(),
            }])
            .await
    }

    async fn allocations(&self, consumer: &str) -> Result<Allocations> {
        let mut out: Allocations = BTreeMap::new();
        for a in self.0.store.allocations_of_consumer(consumer).await? {
            out.entry(a.provider_uuid)
                .or_default()
                .insert(a.resource_class, a.used);
        }
        Ok(out)
    }

    async fn provider_usages(&self, provider: &str) -> Result<BTreeMap<String, i64>> {
        let mut out = BTreeMap::new();
        for a in self.0.store.allocations_on_provider(provider).await? {
            *out.entry(a.resource_class).or_insert(0) += a.used;
        }
        Ok(out)
    }
}

impl LocalPlacement {
    /// Creates the compute node's provider if needed and sets its inventory, retrying on a
    /// concurrent generation bump. Unchanged inventory is not rewritten.
    pub async fn ensure_node(&self, uuid: &str, name: &str, inv: &[Inventory]) -> Result<()> {
        let store = &self.0.store;
        for _ in 0..5 {
            let rp = match store.provider_get(uuid).await? {
                Some(rp) => rp,
                None => match store.provider_create(uuid, name, None).await {
                    Ok(rp) => rp,
                    Err(Error::Conflict(_)) => continue,
                    Err(e) => return Err(e),
                },
            };
            let snap = store.snapshot().await?;
            let current = snap.inventories.get(uuid);
            let same = current.is_some_and(|m| {
                m.len() == inv.len()
                    && inv
                        .iter()
                        .all(|i| m.get(&i.resource_class).is_some_and(|c| c == i))
            });
            if same {
                return Ok(());
            }
            match store
                .inventories_write(uuid, rp.generation, inv, true, &[])
                .await
            {
                Ok(_) => return Ok(()),
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Unavailable(format!(
            "could not set the inventory of compute node {uuid}"
        )))
    }
}

/// The image service in this process, on behalf of compute's callers.
#[derive(Clone)]
pub struct LocalImages(pub Images);

fn caller(ctx: &Context) -> Caller {
    Caller {
        user_id: ctx.user_id.clone(),
        project_id: Some(ctx.project_id.clone()),
        is_admin: ctx.is_admin,
    }
}

/// The agent's identity towards the image service: a trusted service acting for the
/// cloud (it only reads images the conductor already authorised, and writes snapshots the
/// caller created).
fn service_caller() -> Caller {
    Caller {
        user_id: "compute".into(),
        project_id: None,
        is_admin: true,
    }
}

fn data_err(e: DataError) -> Error {
    match e {
        DataError::Error(e) => e,
        DataError::InvalidImageData(m) => Error::bad_request(m),
        DataError::Gone(m) => Error::Conflict(m),
    }
}

#[async_trait::async_trait]
impl ImagePort for LocalImages {
    async fn get(&self, ctx: &Context, id: &str) -> Result<ImageInfo> {
        let img = self.0.image_get(&caller(ctx), id).await?;
        Ok(ImageInfo {
            id: img.id,
            name: img.name.unwrap_or_default(),
            status: img.status.as_str().to_string(),
            disk_format: img.disk_format.unwrap_or_default(),
            container_format: img.container_format.unwrap_or_default(),
            min_disk: img.min_disk,
            min_ram: img.min_ram,
            size: img.size.unwrap_or(0),
            properties: img.properties,
        })
    }

    async fn create(
        &self,
        ctx: &Context,
        name: &str,
        disk_format: &str,
        properties: &BTreeMap<String, String>,
    ) -> Result<String> {
        let img = self
            .0
            .image_create(
                &caller(ctx),
                NewImage {
                    name: Some(name.to_string()),
                    disk_format: Some(disk_format.to_string()),
                    container_format: Some("bare".into()),
                    properties: properties.clone(),
                    ..NewImage::default()
                },
            )
            .await?;
        Ok(img.id)
    }

    async fn delete(&self, _ctx: &Context, id: &str) -> Result<()> {
        match self.0.image_get(&service_caller(), id).await {
            Ok(img) => match self.0.image_delete(&img).await {
                Ok(()) | Err(Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            },
            Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl LocalImages {
    /// Writes image `id`'s data to `dest`; returns its disk format.
    pub async fn download_to(&self, id: &str, dest: &Path) -> Result<String> {
        let who = service_caller();
        let img = self.0.image_get(&who, id).await?;
        let Some(d) = self.0.image_download(&who, &img, 0, None).await? else {
            return Err(Error::Conflict(format!("Image {id} has no data.")));
        };
        let io = |what: &'static str| move |e: std::io::Error| Error::internal(what, e);
        let mut f = tokio::fs::File::create(dest)
            .await
            .map_err(io("create image cache file"))?;
        let mut stream = d.stream;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::internal("read image data", e))?;
            f.write_all(&chunk)
                .await
                .map_err(io("write image cache file"))?;
        }
        f.sync_all().await.map_err(io("sync image cache file"))?;
        Ok(img.disk_format.unwrap_or_else(|| "qcow2".into()))
    }

    /// Uploads `src` as the data of the queued image `id`.
    pub async fn upload_from(&self, id: &str, src: &Path) -> Result<()> {
        let who = service_caller();
        let img = self.0.image_get(&who, id).await?;
        let file = tokio::fs::File::open(src)
            .await
            .map_err(|e| Error::internal("open snapshot file", e))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| Error::internal("stat snapshot file", e))?
            .len();
        self.0
            .image_upload(img, Some(size), crate::seed::file_body(file))
            .await
            .map_err(data_err)
    }
}

/// The agent's image cache source: the image service in this process.
pub struct AgentImages(pub LocalImages);

#[async_trait::async_trait]
impl compute_agent::ports::ImageSource for AgentImages {
    async fn download(&self, image_id: &str, dest: &Path) -> Result<String> {
        self.0.download_to(image_id, dest).await
    }

    async fn upload(&self, image_id: &str, src: &Path) -> Result<()> {
        self.0.upload_from(image_id, src).await
    }
}

/// The agent's compute node in placement in this process.
pub struct AgentNodes(pub LocalPlacement);

#[async_trait::async_trait]
impl compute_agent::ports::NodeReporter for AgentNodes {
    async fn ensure_node(
        &self,
        uuid: &str,
        name: &str,
        inv: &BTreeMap<String, compute_agent::ports::Inventory>,
    ) -> Result<()> {
        let records: Vec<Inventory> = inv
            .iter()
            .map(|(class, i)| Inventory {
                resource_class: class.clone(),
                total: i.total,
                reserved: i.reserved,
                min_unit: i.min_unit,
                max_unit: i.max_unit,
                step_size: i.step_size,
                allocation_ratio: i.allocation_ratio,
            })
            .collect();
        self.0.ensure_node(uuid, name, &records).await
    }
}

/// What runs in the background for compute: the conductor and this process's agents.
pub struct Background {
    conductor: compute_domain::conductor::ConductorHandle,
    agents: Vec<compute_agent::AgentHandle>,
}

impl Background {
    /// Stops the agents' loops and the conductor (VMs keep running; a restart re-attaches).
    pub async fn stop(self) {
        for a in self.agents {
            a.stop().await;
        }
        self.conductor.stop().await;
    }
}

/// This host's name: `[compute] host`, else the machine's.
pub fn host_name(cfg: &Config) -> String {
    if cfg.compute.host.is_empty() {
        machine_hostname()
    } else {
        cfg.compute.host.clone()
    }
}

/// This machine's host name (`/proc/sys/kernel/hostname`), or `localhost`.
fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Loads Nova's policy: defaults plus the optional policy file.
pub fn policy(cfg: &Config) -> anyhow::Result<Enforcer> {
    let mut e = Enforcer::new(common_policy::nova::DEFAULTS).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !cfg.compute.policy_file.is_empty() {
        let text = std::fs::read_to_string(&cfg.compute.policy_file)
            .with_context(|| format!("read policy file {}", cfg.compute.policy_file))?;
        e = e
            .with_overrides(&text)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(e)
}

/// Builds the compute service over `db`, starts this host's agent(s) and the conductor
/// (which recovers interrupted workflows), and returns the API state.
pub async fn start(
    cfg: &Config,
    db: &Db,
    bus: Arc<dyn Bus>,
    images: Images,
    bootstrap: bool,
    base_url: &str,
    network: Option<(network_domain::Network, Option<network_agent::Agent>)>,
) -> anyhow::Result<(compute_api::ApiState, Background)> {
    let placement = LocalPlacement(Placement::new(placement_db::Store::new(db.clone())));
    let compute = Compute::new(
        compute_db::Store::new(db.clone()),
        Arc::new(placement.clone()),
        Arc::new(LocalImages(images.clone())),
        bus.clone(),
        cfg.compute.clone(),
    );
    let (compute, plug) = match network {
        Some((net, agent)) => {
            let plug: Arc<dyn compute_agent::ports::NetworkPlug> =
                Arc::new(crate::network::AgentPlug(agent));
            (
                compute.with_network(Arc::new(crate::network::LocalNetwork(net))),
                Some(plug),
            )
        }
        None => (compute, None),
    };
    if bootstrap {
        compute
            .flavors_seed_defaults()
            .await
            .map_err(|e| anyhow::anyhow!("seed flavors: {e}"))?;
    }
    let agents = start_agents(cfg, bus, images, placement, plug).await?;
    let conductor = compute
        .conductor_start()
        .await
        .map_err(|e| anyhow::anyhow!("start the conductor: {e}"))?;
    let state = compute_api::ApiState {
        compute,
        policy: Arc::new(policy(cfg)?),
        base_url: base_url.to_string(),
    };
    Ok((state, Background { conductor, agents }))
}

/// Starts the agent of this host (or, with the fake driver, `fake_hosts` of them).
async fn start_agents(
    cfg: &Config,
    bus: Arc<dyn Bus>,
    images: Images,
    placement: LocalPlacement,
    plug: Option<Arc<dyn compute_agent::ports::NetworkPlug>>,
) -> anyhow::Result<Vec<compute_agent::AgentHandle>> {
    let c = &cfg.compute;
    let host = host_name(cfg);
    let dir = cfg.instances_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let mut hosts: Vec<(String, PathBuf, Arc<dyn VirtDriver>)> = Vec::new();
    match c.driver.as_str() {
        "qemu" => {
            let driver = compute_virt_qemu::QemuDriver::new(compute_virt_qemu::QemuConfig {
                instances_dir: dir.clone(),
                accel: c.accel.clone(),
            })
            .map_err(|e| anyhow::anyhow!("qemu driver: {e}"))?;
            hosts.push((host, dir, Arc::new(driver)));
        }
        "fake" => {
            tracing::warn!(
                hosts = c.fake_hosts,
                "compute runs the fake virt driver: no real VMs"
            );
            let n = c.fake_hosts.max(1);
            for i in 1..=n {
                let name = if n == 1 {
                    host.clone()
                } else {
                    format!("{host}-{i}")
                };
                let d =
                    compute_virt::FakeDriver::new(c.fake_vcpus, c.fake_memory_mb, c.fake_disk_gb);
                hosts.push((name.clone(), dir.join(&name), Arc::new(d)));
            }
        }
        other => anyhow::bail!("unknown compute driver {other:?} (known: qemu, fake)"),
    }
    let mut handles = Vec::new();
    for (name, dir, driver) in hosts {
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let acfg = compute_agent::AgentConfig {
            host: name.clone(),
            availability_zone: c.availability_zone.clone(),
            instances_dir: dir,
            heartbeat: Duration::from_secs(c.heartbeat_secs.max(1)),
            power_sync: Duration::from_secs(c.power_sync_secs.max(1)),
            shutdown_timeout: Duration::from_secs(c.shutdown_timeout_secs),
            cpu_allocation_ratio: c.cpu_allocation_ratio,
            ram_allocation_ratio: c.ram_allocation_ratio,
            disk_allocation_ratio: c.disk_allocation_ratio,
            reserved_host_memory_mb: c.reserved_host_memory_mb,
            reserved_host_disk_gb: c.reserved_host_disk_gb,
            host_ip: "127.0.0.1".into(),
        };
        // Fake VMs open no taps: their ports need no wiring (and fake hosts other than this
        // machine have no network agent).
        let plug = match (&plug, c.driver.as_str()) {
            (Some(_), "fake") => Some(Arc::new(crate::network::AgentPlug(None))
                as Arc<dyn compute_agent::ports::NetworkPlug>),
            (p, _) => p.clone(),
        };
        let h = compute_agent::start_with_network(
            acfg,
            driver,
            Arc::new(AgentImages(LocalImages(images.clone()))),
            Arc::new(AgentNodes(placement.clone())),
            plug,
            bus.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("start the compute agent of {name}: {e}"))?;
        handles.push(h);
    }
    Ok(handles)
}
