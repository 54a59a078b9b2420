//! Property tests: random and mutated bodies to `POST /v3/auth/tokens` and the CRUD
//! endpoints never produce a 5xx, always produce Keystone's error body on failure, and leave
//! the server healthy.

use std::sync::OnceLock;

use api_tests::TestCloud;
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

struct Shared {
    rt: tokio::runtime::Runtime,
    cloud: TestCloud,
    token: String,
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (cloud, token) = rt.block_on(async {
            let c = TestCloud::start().await.unwrap();
            let t = c.admin_token().await;
            (c, t)
        });
        Shared { rt, cloud, token }
    })
}

const KEYS: &[&str] = &[
    "auth",
    "identity",
    "methods",
    "password",
    "user",
    "name",
    "domain",
    "id",
    "scope",
    "project",
    "system",
    "all",
    "token",
    "application_credential",
    "secret",
    "enabled",
    "description",
    "domain_id",
    "parent_id",
    "tags",
    "is_domain",
    "options",
    "email",
    "default_project_id",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,70}".prop_map(Value::from),
        prop::sample::select(KEYS).prop_map(Value::from),
        Just(Value::from("password")),
        Just(Value::from("default")),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// A valid auth body with one random path replaced by a random value.
fn mutated_auth() -> impl Strategy<Value = Value> {
    let base = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "x"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let paths: Vec<Vec<&'static str>> = vec![
        vec!["auth"],
        vec!["auth", "identity"],
        vec!["auth", "identity", "methods"],
        vec!["auth", "identity", "password"],
        vec!["auth", "identity", "password", "user"],
        vec!["auth", "identity", "password", "user", "name"],
        vec!["auth", "identity", "password", "user", "domain"],
        vec!["auth", "identity", "password", "user", "password"],
        vec!["auth", "scope"],
        vec!["auth", "scope", "project"],
        vec!["auth", "scope", "project", "domain"],
    ];
    (prop::sample::select(paths), arb_json()).prop_map(move |(path, v)| {
        let mut b = base.clone();
        let mut cur = &mut b;
        for (i, k) in path.iter().enumerate() {
            if i + 1 == path.len() {
                cur[*k] = v.clone();
            } else {
                cur = &mut cur[*k];
            }
        }
        b
    })
}

fn check(r: &api_tests::Resp, what: &str) {
    assert!(r.status.as_u16() < 500, "{what} -> {} {}", r.status, r.text);
    if r.status.as_u16() >= 400 {
        let e = &r.body["error"];
        assert_eq!(
            e["code"].as_u64(),
            Some(u64::from(r.status.as_u16())),
            "{what} -> {}",
            r.text
        );
        assert!(
            e["title"].is_string() && e["message"].is_string(),
            "{what} -> {}",
            r.text
        );
    }
}

const CRUD: &[(&str, &str)] = &[
    ("POST", "/projects"),
    ("POST", "/domains"),
    ("POST", "/users"),
    ("POST", "/groups"),
    ("POST", "/roles"),
    ("POST", "/regions"),
    ("POST", "/services"),
    ("POST", "/endpoints"),
    ("POST", "/credentials"),
    ("PATCH", "/projects/default"),
    ("PATCH", "/domains/default"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 250, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn auth_tokens_never_5xx(body in prop_oneof![arb_json(), mutated_auth()]) {
        let s = shared();
        let r = s.rt.block_on(s.cloud.req(Method::POST, &s.cloud.v3("/auth/tokens"), None, Some(body.clone())));
        check(&r, &body.to_string());
    }

    #[test]
    fn auth_tokens_raw_bytes_never_5xx(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let s = shared();
        let r = s.rt.block_on(s.cloud.raw(Method::POST, &s.cloud.v3("/auth/tokens"), None, bytes));
        check(&r, "raw bytes");
    }

    #[test]
    fn crud_endpoints_never_5xx(which in 0..CRUD.len(), inner in arb_json(), wrap in any::<bool>()) {
        let s = shared();
        let (method, path) = CRUD[which];
        let key = path.trim_start_matches('/').split('/').next().unwrap_or("x").trim_end_matches('s').to_string();
        let body = if wrap { json!({ key: inner }) } else { inner };
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let r = s.rt.block_on(s.cloud.req(m, &s.cloud.v3(path), Some(&s.token), Some(body.clone())));
        check(&r, &format!("{method} {path} {body}"));
    }
}

#[test]
fn server_is_healthy_after_fuzzing() {
    let s = shared();
    let r = s.rt.block_on(s.cloud.req(
        Method::GET,
        &format!("{}/healthz", s.cloud.base),
        None,
        None,
    ));
    assert_eq!(r.status, 200);
}
