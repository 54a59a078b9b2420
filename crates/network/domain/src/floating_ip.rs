//! Floating IPs (Neutron's `l3_db` floating IP half): an address of an external network
//! held by a port of its own (`network:floatingip`, no project), associated with a fixed IP
//! of an internal port reachable through a router whose gateway is on that network.

use std::net::IpAddr;

use common_error::{Error, Result};
use network_db::{now_text, WriteTx};
use network_model::l3::{
    bad_request_for, conflict, floatingip_not_found, not_found_typed, FixedIpRequest, FloatingIp,
    FloatingIpUpdate, FloatingIpView, NewFloatingIp, PortDetails,
};
use network_model::{Port, DEVICE_OWNER_FLOATINGIP};

use crate::router::{service_port, PortSpec};
use crate::{retry_on_race, Caller, Network};

fn bad_fip(msg: impl std::fmt::Display) -> Error {
    bad_request_for("floatingip", msg)
}

/// Whether a port may carry a floating IP (Neutron's `is_fip_serviced`: anything but the
/// network's own ports, except load balancers').
fn fip_serviced(device_owner: &str) -> bool {
    !device_owner.starts_with("network:") || device_owner == "network:distributed"
}

/// What an association resolves to.
struct Assoc {
    port_id: String,
    fixed_ip_address: String,
    router_id: String,
}

impl Network {
    /// A floating IP the caller may see, with its `port_details`.
    pub async fn floatingip_get(&self, caller: &Caller, id: &str) -> Result<FloatingIpView> {
        let f = self
            .store
            .floatingip_get(id)
            .await?
            .ok_or_else(|| floatingip_not_found(id))?;
        if !caller.owns(&f.project_id) {
            return Err(floatingip_not_found(id));
        }
        self.floatingip_view(f).await
    }

    /// Floating IPs the caller may see.
    pub async fn floatingip_list(&self, caller: &Caller) -> Result<Vec<FloatingIpView>> {
        let mut out = Vec::new();
        for f in self.store.floatingip_list(caller.scope()).await? {
            out.push(self.floatingip_view(f).await?);
        }
        Ok(out)
    }

    async fn floatingip_view(&self, fip: FloatingIp) -> Result<FloatingIpView> {
        let port_details = match &fip.port_id {
            Some(p) => self.store.port_get(p).await?.map(|p| port_details(&p)),
            None => None,
        };
        Ok(FloatingIpView { fip, port_details })
    }

    /// Allocates a floating IP on an external network, associated at once when `port_id`
    /// is given. Over quota is `OverQuota` (409).
    pub async fn floatingip_create(
        &self,
        caller: &Caller,
        new: NewFloatingIp,
    ) -> Result<FloatingIpView> {
        let net = self.network_get(caller, &new.floating_network_id).await?;
        if !net.external {
            return Err(bad_fip(format!(
                "Network {} is not a valid external network",
                net.id
            )));
        }
        let subnets = self.store.subnets_of_network(&net.id).await?;
        if !subnets.iter().any(|s| s.ip_version == 4) {
            return Err(bad_fip(format!(
                "Network {} does not contain any IPv4 subnet",
                net.id
            )));
        }
        if new.fixed_ip_address.is_some() && new.port_id.is_none() {
            return Err(bad_fip(
                "fixed_ip_address cannot be specified without a port_id",
            ));
        }
        if let Some(p) = &new.port_id {
            // The caller must see the port (404 otherwise), before anything is allocated.
            self.l3_port_get(caller, p).await?;
        }
        let id = network_db::new_id();
        let f = retry_on_race!(attempt => self.floatingip_create_once(caller, &id, &new, attempt).await)?;
        self.notify_changed();
        self.floatingip_view(f).await
    }

