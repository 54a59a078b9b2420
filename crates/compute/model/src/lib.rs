//! Compute's vocabulary: flavors, instances and their states, keypairs, server groups,
//! compute services, and the messages the conductor and the compute agents exchange over
//! the bus. Plain data only: no I/O, no HTTP, no database, no other service.

pub mod network;
pub mod rpc;
pub mod state;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use network::{FixedIp, Route, Subnet, Vif};
pub use state::{PowerState, TaskState, VmState};

/// A flavor: the hardware template a server is built from. `id` is Nova's `flavorid`
/// (a string the operator may choose), not a database key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: i64,
    /// MiB.
    pub ram: i64,
    /// GiB of root disk.
    pub disk: i64,
    /// GiB.
    pub ephemeral: i64,
    /// MiB.
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub disabled: bool,
    pub description: Option<String>,
    pub extra_specs: BTreeMap<String, String>,
}

impl Flavor {
    /// The placement resources one instance of this flavor consumes (`VCPU`, `MEMORY_MB`,
    /// `DISK_GB` = root + ephemeral + swap rounded up to GiB).
    pub fn resources(&self) -> BTreeMap<String, i64> {
        let mut r = BTreeMap::new();
        r.insert("VCPU".to_string(), self.vcpus);
        r.insert("MEMORY_MB".to_string(), self.ram);
        let disk = self.disk + self.ephemeral + (self.swap + 1023) / 1024;
        if disk > 0 {
            r.insert("DISK_GB".to_string(), disk);
        }
        r
    }
}

/// A fault recorded on an instance (Nova's `instance_faults`): shown as the server's `fault`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub code: i64,
    pub message: String,
    pub details: String,
    pub created: String,
}

/// One virtual machine as the control plane records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub uuid: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    /// Image id it was built (or rebuilt) from; empty for boot-from-volume.
    pub image_ref: String,
    /// The flavor as it was when applied (Nova embeds a copy; later flavor edits don't
    /// change running servers).
    pub flavor: Flavor,
    /// During a resize: the flavor being moved to (until confirm/revert).
    pub new_flavor: Option<Flavor>,
    pub vm_state: VmState,
    pub task_state: Option<TaskState>,
    pub power_state: PowerState,
    /// The compute host (agent) running it, once scheduled.
    pub host: Option<String>,
    /// The resource provider (compute node) uuid its allocation is against.
    pub node: Option<String>,
    pub availability_zone: Option<String>,
    pub key_name: Option<String>,
    pub key_data: Option<String>,
    /// Base64 as the client sent it.
    pub user_data: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub description: Option<String>,
    pub hostname: String,
    pub locked: bool,
    pub locked_reason: Option<String>,
    pub config_drive: bool,
    pub access_ip_v4: String,
    pub access_ip_v6: String,
    pub launch_index: i64,
    pub reservation_id: String,
    pub progress: i64,
    pub created_at: String,
    pub updated_at: String,
    pub launched_at: Option<String>,
    pub terminated_at: Option<String>,
    pub fault: Option<Fault>,
    /// Server group it belongs to, if any.
    pub server_group: Option<String>,
    /// Bumped on every write; writes compare-and-set on it.
    pub generation: i64,
}

/// An SSH (or x509) public key a user registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keypair {
    pub name: String,
    pub user_id: String,
    /// `ssh` or `x509`.
    pub key_type: String,
    pub public_key: String,
    pub fingerprint: String,
    pub created_at: String,
}

/// A server group with its policy (`affinity`, `anti-affinity`, `soft-affinity`,
/// `soft-anti-affinity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerGroup {
    pub uuid: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub policy: String,
    /// `max_server_per_host` for anti-affinity (2.64 rules).
    pub max_server_per_host: Option<i64>,
    pub members: Vec<String>,
}

/// A compute service (one per agent host) as `os-services` and `os-hypervisors` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputeService {
    /// A UUID (2.53+ ids).
    pub uuid: String,
    pub host: String,
    /// `nova-compute` (agents) or `nova-scheduler`/`nova-conductor`.
    pub binary: String,
    pub availability_zone: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub forced_down: bool,
    /// Last heartbeat.
    pub updated_at: String,
    /// The agent's resource provider (compute node) uuid; empty for non-compute binaries.
    pub node_uuid: String,
    pub hypervisor_type: String,
    pub hypervisor_version: i64,
    pub host_ip: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub cpu_info: String,
}

/// One user-visible operation on an instance (`os-instance-actions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceAction {
    pub instance_uuid: String,
    pub request_id: String,
    /// `create`, `delete`, `stop`, `start`, `reboot`, `pause`, `resize`, ...
    pub action: String,
    pub project_id: String,
    pub user_id: String,
    pub start_time: String,
    pub updated_at: String,
    /// `Error` when the action failed, else `None`.
    pub message: Option<String>,
}

/// A step of an instance action (`compute_stop_instance`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceActionEvent {
    pub event: String,
    pub start_time: String,
    pub finish_time: Option<String>,
    /// `Success` or `Error`.
    pub result: Option<String>,
    pub host: Option<String>,
}

/// A resize (or other move) of an instance (`os-migrations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub uuid: String,
    pub id: i64,
    pub instance_uuid: String,
    /// `resize` or `migration`.
    pub migration_type: String,
    /// `pre-migrating`, `migrating`, `finished`, `confirmed`, `reverted`, `error`.
    pub status: String,
    pub source_compute: Option<String>,
    pub dest_compute: Option<String>,
    pub source_node: Option<String>,
    pub dest_node: Option<String>,
    pub old_flavor_id: String,
    pub new_flavor_id: String,
    pub project_id: String,
    pub user_id: String,
    pub created_at: String,
    pub updated_at: String,
}
