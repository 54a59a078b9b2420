//! Harness for API integration tests: the whole cloud in-process on `127.0.0.1:0` with a
//! fresh database per test, and a small raw-HTTP client.
//!
//! The database is SQLite in a temporary directory unless `FERROSTACK_TEST_DATABASE` names a
//! PostgreSQL server (`postgres://user@host:port`), in which case each test gets a database
//! of its own, dropped when the cloud stops.

// A harness for tests: a failed request is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use anyhow::Context as _;
use common_config::Config;
use ferrostack::{start, Running, StartOptions};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A running test cloud.
pub struct TestCloud {
    pub running: Option<Running>,
    pub base: String,
    pub admin_password: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

/// A response: status, headers and JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// The header's value as text, or "".
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

/// The configuration tests start with: cheap bcrypt, no rate limits, temp data dir.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    cfg.server.listen = "127.0.0.1:0".into();
    cfg.identity.password_hash_rounds = 4;
    cfg.identity.bootstrap_password = "admin-secret".into();
    cfg.rate_limit.token_per_user_per_sec = 0.0;
    cfg.rate_limit.token_per_addr_per_sec = 0.0;
    // API tests check the compute API's behaviour (validation, quotas, isolation,
    // scheduling), not VMs: they run the fake driver, explicitly. Real QEMU guests are
    // booted by the compute agent's and the end-to-end tests.
    cfg.compute.driver = "fake".into();
    cfg.compute.heartbeat_secs = 1;
    cfg.compute.power_sync_secs = 1;
    // API tests check the network API; the data plane is tested with real devices elsewhere.
    cfg.network.dataplane = "none".into();
    cfg
}

impl TestCloud {
    /// Starts a cloud with the default test configuration.
    pub async fn start() -> anyhow::Result<TestCloud> {
        Self::start_with(|_| {}).await
    }

    /// Starts a cloud without the compute service, whose agent would register its host in
    /// placement (for the placement tests, which count providers).
    pub async fn start_without_compute() -> anyhow::Result<TestCloud> {
        Self::start_opts(|_| {}, &["identity", "image", "placement"]).await
    }

