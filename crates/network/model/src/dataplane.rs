//! The contract between the network service and a host's network agent: the whole desired
//! data plane of one host, computed from the database by the network domain
//! (`network_domain::Network::host_plan`) and converged to by the agent
//! (`network_agent::Agent`). The agent owns everything whose name it derives from a plan
//! (`names`): it creates what is missing, changes what differs and removes what no plan
//! names, so a restart after a crash converges without duplicates or leaks.
//!
//! Addresses are strings in their canonical text form (`10.0.0.5`, `10.0.0.0/24`,
//! `fd00::5`); the domain has validated them. Lists are sorted by id so two plans of the same
//! state compare equal.

use serde::{Deserialize, Serialize};

/// Everything one host's data plane must carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPlan {
    /// The host this plan is for (`[compute] host` / `binding:host_id`).
    pub host: String,
    /// Networks with something on this host: a bound instance port, a DHCP server or a router
    /// leg (in all-in-one every network with DHCP or a router is here).
    pub networks: Vec<NetworkPlan>,
    /// Instance ports bound to this host (`binding:host_id` = host, `device_owner`
    /// `compute:*`): a tap on the network's bridge each, created before QEMU opens it.
    pub ports: Vec<PortPlan>,
    /// Routers hosted here: a namespace each with legs, NAT and floating IPs.
    pub routers: Vec<RouterPlan>,
    /// Every security group a port of `ports` uses, or that a rule of such a group names as
    /// its remote group, with its rules and its members' addresses.
    pub security_groups: Vec<SecurityGroupPlan>,
}

/// How a network reaches other hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Segment {
    /// `provider:network_type` local: the bridge only, no uplink.
    Local,
    /// `provider:network_type` flat on a physical network: the bridge is joined to the
    /// interface the agent maps that physical network to (in all-in-one `public` has no
    /// uplink device: the external "outside world" namespace is plugged into the bridge).
    Flat { physical_network: String },
    /// `provider:network_type` vxlan: a VXLAN device with this VNI on the bridge, unicast to
    /// the other hosts' underlay addresses (`NetworkPlan::vxlan_peers`).
    Vxlan { vni: u32 },
}

/// One network as this host carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPlan {
    pub id: String,
    pub segment: Segment,
    pub mtu: u32,
    /// `router:external`.
    pub external: bool,
    /// `admin_state_up`; when false the bridge is down (no traffic).
    pub admin_state_up: bool,
    pub subnets: Vec<SubnetPlan>,
    /// The network's DHCP port (`device_owner` `network:dhcp`), when a subnet has DHCP on and
    /// this host serves DHCP for the network.
    pub dhcp: Option<DhcpPlan>,
    /// Underlay addresses of the other hosts that carry this network (VXLAN only).
    pub vxlan_peers: Vec<String>,
}

/// A subnet, as DHCP and routers need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetPlan {
    pub id: String,
    /// 4 or 6.
    pub ip_version: u8,
    pub cidr: String,
    pub gateway_ip: Option<String>,
    pub enable_dhcp: bool,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<Route>,
    /// `ipv6_address_mode` (`slaac`, `dhcpv6-stateless`, `dhcpv6-stateful`) for IPv6.
    pub ipv6_address_mode: Option<String>,
}

/// A route: `destination` (a CIDR) via `nexthop`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Route {
    pub destination: String,
    pub nexthop: String,
}

/// A fixed IP of a port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

/// The DHCP server of one network on this host: a namespace (`names::dhcp_ns`) with a veth
/// leg on the bridge carrying the DHCP port's MAC and addresses, dnsmasq answering only the
/// static `hosts`, and the metadata service at 169.254.169.254:80 inside the namespace
/// (guests route to it through the DHCP port by the classless static route DHCP hands out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpPlan {
    pub port_id: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    /// Every port of the network that gets an address by DHCP (all hosts' ports, not only
    /// this host's, and router interfaces excluded), sorted by MAC.
    pub hosts: Vec<DhcpHost>,
}

/// One static DHCP entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DhcpHost {
    pub mac_address: String,
    pub ip_address: String,
    pub subnet_id: String,
    /// The name DHCP gives the guest (`host-10-0-0-5` as Neutron's default, or the
    /// instance's hostname when the port has a `dns_name`).
    pub hostname: String,
}

/// An instance port bound to this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortPlan {
    pub id: String,
    pub network_id: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    pub admin_state_up: bool,
    /// The instance (`device_id`).
    pub device_id: String,
    /// `None` when `port_security_enabled` is false: no anti-spoofing, no filtering.
    pub security: Option<PortSecurity>,
    /// Bandwidth limits from the port's (or its network's) QoS policy.
    pub qos: Option<QosPlan>,
}

