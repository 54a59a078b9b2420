//! Router tests: requests through `crate::router` without a socket, over a real `Compute` on
//! a temporary SQLite store, with in-memory placement (no hosts: builds end in ERROR, which
//! these tests do not need) and image ports, the in-process bus and Nova's default policy.

mod create;
mod list;
mod metadata;
mod network;
mod rescue;
mod server_actions;
mod subresources;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use common_error::{Error, Result};
use common_http::{service_layer, AuthContext, Dialect};
use common_policy::{Credentials, Enforcer};
use compute_domain::ports::{Allocations, HostCandidate, ImageInfo, ImagePort, PlacementPort};
use compute_domain::{Compute, Context};
use serde_json::{json, Value};
use tower::ServiceExt as _;

use crate::ApiState;

pub(crate) const IMAGE: &str = "70a599e0-31e7-49b7-b260-868f441e862b";
pub(crate) const BASE: &str = "http://cloud.test";

/// Placement with no compute nodes: every build ends in "No valid host".
struct NoHosts;

#[async_trait::async_trait]
impl PlacementPort for NoHosts {
    async fn candidates(
        &self,
        _: &BTreeMap<String, i64>,
        _: &[String],
        _: &[String],
        _: usize,
    ) -> Result<Vec<HostCandidate>> {
        Ok(Vec::new())
    }
    async fn claim(&self, _: &str, _: &str, _: &str, _: &Allocations) -> Result<()> {
        Err(Error::conflict("no hosts"))
    }
    async fn release(&self, _: &str) -> Result<()> {
        Ok(())
    }
    async fn allocations(&self, _: &str) -> Result<Allocations> {
        Ok(Allocations::new())
    }
    async fn provider_usages(&self, _: &str) -> Result<BTreeMap<String, i64>> {
        Ok(BTreeMap::new())
    }
}

/// The compute node of the one host of [`Cloud::with_host`].
const NODE: &str = "0b9f4c1e-6a52-4c1f-9d0e-3f4a5b6c7d8e";
pub(crate) const HOST: &str = "compute1";

/// Placement with one roomy compute node that takes every claim.
struct OneHost;

#[async_trait::async_trait]
impl PlacementPort for OneHost {
    async fn candidates(
        &self,
        resources: &BTreeMap<String, i64>,
        _: &[String],
        _: &[String],
        _: usize,
    ) -> Result<Vec<HostCandidate>> {
        let capacity = BTreeMap::from([
            ("VCPU".to_string(), 64),
            ("MEMORY_MB".to_string(), 131_072),
            ("DISK_GB".to_string(), 2_000),
        ]);
        Ok(vec![HostCandidate {
            provider: NODE.into(),
            allocations: BTreeMap::from([(NODE.to_string(), resources.clone())]),
            capacity,
            used: BTreeMap::new(),
            traits: Vec::new(),
            aggregates: Vec::new(),
        }])
    }
    async fn claim(&self, _: &str, _: &str, _: &str, _: &Allocations) -> Result<()> {
        Ok(())
    }
    async fn release(&self, _: &str) -> Result<()> {
        Ok(())
    }
    async fn allocations(&self, _: &str) -> Result<Allocations> {
        Ok(Allocations::new())
    }
    async fn provider_usages(&self, _: &str) -> Result<BTreeMap<String, i64>> {
        Ok(BTreeMap::new())
    }
}

/// The compute agent of [`HOST`]: every operation succeeds at once.
struct FakeAgent;

#[async_trait::async_trait]
impl common_bus::RpcHandler for FakeAgent {
    async fn handle(&self, method: &str, _args: Value) -> Result<Value> {
        Ok(match method {
            "power_off" => json!({"power_state": "Shutdown"}),
            "pause" => json!({"power_state": "Paused"}),
            "suspend" => json!({"power_state": "Suspended"}),
            "console_output" => json!({"output": "login:\u{7} ok"}),
            "power_states" => json!({"states": {}}),
            "sync" => json!({"destroyed": []}),
            "destroy" | "snapshot" => json!({}),
            _ => json!({"power_state": "Running"}),
        })
    }
}

