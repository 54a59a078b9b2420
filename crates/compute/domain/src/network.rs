//! Servers' networking (Nova's `network/neutron.py` as the compute API and conductor use
//! it): the `networks` of a create checked and resolved up front with Nova's errors, ports
//! created or bound for an instance on its host (all or nothing), freed again (ports compute
//! created are deleted, the user's own are unbound), the guest's `network_data.json`, and
//! the addresses server views show.
//!
//! The NICs an instance has are kept in compute's store (Nova's info cache) in the guest's
//! order; addresses and floating IPs are looked up live.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use common_error::{Error, Result};
use compute_model::{Instance, Vif};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ports::{InstanceNetworking, NetworkPort, PortBinding, PortCreate, ServerAddress};
use crate::server::Networks;
use crate::{Compute, Context};

/// The security group a server's ports get when the request names none.
pub const DEFAULT_SECURITY_GROUP: &str = "default";

/// One NIC to give an instance, resolved from the request's `networks`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NicRequest {
    /// The network to create a port on (`uuid`, the network `auto` found, or the network of
    /// `port_id`).
    pub network_id: String,
    /// A port the user created, to bind (`port`).
    #[serde(default)]
    pub port_id: Option<String>,
    /// The address the new port must have (`fixed_ip`).
    #[serde(default)]
    pub fixed_ip: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
}

/// What a create asks of the network service, checked: the NICs in order and the security
/// group ids for the ports compute creates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Requested {
    pub nics: Vec<NicRequest>,
    pub security_groups: Vec<String>,
}

impl Requested {
    /// The user's own ports among the NICs (unbound, never deleted, on undo).
    pub fn user_ports(&self) -> Vec<String> {
        self.nics.iter().filter_map(|n| n.port_id.clone()).collect()
    }
}

/// The network service, or the error of a request that needs one.
fn port_of(c: &Compute) -> Result<&dyn NetworkPort> {
    c.network
        .as_deref()
        .ok_or_else(|| Error::bad_request("Networking is not available in this cloud."))
}

/// `(address, prefix length)` of a CIDR.
fn cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = text.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// Whether `ip` lies in the CIDR `net`.
pub(crate) fn cidr_contains(net: &str, ip: IpAddr) -> bool {
    let Some((base, len)) = cidr(net) else {
        return false;
    };
    if base.is_ipv4() != ip.is_ipv4() {
        return false;
    }
    let (b, width) = bits(base);
    let (a, _) = bits(ip);
    let shift = u32::from(width - len);
    let mask = if len == 0 {
        0
    } else {
        (u128::MAX >> (128 - u32::from(width))) >> shift << shift
    };
    a & mask == b & mask
}

/// The netmask of a CIDR in address form (`255.255.255.0`, `ffff:ffff:ffff:ffff::`).
pub(crate) fn netmask(net: &str) -> Option<String> {
    let (base, len) = cidr(net)?;
    let shift = if base.is_ipv4() { 32 - len } else { 128 - len };
    Some(match base {
        IpAddr::V4(_) => {
            let m = u32::MAX.checked_shl(u32::from(shift)).unwrap_or(0);
            std::net::Ipv4Addr::from(m).to_string()
        }
        IpAddr::V6(_) => {
            let m = u128::MAX.checked_shl(u32::from(shift)).unwrap_or(0);
            std::net::Ipv6Addr::from(m).to_string()
        }
    })
}

