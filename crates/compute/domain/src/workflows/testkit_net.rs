//! The network service in memory for domain tests: networks with one subnet each, ports
//! with sequential addresses, security groups per project (`default` made on demand),
//! floating IPs by port, and injectable failures.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use common_error::{Error, Result};
use compute_model::{FixedIp, Subnet, Vif};

use crate::ports::{
    InstanceNetworking, NetworkInfo, NetworkPort, PortBinding, PortCreate, PortInfo, ServerAddress,
};
use crate::Context;

#[derive(Debug, Clone)]
pub(crate) struct FakePort {
    pub info: PortInfo,
    pub host: String,
    pub security_groups: Vec<String>,
}

#[derive(Default)]
pub(crate) struct FakeNetwork {
    pub networks: Mutex<BTreeMap<String, NetworkInfo>>,
    pub ports: Mutex<BTreeMap<String, FakePort>>,
    /// (project, name) → id.
    pub groups: Mutex<BTreeMap<(String, String), String>>,
    /// port → floating IP.
    pub floating: Mutex<BTreeMap<String, String>>,
    /// `port_create` fails once this many ports have been created by it (`Some(0)`: the
    /// first fails).
    pub fail_create_after: Mutex<Option<usize>>,
    /// `networking` fails (the service is down for views).
    pub down: Mutex<bool>,
    created: Mutex<usize>,
    next_ip: Mutex<u8>,
}

impl FakeNetwork {
    /// A network `name` of `project` on `10.0.<n>.0/24` (DHCP on); returns its id.
    pub(crate) fn add_network(
        &self,
        project: &str,
        name: &str,
        shared: bool,
        external: bool,
    ) -> String {
        let mut nets = self.networks.lock().unwrap();
        let id = uuid::Uuid::new_v4().to_string();
        let n = nets.len();
        nets.insert(
            id.clone(),
            NetworkInfo {
                id: id.clone(),
                name: name.into(),
                project_id: project.into(),
                shared,
                external,
                mtu: Some(1450),
                subnets: vec![Subnet {
                    id: format!("sub-{id}"),
                    ip_version: 4,
                    cidr: format!("10.0.{n}.0/24"),
                    gateway_ip: Some(format!("10.0.{n}.1")),
                    enable_dhcp: true,
                    dns_nameservers: vec![],
                    host_routes: vec![],
                }],
            },
        );
        id
    }

    /// A free port of `project` on `network` (as a user makes with `openstack port create`).
    pub(crate) fn add_port(&self, project: &str, network: &str) -> String {
        let v = self.make_port(project, network, None, &PortBinding::default(), vec![]);
        v.port_id
    }

    pub(crate) fn port(&self, id: &str) -> Option<FakePort> {
        self.ports.lock().unwrap().get(id).cloned()
    }

    pub(crate) fn port_ids(&self) -> BTreeSet<String> {
        self.ports.lock().unwrap().keys().cloned().collect()
    }

    /// Ports whose device is `uuid`.
    pub(crate) fn ports_of(&self, uuid: &str) -> Vec<FakePort> {
        self.ports
            .lock()
            .unwrap()
            .values()
            .filter(|p| p.info.device_id == uuid)
            .cloned()
            .collect()
    }

    fn visible(net: &NetworkInfo, ctx: &Context) -> bool {
        ctx.is_admin || net.shared || net.external || net.project_id == ctx.project_id
    }

    fn vif(&self, p: &FakePort) -> Vif {
        let nets = self.networks.lock().unwrap();
        let net = nets.get(&p.info.network_id).cloned().unwrap_or_default();
        Vif {
            port_id: p.info.id.clone(),
            network_id: net.id.clone(),
            network_name: net.name.clone(),
            mac: p.info.mac.clone(),
            tap: format!("tap{}", p.info.id.get(..11).unwrap_or(&p.info.id)),
            mtu: net.mtu,
            fixed_ips: p.info.fixed_ips.clone(),
            subnets: net.subnets.clone(),
            preserve: false,
            tag: None,
        }
    }

    fn make_port(
        &self,
        project: &str,
        network: &str,
        ip: Option<String>,
        b: &PortBinding,
        security_groups: Vec<String>,
    ) -> Vif {
        let n = {
            let mut next = self.next_ip.lock().unwrap();
            *next += 1;
            *next
        };
        let (subnet, prefix) = {
            let nets = self.networks.lock().unwrap();
            let s = &nets[network].subnets[0];
            let prefix = s.cidr.trim_end_matches("0/24").to_string();
            (s.id.clone(), prefix)
        };
        let id = uuid::Uuid::new_v4().to_string();
        let p = FakePort {
            info: PortInfo {
                id: id.clone(),
                network_id: network.into(),
                project_id: project.into(),
                device_id: b.device_id.clone(),
                device_owner: b.device_owner.clone(),
                mac: format!("fa:16:3e:00:00:{n:02x}"),
                fixed_ips: vec![FixedIp {
                    subnet_id: subnet,
                    ip_address: ip.unwrap_or_else(|| format!("{prefix}{}", 100 + u32::from(n))),
                }],
            },
            host: b.host.clone(),
            security_groups,
        };
        self.ports.lock().unwrap().insert(id, p.clone());
        self.vif(&p)
    }
}

