//! Routers (Neutron's `l3_db` with `extraroute` and `ext-gw-mode`): create, read, update
//! (gateway, SNAT, static routes), delete, and interfaces added and removed by subnet or by
//! port. A router's legs are ports of the core resources (`network:router_interface`,
//! `network:router_gateway`) written in the same transaction as the router, so a refused
//! request leaves nothing behind.

use std::net::IpAddr;

use common_error::{Error, Result};
use ipnet::IpNet;
use network_db::{now_text, WriteTx};
use network_model::dataplane::Route;
use network_model::errors::{neutron_error, Status};
use network_model::l3::{
    bad_request_for, conflict, not_found_typed, router_not_found, FixedIpRequest, GatewayRequest,
    InterfaceRequest, NewRouter, Router, RouterInterface, RouterUpdate,
};
use network_model::{
    Port, Subnet, AVAILABILITY_ZONE, DEVICE_OWNER_ROUTER_GATEWAY, DEVICE_OWNER_ROUTER_INTERFACE,
};

use crate::{retry_on_race, Caller, Network};

/// Most static routes a router may have (Neutron's `max_routes`).
pub const MAX_ROUTES: usize = 30;

fn bad_router(msg: impl std::fmt::Display) -> Error {
    bad_request_for("router", msg)
}

