//! The Linux data plane of the network agent: makes a host's bridges, taps, VXLAN devices,
//! namespaces, nftables rules, tc qdiscs and dnsmasq processes match a
//! [`HostPlan`], through the host's own tools (`ip`, `bridge`, `tc`, `nft`, `sysctl`,
//! `dnsmasq`). Implements `network_agent::Dataplane`; depends only on the network model and
//! the agent's traits.
//!
//! What it owns, and removes when no plan names it: bridges `brq*`, taps `tap*` attached to
//! those bridges, `vxlan-*` devices, namespaces `<prefix>qdhcp-*` and `<prefix>qrouter-*`
//! (with their dnsmasq processes and files under `<data_dir>/dhcp/`), the nftables tables
//! `<table>` (families bridge and inet; see `firewall`), and the metadata listeners. The
//! external namespace `<prefix>ext` of all-in-one is created by `apply` and removed only by
//! `cleanup_all`.
//!
//! Module map: `cmd` runs tools, `links` devices, `firewall` security groups,
//! `dhcp` dnsmasq, `metadata` the listeners, `router` router namespaces and NAT, `qos` tc.

mod cmd;
mod dhcp;
mod firewall;
mod links;
mod metadata;
mod qos;
mod router;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use common_error::{Error, Result};
use network_agent::{Applied, Dataplane, MetadataSink};
use network_model::dataplane::{HostPlan, NetworkPlan, Segment};
use network_model::names;
use tokio::sync::Mutex;

use crate::firewall::{Firewall, FirewallState};
use crate::links::{ensure_addresses, Leg, Links};

/// The bridge end of the external namespace's veth (in the host namespace).
pub const EXTERNAL_OUTER: &str = "extgw-br";
/// The external namespace's end, holding [`ExternalNamespace::address`].
pub const EXTERNAL_INNER: &str = "extgw";

/// How the data plane runs on this host (from `[network]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxConfig {
    /// The namespace holding bridges, taps and VXLAN devices. `None` in production (the
    /// agent's own namespace); tests give each run a namespace of its own.
    pub host_netns: Option<String>,
    /// Prefix of every namespace created (`[network] namespace_prefix`).
    pub namespace_prefix: String,
    /// dnsmasq files live under `<data_dir>/dhcp/<network id>/`.
    pub data_dir: PathBuf,
    /// Physical network → host interface joined to the bridges of flat networks on it.
    pub physical_interface_mappings: BTreeMap<String, String>,
    /// This host's underlay address for VXLAN; `None` makes VXLAN devices with no remote.
    pub underlay_ip: Option<String>,
    /// DNS servers handed out when a subnet names none.
    pub default_dns: Vec<String>,
    /// The all-in-one "outside world".
    pub external: Option<ExternalNamespace>,
}

/// The namespace `<prefix>ext` plugged into the bridge of the flat network on
/// `physical_network`, holding `address` (e.g. `172.24.4.1/24`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalNamespace {
    pub physical_network: String,
    pub address: String,
}

impl LinuxConfig {
    /// A config with no mappings, underlay, DNS or external namespace.
    pub fn new(namespace_prefix: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        LinuxConfig {
            host_netns: None,
            namespace_prefix: namespace_prefix.into(),
            data_dir: data_dir.into(),
            physical_interface_mappings: BTreeMap::new(),
            underlay_ip: None,
            default_dns: Vec::new(),
            external: None,
        }
    }

    /// The name of the external namespace.
    pub fn external_namespace(&self) -> String {
        format!("{}ext", self.namespace_prefix)
    }

    /// The nftables table name (both families): the prefix made an identifier, then `sg`.
    pub fn table(&self) -> String {
        let mut t: String = self
            .namespace_prefix
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if !t.starts_with(|c: char| c.is_ascii_alphabetic()) {
            t.insert(0, 't');
        }
        t + "sg"
    }
}

