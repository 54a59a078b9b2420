//! Ports: MAC addresses (generated `fa:16:3e:*`, unique per network), fixed IPs (IPAM
//! without races: the store's unique (subnet, address) key and a retry), bindings, port
//! security with security groups (the project's `default` group when none is named) and
//! allowed address pairs; and what the agents and other services need (ports by device,
//! by address, status reports).

use std::collections::HashSet;
use std::net::IpAddr;

use common_error::{Error, Result};
use network_db::{now_text, PortFilter, WriteTx};
use network_model::errors::{invalid_attribute, invalid_input, neutron_error, Status};
use network_model::{
    AddressPair, FixedIp, Network as Net, Port, Subnet, DEVICE_OWNER_DHCP,
    DEVICE_OWNER_ROUTER_INTERFACE,
};
use serde_json::{json, Value};

use crate::addr::{self, parse_cidr, parse_ip, parse_mac};
use crate::{retry_on_race, Caller, Network};

/// `binding:vnic_type` values Neutron accepts.
pub const VNIC_TYPES: &[&str] = &[
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "vdpa",
    "remote-managed",
];

/// One requested fixed IP: a subnet, an address, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpRequest {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

/// One requested allowed address pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairRequest {
    pub ip_address: String,
    pub mac_address: Option<String>,
}

/// A new port as the API parsed it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortCreate {
    pub project_id: Option<String>,
    pub network_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub mac_address: Option<String>,
    /// `None`: an address from the network's subnets; `Some([])`: no address.
    pub fixed_ips: Option<Vec<IpRequest>>,
    pub device_owner: String,
    pub device_id: String,
    pub port_security_enabled: Option<bool>,
    /// `None`: the project's default group (when port security is on and the port has an
    /// address).
    pub security_groups: Option<Vec<String>>,
    pub allowed_address_pairs: Vec<PairRequest>,
    pub binding_host_id: Option<String>,
    pub binding_vnic_type: Option<String>,
    pub binding_profile: Option<Value>,
    pub dns_name: String,
    /// `qos_policy_id` (a policy the caller sees).
    pub qos_policy_id: Option<String>,
}

/// Changes to a port.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub mac_address: Option<String>,
    pub fixed_ips: Option<Vec<IpRequest>>,
    pub device_owner: Option<String>,
    pub device_id: Option<String>,
    pub port_security_enabled: Option<bool>,
    pub security_groups: Option<Vec<String>>,
    pub allowed_address_pairs: Option<Vec<PairRequest>>,
    pub binding_host_id: Option<String>,
    pub binding_vnic_type: Option<String>,
    pub binding_profile: Option<Value>,
    pub dns_name: Option<String>,
    /// `qos_policy_id`: `Some(None)` clears it.
    pub qos_policy_id: Option<Option<String>>,
}

/// Neutron's "not found" for ports.
pub fn not_found(id: &str) -> Error {
    Error::not_found("port", id)
}

fn ip_in_use(ip: &str, subnet_id: &str) -> Error {
    neutron_error(
        Status::Conflict,
        "IpAddressAlreadyAllocated",
        format!("IP address {ip} already allocated in subnet {subnet_id}"),
    )
}

fn mac_in_use(network_id: &str, mac: &str) -> Error {
    neutron_error(
        Status::Conflict,
        "MacAddressInUse",
        format!("Unable to complete operation for network {network_id}. The mac address {mac} is in use."),
    )
}

fn sg_requires_security() -> Error {
    neutron_error(
        Status::BadRequest,
        "PortSecurityAndIPRequiredForSecurityGroups",
        "Port security must be enabled and port must have an IP address in order to use security groups.",
    )
}

fn is_auto_address(s: &Subnet) -> bool {
    s.ip_version == 6
        && matches!(
            s.ipv6_address_mode.as_deref(),
            Some("slaac") | Some("dhcpv6-stateless")
        )
}

/// `binding:vif_type` and `binding:vif_details` for a port bound to `host` (a tap on the
/// network's Linux bridge, Neutron's `bridge` VIF).
fn binding(host: &str, vnic: &str, network_id: &str) -> (String, Value) {
    if host.is_empty() {
        ("unbound".into(), json!({}))
    } else if vnic != "normal" {
        ("binding_failed".into(), json!({}))
    } else {
        (
            "bridge".into(),
            json!({"port_filter": true, "connectivity": "l2",
                   "bridge_name": network_model::names::bridge(network_id)}),
        )
    }
}

