//! `POST /servers` with `networks` and `security_groups` against a network service: Nova's
//! statuses and bodies for bad requests (and nothing created: no server, no port), a good
//! request's server with its `addresses` and `security_groups` in the views.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::http::Method;
use common_error::Result;
use compute_domain::ports::{
    InstanceNetworking, NetworkInfo, NetworkPort, PortBinding, PortCreate, PortInfo, ServerAddress,
};
use compute_domain::Context;
use compute_model::{FixedIp, Subnet, Vif};
use serde_json::json;

use super::{Cloud, ADMIN, ALICE, BOB, IMAGE};

const NET: &str = "6a0f3b5e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const BOBS_NET: &str = "7b1f3b5e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const PUBLIC: &str = "8c2f3b5e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const FREE_PORT: &str = "1d3f3b5e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const USED_PORT: &str = "2e4f3b5e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const GHOST: &str = "3f5f3b5e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

/// Alice's network `private` (10.0.0.0/24), Bob's, an external `public`; a free and a used
/// port of Alice's; Alice's security groups `default` and `web`.
#[derive(Default)]
struct Net {
    /// port id → (port, security groups).
    ports: Mutex<BTreeMap<String, (PortInfo, Vec<String>)>>,
}

impl Net {
    fn new() -> Arc<Net> {
        let n = Net::default();
        for (id, device, ip) in [
            (FREE_PORT, "", "10.0.0.10"),
            (USED_PORT, "another-vm", "10.0.0.11"),
        ] {
            n.ports.lock().unwrap().insert(
                id.into(),
                (
                    PortInfo {
                        id: id.into(),
                        network_id: NET.into(),
                        project_id: ALICE.project.into(),
                        device_id: device.into(),
                        device_owner: String::new(),
                        mac: "fa:16:3e:00:00:0a".into(),
                        fixed_ips: vec![FixedIp {
                            subnet_id: "sub".into(),
                            ip_address: ip.into(),
                        }],
                    },
                    vec![],
                ),
            );
        }
        Arc::new(n)
    }

    fn network(id: &str) -> Option<NetworkInfo> {
        let (name, project, external) = match id {
            NET => ("private", ALICE.project, false),
            BOBS_NET => ("bobs", BOB.project, false),
            PUBLIC => ("public", "admin-proj", true),
            _ => return None,
        };
        Some(NetworkInfo {
            id: id.into(),
            name: name.into(),
            project_id: project.into(),
            shared: false,
            external,
            mtu: Some(1450),
            subnets: vec![Subnet {
                id: "sub".into(),
                ip_version: 4,
                cidr: "10.0.0.0/24".into(),
                gateway_ip: Some("10.0.0.1".into()),
                enable_dhcp: true,
                ..Subnet::default()
            }],
        })
    }

    fn vif(p: &PortInfo) -> Vif {
        Vif {
            port_id: p.id.clone(),
            network_id: p.network_id.clone(),
            network_name: "private".into(),
            mac: p.mac.clone(),
            tap: format!("tap{}", &p.id[..11]),
            fixed_ips: p.fixed_ips.clone(),
            ..Vif::default()
        }
    }

    fn count(&self) -> usize {
        self.ports.lock().unwrap().len()
    }
}

