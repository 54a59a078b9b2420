//! Implied roles and role inferences over raw HTTP, and their effect on tokens.

use api_tests::{assert_error, Resp, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

fn id(r: &Resp, key: &str) -> String {
    r.body[key]["id"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implied_roles_and_inferences() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let dev = id(
        &c.req(
            Method::POST,
            &c.v3("/roles"),
            Some(&t),
            Some(json!({"role": {"name": "dev"}})),
        )
        .await,
        "role",
    );
    let member = c.role_id(&t, "member").await;
    let admin = c.role_id(&t, "admin").await;
    let path = format!("/roles/{dev}/implies/{member}");

    let p = c.req(Method::PUT, &c.v3(&path), Some(&t), None).await;
    assert_eq!(p.status, 201, "{}", p.text);
    assert_eq!(
        p.body,
        json!({
            "role_inference": {
                "prior_role": {"id": dev, "name": "dev", "links": {"self": c.v3(&format!("/roles/{dev}"))}},
                "implies": {"id": member, "name": "member", "links": {"self": c.v3(&format!("/roles/{member}"))}},
            },
            "links": {"self": c.v3(&path)},
        })
    );
    let g = c.req(Method::GET, &c.v3(&path), Some(&t), None).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body, p.body);
    let h = c.req(Method::HEAD, &c.v3(&path), Some(&t), None).await;
    assert_eq!(h.status, 204);
    let again = c.req(Method::PUT, &c.v3(&path), Some(&t), None).await;
    assert_error(
        &again,
        409,
        "Conflict occurred attempting to store implied_role - Duplicate entry.",
    );

    let l = c
        .req(
            Method::GET,
            &c.v3(&format!("/roles/{dev}/implies")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(l.status, 200);
    assert_eq!(l.body["role_inference"]["prior_role"]["id"], dev.as_str());
    assert_eq!(
        l.body["role_inference"]["implies"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        l.body["links"]["self"],
        c.v3(&format!("/roles/{dev}/implies"))
    );
    let inf = c
        .req(Method::GET, &c.v3("/role_inferences"), Some(&t), None)
        .await;
    assert_eq!(inf.status, 200);
    let rules = inf.body["role_inferences"].as_array().unwrap();
    let dev_rule = rules
        .iter()
        .find(|r| r["prior_role"]["id"] == dev.as_str())
        .unwrap();
    assert_eq!(dev_rule["implies"][0]["name"], "member");
    assert!(rules
        .iter()
        .any(|r| r["prior_role"]["name"] == "member" && r["implies"][0]["name"] == "reader"));

    let bad = c
        .req(
            Method::PUT,
            &c.v3(&format!("/roles/{dev}/implies/{admin}")),
            Some(&t),
            None,
        )
        .await;
    assert_error(&bad, 403, &format!("{admin} cannot be an implied roles."));
    let drole = id(
        &c.req(
            Method::POST,
            &c.v3("/roles"),
            Some(&t),
            Some(json!({"role": {"name": "d", "domain_id": "default"}})),
        )
        .await,
        "role",
    );
    let bad = c
        .req(
            Method::PUT,
            &c.v3(&format!("/roles/{dev}/implies/{drole}")),
            Some(&t),
            None,
        )
        .await;
    assert_error(&bad, 403, "Global role cannot imply a domain-specific role");
    let ok = c
        .req(
            Method::PUT,
            &c.v3(&format!("/roles/{drole}/implies/{dev}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(ok.status, 201, "a domain role may imply a global one");
    let missing = c
        .req(
            Method::PUT,
            &c.v3(&format!("/roles/nope/implies/{member}")),
            Some(&t),
            None,
        )
        .await;
    assert_error(&missing, 404, "Could not find role: nope.");
    let missing = c
        .req(
            Method::GET,
            &c.v3(&format!("/roles/{dev}/implies/nope")),
            Some(&t),
            None,
        )
        .await;
    assert_error(&missing, 404, "Could not find role: nope.");
    let none = c
        .req(
            Method::GET,
            &c.v3(&format!("/roles/{member}/implies/{dev}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(none.status, 404);

    let d = c.req(Method::DELETE, &c.v3(&path), Some(&t), None).await;
    assert_eq!(d.status, 204);
    let d = c.req(Method::DELETE, &c.v3(&path), Some(&t), None).await;
    assert_eq!(d.status, 404);
    let g = c.req(Method::GET, &c.v3(&path), Some(&t), None).await;
    assert_eq!(g.status, 404);
    c.stop().await.unwrap();
}

/// Token roles follow role implications and role deletion at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implications_and_deletion_reach_tokens() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let (_, _, ut) = c.user_with_role(&t, "alice", "reader").await;
    let dev = id(
        &c.req(
            Method::POST,
            &c.v3("/roles"),
            Some(&t),
            Some(json!({"role": {"name": "dev"}})),
        )
        .await,
        "role",
    );
    let token_roles = |body: &Value| -> Vec<String> {
        let mut v: Vec<String> = body["token"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let validate = || async {
        let mut rb = c
            .client
            .get(c.v3("/auth/tokens"))
            .header("X-Auth-Token", &t)
            .header("X-Subject-Token", &ut);
        rb = rb.header("Accept", "application/json");
        let r = rb.send().await.unwrap();
        let status = r.status();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let (s, body) = validate().await;
    assert_eq!(s, 200);
    assert_eq!(token_roles(&body), ["reader"]);
    let reader = c.role_id(&t, "reader").await;
    let p = c
        .req(
            Method::PUT,
            &c.v3(&format!("/roles/{reader}/implies/{dev}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(p.status, 201);
    let (_, body) = validate().await;
    assert_eq!(
        token_roles(&body),
        ["dev", "reader"],
        "a new implication shows in existing tokens"
    );
    let d = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/roles/{reader}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(d.status, 204);
    let r = c
        .req(Method::GET, &c.v3("/auth/projects"), Some(&ut), None)
        .await;
    assert_eq!(
        r.status, 401,
        "the user's only role is gone, so is the token: {}",
        r.text
    );
    c.stop().await.unwrap();
}

/// Deleting a role deletes the application credentials of the users who held it on a
/// project, as Keystone does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_role_purges_application_credentials() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let (uid, pid, ut) = c.user_with_role(&t, "ivy", "member").await;
    let dev = id(
        &c.req(
            Method::POST,
            &c.v3("/roles"),
            Some(&t),
            Some(json!({"role": {"name": "dev"}})),
        )
        .await,
        "role",
    );
    let g = c
        .req(
            Method::PUT,
            &c.v3(&format!("/projects/{pid}/users/{uid}/roles/{dev}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(g.status, 204);
    let ac = c
        .req(
            Method::POST,
            &c.v3(&format!("/users/{uid}/application_credentials")),
            Some(&ut),
            Some(json!({"application_credential": {"name": "ci"}})),
        )
        .await;
    assert_eq!(ac.status, 201, "{}", ac.text);
    let acid = id(&ac, "application_credential");
    let path = format!("/users/{uid}/application_credentials/{acid}");
    assert_eq!(
        c.req(Method::GET, &c.v3(&path), Some(&t), None)
            .await
            .status,
        200
    );
    let d = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/roles/{dev}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(d.status, 204);
    assert_eq!(
        c.req(Method::GET, &c.v3(&path), Some(&t), None)
            .await
            .status,
        404
    );
    let roles = c
        .req(
            Method::GET,
            &c.v3(&format!("/projects/{pid}/users/{uid}/roles")),
            Some(&t),
            None,
        )
        .await;
    let names: Vec<&str> = roles.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["member"], "the other grant stays");
    c.stop().await.unwrap();
}
