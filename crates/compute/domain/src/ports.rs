//! What compute needs from other services, as traits. The binary implements them over the
//! real placement, image and network services (in process today; over REST/bus in split mode), and
//! domain tests may implement them in memory.

use std::collections::BTreeMap;

use common_error::Result;
use compute_model::{FixedIp, Subnet, Vif};

use crate::Context;

/// provider uuid → resource class → amount.
pub type Allocations = BTreeMap<String, BTreeMap<String, i64>>;

/// A host that can take a request, as placement sees it, with what the scheduler's filters
/// and weighers need.
#[derive(Debug, Clone, PartialEq)]
pub struct HostCandidate {
    /// The compute node (root resource provider) uuid.
    pub provider: String,
    /// The allocation that would be claimed.
    pub allocations: Allocations,
    /// resource class → usable capacity ((total − reserved) × allocation ratio).
    pub capacity: BTreeMap<String, i64>,
    /// resource class → already allocated.
    pub used: BTreeMap<String, i64>,
    pub traits: Vec<String>,
    pub aggregates: Vec<String>,
}

/// The placement service as compute uses it.
#[async_trait::async_trait]
pub trait PlacementPort: Send + Sync + 'static {
    /// Hosts (at most `limit`) that can hold `resources`, having every `required` trait and
    /// none of `forbidden`.
    async fn candidates(
        &self,
        resources: &BTreeMap<String, i64>,
        required: &[String],
        forbidden: &[String],
        limit: usize,
    ) -> Result<Vec<HostCandidate>>;

    /// Atomically replaces `consumer`'s allocations with `allocations` (a new consumer when
    /// it has none). `Conflict` when capacity is gone or a concurrent writer won; nothing is
    /// claimed then.
    async fn claim(
        &self,
        consumer: &str,
        project_id: &str,
        user_id: &str,
        allocations: &Allocations,
    ) -> Result<()>;

    /// Removes every allocation of `consumer`; succeeds when there is none.
    async fn release(&self, consumer: &str) -> Result<()>;

    /// `consumer`'s allocations (empty when none).
    async fn allocations(&self, consumer: &str) -> Result<Allocations>;

    /// resource class → amount allocated on `provider` (for hypervisor statistics).
    async fn provider_usages(&self, provider: &str) -> Result<BTreeMap<String, i64>>;
}

/// An image as compute needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    pub status: String,
    pub disk_format: String,
    pub container_format: String,
    /// GiB.
    pub min_disk: i64,
    /// MiB.
    pub min_ram: i64,
    /// Bytes.
    pub size: i64,
    pub properties: BTreeMap<String, String>,
}

/// The image service as compute uses it, on behalf of the caller.
#[async_trait::async_trait]
pub trait ImagePort: Send + Sync + 'static {
    /// The image if `ctx` may see it, else `NotFound`.
    async fn get(&self, ctx: &Context, id: &str) -> Result<ImageInfo>;

    /// Creates a queued image owned by `ctx`'s project (a server snapshot); returns its id.
    /// The agent uploads the data later.
    async fn create(
        &self,
        ctx: &Context,
        name: &str,
        disk_format: &str,
        properties: &BTreeMap<String, String>,
    ) -> Result<String>;

    /// Deletes an image (undo of a failed snapshot); succeeds when it is gone.
    async fn delete(&self, ctx: &Context, id: &str) -> Result<()>;
}

/// A network as compute needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub shared: bool,
    /// `router:external`.
    pub external: bool,
    pub mtu: Option<u32>,
    pub subnets: Vec<Subnet>,
}

/// A port as compute needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortInfo {
    pub id: String,
    pub network_id: String,
    pub project_id: String,
    /// The instance (or router, DHCP server) using it; empty when free.
    pub device_id: String,
    pub device_owner: String,
    pub mac: String,
    pub fixed_ips: Vec<FixedIp>,
}

/// Who uses a port: written as its `device_id`, `device_owner` and `binding:host_id`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortBinding {
    /// The instance uuid.
    pub device_id: String,
    /// `compute:<availability zone>`.
    pub device_owner: String,
    /// The compute host whose network agent wires the port.
    pub host: String,
    /// The instance's hostname (the port's `dns_name`, the DHCP host entry's name).
    pub hostname: String,
}

/// A port compute creates for an instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortCreate {
    pub network_id: String,
    /// The address the port must have (`fixed_ip` of the request); else the network's IPAM
    /// picks one on each subnet.
    pub fixed_ip: Option<String>,
    /// Security group ids.
    pub security_groups: Vec<String>,
    pub binding: PortBinding,
}

/// One address of a server, as its `addresses` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// 4 or 6.
    pub version: u8,
    pub addr: String,
    /// `fixed` or `floating` (`OS-EXT-IPS:type`).
    pub kind: String,
    /// `OS-EXT-IPS-MAC:mac_addr`.
    pub mac: String,
}

/// What server views show of an instance's networking, looked up live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstanceNetworking {
    /// Network name → addresses: each port's fixed IPs, then the floating IPs associated
    /// with that port.
    pub addresses: BTreeMap<String, Vec<ServerAddress>>,
    /// Names of the security groups of the instance's ports (sorted, each once).
    pub security_groups: Vec<String>,
}

/// The network service as compute uses it. Lookups taking a [`Context`] see what that
/// caller may see (another project's private network or port is `None`); the others act
/// with the service's own rights. Errors are the network service's; compute turns the
/// caller's mistakes into Nova's errors itself before it calls `port_create`/`port_bind`.
#[async_trait::async_trait]
pub trait NetworkPort: Send + Sync + 'static {
    /// The networks `ctx`'s project may boot on without naming one (`networks: "auto"`):
    /// its own networks and shared ones, without external ones.
    async fn networks_available(&self, ctx: &Context) -> Result<Vec<NetworkInfo>>;

    /// Network `id` as `ctx` sees it (its project's, shared, or external), with its subnets.
    async fn network_get(&self, ctx: &Context, id: &str) -> Result<Option<NetworkInfo>>;

    /// Port `id` as `ctx` sees it.
    async fn port_get(&self, ctx: &Context, id: &str) -> Result<Option<PortInfo>>;

    /// The port holding `ip` on network `network_id`, if any (any project's).
    async fn port_with_ip(&self, network_id: &str, ip: &str) -> Result<Option<PortInfo>>;

    /// The id of the security group of `ctx`'s project named (or with the id) `name_or_id`.
    async fn security_group_find(&self, ctx: &Context, name_or_id: &str) -> Result<Option<String>>;

    /// Creates a port in `ctx`'s project, bound as `req.binding` says; the NIC it makes.
    async fn port_create(&self, ctx: &Context, req: &PortCreate) -> Result<Vif>;

    /// Binds an existing port (sets device_id, device_owner, binding:host_id; also moves a
    /// bound port to another host); the NIC it makes.
    async fn port_bind(&self, port_id: &str, binding: &PortBinding) -> Result<Vif>;

    /// Clears a port's device_id, device_owner and binding:host_id. Succeeds when the port
    /// is gone.
    async fn port_unbind(&self, port_id: &str) -> Result<()>;

    /// Deletes a port (and with it its floating IP association). Succeeds when it is gone.
    async fn port_delete(&self, port_id: &str) -> Result<()>;

    /// Every port whose device_id is `device_id` (any project's).
    async fn ports_of_device(&self, device_id: &str) -> Result<Vec<PortInfo>>;

    /// The addresses and security groups of each of `instance_uuids` that has ports, in
    /// one batch (server lists).
    async fn networking(
        &self,
        instance_uuids: &[String],
    ) -> Result<BTreeMap<String, InstanceNetworking>>;
}
