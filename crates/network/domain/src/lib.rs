//! The network service's rules (Neutron's plugin layer): networks and their segments (VNI
//! allocation), subnets and IPAM, ports (MACs, fixed IPs, bindings, port security), security
//! groups and rules (a `default` group per project), quotas, who sees what, and the
//! data-plane plan of each host (`host_plan`) with a change notifier for the agents.
//!
//! Uses its own model and store and its config section; never HTTP types and never another
//! service's store. Policy (roles, admin-only attributes) is checked by the API layer; this
//! layer enforces ownership: a project sees its own resources and shared (and external)
//! networks, and anything else is `NotFound`.

pub mod network;
pub mod plan;
pub mod port;
pub mod quota;
pub mod security_group;
pub mod subnet;

pub(crate) mod addr;

// Routers, floating IPs and QoS (the L3 work).
pub mod floating_ip;
pub mod plan_l3;
pub mod qos;
pub mod router;

use std::sync::Arc;

use common_config::NetworkConfig;
use network_db::Store;
use tokio::sync::watch;

pub use network::{NetworkCreate, NetworkUpdate};
pub use network_db::{new_id, now_text, PortFilter};
pub use port::{IpRequest, PairRequest, PortCreate, PortUpdate};
pub use security_group::{RuleCreate, SecurityGroupCreate, SecurityGroupUpdate};
pub use subnet::{SubnetCreate, SubnetUpdate};

/// How many times an operation that lost a race on a unique index (an IP, a MAC, a VNI)
/// is retried before the conflict is reported.
pub const MAX_ATTEMPTS: u32 = 24;

/// Who is asking, as the network service sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Caller {
    pub user_id: String,
    /// The token's project; resources created without a `project_id` belong to it.
    pub project_id: Option<String>,
    /// Neutron's `context.is_admin` (`context_is_admin` passed): sees and acts on everything.
    pub is_admin: bool,
}

impl Caller {
    /// The in-process service context (compute, bootstrap, the agent): an admin without a
    /// project.
    pub fn service() -> Caller {
        Caller {
            user_id: "ferrostack".into(),
            project_id: None,
            is_admin: true,
        }
    }

    /// `None` when the caller sees everything, else the project it is confined to.
    pub fn scope(&self) -> Option<&str> {
        if self.is_admin {
            None
        } else {
            Some(self.project_id.as_deref().unwrap_or(""))
        }
    }

    /// Whether the caller may act on something owned by `project_id`.
    pub fn owns(&self, project_id: &str) -> bool {
        self.is_admin || self.project_id.as_deref() == Some(project_id)
    }

    /// The project a new resource belongs to: the requested one (only an admin may name
    /// another project; the API checks that) or the caller's.
    pub fn project_for(&self, requested: Option<&str>) -> String {
        requested
            .map(str::to_string)
            .or_else(|| self.project_id.clone())
            .unwrap_or_default()
    }
}

/// The network service's domain layer. Cheap to clone.
#[derive(Clone)]
pub struct Network {
    pub(crate) store: Store,
    pub(crate) cfg: Arc<NetworkConfig>,
    changes: Arc<watch::Sender<u64>>,
}

impl Network {
    /// The service over a migrated store.
    pub fn new(store: Store, cfg: NetworkConfig) -> Network {
        let (tx, _) = watch::channel(0);
        Network {
            store,
            cfg: Arc::new(cfg),
            changes: Arc::new(tx),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.cfg
    }

    /// A receiver whose value grows after every write that may change a host's plan.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Tells the agents that plans may have changed (every write calls it after commit).
    pub fn notify_changed(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// Runs `$body` (an expression that may refer to the attempt number `$attempt`) again while
/// it fails with a unique violation, i.e. while it loses a race for an address, MAC or VNI.
#[macro_export]
macro_rules! retry_on_race {
    ($attempt:ident => $body:expr) => {{
        let mut $attempt: u32 = 0;
        loop {
            match $body {
                Err(e)
                    if common_db::is_unique_violation(&e)
                        && $attempt + 1 < $crate::MAX_ATTEMPTS =>
                {
                    $attempt += 1;
                    tokio::task::yield_now().await;
                }
                r => break r,
            }
        }
    }};
}

#[cfg(test)]
mod tests;