/// Nova's `validate_networks` and security group checks: resolves `networks` of a create
/// of up to `max_count` servers into NICs, changing nothing. Without a network service,
/// only `none`/`auto`/unspecified are accepted (and give no NIC).
pub(crate) async fn resolve(
    c: &Compute,
    ctx: &Context,
    networks: Option<&Networks>,
    security_groups: &[String],
    max_count: i64,
) -> Result<Requested> {
    let Some(net) = c.network.as_deref() else {
        if let Some(Networks::List(list)) = networks {
            if !list.is_empty() {
                return Err(Error::bad_request(
                    "Networking is not available yet; create servers with networks 'none' or 'auto'.",
                ));
            }
        }
        return Ok(Requested::default());
    };
    let mut nics = Vec::new();
    match networks.unwrap_or(&Networks::Unspecified) {
        Networks::None => {}
        which @ (Networks::Auto | Networks::Unspecified) => {
            let found = net.networks_available(ctx).await?;
            match found.as_slice() {
                [] if *which == Networks::Auto => {
                    return Err(Error::BadRequest(format!(
                        "Unable to automatically allocate a network for project {}",
                        ctx.project_id
                    )))
                }
                [] => {}
                [one] => nics.push(NicRequest {
                    network_id: one.id.clone(),
                    ..NicRequest::default()
                }),
                _ => {
                    return Err(Error::conflict(
                        "More than one possible network found. Specify network ID(s) to select which one(s) to connect to.",
                    ))
                }
            }
        }
        Networks::List(list) => {
            for r in list {
                nics.push(check_one(net, ctx, r, max_count).await?);
            }
        }
    }
    let mut groups = Vec::new();
    let names: Vec<String> = if security_groups.is_empty() {
        vec![DEFAULT_SECURITY_GROUP.to_string()]
    } else {
        security_groups.to_vec()
    };
    let mut seen = BTreeSet::new();
    for name in names.iter().filter(|n| seen.insert(n.as_str())) {
        match net.security_group_find(ctx, name).await? {
            Some(id) => groups.push(id),
            None => {
                return Err(Error::BadRequest(format!(
                    "Security group {name} not found."
                )))
            }
        }
    }
    Ok(Requested {
        nics,
        security_groups: groups,
    })
}

/// One entry of an explicit `networks` list.
async fn check_one(
    net: &dyn NetworkPort,
    ctx: &Context,
    r: &crate::server::NetworkRequest,
    max_count: i64,
) -> Result<NicRequest> {
    if let Some(port_id) = &r.port {
        let port = net
            .port_get(ctx, port_id)
            .await?
            .ok_or_else(|| Error::BadRequest(format!("Port id {port_id} could not be found.")))?;
        if !port.device_id.is_empty() {
            return Err(Error::Conflict(format!("Port {port_id} is still in use.")));
        }
        if port.fixed_ips.is_empty() {
            return Err(Error::BadRequest(format!(
                "Port {port_id} requires a FixedIP in order to be used."
            )));
        }
        if max_count > 1 {
            return Err(Error::bad_request(
                "Failed to launch instances: Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.",
            ));
        }
        return Ok(NicRequest {
            network_id: port.network_id,
            port_id: Some(port_id.clone()),
            fixed_ip: None,
            tag: r.tag.clone(),
        });
    }
    let id = r.uuid.clone().unwrap_or_default();
    let network = net
        .network_get(ctx, &id)
        .await?
        .ok_or_else(|| Error::BadRequest(format!("Network {id} could not be found.")))?;
    if network.external && !network.shared && !ctx.is_admin {
        return Err(Error::Forbidden(format!(
            "It is not allowed to create an interface on external network {id}"
        )));
    }
    if network.subnets.is_empty() {
        return Err(Error::BadRequest(format!(
            "Network {id} requires a subnet in order to boot instances on."
        )));
    }
    if let Some(addr) = &r.fixed_ip {
        if max_count > 1 {
            return Err(Error::bad_request(
                "Failed to launch instances: max_count cannot be greater than 1 if an fixed_ip is specified.",
            ));
        }
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| Error::BadRequest(format!("Invalid fixed IP address ({addr})")))?;
        if !network.subnets.iter().any(|s| cidr_contains(&s.cidr, ip)) {
            return Err(Error::BadRequest(format!(
                "Invalid input received: Fixed IP {addr} is not a valid ip address for network {id}."
            )));
        }
        if let Some(p) = net.port_with_ip(&id, addr).await? {
            return Err(Error::BadRequest(format!(
                "Fixed IP address {addr} is already in use on instance {}.",
                p.device_id
            )));
        }
    }
    Ok(NicRequest {
        network_id: id,
        port_id: None,
        fixed_ip: r.fixed_ip.clone(),
        tag: r.tag.clone(),
    })
}

