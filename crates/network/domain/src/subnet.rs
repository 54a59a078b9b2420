//! Subnets: CIDR validation and normalisation, gateway and allocation pools, overlap checks
//! within a network, DNS servers and host routes; and the network's DHCP port, which takes
//! an address on every subnet with DHCP on (as Neutron's DHCP agent does).

use std::collections::HashSet;
use std::net::IpAddr;

use common_error::{Error, Result};
use ipnet::IpNet;
use network_db::{now_text, WriteTx};
use network_model::errors::{invalid_attribute, invalid_input, neutron_error, Status};
use network_model::{AllocationPool, FixedIp, HostRoute, Subnet, DEVICE_OWNER_DHCP};

use crate::addr::{self, parse_cidr, parse_ip, to_u128};
use crate::{retry_on_race, Caller, Network};

/// IPv6 address and RA modes.
pub const IPV6_MODES: &[&str] = &["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];

/// A new subnet as the API parsed it (types checked).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubnetCreate {
    pub project_id: Option<String>,
    pub network_id: String,
    pub name: String,
    pub description: String,
    pub ip_version: i64,
    pub cidr: Option<String>,
    /// `None`: the default (first address); `Some(None)`: no gateway.
    pub gateway_ip: Option<Option<String>>,
    pub enable_dhcp: bool,
    pub allocation_pools: Option<Vec<AllocationPool>>,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRoute>,
    pub ipv6_address_mode: Option<String>,
    pub ipv6_ra_mode: Option<String>,
    pub subnetpool_id: Option<String>,
}

/// Changes to a subnet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubnetUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub gateway_ip: Option<Option<String>>,
    pub enable_dhcp: Option<bool>,
    pub allocation_pools: Option<Vec<AllocationPool>>,
    pub dns_nameservers: Option<Vec<String>>,
    pub host_routes: Option<Vec<HostRoute>>,
}

/// Neutron's "not found" for subnets.
pub fn not_found(id: &str) -> Error {
    Error::not_found("subnet", id)
}

/// The `device_id` of a network's DHCP port.
pub fn dhcp_device_id(network_id: &str) -> String {
    format!("dhcp-{network_id}")
}

fn check_ip(attr: &str, s: &str) -> Result<IpAddr> {
    parse_ip(s).ok_or_else(|| invalid_attribute(attr, format!("'{s}' is not a valid IP address")))
}

fn check_nameservers(list: &[String]) -> Result<()> {
    let mut seen = HashSet::new();
    for ns in list {
        check_ip("dns_nameservers", ns)?;
        if !seen.insert(ns) {
            return Err(invalid_attribute(
                "dns_nameservers",
                format!("Duplicate nameserver '{ns}'"),
            ));
        }
    }
    Ok(())
}

fn check_routes(routes: &[HostRoute], version: i64) -> Result<Vec<HostRoute>> {
    let mut out: Vec<HostRoute> = Vec::new();
    for r in routes {
        let dest = parse_cidr(&r.destination).ok_or_else(|| {
            invalid_attribute(
                "host_routes",
                format!("'{}' is not a valid IP subnet", r.destination),
            )
        })?;
        let hop = check_ip("host_routes", &r.nexthop)?;
        let fam = |v4: bool| if v4 { 4 } else { 6 };
        if fam(dest.addr().is_ipv4()) != version || fam(hop.is_ipv4()) != version {
            return Err(invalid_input(format!(
                "Host route {} via {} does not match the ip_version '{version}'",
                r.destination, r.nexthop
            )));
        }
        let route = HostRoute {
            destination: addr::normalize(dest).to_string(),
            nexthop: hop.to_string(),
        };
        if out.contains(&route) {
            return Err(invalid_attribute(
                "host_routes",
                format!(
                    "Duplicate hostroute '{{'destination': '{}', 'nexthop': '{}'}}'",
                    r.destination, r.nexthop
                ),
            ));
        }
        out.push(route);
    }
    Ok(out)
}

fn pool_text(p: &AllocationPool) -> String {
    format!("{}-{}", p.start, p.end)
}