    async fn floatingip_create_once(
        &self,
        caller: &Caller,
        id: &str,
        new: &NewFloatingIp,
        attempt: u32,
    ) -> Result<FloatingIp> {
        let mut tx = self.store.begin().await?;
        self.quota_check(&mut tx, &new.project_id, "floatingip", 1)
            .await?;
        let fixed_ips = if new.subnet_id.is_some() || new.floating_ip_address.is_some() {
            vec![FixedIpRequest {
                subnet_id: new.subnet_id.clone(),
                ip_address: new.floating_ip_address.clone(),
            }]
        } else {
            Vec::new()
        };
        let port = service_port(
            &mut tx,
            PortSpec {
                project_id: String::new(),
                network_id: new.floating_network_id.clone(),
                device_owner: DEVICE_OWNER_FLOATINGIP.into(),
                device_id: id.to_string(),
                fixed_ips,
                any_v4: true,
            },
            attempt,
        )
        .await?;
        let Some(address) = port
            .fixed_ips
            .iter()
            .map(|ip| ip.ip_address.clone())
            .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
        else {
            return Err(bad_request_for(
                "floatingip",
                format!(
                    "Unable to find any IP address on external network {}",
                    new.floating_network_id
                ),
            ));
        };
        let now = now_text();
        let mut f = FloatingIp {
            id: id.to_string(),
            project_id: new.project_id.clone(),
            floating_network_id: new.floating_network_id.clone(),
            floating_ip_address: address,
            floating_port_id: port.id.clone(),
            port_id: None,
            fixed_ip_address: None,
            router_id: None,
            status: "DOWN".into(),
            description: new.description.clone(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
        };
        if let Some(port_id) = &new.port_id {
            let a = self
                .association(
                    &mut tx,
                    caller,
                    &f,
                    port_id,
                    new.fixed_ip_address.as_deref(),
                )
                .await?;
            f.port_id = Some(a.port_id);
            f.fixed_ip_address = Some(a.fixed_ip_address);
            f.router_id = Some(a.router_id);
            f.status = "ACTIVE".into();
        }
        tx.floatingip_insert(&f)
            .await
            .map_err(|e| already_associated(e, &f))?;
        tx.commit().await?;
        Ok(f)
    }

    /// Associates (`port_id`), re-associates or disassociates (`port_id: null`) a floating
    /// IP, or changes its description.
    pub async fn floatingip_update(
        &self,
        caller: &Caller,
        id: &str,
        up: FloatingIpUpdate,
    ) -> Result<FloatingIpView> {
        let mut tx = self.store.begin().await?;
        let mut f = tx
            .floatingip_get(id)
            .await?
            .ok_or_else(|| floatingip_not_found(id))?;
        if !caller.owns(&f.project_id) {
            return Err(floatingip_not_found(id));
        }
        let fixed = up.fixed_ip_address.clone().flatten();
        let port_id = match &up.port_id {
            Some(p) => p.clone(),
            // A fixed address alone re-associates on the current port.
            None => f.port_id.clone(),
        };
        if fixed.is_some() && port_id.is_none() {
            return Err(bad_fip(
                "fixed_ip_address cannot be specified without a port_id",
            ));
        }
        let unchanged = up.port_id.is_none() && up.fixed_ip_address.is_none();
        if !unchanged {
            match &port_id {
                Some(p) => {
                    let a = self
                        .association(&mut tx, caller, &f, p, fixed.as_deref())
                        .await?;
                    f.port_id = Some(a.port_id);
                    f.fixed_ip_address = Some(a.fixed_ip_address);
                    f.router_id = Some(a.router_id);
                    f.status = "ACTIVE".into();
                }
                None => {
                    f.port_id = None;
                    f.fixed_ip_address = None;
                    f.router_id = None;
                    f.status = "DOWN".into();
                }
            }
        }
        if let Some(d) = up.description {
            f.description = d;
        }
        f.updated_at = now_text();
        f.revision_number += 1;
        tx.floatingip_update(&f)
            .await
            .map_err(|e| already_associated(e, &f))?;
        tx.commit().await?;
        self.notify_changed();
        self.floatingip_view(f).await
    }

    /// Releases a floating IP and its address.
    pub async fn floatingip_delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let f = tx
            .floatingip_get(id)
            .await?
            .ok_or_else(|| floatingip_not_found(id))?;
        if !caller.owns(&f.project_id) {
            return Err(floatingip_not_found(id));
        }
        tx.floatingip_delete(id).await?;
        tx.port_delete(&f.floating_port_id).await?;
        tx.commit().await?;
        self.notify_changed();
        Ok(())
    }