    /// Starts a cloud after `tweak` adjusts the configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> anyhow::Result<TestCloud> {
        Self::start_opts(
            tweak,
            &[
                "identity",
                "image",
                "placement",
                "network",
                "volume",
                "compute",
            ],
        )
        .await
    }

    async fn start_opts(
        tweak: impl FnOnce(&mut Config),
        services: &[&str],
    ) -> anyhow::Result<TestCloud> {
        let dir = tempfile::tempdir()?;
        let mut cfg = test_config(dir.path());
        let mut pg = None;
        if let Ok(server) = std::env::var("FERROSTACK_TEST_DATABASE") {
            if !server.is_empty() {
                let name = format!("ft_{}", uuid::Uuid::new_v4().simple());
                admin_sql(&server, &format!("CREATE DATABASE {name}")).await?;
                cfg.database.url = format!("{}/{name}", server.trim_end_matches('/'));
                pg = Some((server, name));
            }
        }
        tweak(&mut cfg);
        let password = cfg.identity.bootstrap_password.clone();
        let opts = StartOptions {
            services: services.iter().map(|s| s.to_string()).collect(),
            ..StartOptions::default()
        };
        let running = start(cfg, opts).await?;
        let base = running.base_url.clone();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(TestCloud {
            running: Some(running),
            base,
            admin_password: password,
            client,
            dir,
            pg,
        })
    }

    /// Stops the cloud and drops its PostgreSQL database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(r) = self.running.take() {
            r.stop().await?;
        }
        if let Some((server, name)) = self.pg.take() {
            admin_sql(
                &server,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await?;
        }
        Ok(())
    }

    /// `http://127.0.0.1:port/identity/v3` + `path`.
    pub fn v3(&self, path: &str) -> String {
        format!("{}/identity/v3{}", self.base, path)
    }

    /// Sends a request with an optional token and JSON body.
    pub async fn req(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut rb = self.client.request(method, url);
        if let Some(t) = token {
            rb = rb.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("request failed");
        into_resp(r).await
    }

    /// Sends a raw body (for malformed-input tests).
    pub async fn raw(&self, method: Method, url: &str, token: Option<&str>, body: Vec<u8>) -> Resp {
        let mut rb = self
            .client
            .request(method, url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            rb = rb.header("X-Auth-Token", t);
        }
        into_resp(rb.send().await.expect("request failed")).await
    }

    /// Password auth by user name in the Default domain, scoped to a project by name.
    pub async fn token(&self, user: &str, password: &str, project: Option<&str>) -> Resp {
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}}});
        if let Some(p) = project {
            auth["scope"] = json!({"project": {"name": p, "domain": {"id": "default"}}});
        }
        self.req(
            Method::POST,
            &self.v3("/auth/tokens"),
            None,
            Some(json!({"auth": auth})),
        )
        .await
    }

    /// A project-scoped admin token on the `admin` project.
    pub async fn admin_token(&self) -> String {
        let r = self
            .token("admin", &self.admin_password, Some("admin"))
            .await;
        assert_eq!(r.status, 201, "admin auth failed: {}", r.text);
        r.header("x-subject-token")
    }

    /// Creates a user with a role on a new project; returns (user_id, project_id, token).
    pub async fn user_with_role(
        &self,
        admin: &str,
        name: &str,
        role: &str,
    ) -> (String, String, String) {
        let p = self
            .req(
                Method::POST,
                &self.v3("/projects"),
                Some(admin),
                Some(json!({"project": {"name": format!("{name}-project")}})),
            )
            .await;
        assert_eq!(p.status, 201, "{}", p.text);
        let pid = p.body["project"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let u = self
            .req(Method::POST, &self.v3("/users"), Some(admin), Some(json!({"user": {"name": name, "password": "pw-123456", "domain_id": "default"}})))
            .await;
        assert_eq!(u.status, 201, "{}", u.text);
        let uid = u.body["user"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let roles = self
            .req(
                Method::GET,
                &self.v3(&format!("/roles?name={role}")),
                Some(admin),
                None,
            )
            .await;
        let rid = roles.body["roles"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let g = self
            .req(
                Method::PUT,
                &self.v3(&format!("/projects/{pid}/users/{uid}/roles/{rid}")),
                Some(admin),
                None,
            )
            .await;
        assert_eq!(g.status, 204, "{}", g.text);
        let t = self
            .token(name, "pw-123456", Some(&format!("{name}-project")))
            .await;
        assert_eq!(t.status, 201, "{}", t.text);
        (uid, pid, t.header("x-subject-token"))
    }
}

/// Asserts a Keystone error: status, `{"error": {"code", "message", "title"}}`.
pub fn assert_error(r: &Resp, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["error"]["code"], status);
    assert_eq!(r.body["error"]["message"], message, "{}", r.text);
    assert!(r.body["error"]["title"].is_string(), "{}", r.text);
}

impl TestCloud {
    /// The id of the global role named `name`.
    pub async fn role_id(&self, token: &str, name: &str) -> String {
        let r = self
            .req(
                Method::GET,
                &self.v3(&format!("/roles?name={name}")),
                Some(token),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["roles"][0]["id"].as_str().unwrap().to_string()
    }

    /// `POST <path> {key: body}`, asserting 201; returns the new entity's id.
    pub async fn create(&self, token: &str, path: &str, key: &str, body: Value) -> String {
        let r = self
            .req(
                Method::POST,
                &self.v3(path),
                Some(token),
                Some(json!({ key: body })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body[key]["id"].as_str().unwrap().to_string()
    }

    /// `GET /v3/role_assignments<query>`, asserting 200; the assignments.
    pub async fn role_assignments(&self, token: &str, query: &str) -> Vec<Value> {
        let r = self
            .req(
                Method::GET,
                &self.v3(&format!("/role_assignments{query}")),
                Some(token),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{query}: {}", r.text);
        r.body["role_assignments"].as_array().unwrap().clone()
    }

    /// Password auth of a Default-domain user (password `pw-123456`) scoped to a project id.
    pub async fn project_token(&self, name: &str, project_id: &str) -> Resp {
        let auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": name, "domain": {"id": "default"}, "password": "pw-123456"}}},
            "scope": {"project": {"id": project_id}}}});
        self.req(Method::POST, &self.v3("/auth/tokens"), None, Some(auth))
            .await
    }

    /// The names of the roles a grant-list path (`/projects/P/users/U/roles`) answers, asserting 200.
    pub async fn grant_roles(&self, t: &str, path: &str) -> Vec<String> {
        let r = self.req(Method::GET, &self.v3(path), Some(t), None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let mut v: Vec<String> = r.body["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    }

    /// Creates a user in the Default domain with password `pw-123456`; returns its id.
    pub async fn create_user(&self, token: &str, name: &str) -> String {
        let body = json!({"name": name, "password": "pw-123456", "domain_id": "default"});
        self.create(token, "/users", "user", body).await
    }
}

/// Reads a response into a [`Resp`] (status, headers, text and JSON body).
pub async fn into_resp(r: reqwest::Response) -> Resp {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        text,
    }
}

async fn admin_sql(server: &str, sql: &str) -> anyhow::Result<()> {
    let url = format!("{}/postgres", server.trim_end_matches('/'));
    let db = common_db::Db::connect(&url, 2, Duration::from_secs(10))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let res = db
        .execute_raw(sql)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| sql.to_string());
    db.close().await;
    res
}