/// Validates pools against the CIDR and the gateway; returns them canonical and sorted.
fn check_pools(
    net: IpNet,
    pools: &[AllocationPool],
    gateway: Option<IpAddr>,
) -> Result<Vec<AllocationPool>> {
    let Some((lo, hi)) = addr::usable_bounds(net) else {
        return Ok(Vec::new());
    };
    let mut ranges: Vec<(u128, u128, AllocationPool)> = Vec::new();
    for p in pools {
        let bad = || {
            neutron_error(
                Status::BadRequest,
                "InvalidAllocationPool",
                format!("The allocation pool {} is not valid.", pool_text(p)),
            )
        };
        let (Some(start), Some(end)) = (parse_ip(&p.start), parse_ip(&p.end)) else {
            return Err(bad());
        };
        if start.is_ipv4() != net.addr().is_ipv4() || end.is_ipv4() != net.addr().is_ipv4() {
            return Err(bad());
        }
        let (a, b) = (to_u128(start), to_u128(end));
        if a > b {
            return Err(bad());
        }
        if a < lo || b > hi {
            return Err(neutron_error(
                Status::BadRequest,
                "OutOfBoundsAllocationPool",
                format!(
                    "The allocation pool {} spans beyond the subnet cidr {net}.",
                    pool_text(p)
                ),
            ));
        }
        let canon = AllocationPool {
            start: start.to_string(),
            end: end.to_string(),
        };
        for (x, y, other) in &ranges {
            if a <= *y && *x <= b {
                return Err(neutron_error(
                    Status::Conflict,
                    "OverlappingAllocationPools",
                    format!(
                        "Found overlapping allocation pools: {} and {} for subnet {net}.",
                        pool_text(other),
                        pool_text(&canon)
                    ),
                ));
            }
        }
        if let Some(g) = gateway.map(to_u128) {
            if (a..=b).contains(&g) {
                return Err(neutron_error(
                    Status::Conflict,
                    "GatewayConflictWithAllocationPools",
                    format!(
                        "Gateway ip {} conflicts with allocation pool {}.",
                        gateway.map(|g| g.to_string()).unwrap_or_default(),
                        pool_text(&canon)
                    ),
                ));
            }
        }
        ranges.push((a, b, canon));
    }
    ranges.sort_by_key(|r| r.0);
    Ok(ranges.into_iter().map(|r| r.2).collect())
}

fn check_gateway(net: IpNet, gw: &str) -> Result<IpAddr> {
    let ip = check_ip("gateway_ip", gw)?;
    if ip.is_ipv4() != net.addr().is_ipv4() {
        return Err(invalid_input(format!(
            "gateway_ip '{gw}' does not match the ip_version '{}'",
            if net.addr().is_ipv4() { 4 } else { 6 }
        )));
    }
    let v4_edge = net.addr().is_ipv4()
        && net.prefix_len() < 31
        && (ip == net.network() || ip == net.broadcast());
    if v4_edge || (net.addr().is_ipv6() && ip == net.network() && net.prefix_len() < 127) {
        return Err(invalid_input(format!(
            "Gateway is not valid on subnet {net}"
        )));
    }
    Ok(ip)
}

