//! The network service's L3 and QoS APIs over HTTP against the whole cloud (no data plane:
//! these tests are about the API): routers with gateways, interfaces and static routes,
//! floating IPs and their association, QoS policies with bandwidth limit rules and their
//! binding to ports; Neutron's exact error bodies, nothing half-created on a refusal,
//! project isolation (404, never 403) and quotas.

mod floatingips;
mod qos;
mod routers;

use api_tests::{Resp, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

/// `http://…/network/v2.0` + `path`.
pub fn url(c: &TestCloud, path: &str) -> String {
    format!("{}/network/v2.0{}", c.base, path)
}

/// A request to the network API.
pub fn neutron<'a>(
    c: &'a TestCloud,
    m: Method,
    path: &str,
    tok: &'a str,
    body: Option<Value>,
) -> impl std::future::Future<Output = Resp> + use<'a> {
    let url = url(c, path);
    async move { c.req(m, &url, Some(tok), body).await }
}

/// `GET path`, asserting 200.
pub async fn get(c: &TestCloud, path: &str, tok: &str) -> Value {
    let r = neutron(c, Method::GET, path, tok, None).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.text);
    r.body
}

/// `POST path {key: body}`, asserting 201; the created resource.
pub async fn create(c: &TestCloud, path: &str, tok: &str, key: &str, body: Value) -> Value {
    let r = neutron(c, Method::POST, path, tok, Some(json!({ key: body }))).await;
    assert_eq!(r.status, 201, "POST {path}: {}", r.text);
    r.body[key].clone()
}

/// Asserts a Neutron error (`{"NeutronError": {"type", "message", "detail"}}`) and returns
/// its message.
pub fn neutron_error(r: &Resp, status: u16, kind: &str) -> String {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(r.body["NeutronError"]["type"], kind, "{}", r.text);
    assert_eq!(r.body["NeutronError"]["detail"], "", "{}", r.text);
    r.body["NeutronError"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {}", r.text))
        .to_string()
}

/// The id of a JSON resource.
pub fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {v}"))
        .to_string()
}

/// A cloud with an admin, two member users in their own projects, and an external network
/// (`172.24.4.0/24`, gateway `.1`) created by the admin.
pub struct World {
    pub c: TestCloud,
    pub admin: String,
    /// (project id, token) of `alice` and `bob`, members of their projects.
    pub alice: (String, String),
    pub bob: (String, String),
    pub ext: String,
    pub ext_subnet: String,
}

impl World {
    pub async fn start() -> World {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut common_config::Config)) -> World {
        let c = TestCloud::start_with(tweak).await.unwrap();
        let admin = c.admin_token().await;
        let (_, ap, at) = c.user_with_role(&admin, "alice", "member").await;
        let (_, bp, bt) = c.user_with_role(&admin, "bob", "member").await;
        let ext = create(
            &c,
            "/networks",
            &admin,
            "network",
            json!({"name": "public", "router:external": true}),
        )
        .await;
        let ext_subnet = create(
            &c,
            "/subnets",
            &admin,
            "subnet",
            json!({"network_id": id(&ext), "cidr": "172.24.4.0/24", "ip_version": 4,
                   "gateway_ip": "172.24.4.1", "enable_dhcp": false, "name": "public-subnet"}),
        )
        .await;
        World {
            c,
            admin,
            alice: (ap, at),
            bob: (bp, bt),
            ext: id(&ext),
            ext_subnet: id(&ext_subnet),
        }
    }

    /// A network with one IPv4 subnet of `cidr` (gateway `.1`) owned by `tok`'s project:
    /// (network id, subnet id).
    pub async fn tenant_net(&self, tok: &str, name: &str, cidr: &str) -> (String, String) {
        let n = create(&self.c, "/networks", tok, "network", json!({"name": name})).await;
        let s = create(
            &self.c,
            "/subnets",
            tok,
            "subnet",
            json!({"network_id": id(&n), "cidr": cidr, "ip_version": 4, "name": format!("{name}-subnet")}),
        )
        .await;
        (id(&n), id(&s))
    }

    /// A router of `tok`'s project with a gateway on the external network and an interface
    /// on `subnet`; its id.
    pub async fn router_to(&self, tok: &str, subnet: &str) -> String {
        let r = create(
            &self.c,
            "/routers",
            tok,
            "router",
            json!({"name": "r", "external_gateway_info": {"network_id": self.ext}}),
        )
        .await;
        let rid = id(&r);
        let a = neutron(
            &self.c,
            Method::PUT,
            &format!("/routers/{rid}/add_router_interface"),
            tok,
            Some(json!({"subnet_id": subnet})),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
        rid
    }

    /// A port on `network` of `tok`'s project; (port id, its first fixed IP).
    pub async fn port(&self, tok: &str, network: &str, name: &str) -> (String, String) {
        let p = create(
            &self.c,
            "/ports",
            tok,
            "port",
            json!({"network_id": network, "name": name, "device_owner": "compute:nova"}),
        )
        .await;
        let ip = p["fixed_ips"][0]["ip_address"]
            .as_str()
            .unwrap()
            .to_string();
        (id(&p), ip)
    }

    pub async fn stop(self) {
        self.c.stop().await.unwrap();
    }
}
