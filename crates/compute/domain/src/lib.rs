//! Compute's rules (Nova's `compute/api.py` and conductor): flavors, keypairs, server
//! groups, quotas, services and hypervisors, servers and their actions, and the conductor's
//! persistent workflows (build, delete, resize, snapshot, shelve, ...) that drive the compute
//! agents over the bus.
//!
//! Depends on its own model and store, the scheduler (pure functions), the bus, and the
//! ports below for the other services it needs (placement, image, network); the binary
//! wires those ports to the real services. Must not depend on HTTP types or on any other service's
//! domain or db crates.

pub mod conductor;
pub mod flavor;
pub mod keypair;
pub mod metadata;
pub mod network;
pub mod ports;
pub mod quota;
pub mod server;
pub mod server_action;
pub mod server_group;
pub mod service;
pub mod workflows;

use std::sync::Arc;

use common_bus::Bus;
use common_config::ComputeConfig;
pub use compute_db::Store;
pub use metadata::MetadataLookup;
pub use ports::{HostCandidate, ImageInfo, ImagePort, NetworkPort, PlacementPort};

/// Who is asking, as compute sees it (built by the API from the token).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    pub user_id: String,
    /// The token's project; compute APIs need a project-scoped token.
    pub project_id: String,
    /// Role names.
    pub roles: Vec<String>,
    /// Holds the `admin` role (Nova's `context.is_admin`).
    pub is_admin: bool,
    /// `req-<uuid>`: recorded with instance actions.
    pub request_id: String,
}

/// The compute service's domain layer. Cheap to clone.
#[derive(Clone)]
pub struct Compute {
    pub store: Store,
    pub placement: Arc<dyn PlacementPort>,
    pub images: Arc<dyn ImagePort>,
    /// The network service; `None` when the cloud has none (servers then boot with
    /// `networks: "none"` or `"auto"` and get no NIC).
    pub network: Option<Arc<dyn NetworkPort>>,
    pub bus: Arc<dyn Bus>,
    pub cfg: ComputeConfig,
}

impl Compute {
    pub fn new(
        store: Store,
        placement: Arc<dyn PlacementPort>,
        images: Arc<dyn ImagePort>,
        bus: Arc<dyn Bus>,
        cfg: ComputeConfig,
    ) -> Self {
        Compute {
            store,
            placement,
            images,
            network: None,
            bus,
            cfg,
        }
    }

    /// The same service with the network service plugged in: servers get ports, NICs and
    /// addresses.
    pub fn with_network(mut self, network: Arc<dyn NetworkPort>) -> Self {
        self.network = Some(network);
        self
    }
}