/// Whether two CIDRs share an address.
fn overlaps(a: IpNet, b: IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl Network {
    /// Creates a subnet on a network the caller owns (or any, for an admin).
    pub async fn subnet_create(&self, caller: &Caller, new: SubnetCreate) -> Result<Subnet> {
        let network = self.network_get(caller, &new.network_id).await?;
        if !caller.owns(&network.project_id) {
            // Visible (shared or external) but not the caller's: Neutron's policy refuses.
            return Err(neutron_error(
                Status::Forbidden,
                "PolicyNotAuthorized",
                "rule:create_subnet is disallowed by policy",
            ));
        }
        if new.subnetpool_id.is_some() {
            return Err(neutron_error(
                Status::BadRequest,
                "BadRequest",
                "Bad subnets request: subnet pools are not supported.",
            ));
        }
        let Some(cidr_text) = new.cidr.as_deref() else {
            return Err(neutron_error(
                Status::BadRequest,
                "BadRequest",
                "Bad subnets request: a subnetpool must be specified in the absence of a cidr.",
            ));
        };
        let net = parse_cidr(cidr_text).ok_or_else(|| {
            invalid_attribute("cidr", format!("'{cidr_text}' is not a valid IP subnet"))
        })?;
        let net = addr::normalize(net);
        let version = if net.addr().is_ipv4() { 4 } else { 6 };
        if version != new.ip_version {
            return Err(invalid_input(format!(
                "cidr '{cidr_text}' does not match the ip_version '{}'",
                new.ip_version
            )));
        }
        if net.prefix_len() == 0 {
            return Err(invalid_input(format!(
                "{net} is not allowed as a subnet cidr"
            )));
        }
        if version == 4 && (new.ipv6_address_mode.is_some() || new.ipv6_ra_mode.is_some()) {
            return Err(invalid_input(
                "ipv6_ra_mode or ipv6_address_mode cannot be set when ip_version is 4",
            ));
        }
        for (attr, m) in [
            ("ipv6_address_mode", &new.ipv6_address_mode),
            ("ipv6_ra_mode", &new.ipv6_ra_mode),
        ] {
            if let Some(m) = m {
                if !IPV6_MODES.contains(&m.as_str()) {
                    return Err(invalid_attribute(
                        attr,
                        format!("'{m}' is not in {IPV6_MODES:?}"),
                    ));
                }
            }
        }
        if let (Some(a), Some(r)) = (&new.ipv6_address_mode, &new.ipv6_ra_mode) {
            if a != r {
                return Err(invalid_input(format!(
                    "ipv6_ra_mode set to '{r}' with ipv6_address_mode set to '{a}' is not valid. If both attributes are set, they must be the same value"
                )));
            }
        }
        if new
            .ipv6_address_mode
            .as_deref()
            .is_some_and(|m| m != "dhcpv6-stateful")
            && net.prefix_len() != 64
        {
            return Err(invalid_input(format!(
                "Invalid CIDR {net} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"
            )));
        }
        let gateway = match &new.gateway_ip {
            None => addr::default_gateway(net),
            Some(None) => None,
            Some(Some(g)) => Some(check_gateway(net, g)?),
        };
        let pools = match &new.allocation_pools {
            Some(p) => check_pools(net, p, gateway)?,
            None => addr::default_pools(net, gateway),
        };
        check_nameservers(&new.dns_nameservers)?;
        let routes = check_routes(&new.host_routes, version)?;
        let now = now_text();
        let subnet = Subnet {
            id: crate::new_id(),
            project_id: caller.project_for(new.project_id.as_deref()),
            network_id: network.id.clone(),
            name: new.name,
            description: new.description,
            ip_version: version,
            cidr: net.to_string(),
            gateway_ip: gateway.map(|g| g.to_string()),
            enable_dhcp: new.enable_dhcp,
            ipv6_address_mode: new.ipv6_address_mode,
            ipv6_ra_mode: new.ipv6_ra_mode,
            allocation_pools: pools,
            dns_nameservers: new.dns_nameservers,
            host_routes: routes,
            created_at: now.clone(),
            updated_at: now,
            revision_number: 0,
        };
        retry_on_race!(attempt => self.subnet_insert(&subnet, net, attempt).await)?;
        self.notify_changed();
        Ok(subnet)
    }

    async fn subnet_insert(&self, subnet: &Subnet, net: IpNet, attempt: u32) -> Result<()> {
        let mut tx = self.store.begin().await?;
        self.quota_check(&mut tx, &subnet.project_id, "subnet", 1)
            .await?;
        for other in tx.subnets_of_network(&subnet.network_id).await? {
            if let Some(o) = parse_cidr(&other.cidr) {
                if overlaps(o, net) {
                    return Err(invalid_input(format!(
                        "Requested subnet with cidr: {} for network: {} overlaps with another subnet",
                        subnet.cidr, subnet.network_id
                    )));
                }
            }
        }
        tx.subnet_insert(subnet).await?;
        if subnet.enable_dhcp {
            self.dhcp_port_add_subnet(&mut tx, subnet, attempt).await?;
        }
        tx.commit().await
    }

    /// Gives the network's DHCP port an address on `subnet`, creating the port when the
    /// network has none.
    async fn dhcp_port_add_subnet(
        &self,
        tx: &mut WriteTx,
        subnet: &Subnet,
        attempt: u32,
    ) -> Result<()> {
        let ports = tx
            .port_list(&network_db::PortFilter {
                network_id: Some(subnet.network_id.clone()),
                device_id: Some(dhcp_device_id(&subnet.network_id)),
                ..Default::default()
            })
            .await?;
        let existing = ports
            .into_iter()
            .find(|p| p.device_owner == DEVICE_OWNER_DHCP);
        let mut port = match existing {
            Some(p) => p,
            None => {
                let network = tx
                    .network_get(&subnet.network_id)
                    .await?
                    .ok_or_else(|| crate::network::not_found(&subnet.network_id))?;
                self.new_port_row(
                    &network,
                    &network.project_id,
                    crate::addr::random_mac(),
                    DEVICE_OWNER_DHCP,
                    &dhcp_device_id(&network.id),
                )
            }
        };
        if port.fixed_ips.iter().any(|f| f.subnet_id == subnet.id) {
            return Ok(());
        }
        let ip = self
            .allocate_ip(tx, subnet, &port.mac_address, attempt, &HashSet::new())
            .await?;
        port.fixed_ips.push(FixedIp {
            subnet_id: subnet.id.clone(),
            ip_address: ip,
        });
        if port.revision_number == 0 {
            port.revision_number = 1;
            tx.port_insert(&port).await?;
        } else {
            port.revision_number += 1;
            port.updated_at = now_text();
            tx.port_update(&port).await?;
            tx.port_set_fixed_ips(&port).await?;
        }
        Ok(())
    }

    /// Takes the DHCP port's address on `subnet_id` away, deleting the port when it has no
    /// address left.
    async fn dhcp_port_remove_subnet(
        &self,
        tx: &mut WriteTx,
        network_id: &str,
        subnet_id: &str,
    ) -> Result<()> {
        let ports = tx
            .port_list(&network_db::PortFilter {
                network_id: Some(network_id.to_string()),
                device_id: Some(dhcp_device_id(network_id)),
                ..Default::default()
            })
            .await?;
        for mut p in ports
            .into_iter()
            .filter(|p| p.device_owner == DEVICE_OWNER_DHCP)
        {
            p.fixed_ips.retain(|f| f.subnet_id != subnet_id);
            if p.fixed_ips.is_empty() {
                tx.port_delete(&p.id).await?;
            } else {
                p.revision_number += 1;
                p.updated_at = now_text();
                tx.port_update(&p).await?;
                tx.port_set_fixed_ips(&p).await?;
            }
        }
        Ok(())
    }

    /// A subnet the caller may see (its own, or on a shared network).
    pub async fn subnet_get(&self, caller: &Caller, id: &str) -> Result<Subnet> {
        let s = self
            .store
            .subnet_get(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if caller.owns(&s.project_id) {
            return Ok(s);
        }
        match self.store.network_get(&s.network_id).await? {
            Some(n) if n.shared || caller.owns(&n.project_id) => Ok(s),
            _ => Err(not_found(id)),
        }
    }

    /// Subnets the caller may see.
    pub async fn subnet_list(&self, caller: &Caller) -> Result<Vec<Subnet>> {
        self.store.subnet_list(caller.scope()).await
    }

    /// Updates a subnet (name, description, gateway, DHCP, pools, DNS, routes).
    pub async fn subnet_update(
        &self,
        caller: &Caller,
        id: &str,
        up: SubnetUpdate,
    ) -> Result<Subnet> {
        let current = self.subnet_get(caller, id).await?;
        let network = self.store.network_get(&current.network_id).await?;
        if !caller.owns(&current.project_id)
            && !network.as_ref().is_some_and(|n| caller.owns(&n.project_id))
        {
            return Err(not_found(id));
        }
        let net = parse_cidr(&current.cidr)
            .ok_or_else(|| Error::internal("subnet cidr", &current.cidr))?;
        let mut s = current.clone();
        if let Some(g) = &up.gateway_ip {
            s.gateway_ip = match g {
                None => None,
                Some(g) => Some(check_gateway(net, g)?.to_string()),
            };
        }
        let gateway = s.gateway_ip.as_deref().and_then(parse_ip);
        if let Some(p) = &up.allocation_pools {
            s.allocation_pools = check_pools(net, p, gateway)?;
        } else if up.gateway_ip.is_some() {
            check_pools(net, &s.allocation_pools, gateway)?;
        }
        if let Some(ns) = up.dns_nameservers {
            check_nameservers(&ns)?;
            s.dns_nameservers = ns;
        }
        if let Some(r) = &up.host_routes {
            s.host_routes = check_routes(r, s.ip_version)?;
        }
        if let Some(v) = up.name {
            s.name = v;
        }
        if let Some(v) = up.description {
            s.description = v;
        }
        if let Some(v) = up.enable_dhcp {
            s.enable_dhcp = v;
        }
        s.updated_at = now_text();
        s.revision_number += 1;
        let dhcp_change = s.enable_dhcp != current.enable_dhcp;
        retry_on_race!(attempt => self.subnet_write(&s, dhcp_change, attempt).await)?;
        self.notify_changed();
        Ok(s)
    }

    async fn subnet_write(&self, s: &Subnet, dhcp_change: bool, attempt: u32) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.subnet_update(s).await?;
        if dhcp_change {
            if s.enable_dhcp {
                self.dhcp_port_add_subnet(&mut tx, s, attempt).await?;
            } else {
                self.dhcp_port_remove_subnet(&mut tx, &s.network_id, &s.id)
                    .await?;
            }
        }
        tx.commit().await
    }

    /// Deletes a subnet; refused (`SubnetInUse`) while a port other than the DHCP port
    /// holds an address from it.
    pub async fn subnet_delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let s = self.subnet_get(caller, id).await?;
        let network = self.store.network_get(&s.network_id).await?;
        if !caller.owns(&s.project_id)
            && !network.as_ref().is_some_and(|n| caller.owns(&n.project_id))
        {
            return Err(not_found(id));
        }
        let mut tx = self.store.begin().await?;
        let ports = tx
            .port_list(&network_db::PortFilter {
                network_id: Some(s.network_id.clone()),
                ..Default::default()
            })
            .await?;
        if ports.iter().any(|p| {
            p.device_owner != DEVICE_OWNER_DHCP && p.fixed_ips.iter().any(|f| f.subnet_id == id)
        }) {
            return Err(neutron_error(
                Status::Conflict,
                "SubnetInUse",
                format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
            ));
        }
        self.dhcp_port_remove_subnet(&mut tx, &s.network_id, id)
            .await?;
        tx.subnet_delete(id).await?;
        tx.commit().await?;
        self.notify_changed();
        Ok(())
    }
}