#[async_trait::async_trait]
impl NetworkPort for Net {
    async fn networks_available(&self, ctx: &Context) -> Result<Vec<NetworkInfo>> {
        Ok([NET, BOBS_NET]
            .iter()
            .filter_map(|id| Net::network(id))
            .filter(|n| n.project_id == ctx.project_id)
            .collect())
    }
    async fn network_get(&self, ctx: &Context, id: &str) -> Result<Option<NetworkInfo>> {
        Ok(Net::network(id).filter(|n| n.external || n.project_id == ctx.project_id))
    }
    async fn port_get(&self, ctx: &Context, id: &str) -> Result<Option<PortInfo>> {
        let ports = self.ports.lock().unwrap();
        Ok(ports
            .get(id)
            .filter(|(p, _)| p.project_id == ctx.project_id)
            .map(|(p, _)| p.clone()))
    }
    async fn port_with_ip(&self, network_id: &str, ip: &str) -> Result<Option<PortInfo>> {
        let ports = self.ports.lock().unwrap();
        Ok(ports
            .values()
            .map(|(p, _)| p)
            .find(|p| p.network_id == network_id && p.fixed_ips.iter().any(|f| f.ip_address == ip))
            .cloned())
    }
    async fn security_group_find(&self, _: &Context, name: &str) -> Result<Option<String>> {
        Ok(["default", "web"].contains(&name).then(|| name.to_string()))
    }
    async fn port_create(&self, ctx: &Context, req: &PortCreate) -> Result<Vif> {
        let mut ports = self.ports.lock().unwrap();
        let n = ports.len() + 100;
        let p = PortInfo {
            id: uuid::Uuid::new_v4().to_string(),
            network_id: req.network_id.clone(),
            project_id: ctx.project_id.clone(),
            device_id: req.binding.device_id.clone(),
            device_owner: req.binding.device_owner.clone(),
            mac: format!("fa:16:3e:00:01:{:02x}", n % 256),
            fixed_ips: vec![FixedIp {
                subnet_id: "sub".into(),
                ip_address: req
                    .fixed_ip
                    .clone()
                    .unwrap_or_else(|| format!("10.0.0.{n}")),
            }],
        };
        ports.insert(p.id.clone(), (p.clone(), req.security_groups.clone()));
        Ok(Net::vif(&p))
    }
    async fn port_bind(&self, port_id: &str, b: &PortBinding) -> Result<Vif> {
        let mut ports = self.ports.lock().unwrap();
        let (p, _) = ports.get_mut(port_id).unwrap();
        p.device_id = b.device_id.clone();
        Ok(Net::vif(p))
    }
    async fn port_unbind(&self, port_id: &str) -> Result<()> {
        if let Some((p, _)) = self.ports.lock().unwrap().get_mut(port_id) {
            p.device_id.clear();
        }
        Ok(())
    }
    async fn port_delete(&self, port_id: &str) -> Result<()> {
        self.ports.lock().unwrap().remove(port_id);
        Ok(())
    }
    async fn ports_of_device(&self, device_id: &str) -> Result<Vec<PortInfo>> {
        let ports = self.ports.lock().unwrap();
        Ok(ports
            .values()
            .filter(|(p, _)| p.device_id == device_id)
            .map(|(p, _)| p.clone())
            .collect())
    }
    async fn networking(&self, uuids: &[String]) -> Result<BTreeMap<String, InstanceNetworking>> {
        let ports = self.ports.lock().unwrap();
        let mut out: BTreeMap<String, InstanceNetworking> = BTreeMap::new();
        for (p, groups) in ports.values().filter(|(p, _)| uuids.contains(&p.device_id)) {
            let n = out.entry(p.device_id.clone()).or_default();
            let list = n.addresses.entry("private".into()).or_default();
            for ip in &p.fixed_ips {
                list.push(ServerAddress {
                    version: 4,
                    addr: ip.ip_address.clone(),
                    kind: "fixed".into(),
                    mac: p.mac.clone(),
                });
            }
            list.push(ServerAddress {
                version: 4,
                addr: "172.24.4.50".into(),
                kind: "floating".into(),
                mac: p.mac.clone(),
            });
            n.security_groups.extend(groups.iter().cloned());
        }
        Ok(out)
    }
}

