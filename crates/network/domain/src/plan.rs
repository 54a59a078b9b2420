//! The data plane one host must carry (`network_model::dataplane::HostPlan`), computed from
//! the database: networks with DHCP (in all-in-one every such network is on the one host)
//! or with an instance port bound here, those ports with their security, the security
//! groups they use (and the groups those name as remote) with member addresses; routers,
//! floating IPs and QoS are added by `plan_l3`.

use std::collections::{BTreeMap, BTreeSet};

use common_error::Result;
use network_db::PortFilter;
use network_model::dataplane::{
    AddressPair, DhcpHost, DhcpPlan, Direction, FixedIp as PlanIp, HostPlan, NetworkPlan, PortPlan,
    PortSecurity, Route, RulePlan, SecurityGroupPlan, Segment, SubnetPlan,
};
use network_model::{Network as Net, Port, Subnet, DEVICE_OWNER_DHCP};

use crate::Network;

/// The segment of a network.
pub fn segment(n: &Net) -> Segment {
    match (
        n.network_type.as_str(),
        n.segmentation_id,
        &n.physical_network,
    ) {
        ("vxlan", Some(vni), _) => Segment::Vxlan {
            vni: u32::try_from(vni).unwrap_or_default(),
        },
        ("flat", _, Some(p)) => Segment::Flat {
            physical_network: p.clone(),
        },
        _ => Segment::Local,
    }
}

fn ips(p: &Port) -> Vec<PlanIp> {
    p.fixed_ips
        .iter()
        .map(|f| PlanIp {
            subnet_id: f.subnet_id.clone(),
            ip_address: f.ip_address.clone(),
        })
        .collect()
}

fn subnet_plan(s: &Subnet) -> SubnetPlan {
    SubnetPlan {
        id: s.id.clone(),
        ip_version: u8::try_from(s.ip_version).unwrap_or(4),
        cidr: s.cidr.clone(),
        gateway_ip: s.gateway_ip.clone(),
        enable_dhcp: s.enable_dhcp,
        dns_nameservers: s.dns_nameservers.clone(),
        host_routes: s
            .host_routes
            .iter()
            .map(|r| Route {
                destination: r.destination.clone(),
                nexthop: r.nexthop.clone(),
            })
            .collect(),
        ipv6_address_mode: s.ipv6_address_mode.clone(),
    }
}

/// The name DHCP gives a port: its `dns_name`, else `host-10-0-0-5`.
fn hostname(p: &Port, ip: &str) -> String {
    if p.dns_name.is_empty() {
        format!("host-{}", ip.replace(['.', ':'], "-"))
    } else {
        p.dns_name.clone()
    }
}

impl Network {
    /// The network's plan on this host (without DHCP, added by the caller).
    pub(crate) fn network_plan(&self, n: &Net, subnets: &[Subnet]) -> NetworkPlan {
        NetworkPlan {
            id: n.id.clone(),
            segment: segment(n),
            mtu: u32::try_from(n.mtu).unwrap_or(1500),
            external: n.external,
            admin_state_up: n.admin_state_up,
            subnets: subnets
                .iter()
                .filter(|s| s.network_id == n.id)
                .map(subnet_plan)
                .collect(),
            dhcp: None,
            vxlan_peers: Vec::new(),
        }
    }

