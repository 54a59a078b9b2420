//! An instance's network interfaces as compute records them (Nova's VIFs and network info
//! cache): what the network service allocated for each NIC, in the guest's NIC order.

use serde::{Deserialize, Serialize};

/// One address of a port on one of its subnets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

/// A route of a subnet: `destination` (a CIDR) via `nexthop`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Route {
    pub destination: String,
    pub nexthop: String,
}

/// A subnet a NIC has an address on, as the guest's network configuration needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    /// 4 or 6.
    pub ip_version: u8,
    pub cidr: String,
    pub gateway_ip: Option<String>,
    pub enable_dhcp: bool,
    #[serde(default)]
    pub dns_nameservers: Vec<String>,
    #[serde(default)]
    pub host_routes: Vec<Route>,
}

/// One NIC of an instance: a port of the network service, plugged as a tap device.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Vif {
    pub port_id: String,
    pub network_id: String,
    /// The network's name: the key of the server's `addresses`.
    pub network_name: String,
    pub mac: String,
    /// The host's tap device for the port (created by the network agent, opened by QEMU).
    pub tap: String,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub fixed_ips: Vec<FixedIp>,
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    /// The user created the port (`networks: [{"port": ...}]`, interface attach with a
    /// port): when the instance goes it is unbound, not deleted.
    #[serde(default)]
    pub preserve: bool,
    /// The device tag of the request (2.32+).
    #[serde(default)]
    pub tag: Option<String>,
}