/// Parses `[network] physical_interface_mappings` (`physnet:interface` pairs).
pub fn parse_mappings(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| match p.split_once(':') {
            Some((net, dev)) if !net.is_empty() && !dev.is_empty() => {
                Ok((net.to_string(), dev.to_string()))
            }
            _ => Err(Error::BadRequest(format!(
                "physical interface mapping {p:?} is not physnet:interface"
            ))),
        })
        .collect()
}

#[derive(Default)]
struct State {
    firewall: FirewallState,
    /// Router id → NAT text applied.
    nat: BTreeMap<String, Option<String>>,
    listeners: metadata::Listeners,
    /// Taps given a TBF qdisc.
    shaped: BTreeSet<String>,
    host_ready: bool,
}

/// The data plane. One per host; applies are serialised.
pub struct LinuxDataplane {
    cfg: LinuxConfig,
    table: String,
    sink: Option<Arc<dyn MetadataSink>>,
    state: Mutex<State>,
}

impl LinuxDataplane {
    pub fn new(cfg: LinuxConfig) -> Self {
        LinuxDataplane {
            table: cfg.table(),
            cfg,
            sink: None,
            state: Mutex::new(State::default()),
        }
    }

    /// Serves metadata on each DHCP namespace's 169.254.169.254:80 through `sink`.
    pub fn with_metadata_sink(mut self, sink: Arc<dyn MetadataSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    pub fn config(&self) -> &LinuxConfig {
        &self.cfg
    }

    fn host(&self) -> Option<&str> {
        self.cfg.host_netns.as_deref()
    }

    fn dhcp_prefix(&self) -> String {
        names::dhcp_ns(&self.cfg.namespace_prefix, "")
    }

    fn router_prefix(&self) -> String {
        names::router_ns(&self.cfg.namespace_prefix, "")
    }

    async fn prepare_host(&self, st: &mut State) -> Result<()> {
        if !st.host_ready {
            // Bridged IP traffic through the inet hooks, where conntrack works.
            cmd::sysctl(self.host(), "net.bridge.bridge-nf-call-iptables", "1").await?;
            cmd::sysctl(self.host(), "net.bridge.bridge-nf-call-ip6tables", "1").await?;
            st.host_ready = true;
        }
        Ok(())
    }

    async fn apply_locked(&self, st: &mut State, plan: &HostPlan) -> Result<Applied> {
        self.prepare_host(st).await?;
        let host = self.host();
        let mut failures = Vec::new();
        let mut links = Links::read(host).await?;
        let networks: BTreeMap<&str, &NetworkPlan> =
            plan.networks.iter().map(|n| (n.id.as_str(), n)).collect();

        let mut net_ok: BTreeSet<&str> = BTreeSet::new();
        for net in &plan.networks {
            let underlay = self.cfg.underlay_ip.as_deref();
            match links
                .ensure_network(net, underlay, &self.cfg.physical_interface_mappings)
                .await
            {
                Ok(()) => {
                    net_ok.insert(&net.id);
                }
                Err(e) => failures.push(format!("network {}: {e}", net.id)),
            }
        }
        if let Some(ext) = &self.cfg.external {
            if let Err(e) = self.ensure_external(&mut links, ext, plan).await {
                failures.push(format!("external namespace: {e}"));
            }
        }

        let mut port_ok: BTreeSet<&str> = BTreeSet::new();
        for port in &plan.ports {
            let Some(net) = networks
                .get(port.network_id.as_str())
                .filter(|n| net_ok.contains(n.id.as_str()))
            else {
                failures.push(format!(
                    "port {}: network {} is not ready",
                    port.id, port.network_id
                ));
                continue;
            };
            let tap = names::tap(&port.id);
            let limit = port.qos.as_ref().and_then(|q| q.ingress);
            let shaped = st.shaped.contains(&tap);
            let wired = async {
                links
                    .ensure_tap(&tap, &names::bridge(&net.id), net.mtu, port.admin_state_up)
                    .await?;
                // tc is asked only about ports with a limit now or at the last apply.
                if limit.is_some() || shaped {
                    qos::ensure(host, &tap, limit).await?;
                }
                Ok::<_, Error>(())
            };
            match wired.await {
                Ok(()) => {
                    if limit.is_some() {
                        st.shaped.insert(tap);
                    } else {
                        st.shaped.remove(&tap);
                    }
                    port_ok.insert(&port.id);
                }
                Err(e) => failures.push(format!("port {}: {e}", port.id)),
            }
        }

        let fw = Firewall {
            ns: host,
            table: &self.table,
        };
        let fw_ok = match fw.apply(&mut st.firewall, plan).await {
            Ok(()) => true,
            Err(e) => {
                failures.push(format!("security groups: {e}"));
                false
            }
        };

        let mut dhcp_ok: BTreeSet<&str> = BTreeSet::new();
        for net in plan
            .networks
            .iter()
            .filter(|n| net_ok.contains(n.id.as_str()))
        {
            let Some(dhcp) = &net.dhcp else { continue };
            let ns = names::dhcp_ns(&self.cfg.namespace_prefix, &net.id);
            let done = async {
                dhcp::ensure(
                    &mut links,
                    &ns,
                    net,
                    dhcp,
                    &self.cfg.data_dir,
                    &self.cfg.default_dns,
                )
                .await?;
                if let Some(sink) = &self.sink {
                    st.listeners.ensure(sink, &net.id, &ns).await?;
                }
                Ok::<_, Error>(())
            };
            match done.await {
                Ok(()) => {
                    dhcp_ok.insert(&net.id);
                }
                Err(e) => failures.push(format!("dhcp of network {}: {e}", net.id)),
            }
        }

        for r in &plan.routers {
            let ns = names::router_ns(&self.cfg.namespace_prefix, &r.id);
            let nat = st.nat.entry(r.id.clone()).or_default();
            if let Err(e) = router::ensure(&mut links, &ns, r, &networks, nat).await {
                failures.push(format!("router {}: {e}", r.id));
            }
        }

        if let Err(e) = self.remove_unnamed(st, &mut links, plan).await {
            failures.push(format!("cleanup: {e}"));
        }

        let wired_ports = plan
            .ports
            .iter()
            .filter(|p| port_ok.contains(p.id.as_str()))
            .filter(|p| {
                fw_ok || (p.security.is_none() && p.qos.as_ref().is_none_or(|q| q.egress.is_none()))
            })
            .filter(|p| {
                networks
                    .get(p.network_id.as_str())
                    .is_some_and(|n| n.dhcp.is_none() || dhcp_ok.contains(n.id.as_str()))
            })
            .map(|p| p.id.clone())
            .collect();
        Ok(Applied {
            wired_ports,
            failures,
        })
    }

    /// The external namespace, plugged into the bridge of its physical network when the
    /// plan carries that network.
    async fn ensure_external(
        &self,
        links: &mut Links,
        ext: &ExternalNamespace,
        plan: &HostPlan,
    ) -> Result<()> {
        let ns = self.cfg.external_namespace();
        cmd::ensure_namespace(&ns).await?;
        let net = plan.networks.iter().find(
            |n| matches!(&n.segment, Segment::Flat { physical_network } if *physical_network == ext.physical_network),
        );
        let bridge = net.map(|n| names::bridge(&n.id));
        let mtu = net.map_or(1500, |n| n.mtu);
        links
            .ensure_leg(Leg {
                outer: EXTERNAL_OUTER,
                bridge: bridge.as_deref(),
                ns: &ns,
                inner: EXTERNAL_INNER,
                mac: None,
                mtu,
                up: true,
            })
            .await?;
        ensure_addresses(
            Some(&ns),
            EXTERNAL_INNER,
            std::slice::from_ref(&ext.address),
        )
        .await
    }

    /// Removes what this data plane owns and `plan` does not name: taps on our bridges,
    /// DHCP and router namespaces (and dnsmasq), VXLAN devices, bridges, listeners.
    async fn remove_unnamed(
        &self,
        st: &mut State,
        links: &mut Links,
        plan: &HostPlan,
    ) -> Result<()> {
        let mut taps: BTreeSet<String> = plan.ports.iter().map(|p| names::tap(&p.id)).collect();
        taps.extend(
            plan.networks
                .iter()
                .filter_map(|n| n.dhcp.as_ref())
                .map(|d| names::tap(&d.port_id)),
        );
        for r in &plan.routers {
            taps.extend(r.interfaces.iter().map(|l| names::tap(&l.port_id)));
            taps.extend(r.gateway.iter().map(|g| names::tap(&g.leg.port_id)));
        }
        let bridges: BTreeSet<String> =
            plan.networks.iter().map(|n| names::bridge(&n.id)).collect();
        let vxlans: BTreeSet<String> = plan
            .networks
            .iter()
            .filter_map(|n| match n.segment {
                Segment::Vxlan { vni } => Some(names::vxlan(vni)),
                _ => None,
            })
            .collect();
        let dhcp_nets: BTreeSet<&str> = plan
            .networks
            .iter()
            .filter(|n| n.dhcp.is_some())
            .map(|n| n.id.as_str())
            .collect();
        let routers: BTreeSet<&str> = plan.routers.iter().map(|r| r.id.as_str()).collect();

        st.listeners.retain(&|net| dhcp_nets.contains(net));
        st.nat.retain(|r, _| routers.contains(r.as_str()));
        st.shaped.retain(|t| taps.contains(t));

        let stale_taps: Vec<String> = links
            .by_name
            .values()
            .filter(|l| l.ifname.starts_with("tap") && !taps.contains(&l.ifname))
            .filter(|l| l.master.as_deref().is_some_and(|m| m.starts_with("brq")))
            .map(|l| l.ifname.clone())
            .collect();
        for tap in stale_taps {
            links.delete(&tap).await?;
        }
        let (dhcp_prefix, router_prefix) = (self.dhcp_prefix(), self.router_prefix());
        for ns in cmd::namespaces() {
            if let Some(net) = ns.strip_prefix(&dhcp_prefix) {
                if !dhcp_nets.contains(net) {
                    dhcp::remove(&dhcp::dir(&self.cfg.data_dir, net)).await?;
                    cmd::delete_namespace(&ns).await?;
                }
            } else if let Some(r) = ns.strip_prefix(&router_prefix) {
                if !routers.contains(r) {
                    cmd::delete_namespace(&ns).await?;
                }
            }
        }
        if let Ok(dirs) = std::fs::read_dir(self.cfg.data_dir.join("dhcp")) {
            for d in dirs.flatten() {
                let name = d.file_name().to_string_lossy().into_owned();
                if !dhcp_nets.contains(name.as_str()) {
                    dhcp::remove(&d.path()).await?;
                }
            }
        }
        let stale: Vec<String> = links
            .by_name
            .keys()
            .filter(|n| {
                (n.starts_with("vxlan-") && !vxlans.contains(*n))
                    || (n.starts_with("brq") && !bridges.contains(*n))
            })
            .cloned()
            .collect();
        // VXLAN devices (names sort after bridges' `brq`) go first.
        for dev in stale.iter().rev() {
            links.delete(dev).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Dataplane for LinuxDataplane {
    async fn apply(&self, plan: &HostPlan) -> Result<Applied> {
        let mut st = self.state.lock().await;
        self.apply_locked(&mut st, plan).await
    }

    async fn cleanup_all(&self) -> Result<()> {
        let mut st = self.state.lock().await;
        let applied = self.apply_locked(&mut st, &HostPlan::default()).await?;
        if !applied.failures.is_empty() {
            return Err(Error::Internal(applied.failures.join("; ")));
        }
        if self.cfg.external.is_some() {
            let mut links = Links::read(self.host()).await?;
            links.delete(EXTERNAL_OUTER).await?;
            cmd::delete_namespace(&self.cfg.external_namespace()).await?;
        }
        Ok(())
    }
}