/// The binding of `i`'s ports on `host`.
pub(crate) fn binding(i: &Instance, host: &str) -> PortBinding {
    PortBinding {
        device_id: i.uuid.clone(),
        device_owner: format!(
            "compute:{}",
            i.availability_zone.as_deref().unwrap_or("nova")
        ),
        host: host.to_string(),
        hostname: i.hostname.clone(),
    }
}

/// Creates (or binds) a port for each NIC of `req`, for `i` on `host`, and records the NICs.
/// All or nothing: on an error every port of the instance is freed again.
pub(crate) async fn allocate(
    c: &Compute,
    ctx: &Context,
    i: &Instance,
    host: &str,
    req: &Requested,
) -> Result<Vec<Vif>> {
    if req.nics.is_empty() {
        return Ok(Vec::new());
    }
    let net = port_of(c)?;
    let bind = binding(i, host);
    let mut vifs = Vec::with_capacity(req.nics.len());
    for nic in &req.nics {
        let made = match &nic.port_id {
            Some(port) => net.port_bind(port, &bind).await.map(|v| Vif {
                preserve: true,
                ..v
            }),
            None => {
                let create = PortCreate {
                    network_id: nic.network_id.clone(),
                    fixed_ip: nic.fixed_ip.clone(),
                    security_groups: req.security_groups.clone(),
                    binding: bind.clone(),
                };
                net.port_create(ctx, &create).await
            }
        };
        match made {
            Ok(v) => vifs.push(Vif {
                tag: nic.tag.clone(),
                ..v
            }),
            Err(e) => {
                if let Err(u) = deallocate(c, &i.uuid, &req.user_ports()).await {
                    tracing::warn!(instance = %i.uuid, error = %u, "free ports of a failed allocation");
                }
                return Err(e);
            }
        }
    }
    c.store.instance_vifs_set(&i.uuid, &vifs).await?;
    Ok(vifs)
}

/// Frees every port of instance `uuid`: the user's own (recorded as such, or in `preserve`)
/// are unbound, the others deleted; then forgets its NICs. Replayable.
pub(crate) async fn deallocate(c: &Compute, uuid: &str, preserve: &[String]) -> Result<()> {
    let recorded = c.store.instance_vifs(uuid).await?;
    let Some(net) = c.network.as_deref() else {
        return c.store.instance_vifs_set(uuid, &[]).await;
    };
    let mut keep: BTreeSet<&str> = preserve.iter().map(String::as_str).collect();
    keep.extend(
        recorded
            .iter()
            .filter(|v| v.preserve)
            .map(|v| v.port_id.as_str()),
    );
    for p in net.ports_of_device(uuid).await? {
        if keep.contains(p.id.as_str()) {
            net.port_unbind(&p.id).await?;
        } else {
            net.port_delete(&p.id).await?;
        }
    }
    c.store.instance_vifs_set(uuid, &[]).await
}

/// Binds `i`'s ports to `host` (unshelve onto a host), refreshing its recorded NICs.
pub(crate) async fn rebind(c: &Compute, i: &Instance, host: &str) -> Result<()> {
    let vifs = c.store.instance_vifs(&i.uuid).await?;
    if vifs.is_empty() {
        return Ok(());
    }
    let net = port_of(c)?;
    let bind = binding(i, host);
    let mut out = Vec::with_capacity(vifs.len());
    for v in vifs {
        let fresh = net.port_bind(&v.port_id, &bind).await?;
        out.push(Vif {
            preserve: v.preserve,
            tag: v.tag.clone(),
            ..fresh
        });
    }
    c.store.instance_vifs_set(&i.uuid, &out).await
}