    /// Resolves an association as Neutron's `_get_assoc_data`: the port's fixed IPv4
    /// address (the one named, or its only one) and the router that joins its subnet to the
    /// floating IP's network.
    async fn association(
        &self,
        tx: &mut WriteTx,
        caller: &Caller,
        f: &FloatingIp,
        port_id: &str,
        fixed_ip_address: Option<&str>,
    ) -> Result<Assoc> {
        let port = tx
            .port_get(port_id)
            .await?
            .filter(|p| caller.owns(&p.project_id) || caller.is_admin)
            .ok_or_else(|| Error::not_found("port", port_id))?;
        if port.project_id != f.project_id && !caller.is_admin {
            return Err(bad_fip(format!(
                "Cannot process floating IP association with Port {port_id}, since that port is owned by a different project"
            )));
        }
        if !fip_serviced(&port.device_owner) {
            return Err(bad_fip(format!(
                "Port {port_id} is unable to be assigned a floating IP"
            )));
        }
        let (subnet_id, address) = match fixed_ip_address {
            Some(want) => {
                if !want.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4()) {
                    return Err(bad_fip(format!(
                        "Cannot process floating IP association with {want}, since that is not an IPv4 address"
                    )));
                }
                let ip = port
                    .fixed_ips
                    .iter()
                    .find(|ip| ip.ip_address == want)
                    .ok_or_else(|| {
                        bad_fip(format!("Port {port_id} does not have fixed ip {want}"))
                    })?;
                (ip.subnet_id.clone(), ip.ip_address.clone())
            }
            None => {
                let v4: Vec<_> = port
                    .fixed_ips
                    .iter()
                    .filter(|ip| ip.ip_address.parse::<std::net::Ipv4Addr>().is_ok())
                    .collect();
                match v4.as_slice() {
                    [] => {
                        return Err(bad_fip(format!(
                            "Cannot add floating IP to port {port_id} that has no fixed IPv4 addresses"
                        )))
                    }
                    [one] => (one.subnet_id.clone(), one.ip_address.clone()),
                    _ => {
                        return Err(bad_fip(format!(
                            "Port {port_id} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP"
                        )))
                    }
                }
            }
        };
        let candidates = tx
            .routers_between(&subnet_id, &f.floating_network_id)
            .await?;
        let gateway_ip = tx.subnet_get(&subnet_id).await?.and_then(|s| s.gateway_ip);
        let router_id = candidates
            .iter()
            .find(|(_, leg)| Some(leg) == gateway_ip.as_ref())
            .or(candidates.first())
            .map(|(r, _)| r.clone())
            .ok_or_else(|| {
                not_found_typed(
                    "ExternalGatewayForFloatingIPNotFound",
                    format!(
                        "External network {} is not reachable from subnet {subnet_id}.  Therefore, cannot associate Port {port_id} with a Floating IP.",
                        f.floating_network_id
                    ),
                )
            })?;
        if f.port_id.as_deref() != Some(port_id)
            && tx
                .floatingip_by_association(&f.floating_network_id, port_id, &address)
                .await?
                .is_some_and(|o| o.id != f.id)
        {
            return Err(port_already_associated(f, port_id, &address));
        }
        Ok(Assoc {
            port_id: port_id.to_string(),
            fixed_ip_address: address,
            router_id,
        })
    }
}

fn port_already_associated(f: &FloatingIp, port_id: &str, fixed: &str) -> Error {
    conflict(
        "FloatingIPPortAlreadyAssociated",
        format!(
            "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {fixed}, as that fixed IP already has a floating IP on external network {}.",
            f.floating_ip_address, f.id, f.floating_network_id
        ),
    )
}