/// Python's `repr` of a list of routes, as Neutron's `InvalidRoutes` prints it.
fn routes_repr(routes: &[Route]) -> String {
    let items: Vec<String> = routes
        .iter()
        .map(|r| {
            format!(
                "{{'destination': '{}', 'nexthop': '{}'}}",
                r.destination, r.nexthop
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn cidrs_overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl Network {
    /// A router the caller may see (its project's, or any for an admin).
    pub async fn router_get(&self, caller: &Caller, id: &str) -> Result<Router> {
        let r = self
            .store
            .router_get(id)
            .await?
            .ok_or_else(|| router_not_found(id))?;
        if !caller.owns(&r.project_id) {
            return Err(router_not_found(id));
        }
        Ok(r)
    }

    /// Routers the caller may see.
    pub async fn router_list(&self, caller: &Caller) -> Result<Vec<Router>> {
        self.store.router_list(caller.scope()).await
    }

    async fn router_in_tx(&self, tx: &mut WriteTx, caller: &Caller, id: &str) -> Result<Router> {
        let r = tx
            .router_get(id)
            .await?
            .ok_or_else(|| router_not_found(id))?;
        if !caller.owns(&r.project_id) {
            return Err(router_not_found(id));
        }
        Ok(r)
    }

    /// Creates a router, with its gateway port when `external_gateway_info` names an
    /// external network. Over quota is `OverQuota` (409).
    pub async fn router_create(&self, caller: &Caller, new: NewRouter) -> Result<Router> {
        for az in &new.availability_zone_hints {
            if az != AVAILABILITY_ZONE {
                return Err(Error::not_found("availability_zone", az.clone()));
            }
        }
        if let Some(gw) = &new.gateway {
            self.gateway_network_check(caller, gw).await?;
        }
        let id = network_db::new_id();
        let r = retry_on_race!(attempt => self.router_create_once(&id, &new, attempt).await)?;
        self.notify_changed();
        Ok(r)
    }

    async fn router_create_once(&self, id: &str, new: &NewRouter, attempt: u32) -> Result<Router> {
        let mut tx = self.store.begin().await?;
        self.quota_check(&mut tx, &new.project_id, "router", 1)
            .await?;
        let now = now_text();
        let r = Router {
            id: id.to_string(),
            project_id: new.project_id.clone(),
            name: new.name.clone(),
            description: new.description.clone(),
            admin_state_up: new.admin_state_up,
            status: "ACTIVE".into(),
            gateway: None,
            routes: Vec::new(),
            availability_zone_hints: new.availability_zone_hints.clone(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
        };
        tx.router_insert(&r).await?;
        if let Some(gw) = &new.gateway {
            self.gateway_attach(&mut tx, &r, gw, gw.enable_snat.unwrap_or(true), attempt)
                .await?;
        }
        let out = tx
            .router_get(id)
            .await?
            .ok_or_else(|| router_not_found(id))?;
        tx.commit().await?;
        Ok(out)
    }

    /// The gateway's network must exist for the caller and be external.
    async fn gateway_network_check(&self, caller: &Caller, gw: &GatewayRequest) -> Result<()> {
        let net = self.network_get(caller, &gw.network_id).await?;
        if !net.external {
            return Err(bad_router(format!(
                "Network {} is not an external network",
                gw.network_id
            )));
        }
        if let Some(ips) = &gw.external_fixed_ips {
            for s in self.store.subnets_of_network(&net.id).await? {
                if let Some(g) = &s.gateway_ip {
                    if ips
                        .iter()
                        .any(|ip| ip.ip_address.as_deref() == Some(g.as_str()))
                    {
                        return Err(bad_router(format!(
                            "External IP {g} is the same as the gateway IP"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Creates the gateway port of `r` on the external network and records it.
    async fn gateway_attach(
        &self,
        tx: &mut WriteTx,
        r: &Router,
        gw: &GatewayRequest,
        enable_snat: bool,
        attempt: u32,
    ) -> Result<()> {
        // The external subnets must not overlap the router's interfaces.
        let ext_subnets = tx.subnets_of_network(&gw.network_id).await?;
        self.check_router_subnets(tx, &r.id, &ext_subnets, None)
            .await?;
        let fixed_ips = gw.external_fixed_ips.clone().unwrap_or_default();
        let port = service_port(
            tx,
            PortSpec {
                project_id: String::new(),
                network_id: gw.network_id.clone(),
                device_owner: DEVICE_OWNER_ROUTER_GATEWAY.into(),
                device_id: r.id.clone(),
                fixed_ips,
                // Neutron gives the gateway one address of each external subnet when none is
                // asked: one IPv4 address is what the data plane uses.
                any_v4: true,
            },
            attempt,
        )
        .await?;
        tx.router_port_insert(&r.id, &port.id, DEVICE_OWNER_ROUTER_GATEWAY)
            .await?;
        tx.router_set_gateway(&r.id, Some(&port.id), enable_snat)
            .await
    }

    /// Removes the gateway port of `r` (refused while floating IPs need it).
    async fn gateway_detach(&self, tx: &mut WriteTx, r: &Router) -> Result<()> {
        let Some(gw) = &r.gateway else { return Ok(()) };
        if !tx.floatingips_of_router(&r.id).await?.is_empty() {
            return Err(conflict(
                "RouterExternalGatewayInUseByFloatingIp",
                format!(
                    "Gateway cannot be updated for router {}, since a gateway to external network {} is required by one or more floating IPs.",
                    r.id, gw.network_id
                ),
            ));
        }
        tx.router_set_gateway(&r.id, None, true).await?;
        tx.port_delete(&gw.port_id).await?;
        Ok(())
    }

    /// Checks that none of `new` is already on the router or overlaps one of its subnets
    /// (Neutron's `_check_for_dup_router_subnets`), ignoring the leg `except`.
    async fn check_router_subnets(
        &self,
        tx: &mut WriteTx,
        router_id: &str,
        new: &[Subnet],
        except: Option<&str>,
    ) -> Result<()> {
        let mut attached: Vec<Subnet> = Vec::new();
        for (port_id, port_type) in tx.router_ports(router_id).await? {
            if Some(port_id.as_str()) == except {
                continue;
            }
            let Some(p) = tx.port_get(&port_id).await? else {
                continue;
            };
            for ip in &p.fixed_ips {
                if new.iter().any(|s| s.id == ip.subnet_id) {
                    return Err(bad_router(format!(
                        "Router already has a port on subnet {}",
                        ip.subnet_id
                    )));
                }
            }
            if port_type == DEVICE_OWNER_ROUTER_GATEWAY {
                attached.extend(tx.subnets_of_network(&p.network_id).await?);
            } else {
                for ip in &p.fixed_ips {
                    if let Some(s) = tx.subnet_get(&ip.subnet_id).await? {
                        attached.push(s);
                    }
                }
            }
        }
        for old in &attached {
            let Ok(a) = old.cidr.parse::<IpNet>() else {
                continue;
            };
            for s in new {
                let Ok(b) = s.cidr.parse::<IpNet>() else {
                    continue;
                };
                if cidrs_overlap(&a, &b) {
                    return Err(bad_router(format!(
                        "Cidr {} of subnet {} overlaps with cidr {} of subnet {}",
                        s.cidr, s.id, old.cidr, old.id
                    )));
                }
            }
        }
        Ok(())
    }

    /// Updates a router: name, description, admin state, gateway (set, change or clear) and
    /// static routes (each nexthop on one of the router's subnets, not one of its addresses).
    pub async fn router_update(
        &self,
        caller: &Caller,
        id: &str,
        up: RouterUpdate,
    ) -> Result<Router> {
        if let Some(Some(gw)) = &up.gateway {
            self.gateway_network_check(caller, gw).await?;
        }
        let r = retry_on_race!(attempt => self.router_update_once(caller, id, &up, attempt).await)?;
        self.notify_changed();
        Ok(r)
    }

    async fn router_update_once(
        &self,
        caller: &Caller,
        id: &str,
        up: &RouterUpdate,
        attempt: u32,
    ) -> Result<Router> {
        let mut tx = self.store.begin().await?;
        let mut r = self.router_in_tx(&mut tx, caller, id).await?;
        if let Some(gw) = &up.gateway {
            match gw {
                None => self.gateway_detach(&mut tx, &r).await?,
                Some(want) => {
                    let same_net = r
                        .gateway
                        .as_ref()
                        .is_some_and(|g| g.network_id == want.network_id);
                    let ips_change = want.external_fixed_ips.as_ref().is_some_and(|ips| {
                        let cur: Vec<&str> = r
                            .gateway
                            .iter()
                            .flat_map(|g| g.external_fixed_ips.iter())
                            .map(|f| f.ip_address.as_str())
                            .collect();
                        ips.iter()
                            .any(|i| i.ip_address.as_deref().is_none_or(|a| !cur.contains(&a)))
                            || ips.len() != cur.len()
                    });
                    if same_net && !ips_change {
                        let snat = want
                            .enable_snat
                            .or(r.gateway.as_ref().map(|g| g.enable_snat))
                            .unwrap_or(true);
                        let port = r.gateway.as_ref().map(|g| g.port_id.clone());
                        tx.router_set_gateway(&r.id, port.as_deref(), snat).await?;
                    } else {
                        let snat = want.enable_snat.unwrap_or(true);
                        self.gateway_detach(&mut tx, &r).await?;
                        r.gateway = None;
                        self.gateway_attach(&mut tx, &r, want, snat, attempt)
                            .await?;
                    }
                }
            }
            r = tx
                .router_get(id)
                .await?
                .ok_or_else(|| router_not_found(id))?;
        }
        if let Some(routes) = &up.routes {
            self.check_routes(&mut tx, &r, routes).await?;
            let mut routes = routes.clone();
            routes.sort();
            routes.dedup();
            tx.router_set_routes(id, &routes).await?;
            r.routes = routes;
        }
        if let Some(v) = &up.name {
            r.name = v.clone();
        }
        if let Some(v) = &up.description {
            r.description = v.clone();
        }
        if let Some(v) = up.admin_state_up {
            r.admin_state_up = v;
        }
        r.updated_at = now_text();
        r.revision_number += 1;
        tx.router_update(&r).await?;
        let out = tx
            .router_get(id)
            .await?
            .ok_or_else(|| router_not_found(id))?;
        tx.commit().await?;
        Ok(out)
    }

    /// Neutron's `_validate_routes`: every nexthop on a subnet of the router, and not one of
    /// the router's own addresses.
    async fn check_routes(&self, tx: &mut WriteTx, r: &Router, routes: &[Route]) -> Result<()> {
        if routes.len() > MAX_ROUTES {
            return Err(neutron_error(
                Status::BadRequest,
                "RoutesExhausted",
                format!(
                    "Unable to complete operation for {}. The number of routes exceeds the maximum {MAX_ROUTES}.",
                    r.id
                ),
            ));
        }
        let mut cidrs: Vec<IpNet> = Vec::new();
        let mut own: Vec<IpAddr> = Vec::new();
        for (port_id, _) in tx.router_ports(&r.id).await? {
            let Some(p) = tx.port_get(&port_id).await? else {
                continue;
            };
            for ip in &p.fixed_ips {
                if let Some(s) = tx.subnet_get(&ip.subnet_id).await? {
                    if let Ok(c) = s.cidr.parse() {
                        cidrs.push(c);
                    }
                }
                if let Ok(a) = ip.ip_address.parse() {
                    own.push(a);
                }
            }
        }
        let invalid = |reason: &str| {
            neutron_error(
                Status::BadRequest,
                "InvalidRoutes",
                format!(
                    "Invalid format for routes: {}, {reason}.",
                    routes_repr(routes)
                ),
            )
        };
        for route in routes {
            let nexthop: IpAddr = route
                .nexthop
                .parse()
                .map_err(|_| invalid("the nexthop is not connected with router"))?;
            if !cidrs.iter().any(|c| c.contains(&nexthop)) {
                return Err(invalid("the nexthop is not connected with router"));
            }
            if own.contains(&nexthop) {
                return Err(invalid("the nexthop is used by router"));
            }
        }
        Ok(())
    }

    /// `add_extraroutes` / `remove_extraroutes` (`extraroute-atomic`): adds the routes of
    /// `add` that are missing and removes those of `remove`, in one transaction that first
    /// writes the router row, so concurrent changes serialise instead of losing routes.
    pub async fn router_routes_change(
        &self,
        caller: &Caller,
        id: &str,
        add: &[Route],
        remove: &[Route],
    ) -> Result<Router> {
        let mut tx = self.store.begin().await?;
        let current = self.router_in_tx(&mut tx, caller, id).await?;
        // Take the row (a no-op write) before reading the routes to change.
        tx.router_update(&current).await?;
        let mut r = tx
            .router_get(id)
            .await?
            .ok_or_else(|| router_not_found(id))?;
        let mut routes = r.routes.clone();
        for route in add {
            if !routes.contains(route) {
                routes.push(route.clone());
            }
        }
        routes.retain(|route| !remove.contains(route));
        routes.sort();
        if add.iter().any(|a| !r.routes.contains(a)) {
            self.check_routes(&mut tx, &r, &routes).await?;
        }
        tx.router_set_routes(id, &routes).await?;
        r.routes = routes;
        r.updated_at = now_text();
        r.revision_number += 1;
        tx.router_update(&r).await?;
        let out = tx
            .router_get(id)
            .await?
            .ok_or_else(|| router_not_found(id))?;
        tx.commit().await?;
        self.notify_changed();
        Ok(out)
    }

    /// Deletes a router and its gateway; refused (`RouterInUse`) while interfaces remain.
    pub async fn router_delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let r = self.router_in_tx(&mut tx, caller, id).await?;
        let interfaces: Vec<String> = tx
            .router_ports(id)
            .await?
            .into_iter()
            .filter(|(_, t)| t == DEVICE_OWNER_ROUTER_INTERFACE)
            .map(|(p, _)| p)
            .collect();
        if !interfaces.is_empty() {
            return Err(conflict(
                "RouterInUse",
                format!(
                    "Router {id} has ports still attached: {}",
                    interfaces.join(", ")
                ),
            ));
        }
        self.gateway_detach(&mut tx, &r).await?;
        tx.router_delete(id).await?;
        tx.commit().await?;
        self.notify_changed();
        Ok(())
    }

    /// `add_router_interface`: a new port with the subnet's gateway IP, or an existing port
    /// of the caller without a device.
    pub async fn router_interface_add(
        &self,
        caller: &Caller,
        id: &str,
        req: InterfaceRequest,
    ) -> Result<RouterInterface> {
        let r = self.router_get(caller, id).await?;
        match (&req.port_id, &req.subnet_id) {
            (None, None) => {
                return Err(bad_router("Either subnet_id or port_id must be specified"))
            }
            (Some(_), Some(_)) => {
                return Err(bad_router("Cannot specify both subnet-id and port-id"))
            }
            _ => {}
        }
        let out = if let Some(port_id) = &req.port_id {
            let port = self.l3_port_get(caller, port_id).await?;
            self.interface_add_port(&r, port).await?
        } else {
            let subnet_id = req.subnet_id.clone().unwrap_or_default();
            let subnet = self.l3_subnet_get(caller, &subnet_id).await?;
            if subnet.gateway_ip.is_none() {
                return Err(bad_router(
                    "Subnet for router interface must have a gateway IP",
                ));
            }
            if !caller.owns(&subnet.project_id) {
                let shared = self.store.network_get(&subnet.network_id).await?;
                if !shared.is_some_and(|n| n.shared) {
                    return Err(bad_router(format!(
                        "Cannot add interface to router because subnet {subnet_id} is not owned by project making the request"
                    )));
                }
            }
            retry_on_race!(attempt => self.interface_add_subnet(&r, &subnet, attempt).await)?
        };
        self.notify_changed();
        Ok(out)
    }

    async fn interface_add_subnet(
        &self,
        r: &Router,
        subnet: &Subnet,
        attempt: u32,
    ) -> Result<RouterInterface> {
        let mut tx = self.store.begin().await?;
        self.check_router_subnets(&mut tx, &r.id, std::slice::from_ref(subnet), None)
            .await?;
        let port = service_port(
            &mut tx,
            PortSpec {
                project_id: r.project_id.clone(),
                network_id: subnet.network_id.clone(),
                device_owner: DEVICE_OWNER_ROUTER_INTERFACE.into(),
                device_id: r.id.clone(),
                fixed_ips: vec![FixedIpRequest {
                    subnet_id: Some(subnet.id.clone()),
                    ip_address: subnet.gateway_ip.clone(),
                }],
                any_v4: false,
            },
            attempt,
        )
        .await?;
        tx.router_port_insert(&r.id, &port.id, DEVICE_OWNER_ROUTER_INTERFACE)
            .await?;
        tx.commit().await?;
        Ok(interface_info(
            &r.id,
            &port,
            port.fixed_ips.len().saturating_sub(1),
        ))
    }

    async fn interface_add_port(&self, r: &Router, port: Port) -> Result<RouterInterface> {
        let mut tx = self.store.begin().await?;
        let mut port = tx
            .port_get(&port.id)
            .await?
            .ok_or_else(|| Error::not_found("port", port.id.clone()))?;
        if !port.device_id.is_empty() {
            return Err(conflict(
                "PortInUse",
                format!(
                    "Unable to complete operation on port {} for network {}. Port already has an attached device {}.",
                    port.id, port.network_id, port.device_id
                ),
            ));
        }
        if port.fixed_ips.is_empty() {
            return Err(bad_router("Router port must have at least one fixed IP"));
        }
        let mut subnets = Vec::new();
        for ip in &port.fixed_ips {
            if let Some(s) = tx.subnet_get(&ip.subnet_id).await? {
                subnets.push(s);
            }
        }
        self.check_router_subnets(&mut tx, &r.id, &subnets, Some(&port.id))
            .await?;
        if subnets.iter().filter(|s| s.ip_version == 4).count() > 1 {
            return Err(bad_router(
                "Cannot have multiple IPv4 subnets on router port",
            ));
        }
        port.device_id = r.id.clone();
        port.device_owner = DEVICE_OWNER_ROUTER_INTERFACE.into();
        port.updated_at = now_text();
        port.revision_number += 1;
        tx.port_update(&port).await?;
        tx.router_port_insert(&r.id, &port.id, DEVICE_OWNER_ROUTER_INTERFACE)
            .await?;
        tx.commit().await?;
        Ok(interface_info(
            &r.id,
            &port,
            port.fixed_ips.len().saturating_sub(1),
        ))
    }

    /// `remove_router_interface` by port (optionally checked against a subnet) or by subnet.
    /// The leg's port is deleted; refused while a floating IP or a static route needs it.
    pub async fn router_interface_remove(
        &self,
        caller: &Caller,
        id: &str,
        req: InterfaceRequest,
    ) -> Result<RouterInterface> {
        let r = self.router_get(caller, id).await?;
        if req.port_id.is_none() && req.subnet_id.is_none() {
            return Err(bad_router("Either subnet_id or port_id must be specified"));
        }
        let mut tx = self.store.begin().await?;
        let legs: Vec<String> = tx
            .router_ports(id)
            .await?
            .into_iter()
            .filter(|(_, t)| t == DEVICE_OWNER_ROUTER_INTERFACE)
            .map(|(p, _)| p)
            .collect();
        let (port, subnets) = if let Some(port_id) = &req.port_id {
            let port = match tx.port_get(port_id).await? {
                Some(p) if legs.contains(&p.id) => p,
                _ => {
                    return Err(not_found_typed(
                        "RouterInterfaceNotFound",
                        format!("Router {id} does not have an interface with id {port_id}"),
                    ))
                }
            };
            if let Some(sid) = &req.subnet_id {
                if !port.fixed_ips.iter().any(|ip| &ip.subnet_id == sid) {
                    return Err(neutron_error(
                        Status::BadRequest,
                        "SubnetMismatchForPort",
                        format!(
                            "Subnet on port {port_id} does not match the requested subnet {sid}."
                        ),
                    ));
                }
            }
            let mut subnets = Vec::new();
            for ip in &port.fixed_ips {
                if let Some(s) = tx.subnet_get(&ip.subnet_id).await? {
                    subnets.push(s);
                }
            }
            (port, subnets)
        } else {
            let subnet_id = req.subnet_id.clone().unwrap_or_default();
            let subnet = self.l3_subnet_get(caller, &subnet_id).await?;
            let mut found = None;
            for leg in &legs {
                if let Some(p) = tx.port_get(leg).await? {
                    if p.fixed_ips.iter().any(|ip| ip.subnet_id == subnet_id) {
                        found = Some(p);
                        break;
                    }
                }
            }
            let Some(port) = found else {
                return Err(not_found_typed(
                    "RouterInterfaceNotFoundForSubnet",
                    format!("Router {id} has no interface on subnet {subnet_id}"),
                ));
            };
            (port, vec![subnet])
        };
        for s in &subnets {
            self.check_interface_unused(&mut tx, &r, s).await?;
        }
        let subnet_ids: Vec<String> = subnets.iter().map(|s| s.id.clone()).collect();
        let remaining: Vec<_> = port
            .fixed_ips
            .iter()
            .filter(|ip| !subnet_ids.contains(&ip.subnet_id))
            .cloned()
            .collect();
        if remaining.is_empty() || req.port_id.is_some() {
            tx.port_delete(&port.id).await?;
        } else {
            // A leg with several (IPv6) subnets only loses the one removed.
            let mut p = port.clone();
            p.fixed_ips = remaining;
            tx.port_set_fixed_ips(&p).await?;
        }
        tx.commit().await?;
        self.notify_changed();
        Ok(RouterInterface {
            id: id.to_string(),
            project_id: port.project_id.clone(),
            port_id: port.id.clone(),
            network_id: port.network_id.clone(),
            subnet_id: subnet_ids.first().cloned().unwrap_or_default(),
            subnet_ids,
        })
    }

    /// A leg may go unless a floating IP reaches a fixed IP of its subnet through this
    /// router, or a static route's nexthop is on it.
    async fn check_interface_unused(&self, tx: &mut WriteTx, r: &Router, s: &Subnet) -> Result<()> {
        let Ok(cidr) = s.cidr.parse::<IpNet>() else {
            return Ok(());
        };
        for f in tx.floatingips_of_router(&r.id).await? {
            let inside = f
                .fixed_ip_address
                .as_deref()
                .and_then(|a| a.parse::<IpAddr>().ok())
                .is_some_and(|a| cidr.contains(&a));
            if inside {
                return Err(conflict(
                    "RouterInterfaceInUseByFloatingIP",
                    format!(
                        "Router interface for subnet {} on router {} cannot be deleted, as it is required by one or more floating IPs.",
                        s.id, r.id
                    ),
                ));
            }
        }
        for route in &r.routes {
            if route
                .nexthop
                .parse::<IpAddr>()
                .is_ok_and(|n| cidr.contains(&n))
            {
                return Err(conflict(
                    "RouterInterfaceInUseByRoute",
                    format!(
                        "Router interface for subnet {} on router {} cannot be deleted, as it is required by one or more routes.",
                        s.id, r.id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A port the caller may see: its own, or one on a network it owns (Neutron's port
    /// visibility), else `PortNotFound`.
    pub(crate) async fn l3_port_get(&self, caller: &Caller, id: &str) -> Result<Port> {
        let p = self
            .store
            .port_get(id)
            .await?
            .ok_or_else(|| Error::not_found("port", id))?;
        if caller.owns(&p.project_id) {
            return Ok(p);
        }
        match self.store.network_get(&p.network_id).await? {
            Some(n) if caller.owns(&n.project_id) => Ok(p),
            _ => Err(Error::not_found("port", id)),
        }
    }

    /// A subnet the caller may see: its own, or one of a shared or external network.
    pub(crate) async fn l3_subnet_get(&self, caller: &Caller, id: &str) -> Result<Subnet> {
        let s = self
            .store
            .subnet_get(id)
            .await?
            .ok_or_else(|| Error::not_found("subnet", id))?;
        if caller.owns(&s.project_id) {
            return Ok(s);
        }
        match self.store.network_get(&s.network_id).await? {
            Some(n) if n.shared || n.external || caller.owns(&n.project_id) => Ok(s),
            _ => Err(Error::not_found("subnet", id)),
        }
    }

    /// Neutron's `prevent_l3_port_deletion`: a port a router or floating IP owns cannot be
    /// deleted through `/ports` (`ServicePortInUse`, 409). The port API calls it.
    pub async fn l3_port_delete_check(&self, tx: &mut WriteTx, port: &Port) -> Result<()> {
        if !network_model::l3::is_l3_device_owner(&port.device_owner) {
            return Ok(());
        }
        let owner_exists = if port.device_owner == network_model::DEVICE_OWNER_FLOATINGIP {
            tx.floatingip_get(&port.device_id).await?.is_some()
        } else {
            tx.router_exists(&port.device_id).await?
        };
        if !owner_exists {
            return Ok(());
        }
        Err(conflict(
            "ServicePortInUse",
            format!(
                "Port {} cannot be deleted directly via the port API: has device owner {}.",
                port.id, port.device_owner
            ),
        ))
    }
}

/// The flat answer of `add_router_interface`: `subnet_id` is the subnet at `index` of the
/// port's fixed IPs.
fn interface_info(router_id: &str, port: &Port, index: usize) -> RouterInterface {
    let subnet_ids: Vec<String> = port
        .fixed_ips
        .iter()
        .map(|ip| ip.subnet_id.clone())
        .collect();
    RouterInterface {
        id: router_id.to_string(),
        project_id: port.project_id.clone(),
        port_id: port.id.clone(),
        network_id: port.network_id.clone(),
        subnet_id: subnet_ids.get(index).cloned().unwrap_or_default(),
        subnet_ids,
    }
}

/// A port the L3 service owns (a router leg or a floating IP's address).
pub(crate) struct PortSpec {
    /// The router's project for an interface; "" (no project) for gateways and floating
    /// IPs, which no project sees as its own.
    pub project_id: String,
    pub network_id: String,
    pub device_owner: String,
    pub device_id: String,
    /// Wanted addresses (a subnet, an address, or both).
    pub fixed_ips: Vec<FixedIpRequest>,
    /// With no `fixed_ips`: one address of the network's first IPv4 subnet with room.
    pub any_v4: bool,
}

fn ip_conflict(kind: &str, msg: String) -> Error {
    conflict(kind, msg)
}

/// Creates a service port in `tx`, its addresses chosen from the same allocation tables as
/// every port (a lost race is a unique violation the caller retries; `attempt` spreads the
/// retries over the next free addresses).
pub(crate) async fn service_port(tx: &mut WriteTx, spec: PortSpec, attempt: u32) -> Result<Port> {
    let subnets = tx.subnets_of_network(&spec.network_id).await?;
    let mut fixed_ips = Vec::new();
    let skip = usize::try_from(attempt).unwrap_or(0);
    let mut wanted = spec.fixed_ips.clone();
    if wanted.is_empty() && spec.any_v4 {
        let mut chosen = None;
        for s in subnets.iter().filter(|s| s.ip_version == 4) {
            if free_address(tx, s, skip).await?.is_some() {
                chosen = Some(s.id.clone());
                break;
            }
        }
        let Some(subnet_id) = chosen else {
            return Err(ip_conflict(
                "IpAddressGenerationFailure",
                format!(
                    "No more IP addresses available on network {}.",
                    spec.network_id
                ),
            ));
        };
        wanted.push(FixedIpRequest {
            subnet_id: Some(subnet_id),
            ip_address: None,
        });
    }
    for req in &wanted {
        let subnet = match (&req.subnet_id, &req.ip_address) {
            (Some(sid), _) => subnets.iter().find(|s| &s.id == sid).ok_or_else(|| {
                bad_request_for(
                    "port",
                    format!("Subnet {sid} is not on network {}", spec.network_id),
                )
            })?,
            (None, Some(ip)) => subnets
                .iter()
                .find(|s| in_cidr(ip, &s.cidr))
                .ok_or_else(|| {
                    neutron_error(
                        Status::BadRequest,
                        "InvalidIpForNetwork",
                        format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."),
                    )
                })?,
            (None, None) => continue,
        };
        let address = match &req.ip_address {
            Some(ip) => {
                let canonical = ip
                    .parse::<IpAddr>()
                    .ok()
                    .filter(|_| in_cidr(ip, &subnet.cidr))
                    .ok_or_else(|| {
                        neutron_error(
                            Status::BadRequest,
                            "InvalidIpForSubnet",
                            format!("IP address {ip} is not a valid IP for the specified subnet."),
                        )
                    })?
                    .to_string();
                if tx.address_holder(&subnet.id, &canonical).await?.is_some() {
                    return Err(ip_conflict(
                        "IpAddressAlreadyAllocated",
                        format!(
                            "IP address {canonical} already allocated in subnet {}.",
                            subnet.id
                        ),
                    ));
                }
                canonical
            }
            None => free_address(tx, subnet, skip).await?.ok_or_else(|| {
                ip_conflict(
                    "IpAddressGenerationFailure",
                    format!(
                        "No more IP addresses available on network {}.",
                        spec.network_id
                    ),
                )
            })?,
        };
        fixed_ips.push(network_model::FixedIp {
            subnet_id: subnet.id.clone(),
            ip_address: address,
        });
    }
    let now = now_text();
    let port = Port {
        id: network_db::new_id(),
        project_id: spec.project_id,
        network_id: spec.network_id,
        name: String::new(),
        description: String::new(),
        admin_state_up: true,
        mac_address: crate::addr::random_mac(),
        fixed_ips,
        device_owner: spec.device_owner,
        device_id: spec.device_id,
        status: "ACTIVE".into(),
        port_security_enabled: false,
        security_groups: Vec::new(),
        allowed_address_pairs: Vec::new(),
        binding_host_id: String::new(),
        binding_vnic_type: "normal".into(),
        binding_vif_type: "unbound".into(),
        binding_profile: serde_json::json!({}),
        binding_vif_details: serde_json::json!({}),
        dns_name: String::new(),
        created_at: now.clone(),
        updated_at: now,
        revision_number: 1,
    };
    tx.port_insert(&port).await?;
    Ok(port)
}

fn in_cidr(ip: &str, cidr: &str) -> bool {
    match (ip.parse::<IpAddr>(), cidr.parse::<IpNet>()) {
        (Ok(a), Ok(n)) => n.contains(&a),
        _ => false,
    }
}

/// A free address of a subnet's pools (the `skip`-th one, so racing retries spread out).
async fn free_address(tx: &mut WriteTx, s: &Subnet, skip: usize) -> Result<Option<String>> {
    let used: std::collections::HashSet<IpAddr> = tx
        .subnet_allocations(&s.id)
        .await?
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
    let ranges = crate::addr::ranges(&s.allocation_pools);
    let free = network_db::first_free(&ranges, &used, skip + 1);
    Ok(free.get(skip).or(free.last()).map(ToString::to_string))
}
