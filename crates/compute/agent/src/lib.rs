//! The compute agent (Nova's `compute/manager.py`): one per host, in-process in
//! all-in-one. It serves `compute.<host>` on the bus, drives its virt driver with
//! operations serialised per instance (different instances proceed in parallel), caches
//! base images, reports its host to placement and its heartbeat and power-state changes to
//! the conductor. Holds no database; depends only on the model, the virt trait, the bus and
//! the ports it declares ([`ImageSource`], [`NodeReporter`], [`NetworkPlug`]). Before a VM
//! with NICs starts, the agent has the host's network agent wire their ports.
//!
//! Files under `instances_dir` that belong to the agent: `node_uuid` (the compute node's
//! resource provider uuid, created once), `_base/` (the image cache) and transient
//! `.snapshot-*` files. Everything else there belongs to the driver.

mod image_cache;
mod locks;
mod loops;
mod node;
mod ops;
pub mod ports;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common_bus::{Bus, ServerHandle};
use common_error::{Context, Result};
use compute_model::rpc::agent_topic;
use compute_virt::VirtDriver;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use image_cache::BASE_DIR;
pub use node::NODE_UUID_FILE;
pub use ports::{ImageSource, Inventory, NetworkPlug, NodeReporter};

/// How the agent runs on this host (from `[compute]`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// This host's name: the bus topic is `compute.<host>`, and the compute service,
    /// hypervisor and resource provider carry it.
    pub host: String,
    pub availability_zone: String,
    /// Instance files, the image cache and the node uuid.
    pub instances_dir: PathBuf,
    /// Time between heartbeats (one is also sent at start).
    pub heartbeat: Duration,
    /// Time between power-state syncs.
    pub power_sync: Duration,
    /// The longest graceful power-off the agent allows: a `power_off` request's
    /// `timeout_secs` is capped to it (0 still means a hard stop at once).
    pub shutdown_timeout: Duration,
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
    /// MiB and GiB reported as reserved in placement.
    pub reserved_host_memory_mb: i64,
    pub reserved_host_disk_gb: i64,
    /// The address other hosts reach this one at (`os-hypervisors` `host_ip`).
    pub host_ip: String,
}

impl AgentConfig {
    /// A config with `[compute]`'s defaults for everything but the host and directory.
    pub fn new(host: impl Into<String>, instances_dir: impl Into<PathBuf>) -> Self {
        AgentConfig {
            host: host.into(),
            availability_zone: "nova".into(),
            instances_dir: instances_dir.into(),
            heartbeat: Duration::from_secs(10),
            power_sync: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(60),
            cpu_allocation_ratio: 16.0,
            ram_allocation_ratio: 1.5,
            disk_allocation_ratio: 1.0,
            reserved_host_memory_mb: 512,
            reserved_host_disk_gb: 0,
            host_ip: "127.0.0.1".into(),
        }
    }
}

/// A running agent. [`AgentHandle::stop`] (or dropping it) ends serving and the loops; the
/// VMs keep running.
#[derive(Debug)]
pub struct AgentHandle {
    node_uuid: String,
    server: Option<ServerHandle>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl AgentHandle {
    /// The compute node (resource provider) uuid of this host.
    pub fn node_uuid(&self) -> &str {
        &self.node_uuid
    }

    /// Stops serving (waiting for requests already taken) and ends the loops.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        for task in self.tasks.drain(..) {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "compute agent loop failed");
            }
        }
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts the agent: the node uuid, the driver's recovery, the node's inventory in
/// placement, serving `compute.<host>`, a first heartbeat, and the heartbeat and power-sync
/// loops.
pub async fn start(
    cfg: AgentConfig,
    driver: Arc<dyn VirtDriver>,
    images: Arc<dyn ImageSource>,
    nodes: Arc<dyn NodeReporter>,
    bus: Arc<dyn Bus>,
) -> Result<AgentHandle> {
    start_with_network(cfg, driver, images, nodes, None, bus).await
}

/// [`start`] with this host's network agent: instances with NICs can boot (without it,
/// their spawn fails).
pub async fn start_with_network(
    cfg: AgentConfig,
    driver: Arc<dyn VirtDriver>,
    images: Arc<dyn ImageSource>,
    nodes: Arc<dyn NodeReporter>,
    network: Option<Arc<dyn NetworkPlug>>,
    bus: Arc<dyn Bus>,
) -> Result<AgentHandle> {
    if cfg.host.is_empty() {
        return Err(common_error::Error::bad_request(
            "the compute agent needs a host name",
        ));
    }
    let node_uuid = node::node_uuid(&cfg.instances_dir).await?;
    let cache = image_cache::ImageCache::open(&cfg.instances_dir, images.clone()).await?;
    let found = driver
        .recover()
        .await
        .map_err(|e| ops::virt_error("recover the instances on this host", e))?;
    let agent = Arc::new(ops::Agent {
        cfg: cfg.clone(),
        driver,
        images,
        network,
        cache,
        instances: locks::KeyedLocks::default(),
        known: Mutex::new(HashMap::new()),
    });
    loops::baseline(&agent, &found).await;
    tracing::info!(host = %cfg.host, node_uuid, instances = found.len(), "compute agent recovered");

    let mut heartbeat = loops::Heartbeat {
        agent: agent.clone(),
        nodes,
        bus: bus.clone(),
        node_uuid: node_uuid.clone(),
        service_uuid: uuid::Uuid::new_v4().hyphenated().to_string(),
        reported: None,
    };
    let topic = agent_topic(&cfg.host);
    let server = bus
        .serve(&topic, Arc::new(ops::Handler(agent.clone())))
        .await
        .context("serve the compute agent topic")?;
    // Serving before the first heartbeat: once the conductor hears of the host, the agent
    // answers. Each beat reports the node to placement first when placement has not yet
    // accepted its current inventory (so a placement outage at start is retried).
    heartbeat.beat().await;

    let (stop, stopped) = watch::channel(false);
    let mut ticker = loops::Ticker::new(cfg.heartbeat, stopped.clone());
    let beats = tokio::spawn(async move {
        while ticker.next().await {
            heartbeat.beat().await;
        }
    });
    let mut ticker = loops::Ticker::new(cfg.power_sync, stopped);
    let syncs = tokio::spawn(async move {
        while ticker.next().await {
            loops::power_sync(&agent, &*bus).await;
        }
    });
    Ok(AgentHandle {
        node_uuid,
        server: Some(server),
        stop,
        tasks: vec![beats, syncs],
    })
}
