//! Neutron's L2 and security-group resources as the domain, the store and the API share
//! them. Addresses and CIDRs are canonical text (validated by the domain); lists are never
//! null; timestamps are RFC 3339 text (`2026-11-22T01:07:43Z`).

use serde::{Deserialize, Serialize};

/// `device_owner` of a network's DHCP port.
pub const DEVICE_OWNER_DHCP: &str = "network:dhcp";
/// `device_owner` of a router's leg on a tenant subnet.
pub const DEVICE_OWNER_ROUTER_INTERFACE: &str = "network:router_interface";
/// `device_owner` of a router's leg on the external network.
pub const DEVICE_OWNER_ROUTER_GATEWAY: &str = "network:router_gateway";
/// `device_owner` of a floating IP's port.
pub const DEVICE_OWNER_FLOATINGIP: &str = "network:floatingip";
/// Prefix of instance ports' `device_owner` (`compute:nova`, `compute:<az>`).
pub const DEVICE_OWNER_COMPUTE_PREFIX: &str = "compute:";
/// The only availability zone (network and router).
pub const AVAILABILITY_ZONE: &str = "nova";

/// A network (`/v2.0/networks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub shared: bool,
    /// `router:external`.
    pub external: bool,
    /// `provider:network_type`: `vxlan`, `flat` or `local`.
    pub network_type: String,
    /// `provider:physical_network` (flat only).
    pub physical_network: Option<String>,
    /// `provider:segmentation_id`: the VNI of a vxlan network.
    pub segmentation_id: Option<i64>,
    pub mtu: i64,
    pub port_security_enabled: bool,
    /// `ACTIVE` (or `DOWN` when `admin_state_up` is false).
    pub status: String,
    pub availability_zone_hints: Vec<String>,
    /// Ids of the network's subnets (filled on read).
    pub subnets: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: i64,
}

/// One range of addresses a subnet hands out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AllocationPool {
    pub start: String,
    pub end: String,
}

/// A static route a subnet hands out by DHCP.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

/// A subnet (`/v2.0/subnets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub project_id: String,
    pub network_id: String,
    pub name: String,
    pub description: String,
    /// 4 or 6.
    pub ip_version: i64,
    /// Canonical network address and prefix (`10.0.0.0/24`).
    pub cidr: String,
    pub gateway_ip: Option<String>,
    pub enable_dhcp: bool,
    pub ipv6_address_mode: Option<String>,
    pub ipv6_ra_mode: Option<String>,
    pub allocation_pools: Vec<AllocationPool>,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRoute>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: i64,
}

/// A fixed IP of a port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

/// An allowed address pair: an IP or CIDR the port may also send from, with a MAC
/// (the port's own when not given).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AddressPair {
    pub ip_address: String,
    pub mac_address: String,
}

/// A port (`/v2.0/ports`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Port {
    pub id: String,
    pub project_id: String,
    pub network_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    pub device_owner: String,
    pub device_id: String,
    /// `DOWN` until the host's agent wires it, then `ACTIVE`.
    pub status: String,
    pub port_security_enabled: bool,
    pub security_groups: Vec<String>,
    pub allowed_address_pairs: Vec<AddressPair>,
    /// `binding:host_id` ("" when unbound).
    pub binding_host_id: String,
    /// `binding:vnic_type` (`normal`).
    pub binding_vnic_type: String,
    /// `binding:vif_type`: `unbound` until bound to a host, then `tap`.
    pub binding_vif_type: String,
    /// `binding:profile` (a JSON object).
    pub binding_profile: serde_json::Value,
    /// `binding:vif_details` (a JSON object).
    pub binding_vif_details: serde_json::Value,
    pub dns_name: String,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: i64,
}

impl Port {
    /// Whether the port belongs to an instance (`device_owner` `compute:*`).
    pub fn is_compute(&self) -> bool {
        self.device_owner.starts_with(DEVICE_OWNER_COMPUTE_PREFIX)
    }

    /// Whether the port belongs to the network service itself (`network:*`).
    pub fn is_network_owned(&self) -> bool {
        self.device_owner.starts_with("network:")
    }
}

/// A security group (`/v2.0/security-groups`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub stateful: bool,
    /// The group's rules (filled on read).
    pub rules: Vec<SecurityGroupRule>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: i64,
}

/// A security group rule (`/v2.0/security-group-rules`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    pub id: String,
    pub project_id: String,
    pub security_group_id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// A protocol name (`tcp`, `udp`, `icmp`, `ipv6-icmp`, ...) or number as text; `None` = any.
    pub protocol: Option<String>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: i64,
}

/// Per-project limits, by resource name (`network`, `subnet`, `port`, `router`,
/// `floatingip`, `security_group`, `security_group_rule`, ...); -1 means unlimited.
pub type QuotaSet = std::collections::BTreeMap<String, i64>;

/// A stored timestamp as Neutron renders it: `2026-11-22T01:07:43Z` (no fraction).
pub fn wire_time(stored: &str) -> String {
    match stored.split_once('.') {
        Some((head, _)) => format!("{head}Z"),
        None => stored.to_string(),
    }
}
