//! Helpers for the placement tests: requests with a microversion header.
#![allow(dead_code)]

use api_tests::{Resp, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

/// `http://.../placement` + path.
pub fn pu(c: &TestCloud, path: &str) -> String {
    format!("{}/placement{}", c.base, path)
}

/// A request at microversion `mv` (`None` = no header).
pub async fn preq(
    c: &TestCloud,
    m: Method,
    path: &str,
    tok: Option<&str>,
    mv: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut rb = c.client.request(m, pu(c, path));
    if let Some(t) = tok {
        rb = rb.header("X-Auth-Token", t);
    }
    if let Some(v) = mv {
        rb = rb.header("OpenStack-API-Version", format!("placement {v}"));
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("request failed");
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

/// At 1.39.
pub async fn p(c: &TestCloud, m: Method, path: &str, tok: &str, body: Option<Value>) -> Resp {
    preq(c, m, path, Some(tok), Some("1.39"), body).await
}

/// Asserts a Placement error body with `status` and `code`.
pub fn assert_err(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    let e = &r.body["errors"][0];
    assert_eq!(e["status"], status, "{}", r.text);
    assert_eq!(e["code"], code, "{}", r.text);
    assert!(
        e["title"].is_string() && e["detail"].is_string() && e["request_id"].is_string(),
        "{}",
        r.text
    );
}

/// Creates a provider; returns its uuid.
pub async fn mk_rp(c: &TestCloud, tok: &str, name: &str, parent: Option<&str>) -> String {
    let mut b = json!({"name": name});
    if let Some(p) = parent {
        b["parent_provider_uuid"] = json!(p);
    }
    let r = p(c, Method::POST, "/resource_providers", tok, Some(b)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["uuid"].as_str().unwrap_or_default().to_string()
}

/// Sets a provider's whole inventory (from its current generation); returns the new generation.
pub async fn set_inv(c: &TestCloud, tok: &str, rp: &str, inv: Value) -> i64 {
    let g = p(
        c,
        Method::GET,
        &format!("/resource_providers/{rp}"),
        tok,
        None,
    )
    .await
    .body["generation"]
        .as_i64()
        .unwrap_or(-1);
    let r = p(
        c,
        Method::PUT,
        &format!("/resource_providers/{rp}/inventories"),
        tok,
        Some(json!({"resource_provider_generation": g, "inventories": inv})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["resource_provider_generation"]
        .as_i64()
        .unwrap_or(-1)
}
