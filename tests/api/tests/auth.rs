//! Token issue, validation, revocation and discovery over raw HTTP.

use api_tests::TestCloud;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_documents() {
    let c = TestCloud::start().await.unwrap();
    let r = c.req(Method::GET, &format!("{}/identity", c.base), None, None).await;
    assert_eq!(r.status, 300);
    assert_eq!(r.body["versions"]["values"][0]["id"], "v3.14");
    for path in ["/identity/v3", "/identity/v3/"] {
        let r = c.req(Method::GET, &format!("{}{path}", c.base), None, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body["version"]["links"][0]["href"], format!("{}/identity/v3/", c.base));
        assert!(r.header("x-openstack-request-id").starts_with("req-"));
    }
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_token_issue_validate_revoke() {
    let c = TestCloud::start().await.unwrap();
    let r = c.token("admin", &c.admin_password, Some("admin")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let tok = r.header("x-subject-token");
    assert!(tok.starts_with("gAAAAA") && tok.len() <= 255, "{tok}");
    let t = &r.body["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["user"]["name"], "admin");
    assert_eq!(t["user"]["domain"]["id"], "default");
    assert_eq!(t["project"]["name"], "admin");
    assert!(t["expires_at"].as_str().unwrap().ends_with(".000000Z"));
    assert_eq!(t["audit_ids"][0].as_str().unwrap().len(), 22);
    let roles: Vec<&str> = t["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(roles.contains(&"admin") && roles.contains(&"member") && roles.contains(&"reader"), "{roles:?}");
    assert!(t["catalog"].as_array().unwrap().iter().any(|s| s["type"] == "identity"));

    let mut v = c.client.get(c.v3("/auth/tokens")).header("X-Auth-Token", &tok).header("X-Subject-Token", &tok);
    v = v.query(&[("nocatalog", "1")]);
    let v = v.send().await.unwrap();
    assert_eq!(v.status(), 200);
    let body: serde_json::Value = v.json().await.unwrap();
    assert!(body["token"].get("catalog").is_none());

    let head = c.client.head(c.v3("/auth/tokens")).header("X-Auth-Token", &tok).header("X-Subject-Token", &tok).send().await.unwrap();
    assert_eq!(head.status(), 200);

    let del = c.client.delete(c.v3("/auth/tokens")).header("X-Auth-Token", &tok).header("X-Subject-Token", &tok).send().await.unwrap();
    assert_eq!(del.status(), 204);
    let after = c.req(Method::GET, &c.v3("/projects"), Some(&tok), None).await;
    assert_eq!(after.status, 401);
    assert_eq!(after.body["error"]["title"], "Unauthorized");
    assert!(after.header("www-authenticate").starts_with("Keystone uri="));
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_and_tampered_tokens_are_401() {
    let c = TestCloud::start().await.unwrap();
    let r = c.token("admin", "wrong", Some("admin")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["message"], "The request you have made requires authentication.");
    let r = c.token("nobody", "x", None).await;
    assert_eq!(r.status, 401);
    let tok = c.admin_token().await;
    let mut bytes = tok.into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bytes).unwrap();
    let r = c.req(Method::GET, &c.v3("/projects"), Some(&bad), None).await;
    assert_eq!(r.status, 401);
    let r = c.req(Method::GET, &c.v3("/projects"), None, None).await;
    assert_eq!(r.status, 401);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_401() {
    let c = TestCloud::start_with(|cfg| cfg.identity.token_expiration_secs = 1).await.unwrap();
    let tok = c.admin_token().await;
    assert_eq!(c.req(Method::GET, &c.v3("/projects"), Some(&tok), None).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(c.req(Method::GET, &c.v3("/projects"), Some(&tok), None).await.status, 401);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_auth_bodies_are_400_never_500() {
    let c = TestCloud::start().await.unwrap();
    for body in [
        &b"{"[..],
        b"[]",
        b"null",
        br#"{"auth": "x"}"#,
        br#"{"auth": {"identity": {"methods": "password"}}}"#,
        br#"{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": 1}}}}}"#,
    ] {
        let r = c.raw(Method::POST, &c.v3("/auth/tokens"), None, body.to_vec()).await;
        assert_eq!(r.status, 400, "{}: {}", String::from_utf8_lossy(body), r.text);
        assert_eq!(r.body["error"]["code"], 400);
        assert_eq!(r.body["error"]["title"], "Bad Request");
    }
    c.stop().await.unwrap();
}
