//! The L3 and QoS part of a host's plan: one [`RouterPlan`] per router (its legs with
//! `address/prefixlen`, the gateway leg with the external subnet's gateway as its default
//! route and the SNAT flag, static routes, and the floating IPs it carries), and each bound
//! port's [`QosPlan`] from its effective QoS policy (the port's, else its network's).
//!
//! The host-plan builder calls [`add_routers`] after it has filled networks, ports and
//! security groups. The work is split so the output is testable without a database:
//! [`Network::l3_state`] reads everything in one go, [`plan_routers`] and [`plan_qos`] are
//! pure.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use common_error::Result;
use network_model::dataplane::{
    Bandwidth, Direction, FloatingIpPlan, HostPlan, QosPlan, RouterGateway, RouterLeg, RouterPlan,
};
use network_model::l3::{FloatingIp, QosPolicy, Router};
use network_model::{FixedIp, DEVICE_OWNER_ROUTER_GATEWAY, DEVICE_OWNER_ROUTER_INTERFACE};

use crate::Network;

/// A router's port as the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegPort {
    pub id: String,
    pub network_id: String,
    pub mac_address: String,
    pub device_id: String,
    pub device_owner: String,
    pub fixed_ips: Vec<FixedIp>,
}

/// A subnet as the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegSubnet {
    pub cidr: String,
    pub gateway_ip: Option<String>,
}

/// Everything L3 and QoS a plan is computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct L3State {
    pub routers: Vec<Router>,
    /// Ports that are routers' legs (interfaces and gateways).
    pub router_ports: Vec<LegPort>,
    /// Subnets by id (at least those of `router_ports`).
    pub subnets: BTreeMap<String, LegSubnet>,
    /// Associated floating IPs.
    pub floating_ips: Vec<FloatingIp>,
    /// QoS policies (with their rules) by id.
    pub qos_policies: BTreeMap<String, QosPolicy>,
    /// `qos_policy_id` of the ports and networks that have one.
    pub port_qos: BTreeMap<String, String>,
    pub network_qos: BTreeMap<String, String>,
}

/// Adds the routers (every router: in all-in-one this host carries them all) and the QoS
/// limits of `plan.ports`. The networks the routers' legs are on must be in the plan
/// ([`router_networks_missing`] names those that are not).
pub(crate) async fn add_routers(net: &Network, plan: &mut HostPlan) -> Result<()> {
    let state = net.l3_state().await?;
    plan_routers(plan, &state);
    plan_qos(plan, &state);
    Ok(())
}