/// `network_data.json` (Nova's `netutils.get_network_metadata`) for `vifs`; `null` when
/// there are none.
pub fn network_data(vifs: &[Vif]) -> Value {
    if vifs.is_empty() {
        return Value::Null;
    }
    let mut links = Vec::new();
    let mut networks = Vec::new();
    let mut services: Vec<Value> = Vec::new();
    for v in vifs {
        links.push(json!({
            "id": v.tap,
            "vif_id": v.port_id,
            "type": "bridge",
            "mtu": v.mtu,
            "ethernet_mac_address": v.mac,
        }));
        for ip in &v.fixed_ips {
            let Some(subnet) = v.subnets.iter().find(|s| s.id == ip.subnet_id) else {
                continue;
            };
            let id = format!("network{}", networks.len());
            let v6 = subnet.ip_version == 6;
            let dns: Vec<Value> = subnet
                .dns_nameservers
                .iter()
                .map(|a| json!({"type": "dns", "address": a}))
                .collect();
            for d in &dns {
                if !services.contains(d) {
                    services.push(d.clone());
                }
            }
            if subnet.enable_dhcp {
                networks.push(json!({
                    "id": id,
                    "type": if v6 { "ipv6_dhcp" } else { "ipv4_dhcp" },
                    "link": v.tap,
                    "network_id": v.network_id,
                }));
                continue;
            }
            let any = if v6 { "::" } else { "0.0.0.0" };
            let mut routes: Vec<Value> = Vec::new();
            if let Some(gw) = &subnet.gateway_ip {
                routes.push(json!({"network": any, "netmask": any, "gateway": gw}));
            }
            for r in &subnet.host_routes {
                let (network, _) = r
                    .destination
                    .split_once('/')
                    .unwrap_or((&r.destination, ""));
                routes.push(json!({
                    "network": network,
                    "netmask": netmask(&r.destination),
                    "gateway": r.nexthop,
                }));
            }
            networks.push(json!({
                "id": id,
                "type": if v6 { "ipv6" } else { "ipv4" },
                "link": v.tap,
                "ip_address": ip.ip_address,
                "netmask": netmask(&subnet.cidr),
                "routes": routes,
                "network_id": v.network_id,
                "services": dns,
            }));
        }
    }
    json!({"links": links, "networks": networks, "services": services})
}

/// What server views show from the NICs recorded for an instance (fixed addresses only):
/// used when the network service cannot be asked.
fn cached(vifs: &[Vif]) -> InstanceNetworking {
    let mut out = InstanceNetworking::default();
    for v in vifs {
        let list = out.addresses.entry(v.network_name.clone()).or_default();
        for ip in &v.fixed_ips {
            let version = if ip.ip_address.contains(':') { 6 } else { 4 };
            list.push(ServerAddress {
                version,
                addr: ip.ip_address.clone(),
                kind: "fixed".into(),
                mac: v.mac.clone(),
            });
        }
    }
    out
}

impl Compute {
    /// The addresses and security groups of each of `uuids` that has NICs, for server
    /// views: live from the network service, or from the recorded NICs when it fails.
    pub async fn server_networking(
        &self,
        uuids: &[String],
    ) -> Result<BTreeMap<String, InstanceNetworking>> {
        let Some(net) = self.network.as_deref() else {
            return Ok(BTreeMap::new());
        };
        if uuids.is_empty() {
            return Ok(BTreeMap::new());
        }
        match net.networking(uuids).await {
            Ok(found) => Ok(found),
            Err(e) => {
                tracing::warn!(error = %e, "network service unavailable; addresses from the info cache");
                let vifs = self.store.instance_vifs_of(uuids).await?;
                Ok(vifs.iter().map(|(u, v)| (u.clone(), cached(v))).collect())
            }
        }
    }

    /// The NICs recorded for a server the caller may see.
    pub async fn server_vifs(&self, ctx: &Context, uuid: &str) -> Result<Vec<Vif>> {
        let i = self.server_get(ctx, uuid).await?;
        self.store.instance_vifs(&i.uuid).await
    }
}