/// One public active image, [`IMAGE`].
struct OneImage;

#[async_trait::async_trait]
impl ImagePort for OneImage {
    async fn get(&self, _: &Context, id: &str) -> Result<ImageInfo> {
        if id != IMAGE {
            return Err(Error::not_found("image", id));
        }
        Ok(ImageInfo {
            id: id.into(),
            name: "cirros".into(),
            status: "active".into(),
            disk_format: "qcow2".into(),
            container_format: "bare".into(),
            min_disk: 0,
            min_ram: 0,
            size: 1 << 20,
            properties: BTreeMap::new(),
        })
    }
    async fn create(
        &self,
        _: &Context,
        _: &str,
        _: &str,
        _: &BTreeMap<String, String>,
    ) -> Result<String> {
        Ok(uuid::Uuid::new_v4().to_string())
    }
    async fn delete(&self, _: &Context, _: &str) -> Result<()> {
        Ok(())
    }
}

/// A caller: project, user and (expanded) roles.
#[derive(Clone)]
pub(crate) struct Who {
    pub project: &'static str,
    pub user: &'static str,
    pub roles: &'static [&'static str],
}

pub(crate) const ALICE: Who = Who {
    project: "proj-a",
    user: "alice",
    roles: &["member", "reader"],
};
pub(crate) const READER: Who = Who {
    project: "proj-a",
    user: "rita",
    roles: &["reader"],
};
pub(crate) const BOB: Who = Who {
    project: "proj-b",
    user: "bob",
    roles: &["member", "reader"],
};
pub(crate) const ADMIN: Who = Who {
    project: "admin-proj",
    user: "admin",
    roles: &["admin", "member", "reader"],
};

impl Who {
    fn auth(&self) -> AuthContext {
        AuthContext {
            token: "t".into(),
            credentials: Credentials {
                user_id: self.user.into(),
                user_domain_id: "default".into(),
                project_id: Some(self.project.into()),
                project_domain_id: Some("default".into()),
                roles: self.roles.iter().map(|r| r.to_string()).collect(),
                ..Credentials::default()
            },
            user_name: self.user.into(),
            roles: self
                .roles
                .iter()
                .map(|r| (format!("id-{r}"), r.to_string()))
                .collect(),
            ..AuthContext::default()
        }
    }

    pub fn ctx(&self) -> Context {
        crate::context(&self.auth(), "req-test")
    }
}

/// A response: status, headers and the JSON body (`Null` when empty).
pub(crate) struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    /// Asserts a Nova error body and returns its message.
    #[track_caller]
    pub fn error(&self, status: u16, name: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.body[name]["code"], status, "{}", self.body);
        self.body[name]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub(crate) struct Cloud {
    pub router: Router,
    pub compute: Compute,
    _conductor: compute_domain::conductor::ConductorHandle,
    _agent: Option<common_bus::ServerHandle>,
    _dir: tempfile::TempDir,
}

impl Cloud {
    /// A cloud without compute hosts: servers are recorded, then fail to schedule.
    pub async fn start() -> Cloud {
        Cloud::build(false, None).await
    }

    /// A cloud with one host and the network service `net`.
    pub async fn networked(net: Arc<dyn compute_domain::NetworkPort>) -> Cloud {
        Cloud::build(true, Some(net)).await
    }

    /// A cloud with one host whose (fake) agent answers every request: servers go ACTIVE.
    pub async fn with_host() -> Cloud {
        Cloud::build(true, None).await
    }