/// A lost race for the same fixed IP (the unique index) reads as Neutron's 409.
fn already_associated(e: Error, f: &FloatingIp) -> Error {
    match (&f.port_id, &f.fixed_ip_address) {
        (Some(p), Some(a)) if common_db::is_unique_violation(&e) => {
            port_already_associated(f, p, a)
        }
        _ => e,
    }
}

fn port_details(p: &Port) -> PortDetails {
    PortDetails {
        name: p.name.clone(),
        network_id: p.network_id.clone(),
        mac_address: p.mac_address.clone(),
        admin_state_up: p.admin_state_up,
        status: p.status.clone(),
        device_id: p.device_id.clone(),
        device_owner: p.device_owner.clone(),
    }
}

#[cfg(test)]
mod tests {
    use network_model::l3::{GatewayRequest, InterfaceRequest, NewRouter, RouterUpdate};
    use network_model::{AllocationPool, Subnet};

    use super::*;
    use crate::tests::{project, service};

    async fn subnet(
        n: &Network,
        net: &str,
        project: &str,
        cidr: &str,
        gw: Option<&str>,
        pool: (&str, &str),
    ) -> Subnet {
        let s = Subnet {
            id: network_db::new_id(),
            project_id: project.into(),
            network_id: net.into(),
            name: String::new(),
            description: String::new(),
            ip_version: 4,
            cidr: cidr.into(),
            gateway_ip: gw.map(Into::into),
            enable_dhcp: false,
            ipv6_address_mode: None,
            ipv6_ra_mode: None,
            allocation_pools: vec![AllocationPool {
                start: pool.0.into(),
                end: pool.1.into(),
            }],
            dns_nameservers: vec![],
            host_routes: vec![],
            created_at: now_text(),
            updated_at: now_text(),
            revision_number: 1,
        };
        let mut tx = n.store.begin().await.unwrap();
        tx.subnet_insert(&s).await.unwrap();
        tx.commit().await.unwrap();
        s
    }

    fn neutron_type(e: &Error) -> String {
        match e {
            Error::NotFound { id, .. } => id.split('\u{1f}').next().unwrap_or_default().to_string(),
            other => network_model::errors::neutron_type(other).unwrap_or_default(),
        }
    }