fn body(networks: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    let mut server =
        json!({"name": "vm", "imageRef": IMAGE, "flavorRef": "1", "networks": networks});
    if let (Some(s), Some(e)) = (server.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({ "server": server })
}

#[tokio::test]
async fn bad_networks_get_novas_errors_and_nothing_is_created() {
    let net = Net::new();
    let c = Cloud::networked(net.clone()).await;
    let none = json!({});
    let cases: Vec<(serde_json::Value, u16, &str, String)> = vec![
        (body(json!([{"uuid": GHOST}]), none.clone()), 400, "badRequest", format!("Network {GHOST} could not be found.")),
        (body(json!([{"uuid": BOBS_NET}]), none.clone()), 400, "badRequest", format!("Network {BOBS_NET} could not be found.")),
        (body(json!([{"port": GHOST}]), none.clone()), 400, "badRequest", format!("Port id {GHOST} could not be found.")),
        (body(json!([{"port": USED_PORT}]), none.clone()), 409, "conflictingRequest", format!("Port {USED_PORT} is still in use.")),
        (
            body(json!([{"uuid": NET, "fixed_ip": "10.0.0.11"}]), none.clone()),
            400,
            "badRequest",
            "Fixed IP address 10.0.0.11 is already in use on instance another-vm.".into(),
        ),
        (
            body(json!([{"uuid": NET, "fixed_ip": "192.0.2.1"}]), none.clone()),
            400,
            "badRequest",
            format!("Invalid input received: Fixed IP 192.0.2.1 is not a valid ip address for network {NET}."),
        ),
        (
            body(json!([{"uuid": PUBLIC}]), none.clone()),
            403,
            "forbidden",
            format!("It is not allowed to create an interface on external network {PUBLIC}"),
        ),
        (
            body(json!([{"uuid": NET}]), json!({"security_groups": [{"name": "nope"}]})),
            400,
            "badRequest",
            "Security group nope not found.".into(),
        ),
    ];
    for (b, status, kind, want) in cases {
        let r = c
            .call(
                &ALICE,
                Method::POST,
                "/servers",
                Some("2.79"),
                Some(b.clone()),
            )
            .await;
        assert_eq!(r.error(status, kind), want, "{b}");
    }
    // The admin project has no network of its own: `auto` cannot allocate one.
    let r = c
        .call(
            &ADMIN,
            Method::POST,
            "/servers",
            Some("2.79"),
            Some(body(json!("auto"), none)),
        )
        .await;
    assert_eq!(
        r.error(400, "badRequest"),
        "Unable to automatically allocate a network for project admin-proj"
    );
    assert_eq!(c.count().await, 0, "no server");
    assert_eq!(net.count(), 2, "no port");
}

#[tokio::test]
async fn a_server_on_a_network_shows_its_addresses_and_security_groups() {
    let net = Net::new();
    let c = Cloud::networked(net.clone()).await;
    let b = body(
        json!([{"uuid": NET, "fixed_ip": "10.0.0.42"}, {"port": FREE_PORT}]),
        json!({"security_groups": [{"name": "web"}, {"name": "default"}]}),
    );
    let r = c
        .call(&ALICE, Method::POST, "/servers", Some("2.79"), Some(b))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        r.body["server"]["security_groups"],
        json!([{"name": "web"}, {"name": "default"}])
    );
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    let server = c.wait_status(&ALICE, &id, "ACTIVE").await;
    let private = server["addresses"]["private"].as_array().unwrap();
    let mine = private
        .iter()
        .find(|a| a["addr"] == "10.0.0.42")
        .expect("the fixed IP");
    let mac = mine["OS-EXT-IPS-MAC:mac_addr"].clone();
    assert!(mac.as_str().is_some_and(|m| m.starts_with("fa:16:3e:")));
    assert_eq!(
        *mine,
        json!({"version": 4, "addr": "10.0.0.42", "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": mac})
    );
    assert!(
        private.iter().any(|a| a["addr"] == "10.0.0.10"),
        "the user's port"
    );
    assert!(private.iter().any(|a| a["OS-EXT-IPS:type"] == "floating"));
    assert_eq!(
        server["security_groups"],
        json!([{"name": "web"}, {"name": "default"}])
    );
    let r = c
        .call(&ALICE, Method::GET, "/servers/detail", Some("2.79"), None)
        .await;
    assert_eq!(r.body["servers"][0]["addresses"], server["addresses"]);
    // A server without a port shows no address and no security group.
    let r = c
        .call(
            &ALICE,
            Method::POST,
            "/servers",
            Some("2.79"),
            Some(body(json!("none"), json!({}))),
        )
        .await;
    let bare = c
        .wait_status(&ALICE, r.body["server"]["id"].as_str().unwrap(), "ACTIVE")
        .await;
    assert_eq!(bare["addresses"], json!({}));
    assert!(bare.get("security_groups").is_none());
    // Delete: compute's port goes, the user's port is unbound.
    let r = c
        .call(
            &ALICE,
            Method::DELETE,
            &format!("/servers/{id}"),
            Some("2.79"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    for _ in 0..600 {
        if net.count() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let ports = net.ports.lock().unwrap();
    assert_eq!(ports.len(), 2);
    assert_eq!(ports[FREE_PORT].0.device_id, "");
}