/// Networks a router leg of `plan` is on that `plan.networks` lacks.
pub fn router_networks_missing(plan: &HostPlan) -> Vec<String> {
    let mut missing: Vec<String> = plan
        .routers
        .iter()
        .flat_map(|r| {
            r.interfaces
                .iter()
                .chain(r.gateway.as_ref().map(|g| &g.leg))
        })
        .map(|l| l.network_id.clone())
        .filter(|id| !plan.networks.iter().any(|n| &n.id == id))
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

impl Network {
    /// Reads everything the L3 part of a plan needs.
    pub async fn l3_state(&self) -> Result<L3State> {
        let routers = self.store.router_list(None).await?;
        let legs = self.store.router_ports_all().await?;
        let mut router_ports = Vec::with_capacity(legs.len());
        let mut subnets = BTreeMap::new();
        for (router_id, port_id, _) in &legs {
            let Some(p) = self.store.port_get(port_id).await? else {
                continue;
            };
            for ip in &p.fixed_ips {
                if !subnets.contains_key(&ip.subnet_id) {
                    if let Some(s) = self.store.subnet_get(&ip.subnet_id).await? {
                        subnets.insert(
                            s.id.clone(),
                            LegSubnet {
                                cidr: s.cidr,
                                gateway_ip: s.gateway_ip,
                            },
                        );
                    }
                }
            }
            router_ports.push(LegPort {
                id: p.id,
                network_id: p.network_id,
                mac_address: p.mac_address,
                device_id: router_id.clone(),
                device_owner: p.device_owner,
                fixed_ips: p.fixed_ips,
            });
        }
        let qos_policies = self
            .store
            .qos_policy_list(None)
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        Ok(L3State {
            routers,
            router_ports,
            subnets,
            floating_ips: self.store.floatingips_associated().await?,
            qos_policies,
            port_qos: self.store.qos_port_bindings().await?,
            network_qos: self.store.qos_network_bindings().await?,
        })
    }
}

/// `10.0.0.1` in `10.0.0.0/24` → `10.0.0.1/24`; `None` when either does not parse.
fn with_prefix(ip: &str, cidr: &str) -> Option<String> {
    let net: ipnet::IpNet = cidr.parse().ok()?;
    let addr: IpAddr = ip.parse().ok()?;
    Some(format!("{addr}/{}", net.prefix_len()))
}

fn leg(port: &LegPort, subnets: &BTreeMap<String, LegSubnet>) -> RouterLeg {
    let mut addresses: Vec<String> = port
        .fixed_ips
        .iter()
        .filter_map(|ip| {
            subnets
                .get(&ip.subnet_id)
                .and_then(|s| with_prefix(&ip.ip_address, &s.cidr))
        })
        .collect();
    addresses.sort();
    RouterLeg {
        port_id: port.id.clone(),
        network_id: port.network_id.clone(),
        mac_address: port.mac_address.clone(),
        addresses,
    }
}

/// Adds one [`RouterPlan`] per router of `state`.
pub fn plan_routers(plan: &mut HostPlan, state: &L3State) {
    for r in &state.routers {
        let mut interfaces = Vec::new();
        let mut gateway = None;
        for p in state.router_ports.iter().filter(|p| p.device_id == r.id) {
            if p.device_owner == DEVICE_OWNER_ROUTER_INTERFACE {
                interfaces.push(leg(p, &state.subnets));
            } else if p.device_owner == DEVICE_OWNER_ROUTER_GATEWAY
                && r.gateway.as_ref().is_some_and(|g| g.port_id == p.id)
            {
                // The default route: the gateway of the first external IPv4 subnet that has
                // one, as Neutron's L3 agent picks it.
                let nexthop = p
                    .fixed_ips
                    .iter()
                    .filter_map(|ip| state.subnets.get(&ip.subnet_id))
                    .filter_map(|s| s.gateway_ip.clone())
                    .find(|g| g.parse::<Ipv4Addr>().is_ok());
                gateway = Some(RouterGateway {
                    leg: leg(p, &state.subnets),
                    nexthop,
                    enable_snat: r.gateway.as_ref().is_some_and(|g| g.enable_snat),
                });
            }
        }
        // Floating IPs need the gateway leg to carry their address.
        let floating_ips = if gateway.is_some() {
            state
                .floating_ips
                .iter()
                .filter(|f| f.router_id.as_deref() == Some(r.id.as_str()))
                .filter_map(|f| {
                    Some(FloatingIpPlan {
                        id: f.id.clone(),
                        floating_ip_address: f.floating_ip_address.clone(),
                        fixed_ip_address: f.fixed_ip_address.clone()?,
                        port_id: f.port_id.clone()?,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        plan.routers.push(RouterPlan {
            id: r.id.clone(),
            admin_state_up: r.admin_state_up,
            interfaces,
            gateway,
            routes: r.routes.clone(),
            floating_ips,
        });
    }
}

/// A policy's limits; `None` when it has no rule.
pub fn qos_plan(policy: &QosPolicy) -> Option<QosPlan> {
    let mut egress = None;
    let mut ingress = None;
    for rule in &policy.rules {
        let bw = Bandwidth {
            max_kbps: u64::try_from(rule.max_kbps).unwrap_or(0),
            max_burst_kbps: u64::try_from(rule.max_burst_kbps).unwrap_or(0),
        };
        match rule.direction {
            Direction::Egress => egress = Some(bw),
            Direction::Ingress => ingress = Some(bw),
        }
    }
    if egress.is_none() && ingress.is_none() {
        return None;
    }
    Some(QosPlan {
        policy_id: policy.id.clone(),
        egress,
        ingress,
    })
}

/// Sets `qos` of every port of `plan` from its effective policy: its own, else its
/// network's.
pub fn plan_qos(plan: &mut HostPlan, state: &L3State) {
    for port in &mut plan.ports {
        let policy_id = state
            .port_qos
            .get(&port.id)
            .or_else(|| state.network_qos.get(&port.network_id));
        port.qos = policy_id
            .and_then(|id| state.qos_policies.get(id))
            .and_then(qos_plan);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use network_model::dataplane::{NetworkPlan, PortPlan, Route, Segment};
    use network_model::l3::{BandwidthLimitRule, ExternalGateway};

    fn router(id: &str, gw_port: Option<&str>, snat: bool) -> Router {
        Router {
            id: id.into(),
            project_id: "p".into(),
            name: "r".into(),
            description: String::new(),
            admin_state_up: true,
            status: "ACTIVE".into(),
            gateway: gw_port.map(|port_id| ExternalGateway {
                network_id: "ext".into(),
                port_id: port_id.into(),
                enable_snat: snat,
                external_fixed_ips: vec![],
            }),
            routes: vec![Route {
                destination: "192.168.0.0/24".into(),
                nexthop: "10.0.0.9".into(),
            }],
            availability_zone_hints: vec![],
            created_at: String::new(),
            updated_at: String::new(),
            revision_number: 0,
        }
    }

    fn port(id: &str, net: &str, dev: &str, owner: &str, ips: &[(&str, &str)]) -> LegPort {
        LegPort {
            id: id.into(),
            network_id: net.into(),
            mac_address: format!("fa:16:3e:00:00:{id}"),
            device_id: dev.into(),
            device_owner: owner.into(),
            fixed_ips: ips
                .iter()
                .map(|(s, a)| FixedIp {
                    subnet_id: (*s).into(),
                    ip_address: (*a).into(),
                })
                .collect(),
        }
    }

    fn fip(id: &str, router: Option<&str>, fixed: Option<(&str, &str)>) -> FloatingIp {
        FloatingIp {
            id: id.into(),
            project_id: "p".into(),
            floating_network_id: "ext".into(),
            floating_ip_address: "172.24.4.10".into(),
            floating_port_id: "fp".into(),
            port_id: fixed.map(|(p, _)| p.into()),
            fixed_ip_address: fixed.map(|(_, a)| a.into()),
            router_id: router.map(Into::into),
            status: "ACTIVE".into(),
            description: String::new(),
            created_at: String::new(),
            updated_at: String::new(),
            revision_number: 0,
        }
    }

    fn state() -> L3State {
        let mut subnets = BTreeMap::new();
        subnets.insert(
            "s-int".to_string(),
            LegSubnet {
                cidr: "10.0.0.0/24".into(),
                gateway_ip: Some("10.0.0.1".into()),
            },
        );
        subnets.insert(
            "s-ext".to_string(),
            LegSubnet {
                cidr: "172.24.4.0/24".into(),
                gateway_ip: Some("172.24.4.1".into()),
            },
        );
        L3State {
            routers: vec![router("r1", Some("gw"), true), router("r2", None, true)],
            router_ports: vec![
                port(
                    "if",
                    "net",
                    "r1",
                    DEVICE_OWNER_ROUTER_INTERFACE,
                    &[("s-int", "10.0.0.1")],
                ),
                port(
                    "gw",
                    "ext",
                    "r1",
                    DEVICE_OWNER_ROUTER_GATEWAY,
                    &[("s-ext", "172.24.4.5")],
                ),
                port(
                    "i2",
                    "net",
                    "r2",
                    DEVICE_OWNER_ROUTER_INTERFACE,
                    &[("s-int", "10.0.0.2")],
                ),
            ],
            subnets,
            floating_ips: vec![
                fip("f1", Some("r1"), Some(("vm", "10.0.0.5"))),
                fip("f2", Some("r2"), Some(("vm2", "10.0.0.6"))),
            ],
            ..L3State::default()
        }
    }

    #[test]
    fn routers_get_legs_gateway_routes_and_floating_ips() {
        let mut plan = HostPlan::default();
        plan_routers(&mut plan, &state());
        plan.normalize();
        assert_eq!(plan.routers.len(), 2);
        let r1 = &plan.routers[0];
        assert_eq!(r1.id, "r1");
        assert_eq!(r1.interfaces.len(), 1);
        assert_eq!(r1.interfaces[0].addresses, vec!["10.0.0.1/24"]);
        assert_eq!(r1.interfaces[0].mac_address, "fa:16:3e:00:00:if");
        let gw = r1.gateway.as_ref().unwrap();
        assert_eq!(gw.leg.addresses, vec!["172.24.4.5/24"]);
        assert_eq!(gw.leg.network_id, "ext");
        assert_eq!(gw.nexthop.as_deref(), Some("172.24.4.1"));
        assert!(gw.enable_snat);
        assert_eq!(r1.routes.len(), 1);
        assert_eq!(
            r1.floating_ips,
            vec![FloatingIpPlan {
                id: "f1".into(),
                floating_ip_address: "172.24.4.10".into(),
                fixed_ip_address: "10.0.0.5".into(),
                port_id: "vm".into(),
            }]
        );
        // No gateway: no default route and no floating IP can be carried.
        let r2 = &plan.routers[1];
        assert!(r2.gateway.is_none());
        assert!(r2.floating_ips.is_empty());
        assert_eq!(r2.interfaces[0].addresses, vec!["10.0.0.2/24"]);
    }

    #[test]
    fn snat_off_and_external_subnet_without_gateway() {
        let mut s = state();
        s.routers[0] = router("r1", Some("gw"), false);
        if let Some(sub) = s.subnets.get_mut("s-ext") {
            sub.gateway_ip = None;
        }
        let mut plan = HostPlan::default();
        plan_routers(&mut plan, &s);
        let gw = plan.routers[0].gateway.as_ref().unwrap();
        assert!(!gw.enable_snat);
        assert_eq!(gw.nexthop, None);
    }

    #[test]
    fn missing_networks_are_named() {
        let mut plan = HostPlan::default();
        plan_routers(&mut plan, &state());
        assert_eq!(router_networks_missing(&plan), vec!["ext", "net"]);
        plan.networks.push(NetworkPlan {
            id: "net".into(),
            segment: Segment::Local,
            mtu: 1450,
            external: false,
            admin_state_up: true,
            subnets: vec![],
            dhcp: None,
            vxlan_peers: vec![],
        });
        assert_eq!(router_networks_missing(&plan), vec!["ext"]);
    }

    fn policy(id: &str, rules: &[(Direction, i64, i64)]) -> QosPolicy {
        QosPolicy {
            id: id.into(),
            project_id: "p".into(),
            name: String::new(),
            description: String::new(),
            shared: false,
            is_default: false,
            rules: rules
                .iter()
                .enumerate()
                .map(|(i, (d, k, b))| BandwidthLimitRule {
                    id: format!("{id}-{i}"),
                    qos_policy_id: id.into(),
                    max_kbps: *k,
                    max_burst_kbps: *b,
                    direction: *d,
                })
                .collect(),
            created_at: String::new(),
            updated_at: String::new(),
            revision_number: 0,
        }
    }

    fn bound(id: &str, net: &str) -> PortPlan {
        PortPlan {
            id: id.into(),
            network_id: net.into(),
            mac_address: String::new(),
            fixed_ips: vec![],
            admin_state_up: true,
            device_id: String::new(),
            security: None,
            qos: None,
        }
    }

    #[test]
    fn port_policy_wins_over_network_policy() {
        let mut s = L3State::default();
        s.qos_policies
            .insert("pp".into(), policy("pp", &[(Direction::Egress, 1000, 100)]));
        s.qos_policies.insert(
            "np".into(),
            policy(
                "np",
                &[
                    (Direction::Egress, 5000, 0),
                    (Direction::Ingress, 2000, 200),
                ],
            ),
        );
        s.qos_policies.insert("empty".into(), policy("empty", &[]));
        s.port_qos.insert("a".into(), "pp".into());
        s.port_qos.insert("c".into(), "empty".into());
        s.network_qos.insert("n1".into(), "np".into());
        let mut plan = HostPlan {
            ports: vec![
                bound("a", "n1"),
                bound("b", "n1"),
                bound("c", "n1"),
                bound("d", "n2"),
            ],
            ..HostPlan::default()
        };
        plan_qos(&mut plan, &s);
        let a = plan.ports[0].qos.as_ref().unwrap();
        assert_eq!(a.policy_id, "pp");
        assert_eq!(
            a.egress,
            Some(Bandwidth {
                max_kbps: 1000,
                max_burst_kbps: 100
            })
        );
        assert_eq!(a.ingress, None);
        let b = plan.ports[1].qos.as_ref().unwrap();
        assert_eq!(b.policy_id, "np");
        assert_eq!(b.ingress.map(|i| i.max_kbps), Some(2000));
        // A port's own policy without rules limits nothing (and hides the network's).
        assert_eq!(plan.ports[2].qos, None);
        assert_eq!(plan.ports[3].qos, None);
    }
}