#[cfg(test)]
mod tests {
    use compute_model::{FixedIp, Route, Subnet};

    use super::*;

    #[test]
    fn cidrs_contain_and_mask_like_ipnet() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(cidr_contains("10.0.0.0/24", ip("10.0.0.5")));
        assert!(!cidr_contains("10.0.0.0/24", ip("10.0.1.5")));
        assert!(cidr_contains("0.0.0.0/0", ip("192.0.2.1")));
        assert!(cidr_contains("10.0.0.5/32", ip("10.0.0.5")));
        assert!(!cidr_contains("10.0.0.0/24", ip("fd00::1")));
        assert!(cidr_contains("fd00::/64", ip("fd00::1")));
        assert!(!cidr_contains("fd00::/64", ip("fd01::1")));
        assert!(!cidr_contains("garbage", ip("10.0.0.1")));
        assert!(!cidr_contains("10.0.0.0/33", ip("10.0.0.1")));
        assert_eq!(netmask("10.0.0.0/24").unwrap(), "255.255.255.0");
        assert_eq!(netmask("0.0.0.0/0").unwrap(), "0.0.0.0");
        assert_eq!(netmask("10.0.0.1/32").unwrap(), "255.255.255.255");
        assert_eq!(netmask("fd00::/64").unwrap(), "ffff:ffff:ffff:ffff::");
    }

    fn vif(dhcp: bool) -> Vif {
        Vif {
            port_id: "p1".into(),
            network_id: "n1".into(),
            network_name: "private".into(),
            mac: "fa:16:3e:00:00:01".into(),
            tap: "tapp1".into(),
            mtu: Some(1450),
            fixed_ips: vec![FixedIp {
                subnet_id: "s1".into(),
                ip_address: "10.0.0.5".into(),
            }],
            subnets: vec![Subnet {
                id: "s1".into(),
                ip_version: 4,
                cidr: "10.0.0.0/24".into(),
                gateway_ip: Some("10.0.0.1".into()),
                enable_dhcp: dhcp,
                dns_nameservers: vec!["10.0.0.2".into()],
                host_routes: vec![Route {
                    destination: "192.168.0.0/16".into(),
                    nexthop: "10.0.0.254".into(),
                }],
            }],
            ..Vif::default()
        }
    }

    #[test]
    fn network_data_has_nova_links_networks_and_services() {
        assert_eq!(network_data(&[]), Value::Null);
        let d = network_data(&[vif(false)]);
        assert_eq!(
            d["links"],
            json!([{"id": "tapp1", "vif_id": "p1", "type": "bridge", "mtu": 1450,
                    "ethernet_mac_address": "fa:16:3e:00:00:01"}])
        );
        assert_eq!(
            d["networks"][0],
            json!({"id": "network0", "type": "ipv4", "link": "tapp1", "ip_address": "10.0.0.5",
                   "netmask": "255.255.255.0", "network_id": "n1",
                   "routes": [
                       {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"},
                       {"network": "192.168.0.0", "netmask": "255.255.0.0", "gateway": "10.0.0.254"}],
                   "services": [{"type": "dns", "address": "10.0.0.2"}]})
        );
        assert_eq!(
            d["services"],
            json!([{"type": "dns", "address": "10.0.0.2"}])
        );
        let d = network_data(&[vif(true)]);
        assert_eq!(
            d["networks"][0],
            json!({"id": "network0", "type": "ipv4_dhcp", "link": "tapp1", "network_id": "n1"})
        );
    }

    #[test]
    fn cached_addresses_are_the_fixed_ips() {
        let n = cached(&[vif(true)]);
        assert_eq!(
            n.addresses["private"],
            vec![ServerAddress {
                version: 4,
                addr: "10.0.0.5".into(),
                kind: "fixed".into(),
                mac: "fa:16:3e:00:00:01".into(),
            }]
        );
    }
}
