//! The network service wired in this process: the domain over the shared database, this
//! host's network agent converging the Linux data plane to the domain's plan (in process,
//! woken by every change), the metadata service on the listeners the data plane binds in
//! each DHCP namespace, and the bootstrap topology of all-in-one (`public`, `private`,
//! `router1`). In split mode the plan source becomes a bus client; the crates do not change.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common_config::Config;
use common_error::Result;
use network_agent::{Agent, AgentConfig, Dataplane, MetadataSink, PlanSource};
use network_dataplane_linux::{ExternalNamespace, LinuxConfig, LinuxDataplane};
use network_domain::Network;
use network_model::dataplane::HostPlan;
use tokio::sync::watch;

/// The plan source of an agent in the same process as the network service.
pub struct LocalPlans(pub Network);

#[async_trait::async_trait]
impl PlanSource for LocalPlans {
    async fn plan(&self, host: &str) -> Result<HostPlan> {
        self.0.host_plan(host).await
    }

    async fn report(&self, host: &str, wired_port_ids: Vec<String>) -> Result<()> {
        self.0.set_ports_status(host, &wired_port_ids).await
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// The running agent of this host.
pub struct Background {
    pub agent: Agent,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Background {
    /// Stops the loop; devices, rules and DHCP servers stay (a restart adopts them).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The data plane's configuration from `[network]`.
pub fn linux_config(cfg: &Config) -> anyhow::Result<LinuxConfig> {
    let n = &cfg.network;
    let mut lc = LinuxConfig::new(n.namespace_prefix.clone(), network_dir(cfg));
    lc.physical_interface_mappings =
        network_dataplane_linux::parse_mappings(&n.physical_interface_mappings)
            .map_err(|e| anyhow::anyhow!("[network] physical_interface_mappings: {e}"))?;
    lc.underlay_ip = (!n.underlay_ip.is_empty()).then(|| n.underlay_ip.clone());
    lc.default_dns = n.default_dns.clone();
    if n.external_namespace && !n.public_cidr.is_empty() {
        let cidr: ipnet::IpNet = n
            .public_cidr
            .parse()
            .map_err(|e| anyhow::anyhow!("[network] public_cidr {:?}: {e}", n.public_cidr))?;
        lc.external = Some(ExternalNamespace {
            physical_network: "public".into(),
            address: format!("{}/{}", n.public_gateway, cidr.prefix_len()),
        });
    }
    Ok(lc)
}

/// `<data_dir>/network`: dnsmasq files and agent state.
pub fn network_dir(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("network")
}

/// Starts this host's agent over the Linux data plane (unless `[network] dataplane` is
/// `none`), serving metadata through `metadata`.
pub fn start_agent(
    cfg: &Config,
    network: &Network,
    host: &str,
    metadata: Option<Arc<dyn MetadataSink>>,
) -> anyhow::Result<Option<Background>> {
    match cfg.network.dataplane.as_str() {
        "none" => return Ok(None),
        "linux" => {}
        other => anyhow::bail!("[network] dataplane {other:?} is not one of linux, none"),
    }
    let mut dp = LinuxDataplane::new(linux_config(cfg)?);
    if let Some(m) = metadata {
        dp = dp.with_metadata_sink(m);
    }
    let dataplane: Arc<dyn Dataplane> = Arc::new(dp);
    let agent = Agent::new(
        AgentConfig::new(host, Duration::from_secs(cfg.network.resync_secs.max(1))),
        Arc::new(LocalPlans(network.clone())),
        dataplane,
    );
    let (tx, rx) = watch::channel(false);
    let task = agent.spawn(rx);
    Ok(Some(Background {
        agent,
        stop: tx,
        task,
    }))
}

// ---------------------------------------------------------------------------------------
// Compute's ports to the network service in this process.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use common_error::Error;
use compute_domain::ports::{
    InstanceNetworking, NetworkInfo, NetworkPort, PortBinding, PortCreate, PortInfo, ServerAddress,
};
use compute_domain::Context;
use compute_model::network::{FixedIp as VifIp, Route as VifRoute, Subnet as VifSubnet, Vif};
use network_domain::port::{IpRequest, PortCreate as NetPortCreate, PortUpdate};
use network_domain::Caller;
use network_model::resources::{Network as Net, Port, Subnet};

fn caller(ctx: &Context) -> Caller {
    Caller {
        user_id: ctx.user_id.clone(),
        project_id: Some(ctx.project_id.clone()),
        is_admin: ctx.is_admin,
    }
}

/// `Ok(None)` for a missing resource, other errors as they are.
fn found<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn vif_subnet(s: &Subnet) -> VifSubnet {
    VifSubnet {
        id: s.id.clone(),
        ip_version: u8::try_from(s.ip_version).unwrap_or(4),
        cidr: s.cidr.clone(),
        gateway_ip: s.gateway_ip.clone(),
        enable_dhcp: s.enable_dhcp,
        dns_nameservers: s.dns_nameservers.clone(),
        host_routes: s
            .host_routes
            .iter()
            .map(|r| VifRoute {
                destination: r.destination.clone(),
                nexthop: r.nexthop.clone(),
            })
            .collect(),
    }
}

fn port_info(p: &Port) -> PortInfo {
    PortInfo {
        id: p.id.clone(),
        network_id: p.network_id.clone(),
        project_id: p.project_id.clone(),
        device_id: p.device_id.clone(),
        device_owner: p.device_owner.clone(),
        mac: p.mac_address.clone(),
        fixed_ips: p
            .fixed_ips
            .iter()
            .map(|f| VifIp {
                subnet_id: f.subnet_id.clone(),
                ip_address: f.ip_address.clone(),
            })
            .collect(),
    }
}

/// The network service as compute uses it, in this process.
pub struct LocalNetwork(pub Network);

impl LocalNetwork {
    async fn subnets_of(&self, net: &Net) -> Result<Vec<Subnet>> {
        let mut out = Vec::new();
        for id in &net.subnets {
            if let Some(s) = found(self.0.subnet_get(&Caller::service(), id).await)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn info(&self, net: Net) -> Result<NetworkInfo> {
        let subnets = self.subnets_of(&net).await?;
        Ok(NetworkInfo {
            mtu: u32::try_from(net.mtu).ok(),
            subnets: subnets.iter().map(vif_subnet).collect(),
            id: net.id,
            name: net.name,
            project_id: net.project_id,
            shared: net.shared,
            external: net.external,
        })
    }

    async fn vif(&self, port: &Port) -> Result<Vif> {
        let net = self
            .0
            .network_get(&Caller::service(), &port.network_id)
            .await?;
        let subnets = self.subnets_of(&net).await?;
        let info = port_info(port);
        Ok(Vif {
            port_id: port.id.clone(),
            network_id: port.network_id.clone(),
            network_name: net.name.clone(),
            mac: port.mac_address.clone(),
            tap: network_model::names::tap(&port.id),
            mtu: u32::try_from(net.mtu).ok(),
            subnets: subnets
                .iter()
                .filter(|s| port.fixed_ips.iter().any(|f| f.subnet_id == s.id))
                .map(vif_subnet)
                .collect(),
            fixed_ips: info.fixed_ips,
            preserve: false,
            tag: None,
        })
    }
}

#[async_trait::async_trait]
impl NetworkPort for LocalNetwork {
    async fn networks_available(&self, ctx: &Context) -> Result<Vec<NetworkInfo>> {
        let mut out = Vec::new();
        for n in self.0.network_list(&caller(ctx)).await? {
            if !n.external && (n.project_id == ctx.project_id || n.shared) {
                out.push(self.info(n).await?);
            }
        }
        Ok(out)
    }

    async fn network_get(&self, ctx: &Context, id: &str) -> Result<Option<NetworkInfo>> {
        match found(self.0.network_get(&caller(ctx), id).await)? {
            Some(n) => Ok(Some(self.info(n).await?)),
            None => Ok(None),
        }
    }

    async fn port_get(&self, ctx: &Context, id: &str) -> Result<Option<PortInfo>> {
        Ok(found(self.0.port_get(&caller(ctx), id).await)?.map(|p| port_info(&p)))
    }

    async fn port_with_ip(&self, network_id: &str, ip: &str) -> Result<Option<PortInfo>> {
        Ok(self
            .0
            .port_for_address(network_id, ip)
            .await?
            .map(|p| port_info(&p)))
    }

    async fn security_group_find(&self, ctx: &Context, name_or_id: &str) -> Result<Option<String>> {
        if name_or_id == "default" {
            return Ok(Some(self.0.security_group_default(&ctx.project_id).await?));
        }
        let groups = self.0.security_group_list(&caller(ctx)).await?;
        if let Some(g) = groups.iter().find(|g| g.id == name_or_id) {
            return Ok(Some(g.id.clone()));
        }
        Ok(groups
            .iter()
            .find(|g| g.name == name_or_id && g.project_id == ctx.project_id)
            .map(|g| g.id.clone()))
    }

    async fn port_create(&self, ctx: &Context, req: &PortCreate) -> Result<Vif> {
        let new = NetPortCreate {
            project_id: Some(ctx.project_id.clone()),
            network_id: req.network_id.clone(),
            admin_state_up: true,
            fixed_ips: req.fixed_ip.as_ref().map(|ip| {
                vec![IpRequest {
                    subnet_id: None,
                    ip_address: Some(ip.clone()),
                }]
            }),
            device_owner: req.binding.device_owner.clone(),
            device_id: req.binding.device_id.clone(),
            security_groups: (!req.security_groups.is_empty()).then(|| req.security_groups.clone()),
            binding_host_id: Some(req.binding.host.clone()),
            dns_name: req.binding.hostname.clone(),
            ..NetPortCreate::default()
        };
        let port = self.0.port_create(&Caller::service(), new).await?;
        self.vif(&port).await
    }

    async fn port_bind(&self, port_id: &str, binding: &PortBinding) -> Result<Vif> {
        let port = self.0.port_get(&Caller::service(), port_id).await?;
        if !port.device_id.is_empty() && port.device_id != binding.device_id {
            return Err(Error::conflict(format!("Port {port_id} is still in use.")));
        }
        let up = PortUpdate {
            device_id: Some(binding.device_id.clone()),
            device_owner: Some(binding.device_owner.clone()),
            binding_host_id: Some(binding.host.clone()),
            dns_name: Some(binding.hostname.clone()),
            ..PortUpdate::default()
        };
        let port = self.0.port_update(&Caller::service(), port_id, up).await?;
        let mut vif = self.vif(&port).await?;
        vif.preserve = true;
        Ok(vif)
    }

    async fn port_unbind(&self, port_id: &str) -> Result<()> {
        let up = PortUpdate {
            device_id: Some(String::new()),
            device_owner: Some(String::new()),
            binding_host_id: Some(String::new()),
            dns_name: Some(String::new()),
            ..PortUpdate::default()
        };
        found(self.0.port_update(&Caller::service(), port_id, up).await).map(|_| ())
    }

    async fn port_delete(&self, port_id: &str) -> Result<()> {
        found(self.0.port_delete(&Caller::service(), port_id).await).map(|_| ())
    }

    async fn ports_of_device(&self, device_id: &str) -> Result<Vec<PortInfo>> {
        Ok(self
            .0
            .ports_by_device(device_id)
            .await?
            .iter()
            .map(port_info)
            .collect())
    }

    async fn networking(
        &self,
        instance_uuids: &[String],
    ) -> Result<BTreeMap<String, InstanceNetworking>> {
        let svc = Caller::service();
        let mut out = BTreeMap::new();
        let mut ports_by_instance = Vec::new();
        for uuid in instance_uuids {
            let ports = self.0.ports_by_device(uuid).await?;
            if !ports.is_empty() {
                ports_by_instance.push((uuid.clone(), ports));
            }
        }
        if ports_by_instance.is_empty() {
            return Ok(out);
        }
        let mut floating: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in self.0.floatingip_list(&svc).await? {
            if let Some(p) = &f.fip.port_id {
                floating
                    .entry(p.clone())
                    .or_default()
                    .push(f.fip.floating_ip_address.clone());
            }
        }
        let mut net_names: BTreeMap<String, String> = BTreeMap::new();
        let mut group_names: BTreeMap<String, String> = BTreeMap::new();
        for (uuid, ports) in ports_by_instance {
            let mut n = InstanceNetworking::default();
            for p in &ports {
                if !net_names.contains_key(&p.network_id) {
                    let name = found(self.0.network_get(&svc, &p.network_id).await)?
                        .map(|n| n.name)
                        .unwrap_or_default();
                    net_names.insert(p.network_id.clone(), name);
                }
                let name = net_names.get(&p.network_id).cloned().unwrap_or_default();
                let list = n.addresses.entry(name).or_default();
                let version = |ip: &str| if ip.contains(':') { 6 } else { 4 };
                for f in &p.fixed_ips {
                    list.push(ServerAddress {
                        version: version(&f.ip_address),
                        addr: f.ip_address.clone(),
                        kind: "fixed".into(),
                        mac: p.mac_address.clone(),
                    });
                }
                for ip in floating.get(&p.id).into_iter().flatten() {
                    list.push(ServerAddress {
                        version: version(ip),
                        addr: ip.clone(),
                        kind: "floating".into(),
                        mac: p.mac_address.clone(),
                    });
                }
                for g in &p.security_groups {
                    if !group_names.contains_key(g) {
                        let name = found(self.0.security_group_get(&svc, g).await)?
                            .map(|g| g.name)
                            .unwrap_or_else(|| g.clone());
                        group_names.insert(g.clone(), name);
                    }
                    if let Some(name) = group_names.get(g) {
                        n.security_groups.push(name.clone());
                    }
                }
            }
            n.security_groups.sort();
            n.security_groups.dedup();
            out.insert(uuid, n);
        }
        Ok(out)
    }
}

/// Compute's agent waits on this host's network agent before QEMU opens a port's tap.
pub struct AgentPlug(pub Option<Agent>);

#[async_trait::async_trait]
impl compute_agent::ports::NetworkPlug for AgentPlug {
    async fn plug(&self, port_ids: &[String], timeout: Duration) -> Result<()> {
        match &self.0 {
            Some(a) => a.wait_wired(port_ids, timeout).await,
            // `[network] dataplane = "none"`: nothing wires ports (API-only hosts, tests with
            // the fake virt driver); the ports stay DOWN.
            None => Ok(()),
        }
    }
}

/// The metadata service's lookup: the instance whose port on the network holds the address.
pub struct PortLookup(pub Network);

#[async_trait::async_trait]
impl compute_domain::metadata::MetadataLookup for PortLookup {
    async fn instance_for(&self, network_id: &str, remote_ip: IpAddr) -> Result<Option<String>> {
        Ok(self
            .0
            .port_for_address(network_id, &remote_ip.to_string())
            .await?
            .filter(|p| p.is_compute() && !p.device_id.is_empty())
            .map(|p| p.device_id))
    }
}

/// Serves the metadata service on the listeners the data plane binds in DHCP namespaces.
/// The compute service starts after the network agent, so it is bound late; a listener
/// handed over before that waits for it.
pub struct Metadata {
    pub network: Network,
    pub compute: Arc<std::sync::OnceLock<compute_domain::Compute>>,
}

impl MetadataSink for Metadata {
    fn serve(
        &self,
        network_id: String,
        listener: std::net::TcpListener,
    ) -> tokio::task::AbortHandle {
        let compute = self.compute.clone();
        let lookup: Arc<dyn compute_domain::metadata::MetadataLookup> =
            Arc::new(PortLookup(self.network.clone()));
        tokio::spawn(async move {
            let compute = loop {
                if let Some(c) = compute.get() {
                    break c.clone();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(network = %network_id, error = %e, "metadata listener");
                    return;
                }
            };
            let app = compute_api::metadata::router(compute, lookup, &network_id);
            if let Err(e) = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            {
                tracing::error!(network = %network_id, error = %e, "metadata service stopped");
            }
        })
        .abort_handle()
    }
}

/// All-in-one's first-start topology, as devstack makes it: an external flat network
/// `public` (admin project, physical network `public`, subnet `public_cidr` without DHCP,
/// the outside namespace holding its gateway), the demo project's `private` network with
/// `private_cidr`, and its `router1` joining them. Made once: nothing is done when a
/// network named `public` exists (a restart, or an operator's own topology).
pub async fn bootstrap(
    cfg: &Config,
    network: &Network,
    admin_project: &str,
    demo_project: &str,
) -> anyhow::Result<()> {
    use network_domain::subnet::SubnetCreate;
    use network_domain::NetworkCreate;
    use network_model::l3::{GatewayRequest, InterfaceRequest, NewRouter};

    let n = &cfg.network;
    if n.public_cidr.is_empty() {
        return Ok(());
    }
    let svc = Caller::service();
    let e = |what: &'static str| move |err: Error| anyhow::anyhow!("bootstrap {what}: {err}");
    if network
        .network_list(&svc)
        .await
        .map_err(e("list networks"))?
        .iter()
        .any(|x| x.name == "public")
    {
        return Ok(());
    }
    let public = network
        .network_create(
            &svc,
            NetworkCreate {
                project_id: Some(admin_project.to_string()),
                name: "public".into(),
                admin_state_up: true,
                external: true,
                network_type: Some("flat".into()),
                physical_network: Some("public".into()),
                port_security_enabled: true,
                ..NetworkCreate::default()
            },
        )
        .await
        .map_err(e("network public"))?;
    network
        .subnet_create(
            &svc,
            SubnetCreate {
                project_id: Some(admin_project.to_string()),
                network_id: public.id.clone(),
                name: "public-subnet".into(),
                ip_version: 4,
                cidr: Some(n.public_cidr.clone()),
                gateway_ip: Some(Some(n.public_gateway.clone())),
                enable_dhcp: false,
                ..SubnetCreate::default()
            },
        )
        .await
        .map_err(e("subnet public-subnet"))?;
    if n.private_cidr.is_empty() {
        return Ok(());
    }
    let private = network
        .network_create(
            &svc,
            NetworkCreate {
                project_id: Some(demo_project.to_string()),
                name: "private".into(),
                admin_state_up: true,
                port_security_enabled: true,
                ..NetworkCreate::default()
            },
        )
        .await
        .map_err(e("network private"))?;
    let private_subnet = network
        .subnet_create(
            &svc,
            SubnetCreate {
                project_id: Some(demo_project.to_string()),
                network_id: private.id.clone(),
                name: "private-subnet".into(),
                ip_version: 4,
                cidr: Some(n.private_cidr.clone()),
                enable_dhcp: true,
                ..SubnetCreate::default()
            },
        )
        .await
        .map_err(e("subnet private-subnet"))?;
    let router = network
        .router_create(
            &svc,
            NewRouter {
                project_id: demo_project.to_string(),
                name: "router1".into(),
                admin_state_up: true,
                gateway: Some(GatewayRequest {
                    network_id: public.id.clone(),
                    enable_snat: None,
                    external_fixed_ips: None,
                }),
                ..NewRouter::default()
            },
        )
        .await
        .map_err(e("router router1"))?;
    network
        .router_interface_add(
            &svc,
            &router.id,
            InterfaceRequest {
                subnet_id: Some(private_subnet.id.clone()),
                port_id: None,
            },
        )
        .await
        .map_err(e("router1 interface"))?;
    tracing::info!(public = %public.id, private = %private.id, router = %router.id, "network bootstrap: public, private, router1");
    Ok(())
}