    /// Everything `host`'s agent must converge to.
    pub async fn host_plan(&self, host: &str) -> Result<HostPlan> {
        let networks = self.store.network_list(None).await?;
        let subnets = self.store.subnet_list(None).await?;
        let ports = self.store.port_list(&PortFilter::default()).await?;
        let groups = self.store.security_group_list(None).await?;

        let mut plan = HostPlan {
            host: host.to_string(),
            ..Default::default()
        };
        let bound: Vec<&Port> = ports
            .iter()
            .filter(|p| p.binding_host_id == host && p.is_compute())
            .collect();
        let mut wanted: BTreeSet<&str> = bound.iter().map(|p| p.network_id.as_str()).collect();
        for p in ports.iter().filter(|p| p.device_owner == DEVICE_OWNER_DHCP) {
            wanted.insert(p.network_id.as_str());
        }
        // Networks with a router leg (the routers live on this host), and external networks
        // (the all-in-one outside namespace is plugged into their bridge).
        for p in ports.iter().filter(|p| {
            p.device_owner == network_model::DEVICE_OWNER_ROUTER_INTERFACE
                || p.device_owner == network_model::DEVICE_OWNER_ROUTER_GATEWAY
        }) {
            wanted.insert(p.network_id.as_str());
        }
        for n in networks.iter().filter(|n| n.external) {
            wanted.insert(n.id.as_str());
        }
        for n in networks.iter().filter(|n| wanted.contains(n.id.as_str())) {
            let mut np = self.network_plan(n, &subnets);
            let dhcp_subnets: BTreeSet<&str> = subnets
                .iter()
                .filter(|s| s.network_id == n.id && s.enable_dhcp)
                .map(|s| s.id.as_str())
                .collect();
            if let Some(dp) = ports
                .iter()
                .find(|p| p.network_id == n.id && p.device_owner == DEVICE_OWNER_DHCP)
            {
                let mut hosts = Vec::new();
                for p in ports
                    .iter()
                    .filter(|p| p.network_id == n.id && !p.is_network_owned())
                {
                    for f in p
                        .fixed_ips
                        .iter()
                        .filter(|f| dhcp_subnets.contains(f.subnet_id.as_str()))
                    {
                        hosts.push(DhcpHost {
                            mac_address: p.mac_address.clone(),
                            ip_address: f.ip_address.clone(),
                            subnet_id: f.subnet_id.clone(),
                            hostname: hostname(p, &f.ip_address),
                        });
                    }
                }
                np.dhcp = Some(DhcpPlan {
                    port_id: dp.id.clone(),
                    mac_address: dp.mac_address.clone(),
                    fixed_ips: ips(dp),
                    hosts,
                });
            }
            plan.networks.push(np);
        }
        // Instance ports bound here.
        let mut used_groups: BTreeSet<String> = BTreeSet::new();
        for p in &bound {
            let security = p.port_security_enabled.then(|| {
                used_groups.extend(p.security_groups.iter().cloned());
                PortSecurity {
                    security_groups: p.security_groups.clone(),
                    allowed_address_pairs: p
                        .allowed_address_pairs
                        .iter()
                        .map(|a| AddressPair {
                            ip_address: a.ip_address.clone(),
                            mac_address: (a.mac_address != p.mac_address)
                                .then(|| a.mac_address.clone()),
                        })
                        .collect(),
                }
            });
            plan.ports.push(PortPlan {
                id: p.id.clone(),
                network_id: p.network_id.clone(),
                mac_address: p.mac_address.clone(),
                fixed_ips: ips(p),
                admin_state_up: p.admin_state_up,
                device_id: p.device_id.clone(),
                security,
                qos: None,
            });
        }
        // Security groups: the ports' groups and the remote groups their rules name.
        let by_id: BTreeMap<&str, &network_model::SecurityGroup> =
            groups.iter().map(|g| (g.id.as_str(), g)).collect();
        let mut pending: Vec<String> = used_groups.iter().cloned().collect();
        let mut included: BTreeSet<String> = BTreeSet::new();
        while let Some(id) = pending.pop() {
            if !included.insert(id.clone()) {
                continue;
            }
            if let Some(g) = by_id.get(id.as_str()) {
                for r in &g.rules {
                    if let Some(rg) = &r.remote_group_id {
                        pending.push(rg.clone());
                    }
                }
            }
        }
        let mut members: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for p in ports.iter().filter(|p| p.port_security_enabled) {
            for g in &p.security_groups {
                let m = members.entry(g.as_str()).or_default();
                m.extend(p.fixed_ips.iter().map(|f| f.ip_address.clone()));
                m.extend(p.allowed_address_pairs.iter().map(|a| a.ip_address.clone()));
            }
        }
        for id in &included {
            let Some(g) = by_id.get(id.as_str()) else {
                continue;
            };
            plan.security_groups.push(SecurityGroupPlan {
                id: g.id.clone(),
                stateful: g.stateful,
                rules: g
                    .rules
                    .iter()
                    .map(|r| RulePlan {
                        id: r.id.clone(),
                        direction: if r.direction == "egress" {
                            Direction::Egress
                        } else {
                            Direction::Ingress
                        },
                        ip_version: if r.ethertype == "IPv6" { 6 } else { 4 },
                        protocol: r.protocol.clone(),
                        port_range_min: r.port_range_min.and_then(|v| u16::try_from(v).ok()),
                        port_range_max: r.port_range_max.and_then(|v| u16::try_from(v).ok()),
                        remote_ip_prefix: r.remote_ip_prefix.clone(),
                        remote_group_id: r.remote_group_id.clone(),
                    })
                    .collect(),
                member_ips: members.get(g.id.as_str()).cloned().unwrap_or_default(),
            });
        }
        crate::plan_l3::add_routers(self, &mut plan).await?;
        plan.normalize();
        Ok(plan)
    }
}