#[async_trait::async_trait]
impl NetworkPort for FakeNetwork {
    async fn networks_available(&self, ctx: &Context) -> Result<Vec<NetworkInfo>> {
        Ok(self
            .networks
            .lock()
            .unwrap()
            .values()
            .filter(|n| !n.external && (n.shared || n.project_id == ctx.project_id))
            .cloned()
            .collect())
    }

    async fn network_get(&self, ctx: &Context, id: &str) -> Result<Option<NetworkInfo>> {
        Ok(self
            .networks
            .lock()
            .unwrap()
            .get(id)
            .filter(|n| Self::visible(n, ctx))
            .cloned())
    }

    async fn port_get(&self, ctx: &Context, id: &str) -> Result<Option<PortInfo>> {
        Ok(self
            .port(id)
            .filter(|p| ctx.is_admin || p.info.project_id == ctx.project_id)
            .map(|p| p.info))
    }

    async fn port_with_ip(&self, network_id: &str, ip: &str) -> Result<Option<PortInfo>> {
        Ok(self
            .ports
            .lock()
            .unwrap()
            .values()
            .find(|p| {
                p.info.network_id == network_id
                    && p.info.fixed_ips.iter().any(|f| f.ip_address == ip)
            })
            .map(|p| p.info.clone()))
    }

    async fn security_group_find(&self, ctx: &Context, name: &str) -> Result<Option<String>> {
        let mut groups = self.groups.lock().unwrap();
        let key = (ctx.project_id.clone(), name.to_string());
        if name == "default" {
            let id = groups
                .entry(key)
                .or_insert_with(|| format!("sg-default-{}", ctx.project_id))
                .clone();
            return Ok(Some(id));
        }
        Ok(groups.get(&key).cloned())
    }

    async fn port_create(&self, ctx: &Context, req: &PortCreate) -> Result<Vif> {
        {
            let mut created = self.created.lock().unwrap();
            if let Some(limit) = *self.fail_create_after.lock().unwrap() {
                if *created >= limit {
                    return Err(Error::Conflict("No more IP addresses available".into()));
                }
            }
            *created += 1;
        }
        Ok(self.make_port(
            &ctx.project_id,
            &req.network_id,
            req.fixed_ip.clone(),
            &req.binding,
            req.security_groups.clone(),
        ))
    }

    async fn port_bind(&self, port_id: &str, b: &PortBinding) -> Result<Vif> {
        let p = {
            let mut ports = self.ports.lock().unwrap();
            let p = ports
                .get_mut(port_id)
                .ok_or_else(|| Error::not_found("port", port_id))?;
            if !p.info.device_id.is_empty() && p.info.device_id != b.device_id {
                return Err(Error::Conflict(format!("Port {port_id} is still in use.")));
            }
            p.info.device_id = b.device_id.clone();
            p.info.device_owner = b.device_owner.clone();
            p.host = b.host.clone();
            p.clone()
        };
        Ok(self.vif(&p))
    }

    async fn port_unbind(&self, port_id: &str) -> Result<()> {
        if let Some(p) = self.ports.lock().unwrap().get_mut(port_id) {
            p.info.device_id.clear();
            p.info.device_owner.clear();
            p.host.clear();
        }
        Ok(())
    }

    async fn port_delete(&self, port_id: &str) -> Result<()> {
        self.ports.lock().unwrap().remove(port_id);
        self.floating.lock().unwrap().remove(port_id);
        Ok(())
    }

    async fn ports_of_device(&self, device_id: &str) -> Result<Vec<PortInfo>> {
        Ok(self
            .ports_of(device_id)
            .into_iter()
            .map(|p| p.info)
            .collect())
    }

    async fn networking(&self, uuids: &[String]) -> Result<BTreeMap<String, InstanceNetworking>> {
        if *self.down.lock().unwrap() {
            return Err(Error::Unavailable("network service down".into()));
        }
        let ports: Vec<FakePort> = self.ports.lock().unwrap().values().cloned().collect();
        let floating = self.floating.lock().unwrap().clone();
        let mut out: BTreeMap<String, InstanceNetworking> = BTreeMap::new();
        for p in ports.iter().filter(|p| uuids.contains(&p.info.device_id)) {
            let v = self.vif(p);
            let n = out.entry(p.info.device_id.clone()).or_default();
            let list = n.addresses.entry(v.network_name.clone()).or_default();
            for ip in &v.fixed_ips {
                list.push(ServerAddress {
                    version: 4,
                    addr: ip.ip_address.clone(),
                    kind: "fixed".into(),
                    mac: v.mac.clone(),
                });
            }
            if let Some(f) = floating.get(&v.port_id) {
                list.push(ServerAddress {
                    version: 4,
                    addr: f.clone(),
                    kind: "floating".into(),
                    mac: v.mac.clone(),
                });
            }
            for g in &p.security_groups {
                let name = g.strip_prefix("sg-").unwrap_or(g);
                let name = name.split('-').next().unwrap_or(name).to_string();
                if !n.security_groups.contains(&name) {
                    n.security_groups.push(name);
                }
            }
        }
        Ok(out)
    }
}