/// What filters a port's traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSecurity {
    /// Security group ids (their rules are in `HostPlan::security_groups`). Empty means drop
    /// everything but what anti-spoofing lets out of the guest and DHCP.
    pub security_groups: Vec<String>,
    /// Addresses (an IP or a CIDR) and optional MACs the guest may also send from.
    pub allowed_address_pairs: Vec<AddressPair>,
}

/// An allowed address pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AddressPair {
    pub ip_address: String,
    /// `None` means the port's own MAC.
    pub mac_address: Option<String>,
}

/// A security group's rules and the addresses of the ports in it (for rules elsewhere that
/// name it as `remote_group_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupPlan {
    pub id: String,
    /// Stateful (Neutron's default); a stateless group has no conntrack return path.
    pub stateful: bool,
    pub rules: Vec<RulePlan>,
    /// Fixed IPs (and allowed address pair IPs) of every port in the group, on any host.
    pub member_ips: Vec<String>,
}

/// Ingress is traffic to the port (the guest), egress from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

/// One security group rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulePlan {
    pub id: String,
    pub direction: Direction,
    /// 4 or 6.
    pub ip_version: u8,
    /// `tcp`, `udp`, `icmp`, `ipv6-icmp`, another protocol name or number as text, or `None`
    /// for any protocol.
    pub protocol: Option<String>,
    /// For tcp/udp: the port range; for icmp: `port_range_min` is the type and
    /// `port_range_max` the code.
    pub port_range_min: Option<u16>,
    pub port_range_max: Option<u16>,
    /// A CIDR the remote end must be in.
    pub remote_ip_prefix: Option<String>,
    /// A group whose members the remote end must be (its `member_ips`).
    pub remote_group_id: Option<String>,
}

/// Egress and ingress limits of a port (QoS `bandwidth_limit` rules), in kbit/s with bursts
/// in kbit, as Neutron's rule fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QosPlan {
    pub policy_id: String,
    /// Traffic leaving the guest.
    pub egress: Option<Bandwidth>,
    /// Traffic to the guest.
    pub ingress: Option<Bandwidth>,
}

/// A `bandwidth_limit` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bandwidth {
    pub max_kbps: u64,
    pub max_burst_kbps: u64,
}

/// A router on this host: namespace `names::router_ns` with IP forwarding on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterPlan {
    pub id: String,
    pub admin_state_up: bool,
    /// Legs on tenant subnets (`device_owner` `network:router_interface`).
    pub interfaces: Vec<RouterLeg>,
    /// The leg on the external network (`network:router_gateway`) and its default route.
    pub gateway: Option<RouterGateway>,
    /// Static routes (`routes`).
    pub routes: Vec<Route>,
    /// Floating IPs associated through this router: DNAT in, SNAT out, and the floating
    /// address on the gateway leg.
    pub floating_ips: Vec<FloatingIpPlan>,
}

/// A router leg: a veth with the port's MAC, the bridge end on the network's bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterLeg {
    pub port_id: String,
    pub network_id: String,
    pub mac_address: String,
    /// Addresses with their subnet's prefix length (`10.0.0.1/24`).
    pub addresses: Vec<String>,
}

/// The external leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterGateway {
    pub leg: RouterLeg,
    /// The external subnet's gateway: the router's default route.
    pub nexthop: Option<String>,
    /// SNAT traffic from the interfaces' subnets to the first gateway address.
    pub enable_snat: bool,
}

/// One floating IP.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FloatingIpPlan {
    pub id: String,
    pub floating_ip_address: String,
    pub fixed_ip_address: String,
    pub port_id: String,
}

impl HostPlan {
    /// Sorts every list by id so equal states compare equal.
    pub fn normalize(&mut self) {
        self.networks.sort_by(|a, b| a.id.cmp(&b.id));
        for n in &mut self.networks {
            n.subnets.sort_by(|a, b| a.id.cmp(&b.id));
            n.vxlan_peers.sort();
            if let Some(d) = &mut n.dhcp {
                d.fixed_ips.sort();
                d.hosts.sort();
            }
        }
        self.ports.sort_by(|a, b| a.id.cmp(&b.id));
        for p in &mut self.ports {
            p.fixed_ips.sort();
            if let Some(s) = &mut p.security {
                s.security_groups.sort();
                s.allowed_address_pairs.sort();
            }
        }
        self.routers.sort_by(|a, b| a.id.cmp(&b.id));
        for r in &mut self.routers {
            r.interfaces.sort_by(|a, b| a.port_id.cmp(&b.port_id));
            r.routes.sort();
            r.floating_ips.sort();
        }
        self.security_groups.sort_by(|a, b| a.id.cmp(&b.id));
        for g in &mut self.security_groups {
            g.rules.sort_by(|a, b| a.id.cmp(&b.id));
            g.member_ips.sort();
            g.member_ips.dedup();
        }
    }
}