    async fn build(host: bool, net: Option<Arc<dyn compute_domain::NetworkPort>>) -> Cloud {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("compute.db").display());
        let db = common_db::Db::connect(&url, 4, Duration::from_secs(5))
            .await
            .unwrap();
        let store = compute_domain::Store::new(db);
        store.migrate().await.unwrap();
        let placement: Arc<dyn PlacementPort> = if host {
            Arc::new(OneHost)
        } else {
            Arc::new(NoHosts)
        };
        let bus: Arc<dyn common_bus::Bus> = Arc::new(common_bus::InProcBus::new());
        let mut compute = Compute::new(
            store,
            placement,
            Arc::new(OneImage),
            bus.clone(),
            Default::default(),
        );
        if let Some(net) = net {
            compute = compute.with_network(net);
        }
        compute.flavors_seed_defaults().await.unwrap();
        let mut agent = None;
        if host {
            let topic = compute_model::rpc::agent_topic(HOST);
            agent = Some(bus.serve(&topic, Arc::new(FakeAgent)).await.unwrap());
            compute.store.service_heartbeat(&service()).await.unwrap();
        }
        let conductor = compute.conductor_start().await.unwrap();
        let state = ApiState {
            compute: compute.clone(),
            policy: Arc::new(Enforcer::new(common_policy::nova::DEFAULTS).unwrap()),
            base_url: BASE.into(),
        };
        let router = crate::router(state).layer(axum::middleware::from_fn(|req, next| {
            service_layer(Dialect::Compute, req, next)
        }));
        Cloud {
            router,
            compute,
            _conductor: conductor,
            _agent: agent,
            _dir: dir,
        }
    }

    /// A request at microversion `mv` ("2.x"; `None` sends no header).
    pub async fn call(
        &self,
        who: &Who,
        method: Method,
        path: &str,
        mv: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(who, method, path, mv, bytes.into_bytes()).await
    }

    pub async fn raw(
        &self,
        who: &Who,
        method: Method,
        path: &str,
        mv: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/v2.1{path}"));
        if let Some(mv) = mv {
            req = req.header("OpenStack-API-Version", format!("compute {mv}"));
        }
        let mut req = req.body(Body::from(body)).unwrap();
        req.extensions_mut().insert(who.auth());
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Creates a server as `who` at 2.79 and returns its id.
    pub async fn server(&self, who: &Who, name: &str) -> String {
        let body = json!({"server": {"name": name, "imageRef": IMAGE, "flavorRef": "1", "networks": "none"}});
        let r = self
            .call(who, Method::POST, "/servers", Some("2.79"), Some(body))
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        r.body["server"]["id"].as_str().unwrap().to_string()
    }

    /// Creates a server and waits until it is ACTIVE (needs [`Cloud::with_host`]).
    pub async fn active_server(&self, who: &Who, name: &str) -> String {
        let id = self.server(who, name).await;
        self.wait_status(who, &id, "ACTIVE").await;
        id
    }

    /// Polls the server until it has `status` and no task (a bounded number of tries, not a
    /// deadline).
    pub async fn wait_status(&self, who: &Who, id: &str, status: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..600 {
            let r = self
                .call(
                    who,
                    Method::GET,
                    &format!("/servers/{id}"),
                    Some("2.79"),
                    None,
                )
                .await;
            last = r.body["server"].clone();
            if last["status"] == status && last["OS-EXT-STS:task_state"].is_null() {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("server {id} never became {status}: {last:#}");
    }

    /// How many servers every project has (as the domain sees it, with admin's eyes).
    pub async fn count(&self) -> usize {
        let f = compute_domain::server::ServerFilter {
            all_tenants: true,
            ..Default::default()
        };
        self.compute
            .server_list(&ADMIN.ctx(), &f)
            .await
            .unwrap()
            .len()
    }
}

/// The heartbeat of [`HOST`]'s agent.
fn service() -> compute_model::ComputeService {
    compute_model::ComputeService {
        uuid: "5d3f1a2b-8c4e-4f6a-9b0c-1d2e3f4a5b6c".into(),
        host: HOST.into(),
        binary: "nova-compute".into(),
        availability_zone: "nova".into(),
        disabled: false,
        disabled_reason: None,
        forced_down: false,
        updated_at: String::new(),
        node_uuid: NODE.into(),
        hypervisor_type: "QEMU".into(),
        hypervisor_version: 8_002_000,
        host_ip: "127.0.0.1".into(),
        vcpus: 64,
        memory_mb: 131_072,
        local_gb: 2_000,
        cpu_info: "{\"arch\": \"x86_64\"}".into(),
    }
}