impl Network {
    /// A fresh port row (no addresses yet, revision 0 = not inserted).
    pub(crate) fn new_port_row(
        &self,
        net: &Net,
        project: &str,
        mac: String,
        owner: &str,
        device: &str,
    ) -> Port {
        let now = now_text();
        Port {
            id: crate::new_id(),
            project_id: project.to_string(),
            network_id: net.id.clone(),
            name: String::new(),
            description: String::new(),
            admin_state_up: true,
            mac_address: mac,
            fixed_ips: Vec::new(),
            device_owner: owner.to_string(),
            device_id: device.to_string(),
            status: if owner == DEVICE_OWNER_DHCP {
                "ACTIVE"
            } else {
                "DOWN"
            }
            .into(),
            port_security_enabled: false,
            security_groups: Vec::new(),
            allowed_address_pairs: Vec::new(),
            binding_host_id: String::new(),
            binding_vnic_type: "normal".into(),
            binding_vif_type: "unbound".into(),
            binding_profile: json!({}),
            binding_vif_details: json!({}),
            dns_name: String::new(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 0,
        }
    }

    /// A free address of `subnet` (its pools, skipping allocations, the gateway and
    /// `exclude`); the lowest on the first attempt, a random one of the first few on a retry
    /// so that racing writers spread out. SLAAC subnets derive it from the MAC.
    pub(crate) async fn allocate_ip(
        &self,
        tx: &mut WriteTx,
        subnet: &Subnet,
        mac: &str,
        attempt: u32,
        exclude: &HashSet<IpAddr>,
    ) -> Result<String> {
        if is_auto_address(subnet) {
            let net = parse_cidr(&subnet.cidr)
                .ok_or_else(|| Error::internal("subnet cidr", &subnet.cidr))?;
            let ip = addr::eui64(net, mac)
                .ok_or_else(|| Error::internal("eui64", mac))?
                .to_string();
            if tx.address_holder(&subnet.id, &ip).await?.is_some() {
                return Err(ip_in_use(&ip, &subnet.id));
            }
            return Ok(ip);
        }
        let mut used: HashSet<IpAddr> = tx
            .subnet_allocations(&subnet.id)
            .await?
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        used.extend(exclude);
        if let Some(g) = subnet.gateway_ip.as_deref().and_then(|g| g.parse().ok()) {
            used.insert(g);
        }
        let window = 1 + (attempt as usize * 4).min(64);
        let free = network_db::first_free(&addr::ranges(&subnet.allocation_pools), &used, window);
        let pick = if attempt == 0 || free.len() <= 1 {
            free.first().copied()
        } else {
            free.get(rand::random::<usize>() % free.len()).copied()
        };
        pick.map(|ip| ip.to_string()).ok_or_else(|| {
            neutron_error(
                Status::Conflict,
                "IpAddressGenerationFailure",
                format!(
                    "No more IP addresses available on network {}.",
                    subnet.network_id
                ),
            )
        })
    }

    /// Resolves requested fixed IPs into addresses, inside `tx`. `keep` are the port's
    /// current addresses (kept when requested again); `owner` is the port's device owner.
    #[allow(clippy::too_many_arguments)]
    async fn assign_ips(
        &self,
        tx: &mut WriteTx,
        net: &Net,
        requests: Option<&[IpRequest]>,
        keep: &[FixedIp],
        mac: &str,
        owner: &str,
        attempt: u32,
    ) -> Result<Vec<FixedIp>> {
        let subnets = tx.subnets_of_network(&net.id).await?;
        let Some(requests) = requests else {
            // Neutron's default: one address from the first IPv4 subnet with room, one from
            // the first stateful IPv6 subnet, and one from every SLAAC subnet.
            let mut out = Vec::new();
            let mut v4 = false;
            let mut v6 = false;
            for s in &subnets {
                let auto = is_auto_address(s);
                if (s.ip_version == 4 && v4) || (s.ip_version == 6 && !auto && v6) {
                    continue;
                }
                match self.allocate_ip(tx, s, mac, attempt, &HashSet::new()).await {
                    Ok(ip) => {
                        out.push(FixedIp {
                            subnet_id: s.id.clone(),
                            ip_address: ip,
                        });
                        if s.ip_version == 4 {
                            v4 = true;
                        } else if !auto {
                            v6 = true;
                        }
                    }
                    Err(e)
                        if network_model::errors::neutron_type(&e).as_deref()
                            == Some("IpAddressGenerationFailure") => {}
                    Err(e) => return Err(e),
                }
            }
            if out.is_empty()
                && subnets
                    .iter()
                    .any(|s| s.ip_version == 4 || !is_auto_address(s))
            {
                return Err(neutron_error(
                    Status::Conflict,
                    "IpAddressGenerationFailure",
                    format!("No more IP addresses available on network {}.", net.id),
                ));
            }
            return Ok(out);
        };
        let mut out: Vec<FixedIp> = Vec::new();
        for r in requests {
            let subnet = match (&r.subnet_id, &r.ip_address) {
                (Some(sid), _) => subnets.iter().find(|s| &s.id == sid).ok_or_else(|| {
                    invalid_input(format!(
                        "Failed to create port on network {}, because fixed_ips included invalid subnet {sid}",
                        net.id
                    ))
                })?,
                (None, Some(ip)) => {
                    let parsed = parse_ip(ip).ok_or_else(|| {
                        invalid_attribute("fixed_ips", format!("'{ip}' is not a valid IP address"))
                    })?;
                    subnets
                        .iter()
                        .find(|s| parse_cidr(&s.cidr).is_some_and(|c| c.contains(&parsed)))
                        .ok_or_else(|| {
                            neutron_error(
                                Status::BadRequest,
                                "InvalidIpForNetwork",
                                format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."),
                            )
                        })?
                }
                (None, None) => {
                    return Err(invalid_input("Exactly one of subnet_id or ip_address must be specified"))
                }
            };
            let ip = match &r.ip_address {
                Some(ip) => {
                    let parsed = parse_ip(ip).ok_or_else(|| {
                        invalid_attribute("fixed_ips", format!("'{ip}' is not a valid IP address"))
                    })?;
                    let cidr = parse_cidr(&subnet.cidr)
                        .ok_or_else(|| Error::internal("subnet cidr", &subnet.cidr))?;
                    let edge = subnet.ip_version == 4
                        && cidr.prefix_len() < 31
                        && (parsed == cidr.network() || parsed == cidr.broadcast());
                    if !cidr.contains(&parsed) || edge {
                        return Err(neutron_error(
                            Status::BadRequest,
                            "InvalidIpForSubnet",
                            format!("IP address {ip} is not a valid IP for the specified subnet."),
                        ));
                    }
                    let ip = parsed.to_string();
                    let kept = keep
                        .iter()
                        .any(|f| f.subnet_id == subnet.id && f.ip_address == ip);
                    if !kept {
                        let gw = subnet.gateway_ip.as_deref() == Some(ip.as_str())
                            && owner != DEVICE_OWNER_ROUTER_INTERFACE;
                        if gw || tx.address_holder(&subnet.id, &ip).await?.is_some() {
                            return Err(ip_in_use(&ip, &subnet.id));
                        }
                    }
                    ip
                }
                None => match keep
                    .iter()
                    .find(|f| f.subnet_id == subnet.id && !out.contains(f))
                {
                    Some(f) => f.ip_address.clone(),
                    None => {
                        let taken: HashSet<IpAddr> = out
                            .iter()
                            .filter_map(|f| f.ip_address.parse().ok())
                            .collect();
                        self.allocate_ip(tx, subnet, mac, attempt, &taken).await?
                    }
                },
            };
            let f = FixedIp {
                subnet_id: subnet.id.clone(),
                ip_address: ip,
            };
            if out.contains(&f) {
                return Err(invalid_input("Duplicate IP address in fixed_ips"));
            }
            out.push(f);
        }
        Ok(out)
    }

    /// Checks the named groups exist and belong to `project` (an admin may use any).
    async fn check_groups(
        &self,
        caller: &Caller,
        project: &str,
        groups: &[String],
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for g in groups {
            let sg = self
                .store
                .security_group_get(g)
                .await?
                .ok_or_else(|| Error::not_found("security_group", g.clone()))?;
            if sg.project_id != project && !caller.is_admin {
                return Err(Error::not_found("security_group", g.clone()));
            }
            if !out.contains(g) {
                out.push(g.clone());
            }
        }
        out.sort();
        Ok(out)
    }

    fn pairs(&self, mac: &str, reqs: &[PairRequest]) -> Result<Vec<AddressPair>> {
        let mut out: Vec<AddressPair> = Vec::new();
        for r in reqs {
            let ip = match (parse_ip(&r.ip_address), parse_cidr(&r.ip_address)) {
                (Some(ip), _) => ip.to_string(),
                (None, Some(c)) => addr::normalize(c).to_string(),
                _ => {
                    return Err(invalid_attribute(
                        "allowed_address_pairs",
                        format!("'{}' is not a valid IP address", r.ip_address),
                    ))
                }
            };
            let mac = match &r.mac_address {
                Some(m) => parse_mac(m).ok_or_else(|| {
                    invalid_attribute(
                        "allowed_address_pairs",
                        format!("'{m}' is not a valid MAC address"),
                    )
                })?,
                None => mac.to_string(),
            };
            let p = AddressPair {
                ip_address: ip,
                mac_address: mac,
            };
            if out.contains(&p) {
                return Err(invalid_attribute(
                    "allowed_address_pairs",
                    "Duplicate address pair",
                ));
            }
            out.push(p);
        }
        Ok(out)
    }

    /// Creates a port on a network the caller may use (its own or a shared one; another
    /// project's private network is `NetworkNotFound`).
    pub async fn port_create(&self, caller: &Caller, new: PortCreate) -> Result<Port> {
        let net = self.network_get(caller, &new.network_id).await?;
        let project = caller.project_for(new.project_id.as_deref());
        if !caller.is_admin && net.project_id != project && !net.shared {
            return Err(crate::network::not_found(&new.network_id));
        }
        let security = new
            .port_security_enabled
            .unwrap_or(net.port_security_enabled);
        let wants_ip = new.fixed_ips.as_ref().is_none_or(|f| !f.is_empty());
        let groups = match &new.security_groups {
            Some(g) if !g.is_empty() => {
                if !security || !wants_ip {
                    return Err(sg_requires_security());
                }
                self.check_groups(caller, &project, g).await?
            }
            Some(_) => Vec::new(),
            None if security && wants_ip && !new.device_owner.starts_with("network:") => {
                vec![self.security_group_default(&project).await?]
            }
            None => Vec::new(),
        };
        if !security && !new.allowed_address_pairs.is_empty() {
            return Err(neutron_error(
                Status::Conflict,
                "AddressPairAndPortSecurityRequired",
                "Port Security must be enabled in order to have allowed address pairs on a port.",
            ));
        }
        let mac = match &new.mac_address {
            Some(m) => Some(parse_mac(m).ok_or_else(|| {
                invalid_attribute("mac_address", format!("'{m}' is not a valid MAC address"))
            })?),
            None => None,
        };
        let vnic = new
            .binding_vnic_type
            .clone()
            .unwrap_or_else(|| "normal".into());
        if !VNIC_TYPES.contains(&vnic.as_str()) {
            return Err(invalid_attribute(
                "binding:vnic_type",
                format!("'{vnic}' is not in {VNIC_TYPES:?}"),
            ));
        }
        let mut port = self.new_port_row(
            &net,
            &project,
            String::new(),
            &new.device_owner,
            &new.device_id,
        );
        port.name = new.name.clone();
        port.description = new.description.clone();
        port.admin_state_up = new.admin_state_up;
        port.port_security_enabled = security;
        port.security_groups = groups;
        port.binding_host_id = new.binding_host_id.clone().unwrap_or_default();
        port.binding_vnic_type = vnic;
        port.binding_profile = new.binding_profile.clone().unwrap_or_else(|| json!({}));
        (port.binding_vif_type, port.binding_vif_details) =
            binding(&port.binding_host_id, &port.binding_vnic_type, &net.id);
        port.dns_name = new.dns_name.clone();
        port.revision_number = 1;
        let port = retry_on_race!(attempt => self.port_insert(caller, &net, port.clone(), mac.clone(), &new, attempt).await)?;
        self.notify_changed();
        Ok(port)
    }

    async fn port_insert(
        &self,
        caller: &Caller,
        net: &Net,
        mut port: Port,
        mac: Option<String>,
        new: &PortCreate,
        attempt: u32,
    ) -> Result<Port> {
        let mut tx = self.store.begin().await?;
        self.quota_check(&mut tx, &port.project_id, "port", 1)
            .await?;
        port.mac_address = match mac {
            Some(m) => {
                if tx.mac_in_use(&net.id, &m).await? {
                    return Err(mac_in_use(&net.id, &m));
                }
                m
            }
            None => addr::random_mac(),
        };
        port.allowed_address_pairs = self.pairs(&port.mac_address, &new.allowed_address_pairs)?;
        port.fixed_ips = self
            .assign_ips(
                &mut tx,
                net,
                new.fixed_ips.as_deref(),
                &[],
                &port.mac_address,
                &port.device_owner,
                attempt,
            )
            .await?;
        tx.port_insert(&port).await?;
        if let Some(q) = &new.qos_policy_id {
            self.qos_bind(
                &mut tx,
                caller,
                crate::qos::QosTarget::Port(&port.id),
                Some(q),
            )
            .await?;
        }
        tx.commit().await?;
        port.fixed_ips.sort();
        Ok(port)
    }

    /// A port the caller may see (its own, or on a network it owns).
    pub async fn port_get(&self, caller: &Caller, id: &str) -> Result<Port> {
        let p = self
            .store
            .port_get(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if caller.owns(&p.project_id) {
            return Ok(p);
        }
        match self.store.network_get(&p.network_id).await? {
            Some(n) if caller.owns(&n.project_id) => Ok(p),
            _ => Err(not_found(id)),
        }
    }

    /// Ports the caller may see, narrowed by `filter` (its `visible_to` is set from the
    /// caller).
    pub async fn port_list(&self, caller: &Caller, mut filter: PortFilter) -> Result<Vec<Port>> {
        filter.visible_to = caller.scope().map(str::to_string);
        self.store.port_list(&filter).await
    }

    /// Updates a port.
    pub async fn port_update(&self, caller: &Caller, id: &str, up: PortUpdate) -> Result<Port> {
        let current = self.port_get(caller, id).await?;
        let net = self
            .store
            .network_get(&current.network_id)
            .await?
            .ok_or_else(|| crate::network::not_found(&current.network_id))?;
        let mut p = current.clone();
        let security = up.port_security_enabled.unwrap_or(p.port_security_enabled);
        if let Some(g) = &up.security_groups {
            if !g.is_empty() && !security {
                return Err(sg_requires_security());
            }
            p.security_groups = self.check_groups(caller, &p.project_id, g).await?;
        }
        if !security && !p.security_groups.is_empty() {
            return Err(neutron_error(
                Status::Conflict,
                "PortSecurityPortHasSecurityGroup",
                "Port has security group associated. Cannot disable port security or ip address until security group is removed",
            ));
        }
        p.port_security_enabled = security;
        if let Some(m) = &up.mac_address {
            let m = parse_mac(m).ok_or_else(|| {
                invalid_attribute("mac_address", format!("'{m}' is not a valid MAC address"))
            })?;
            if m != p.mac_address && !p.binding_host_id.is_empty() {
                return Err(neutron_error(
                    Status::Conflict,
                    "PortBound",
                    format!(
                        "Unable to complete operation on port {id}, port is already bound, port type: {}, old_mac {}, new_mac {m}.",
                        p.binding_vif_type, p.mac_address
                    ),
                ));
            }
            p.mac_address = m;
        }
        if let Some(pairs) = &up.allowed_address_pairs {
            p.allowed_address_pairs = self.pairs(&p.mac_address, pairs)?;
        }
        if !security && !p.allowed_address_pairs.is_empty() {
            return Err(neutron_error(
                Status::Conflict,
                "AddressPairAndPortSecurityRequired",
                "Port Security must be enabled in order to have allowed address pairs on a port.",
            ));
        }
        if let Some(v) = up.name {
            p.name = v;
        }
        if let Some(v) = up.description {
            p.description = v;
        }
        if let Some(v) = up.admin_state_up {
            p.admin_state_up = v;
        }
        if let Some(v) = up.device_owner {
            p.device_owner = v;
        }
        if let Some(v) = up.device_id {
            p.device_id = v;
        }
        if let Some(v) = up.binding_host_id {
            p.binding_host_id = v;
            if p.binding_host_id.is_empty() {
                p.status = "DOWN".into();
            }
        }
        if let Some(v) = up.binding_vnic_type {
            if !VNIC_TYPES.contains(&v.as_str()) {
                return Err(invalid_attribute(
                    "binding:vnic_type",
                    format!("'{v}' is not in {VNIC_TYPES:?}"),
                ));
            }
            p.binding_vnic_type = v;
        }
        if let Some(v) = up.binding_profile {
            p.binding_profile = v;
        }
        if let Some(v) = up.dns_name {
            p.dns_name = v;
        }
        (p.binding_vif_type, p.binding_vif_details) =
            binding(&p.binding_host_id, &p.binding_vnic_type, &net.id);
        p.updated_at = now_text();
        p.revision_number += 1;
        let qos = up.qos_policy_id.as_ref().map(|q| (caller, q.as_deref()));
        let p = retry_on_race!(attempt => self.port_write(&net, p.clone(), &current, up.fixed_ips.as_deref(), qos, attempt).await)?;
        self.notify_changed();
        Ok(p)
    }

    async fn port_write(
        &self,
        net: &Net,
        mut p: Port,
        current: &Port,
        ips: Option<&[IpRequest]>,
        qos: Option<(&Caller, Option<&str>)>,
        attempt: u32,
    ) -> Result<Port> {
        let mut tx = self.store.begin().await?;
        let mac_changed = p.mac_address != current.mac_address;
        if mac_changed && tx.mac_in_use(&net.id, &p.mac_address).await? {
            return Err(mac_in_use(&net.id, &p.mac_address));
        }
        tx.port_update(&p).await?;
        if let Some(reqs) = ips {
            p.fixed_ips = self
                .assign_ips(
                    &mut tx,
                    net,
                    Some(reqs),
                    &current.fixed_ips,
                    &p.mac_address,
                    &p.device_owner,
                    attempt,
                )
                .await?;
            if p.fixed_ips.is_empty() && !p.security_groups.is_empty() {
                return Err(neutron_error(
                    Status::Conflict,
                    "PortSecurityPortHasSecurityGroup",
                    "Port has security group associated. Cannot disable port security or ip address until security group is removed",
                ));
            }
            tx.port_set_fixed_ips(&p).await?;
        }
        if p.security_groups != current.security_groups {
            tx.port_set_security_groups(&p).await?;
        }
        if let Some((caller, policy)) = qos {
            self.qos_bind(&mut tx, caller, crate::qos::QosTarget::Port(&p.id), policy)
                .await?;
        }
        tx.commit().await?;
        p.fixed_ips.sort();
        Ok(p)
    }

    /// Deletes a port. Router and floating IP ports are deleted through their resources
    /// (`ServicePortInUse`), unless `caller` is the service itself.
    pub async fn port_delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let p = self.port_get(caller, id).await?;
        let mut tx = self.store.begin().await?;
        if caller.project_id.is_some() {
            // A router's or floating IP's port, while its owner exists (L3's check).
            let p = tx.port_get(id).await?.unwrap_or(p);
            self.l3_port_delete_check(&mut tx, &p).await?;
        }
        tx.port_delete(id).await?;
        tx.commit().await?;
        self.notify_changed();
        Ok(())
    }

    /// Ports of a device (an instance, a router), for the service context.
    pub async fn ports_by_device(&self, device_id: &str) -> Result<Vec<Port>> {
        self.store
            .port_list(&PortFilter {
                device_id: Some(device_id.to_string()),
                ..Default::default()
            })
            .await
    }

    /// The port that holds `ip` on `network_id` (the metadata service's lookup).
    pub async fn port_for_address(&self, network_id: &str, ip: &str) -> Result<Option<Port>> {
        let ip = parse_ip(ip)
            .map(|i| i.to_string())
            .unwrap_or_else(|| ip.to_string());
        self.store.port_by_address(network_id, &ip).await
    }

    /// The agent of `host` reports the ports it has wired: they become `ACTIVE`, and the
    /// other ports bound to `host` `DOWN`.
    pub async fn set_ports_status(&self, host: &str, active_port_ids: &[String]) -> Result<()> {
        let bound = self
            .store
            .port_list(&PortFilter {
                binding_host_id: Some(host.to_string()),
                ..Default::default()
            })
            .await?;
        let down: Vec<String> = bound
            .iter()
            .filter(|p| !active_port_ids.contains(&p.id) && p.device_owner != DEVICE_OWNER_DHCP)
            .map(|p| p.id.clone())
            .collect();
        self.store
            .ports_set_status(active_port_ids, "ACTIVE")
            .await?;
        self.store.ports_set_status(&down, "DOWN").await?;
        Ok(())
    }
}
