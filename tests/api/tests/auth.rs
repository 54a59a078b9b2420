//! Token issue, validation, revocation and discovery over raw HTTP.

use api_tests::TestCloud;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_documents() {
    let c = TestCloud::start().await.unwrap();
    let r = c
        .req(Method::GET, &format!("{}/identity", c.base), None, None)
        .await;
    assert_eq!(r.status, 300);
    assert_eq!(r.body["versions"]["values"][0]["id"], "v3.14");
    for path in ["/identity/v3", "/identity/v3/"] {
        let r = c
            .req(Method::GET, &format!("{}{path}", c.base), None, None)
            .await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.body["version"]["links"][0]["href"],
            format!("{}/identity/v3/", c.base)
        );
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
    let roles: Vec<&str> = t["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        roles.contains(&"admin") && roles.contains(&"member") && roles.contains(&"reader"),
        "{roles:?}"
    );
    assert!(t["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["type"] == "identity"));

    let mut v = c
        .client
        .get(c.v3("/auth/tokens"))
        .header("X-Auth-Token", &tok)
        .header("X-Subject-Token", &tok);
    v = v.query(&[("nocatalog", "1")]);
    let v = v.send().await.unwrap();
    assert_eq!(v.status(), 200);
    let body: serde_json::Value = v.json().await.unwrap();
    assert!(body["token"].get("catalog").is_none());

    let head = c
        .client
        .head(c.v3("/auth/tokens"))
        .header("X-Auth-Token", &tok)
        .header("X-Subject-Token", &tok)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);

    let del = c
        .client
        .delete(c.v3("/auth/tokens"))
        .header("X-Auth-Token", &tok)
        .header("X-Subject-Token", &tok)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let after = c
        .req(Method::GET, &c.v3("/projects"), Some(&tok), None)
        .await;
    assert_eq!(after.status, 401);
    assert_eq!(after.body["error"]["title"], "Unauthorized");
    assert!(after
        .header("www-authenticate")
        .starts_with("Keystone uri="));
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_and_tampered_tokens_are_401() {
    let c = TestCloud::start().await.unwrap();
    let r = c.token("admin", "wrong", Some("admin")).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body["error"]["message"],
        "The request you have made requires authentication."
    );
    let r = c.token("nobody", "x", None).await;
    assert_eq!(r.status, 401);
    let tok = c.admin_token().await;
    let mut bytes = tok.into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bytes).unwrap();
    let r = c
        .req(Method::GET, &c.v3("/projects"), Some(&bad), None)
        .await;
    assert_eq!(r.status, 401);
    let r = c.req(Method::GET, &c.v3("/projects"), None, None).await;
    assert_eq!(r.status, 401);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_401() {
    let c = TestCloud::start_with(|cfg| cfg.identity.token_expiration_secs = 2)
        .await
        .unwrap();
    let tok = c.admin_token().await;
    assert_eq!(
        c.req(Method::GET, &c.v3("/projects"), Some(&tok), None)
            .await
            .status,
        200
    );
    // Expiry is in whole seconds: a 2 s token is valid now and gone 3.1 s later.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(
        c.req(Method::GET, &c.v3("/projects"), Some(&tok), None)
            .await
            .status,
        401
    );
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
        let r = c
            .raw(Method::POST, &c.v3("/auth/tokens"), None, body.to_vec())
            .await;
        assert_eq!(
            r.status,
            400,
            "{}: {}",
            String::from_utf8_lossy(body),
            r.text
        );
        assert_eq!(r.body["error"]["code"], 400);
        assert_eq!(r.body["error"]["title"], "Bad Request");
    }
    c.stop().await.unwrap();
}

async fn issue(c: &TestCloud, scope: Option<serde_json::Value>) -> api_tests::Resp {
    let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": c.admin_password}}}});
    if let Some(s) = scope {
        auth["scope"] = s;
    }
    c.req(
        Method::POST,
        &c.v3("/auth/tokens"),
        None,
        Some(json!({"auth": auth})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unscoped_domain_and_system_scoped_tokens() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    // Give admin a role on the Default domain so a domain-scoped token is possible.
    let roles = c
        .req(Method::GET, &c.v3("/roles?name=reader"), Some(&admin), None)
        .await;
    let reader = roles.body["roles"][0]["id"].as_str().unwrap().to_string();
    let me = c
        .req(Method::GET, &c.v3("/users?name=admin"), Some(&admin), None)
        .await;
    let uid = me.body["users"][0]["id"].as_str().unwrap().to_string();
    let g = c
        .req(
            Method::PUT,
            &c.v3(&format!("/domains/default/users/{uid}/roles/{reader}")),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(g.status, 204, "{}", g.text);

    let un = issue(&c, Some(json!("unscoped"))).await;
    assert_eq!(un.status, 201, "{}", un.text);
    let t = &un.body["token"];
    assert!(
        t.get("project").is_none() && t.get("roles").is_none() && t.get("catalog").is_none(),
        "{t}"
    );
    let un_tok = un.header("x-subject-token");
    let r = c
        .req(Method::GET, &c.v3("/auth/catalog"), Some(&un_tok), None)
        .await;
    assert_eq!(r.status, 403, "unscoped tokens have no catalog");
    let r = c
        .req(Method::GET, &c.v3("/auth/projects"), Some(&un_tok), None)
        .await;
    let names: Vec<&str> = r.body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"admin") && names.contains(&"demo"),
        "{names:?}"
    );
    let r = c
        .req(Method::GET, &c.v3("/auth/domains"), Some(&un_tok), None)
        .await;
    assert_eq!(r.body["domains"][0]["id"], "default", "{}", r.text);
    let r = c
        .req(Method::GET, &c.v3("/auth/system"), Some(&un_tok), None)
        .await;
    assert_eq!(r.body["system"], json!([{"all": true}]), "{}", r.text);

    let d = issue(&c, Some(json!({"domain": {"id": "default"}}))).await;
    assert_eq!(d.status, 201, "{}", d.text);
    assert_eq!(
        d.body["token"]["domain"],
        json!({"id": "default", "name": "Default"})
    );
    assert!(d.body["token"].get("project").is_none());
    let names: Vec<&str> = d.body["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["reader"]);

    let s = issue(&c, Some(json!({"system": {"all": true}}))).await;
    assert_eq!(s.status, 201, "{}", s.text);
    assert_eq!(s.body["token"]["system"], json!({"all": true}));
    let sys_tok = s.header("x-subject-token");
    let r = c
        .req(Method::GET, &c.v3("/auth/catalog"), Some(&sys_tok), None)
        .await;
    assert!(
        r.body["catalog"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "identity"),
        "{}",
        r.text
    );
    // A system admin may list every project.
    assert_eq!(
        c.req(Method::GET, &c.v3("/projects"), Some(&sys_tok), None)
            .await
            .status,
        200
    );

    // Rescoping: an unscoped token becomes a project-scoped one with the "token" method.
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": un_tok}},
        "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}});
    let r = c
        .req(Method::POST, &c.v3("/auth/tokens"), None, Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["token"]["methods"]
        .as_array()
        .unwrap()
        .contains(&json!("token")));
    assert_eq!(r.body["token"]["project"]["name"], "demo");
    assert_eq!(r.body["token"]["audit_ids"].as_array().unwrap().len(), 2);

    // No role on a domain: 401.
    let r = issue(&c, Some(json!({"domain": {"name": "nope"}}))).await;
    assert_eq!(r.status, 401);
    c.stop().await.unwrap();
}
