//! The scheduler's decision (Nova's `scheduler/filters` and `scheduler/weights`): pure
//! functions over host states and a request spec. Filters drop hosts, weighers rank the
//! rest; each is a small trait impl, enabled and ordered by configuration. No I/O: the
//! domain gathers host states (from placement candidates and compute services) and makes
//! the claim.

use std::collections::BTreeMap;

/// One candidate host as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostState {
    /// The compute node (resource provider) uuid.
    pub provider: String,
    pub host: String,
    pub availability_zone: String,
    /// The compute service is disabled by an operator.
    pub disabled: bool,
    /// The compute service's heartbeat is recent and it is not forced down.
    pub up: bool,
    /// resource class → usable capacity.
    pub capacity: BTreeMap<String, i64>,
    /// resource class → allocated.
    pub used: BTreeMap<String, i64>,
    pub traits: Vec<String>,
    /// Aggregate uuids the host belongs to.
    pub aggregates: Vec<String>,
    /// Metadata of the host's aggregates, merged (`filter_tenant_id`, `availability_zone`...).
    pub aggregate_metadata: BTreeMap<String, Vec<String>>,
    /// Instances on the host (uuids).
    pub instances: Vec<String>,
    /// `x86_64`, ...
    pub cpu_arch: String,
    pub hypervisor_type: String,
}

/// The server group a request belongs to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupSpec {
    /// `affinity`, `anti-affinity`, `soft-affinity` or `soft-anti-affinity`.
    pub policy: String,
    /// Hosts already running members of the group (one entry per member).
    pub member_hosts: Vec<String>,
    /// Anti-affinity: at most this many members per host (default 1).
    pub max_server_per_host: Option<i64>,
}

/// What is being scheduled.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestSpec {
    pub instance_uuid: String,
    pub project_id: String,
    /// resource class → amount.
    pub resources: BTreeMap<String, i64>,
    pub availability_zone: Option<String>,
    pub image_properties: BTreeMap<String, String>,
    pub group: Option<GroupSpec>,
    /// Hosts not to use (a retry after a failed claim or build).
    pub ignore_hosts: Vec<String>,
}
