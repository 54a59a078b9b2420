//! Router tests of the resource APIs: requests through [`crate::router`] without a socket,
//! over a real `Compute` on a temporary SQLite store, an in-memory placement whose usages
//! the tests set, the in-process bus and Nova's default policy. What the whole-cloud tests
//! (`tests/api/tests/compute_resources.rs`) cannot arrange cheaply lives here: readers
//! versus members, heartbeats gone stale, usage from placement, and usage reports over
//! instance rows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use common_error::{Error, Result};
use common_http::{service_layer, AuthContext, Dialect};
use common_policy::{Credentials, Enforcer};
use compute_domain::ports::{Allocations, HostCandidate, ImageInfo, ImagePort, PlacementPort};
use compute_domain::{Compute, Context};
use compute_model::{ComputeService, Flavor};
use serde_json::Value;
use tower::ServiceExt as _;

use crate::ApiState;

mod hosts;
mod policy;
mod usage;

#[derive(Default)]
pub(crate) struct Usages(pub Mutex<BTreeMap<String, BTreeMap<String, i64>>>);

#[async_trait::async_trait]
impl PlacementPort for Usages {
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
    async fn provider_usages(&self, provider: &str) -> Result<BTreeMap<String, i64>> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .get(provider)
            .cloned()
            .unwrap_or_default())
    }
}

struct NoImages;

#[async_trait::async_trait]
impl ImagePort for NoImages {
    async fn get(&self, _: &Context, id: &str) -> Result<ImageInfo> {
        Err(Error::not_found("image", id))
    }
    async fn create(
        &self,
        _: &Context,
        _: &str,
        _: &str,
        _: &BTreeMap<String, String>,
    ) -> Result<String> {
        Err(Error::conflict("no images"))
    }
    async fn delete(&self, _: &Context, _: &str) -> Result<()> {
        Ok(())
    }
}

pub(crate) const BASE: &str = "http://cloud.test";

pub(crate) struct Who {
    project: &'static str,
    user: &'static str,
    roles: &'static [&'static str],
}

pub(crate) const MEMBER: Who = Who {
    project: "p1",
    user: "alice",
    roles: &["member", "reader"],
};
pub(crate) const READER: Who = Who {
    project: "p1",
    user: "rita",
    roles: &["reader"],
};
pub(crate) const OTHER: Who = Who {
    project: "p2",
    user: "bob",
    roles: &["member", "reader"],
};
pub(crate) const ADMIN: Who = Who {
    project: "admin",
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
            roles: self
                .roles
                .iter()
                .map(|r| (format!("id-{r}"), r.to_string()))
                .collect(),
            ..AuthContext::default()
        }
    }
}

pub(crate) struct Cloud {
    router: Router,
    pub compute: Compute,
    pub usages: Arc<Usages>,
    _dir: tempfile::TempDir,
}

impl Cloud {
    pub(crate) async fn start() -> Cloud {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("compute.db").display());
        let db = common_db::Db::connect(&url, 4, Duration::from_secs(5))
            .await
            .unwrap();
        let store = compute_domain::Store::new(db);
        store.migrate().await.unwrap();
        let usages = Arc::new(Usages::default());
        let compute = Compute::new(
            store,
            usages.clone(),
            Arc::new(NoImages),
            Arc::new(common_bus::InProcBus::new()),
            Default::default(),
        );
        compute.flavors_seed_defaults().await.unwrap();
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
            usages,
            _dir: dir,
        }
    }

    pub(crate) async fn call(
        &self,
        who: Option<&Who>,
        m: Method,
        path: &str,
        mv: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(m)
            .uri(path)
            .header("OpenStack-API-Version", format!("compute {mv}"));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let mut req = req
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        if let Some(w) = who {
            req.extensions_mut().insert(w.auth());
        }
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub(crate) async fn get(&self, who: &Who, path: &str, mv: &str) -> (StatusCode, Value) {
        self.call(Some(who), Method::GET, path, mv, None).await
    }

    pub(crate) async fn sql(&self, sql: &str) {
        self.compute.store.db().execute_raw(sql).await.unwrap();
    }
}

/// The compute node uuid of `host` (`h1`, `h2`).
pub(crate) fn node(host: &str) -> String {
    let d = host.trim_start_matches('h');
    format!(
        "{d}{d}{d}{d}{d}{d}{d}{d}-{d}{d}{d}{d}-4{d}{d}{d}-8{d}{d}{d}-{}",
        d.repeat(12)
    )
}

pub(crate) fn service(host: &str) -> ComputeService {
    ComputeService {
        uuid: String::new(),
        host: host.into(),
        binary: "nova-compute".into(),
        availability_zone: "nova".into(),
        disabled: false,
        disabled_reason: None,
        forced_down: false,
        updated_at: String::new(),
        node_uuid: node(host),
        hypervisor_type: "QEMU".into(),
        hypervisor_version: 8002000,
        host_ip: "192.0.2.1".into(),
        vcpus: 8,
        memory_mb: 16384,
        local_gb: 100,
        cpu_info: r#"{"arch": "x86_64"}"#.into(),
    }
}

/// Inserts an instance row of `project` on `node` launched at `launched` (and terminated
/// and deleted at `terminated`, when given) with flavor m1.small-like sizes.
pub(crate) async fn instance(
    c: &Cloud,
    uuid: &str,
    project: &str,
    node: &str,
    launched: &str,
    terminated: Option<&str>,
) {
    let flavor = Flavor {
        id: "2".into(),
        name: "m1.small".into(),
        vcpus: 2,
        ram: 2048,
        disk: 20,
        ephemeral: 0,
        swap: 0,
        rxtx_factor: 1.0,
        is_public: true,
        disabled: false,
        description: None,
        extra_specs: BTreeMap::new(),
    };
    let f = serde_json::to_string(&flavor).unwrap().replace('\'', "''");
    let (term, deleted) = match terminated {
        Some(t) => (format!("'{t}'"), 1),
        None => ("NULL".to_string(), 0),
    };
    c.sql(&format!(
        "INSERT INTO compute_instance (uuid, name, project_id, user_id, image_ref, flavor, vm_state, \
         power_state, host, node, hostname, locked, config_drive, access_ip_v4, access_ip_v6, \
         launch_index, reservation_id, progress, created_at, updated_at, launched_at, \
         terminated_at, deleted, generation) VALUES ('{uuid}', 'vm-{uuid}', '{project}', 'u', \
         'img', '{f}', 'active', 1, 'h1', '{node}', 'vm', 0, 0, '', '', 0, 'r', 0, '{launched}', \
         '{launched}', '{launched}', {term}, {deleted}, 1)"
    ))
    .await;
}