    /// An external network with 172.24.4.0/24, and project a's network with 10.0.0.0/24.
    async fn topology(n: &Network) -> (String, Subnet, String, Subnet) {
        let admin = Caller::service();
        let ext = n
            .network_create(
                &admin,
                crate::NetworkCreate {
                    project_id: Some("admin".into()),
                    admin_state_up: true,
                    external: true,
                    network_type: Some("flat".into()),
                    physical_network: Some("public".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let ext_sub = subnet(
            n,
            &ext.id,
            "admin",
            "172.24.4.0/24",
            Some("172.24.4.1"),
            ("172.24.4.2", "172.24.4.254"),
        )
        .await;
        let a = project("a");
        let net = n
            .network_create(
                &a,
                crate::NetworkCreate {
                    admin_state_up: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let sub = subnet(
            n,
            &net.id,
            "a",
            "10.0.0.0/24",
            Some("10.0.0.1"),
            ("10.0.0.2", "10.0.0.254"),
        )
        .await;
        (ext.id, ext_sub, net.id, sub)
    }

    #[tokio::test]
    async fn router_interface_floating_ip_and_plan() {
        let (n, _d) = service().await;
        let (ext, ext_sub, net, sub) = topology(&n).await;
        let a = project("a");
        let r = n
            .router_create(
                &a,
                NewRouter {
                    project_id: "a".into(),
                    name: "r".into(),
                    admin_state_up: true,
                    gateway: Some(GatewayRequest {
                        network_id: ext.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let gw = r.gateway.clone().unwrap();
        assert!(gw.enable_snat);
        assert_eq!(gw.external_fixed_ips[0].subnet_id, ext_sub.id);
        let info = n
            .router_interface_add(
                &a,
                &r.id,
                InterfaceRequest {
                    subnet_id: Some(sub.id.clone()),
                    port_id: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(info.subnet_ids, vec![sub.id.clone()]);
        assert_eq!(info.network_id, net);
        let leg = n.store.port_get(&info.port_id).await.unwrap().unwrap();
        assert_eq!(leg.fixed_ips[0].ip_address, "10.0.0.1");
        assert_eq!(leg.device_owner, "network:router_interface");
        // The same subnet again: 400, nothing added.
        let e = n
            .router_interface_add(
                &a,
                &r.id,
                InterfaceRequest {
                    subnet_id: Some(sub.id.clone()),
                    port_id: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!((e.status(), neutron_type(&e)), (400, "BadRequest".into()));
        assert!(
            e.to_string()
                .contains("Router already has a port on subnet"),
            "{e}"
        );
        // Another project sees neither the router nor the subnet.
        let b = project("b");
        let e = n.router_get(&b, &r.id).await.unwrap_err();
        assert_eq!(
            (e.status(), neutron_type(&e)),
            (404, "RouterNotFound".into())
        );

        // An instance port and a floating IP associated with it.
        let vm = service_port_for_test(&n, &net, &sub.id).await;
        let f = n
            .floatingip_create(
                &a,
                NewFloatingIp {
                    project_id: "a".into(),
                    floating_network_id: ext.clone(),
                    port_id: Some(vm.id.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(f.fip.router_id.as_deref(), Some(r.id.as_str()));
        assert_eq!(f.fip.status, "ACTIVE");
        assert_eq!(
            f.fip.fixed_ip_address.as_deref(),
            Some(vm.fixed_ips[0].ip_address.as_str())
        );
        assert_eq!(f.port_details.as_ref().unwrap().device_id, "vm-1");
        // A second floating IP on the same fixed IP: 409.
        let e = n
            .floatingip_create(
                &a,
                NewFloatingIp {
                    project_id: "a".into(),
                    floating_network_id: ext.clone(),
                    port_id: Some(vm.id.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            (e.status(), neutron_type(&e)),
            (409, "FloatingIPPortAlreadyAssociated".into())
        );
        assert_eq!(
            n.store.floatingip_list(None).await.unwrap().len(),
            1,
            "nothing half-created"
        );

        // The plan carries the router, its legs and the floating IP.
        let mut plan = network_model::dataplane::HostPlan::default();
        crate::plan_l3::add_routers(&n, &mut plan).await.unwrap();
        assert_eq!(plan.routers.len(), 1);
        let rp = &plan.routers[0];
        assert_eq!(rp.interfaces[0].addresses, vec!["10.0.0.1/24"]);
        let g = rp.gateway.as_ref().unwrap();
        assert_eq!(g.nexthop.as_deref(), Some("172.24.4.1"));
        assert_eq!(rp.floating_ips.len(), 1);
        assert_eq!(
            rp.floating_ips[0].floating_ip_address,
            f.fip.floating_ip_address
        );

        // The interface and the gateway are needed by the floating IP; the router by both.
        let e = n
            .router_interface_remove(
                &a,
                &r.id,
                InterfaceRequest {
                    subnet_id: Some(sub.id.clone()),
                    port_id: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            (e.status(), neutron_type(&e)),
            (409, "RouterInterfaceInUseByFloatingIP".into())
        );
        let e = n
            .router_update(
                &a,
                &r.id,
                RouterUpdate {
                    gateway: Some(None),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            (e.status(), neutron_type(&e)),
            (409, "RouterExternalGatewayInUseByFloatingIp".into())
        );
        let e = n.router_delete(&a, &r.id).await.unwrap_err();
        assert_eq!((e.status(), neutron_type(&e)), (409, "RouterInUse".into()));
        // A router leg cannot be deleted through the port API.
        let mut tx = n.store.begin().await.unwrap();
        let e = n.l3_port_delete_check(&mut tx, &leg).await.unwrap_err();
        assert_eq!(
            (e.status(), neutron_type(&e)),
            (409, "ServicePortInUse".into())
        );
        drop(tx);

        // Disassociate, remove the interface, delete: everything goes.
        let f2 = n
            .floatingip_update(
                &a,
                &f.fip.id,
                FloatingIpUpdate {
                    port_id: Some(None),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (f2.fip.status.as_str(), f2.fip.router_id.clone()),
            ("DOWN", None)
        );
        n.router_interface_remove(
            &a,
            &r.id,
            InterfaceRequest {
                subnet_id: Some(sub.id.clone()),
                port_id: None,
            },
        )
        .await
        .unwrap();
        let e = n
            .router_interface_remove(
                &a,
                &r.id,
                InterfaceRequest {
                    subnet_id: Some(sub.id.clone()),
                    port_id: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            (e.status(), neutron_type(&e)),
            (404, "RouterInterfaceNotFoundForSubnet".into())
        );
        n.floatingip_delete(&a, &f.fip.id).await.unwrap();
        n.router_delete(&a, &r.id).await.unwrap();
        let left = n
            .store
            .port_list(&network_db::PortFilter::default())
            .await
            .unwrap();
        assert_eq!(
            left.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
            vec![vm.id.clone()]
        );
    }

    #[tokio::test]
    async fn floating_ip_needs_a_router_to_the_external_network() {
        let (n, _d) = service().await;
        let (ext, _, net, sub) = topology(&n).await;
        let a = project("a");
        let vm = service_port_for_test(&n, &net, &sub.id).await;
        let e = n
            .floatingip_create(
                &a,
                NewFloatingIp {
                    project_id: "a".into(),
                    floating_network_id: ext.clone(),
                    port_id: Some(vm.id.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            (e.status(), neutron_type(&e)),
            (404, "ExternalGatewayForFloatingIPNotFound".into())
        );
        // Nothing allocated on the external network.
        let ports = n
            .store
            .port_list(&network_db::PortFilter {
                network_id: Some(ext.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(ports.is_empty());
        // A non-external network cannot hold floating IPs; a router gateway neither.
        let e = n
            .floatingip_create(
                &a,
                NewFloatingIp {
                    project_id: "a".into(),
                    floating_network_id: net.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!((e.status(), neutron_type(&e)), (400, "BadRequest".into()));
        let e = n
            .router_create(
                &a,
                NewRouter {
                    project_id: "a".into(),
                    admin_state_up: true,
                    gateway: Some(GatewayRequest {
                        network_id: net.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "BadRequest\u{1f}Bad router request: Network {net} is not an external network."
            )
        );
        assert!(n.store.router_list(None).await.unwrap().is_empty());
        // Quota: one router allowed.
        let mut tx = n.store.begin().await.unwrap();
        tx.quota_set("a", "router", 1).await.unwrap();
        tx.commit().await.unwrap();
        let new = || NewRouter {
            project_id: "a".into(),
            admin_state_up: true,
            ..Default::default()
        };
        n.router_create(&a, new()).await.unwrap();
        let e = n.router_create(&a, new()).await.unwrap_err();
        assert_eq!((e.status(), neutron_type(&e)), (409, "OverQuota".into()));
    }

    /// An instance port on `net` with an address of `subnet`.
    async fn service_port_for_test(n: &Network, net: &str, subnet: &str) -> Port {
        let mut tx = n.store.begin().await.unwrap();
        let mut p = service_port(
            &mut tx,
            PortSpec {
                project_id: "a".into(),
                network_id: net.into(),
                device_owner: "compute:nova".into(),
                device_id: "vm-1".into(),
                fixed_ips: vec![FixedIpRequest {
                    subnet_id: Some(subnet.into()),
                    ip_address: None,
                }],
                any_v4: false,
            },
            0,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        p.device_id = "vm-1".into();
        p
    }
}
