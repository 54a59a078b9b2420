//! Grants on projects, domains and the system over raw HTTP, and their effect on tokens.

use api_tests::{assert_error, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_and_domain_grants() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let (uid, pid, _) = c.user_with_role(&t, "alice", "member").await;
    let reader = c.role_id(&t, "reader").await;
    let grant = format!("/projects/{pid}/users/{uid}/roles/{reader}");

    let r = c.req(Method::PUT, &c.v3(&grant), Some(&t), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    assert_eq!(
        c.req(Method::PUT, &c.v3(&grant), Some(&t), None)
            .await
            .status,
        204,
        "granting twice is silent"
    );
    assert_eq!(
        c.req(Method::HEAD, &c.v3(&grant), Some(&t), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.req(Method::GET, &c.v3(&grant), Some(&t), None)
            .await
            .status,
        204
    );
    let lp = format!("/projects/{pid}/users/{uid}/roles");
    let l = c.req(Method::GET, &c.v3(&lp), Some(&t), None).await;
    assert_eq!(
        l.body["links"],
        json!({"self": c.v3(&lp), "previous": null, "next": null})
    );
    assert!(l.body["roles"][0]["links"]["self"]
        .as_str()
        .unwrap()
        .contains("/identity/v3/roles/"));
    assert_eq!(c.grant_roles(&t, &lp).await, ["member", "reader"]);

    let d = c.req(Method::DELETE, &c.v3(&grant), Some(&t), None).await;
    assert_eq!(d.status, 204);
    let msg = format!("Could not find role assignment with role: {reader}, user or group: {uid}, project, domain, or system: {pid}.");
    assert_error(
        &c.req(Method::GET, &c.v3(&grant), Some(&t), None).await,
        404,
        &msg,
    );
    assert_error(
        &c.req(Method::DELETE, &c.v3(&grant), Some(&t), None).await,
        404,
        &msg,
    );
    assert_eq!(c.grant_roles(&t, &lp).await, ["member"]);

    // Unknown parts answer 404 naming what is missing, and write nothing.
    assert_error(
        &c.req(
            Method::PUT,
            &c.v3(&format!("/projects/{pid}/users/{uid}/roles/nope")),
            Some(&t),
            None,
        )
        .await,
        404,
        "Could not find role: nope.",
    );
    assert_error(
        &c.req(
            Method::PUT,
            &c.v3(&format!("/projects/{pid}/users/nope/roles/{reader}")),
            Some(&t),
            None,
        )
        .await,
        404,
        "Could not find user: nope.",
    );
    assert_error(
        &c.req(
            Method::PUT,
            &c.v3(&format!("/projects/nope/users/{uid}/roles/{reader}")),
            Some(&t),
            None,
        )
        .await,
        404,
        "Could not find project: nope.",
    );
    assert_error(
        &c.req(
            Method::PUT,
            &c.v3(&format!("/domains/nope/users/{uid}/roles/{reader}")),
            Some(&t),
            None,
        )
        .await,
        404,
        "Could not find domain: nope.",
    );
    assert_error(
        &c.req(
            Method::PUT,
            &c.v3(&format!("/projects/{pid}/groups/nope/roles/{reader}")),
            Some(&t),
            None,
        )
        .await,
        404,
        "Could not find group: nope.",
    );
    assert_error(
        &c.req(
            Method::GET,
            &c.v3(&format!("/projects/{pid}/users/nope/roles")),
            Some(&t),
            None,
        )
        .await,
        404,
        "Could not find user: nope.",
    );
    assert_eq!(c.grant_roles(&t, &lp).await, ["member"]);

    // Domain grants, for users and groups.
    let gid = c
        .create(
            &t,
            "/groups",
            "group",
            json!({"name": "ops", "domain_id": "default"}),
        )
        .await;
    let dg = format!("/domains/default/groups/{gid}/roles/{reader}");
    assert_eq!(
        c.req(Method::PUT, &c.v3(&dg), Some(&t), None).await.status,
        204
    );
    assert_eq!(
        c.req(Method::HEAD, &c.v3(&dg), Some(&t), None).await.status,
        204
    );
    assert_eq!(
        c.grant_roles(&t, &format!("/domains/default/groups/{gid}/roles"))
            .await,
        ["reader"]
    );
    let du = format!("/domains/default/users/{uid}/roles/{reader}");
    assert_eq!(
        c.req(Method::HEAD, &c.v3(&du), Some(&t), None).await.status,
        404
    );
    assert_eq!(
        c.req(Method::PUT, &c.v3(&du), Some(&t), None).await.status,
        204
    );
    assert_eq!(
        c.grant_roles(&t, &format!("/domains/default/users/{uid}/roles"))
            .await,
        ["reader"]
    );
    assert_eq!(
        c.req(Method::DELETE, &c.v3(&du), Some(&t), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.req(Method::DELETE, &c.v3(&dg), Some(&t), None)
            .await
            .status,
        204
    );
    assert!(c
        .grant_roles(&t, &format!("/domains/default/groups/{gid}/roles"))
        .await
        .is_empty());

    // Domain-specific roles: only on projects of their domain, never on the system.
    let did = c
        .create(&t, "/domains", "domain", json!({"name": "other"}))
        .await;
    let drole = c
        .create(
            &t,
            "/roles",
            "role",
            json!({"name": "local", "domain_id": did}),
        )
        .await;
    let r = c
        .req(
            Method::PUT,
            &c.v3(&format!("/projects/{pid}/users/{uid}/roles/{drole}")),
            Some(&t),
            None,
        )
        .await;
    assert_error(
        &r,
        403,
        &format!("Project {pid} must be in the same domain as the role {drole} being assigned."),
    );
    let r = c
        .req(
            Method::PUT,
            &c.v3(&format!("/system/users/{uid}/roles/{drole}")),
            Some(&t),
            None,
        )
        .await;
    assert_error(&r, 400, &format!("Role {drole} is a domain-specific role. Unable to use a domain-specific role in a system assignment."));
    assert_eq!(c.grant_roles(&t, &lp).await, ["member"]);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_grants() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let uid = c.create_user(&t, "sysuser").await;
    let gid = c
        .create(&t, "/groups", "group", json!({"name": "sysgroup"}))
        .await;
    let reader = c.role_id(&t, "reader").await;
    for actor in [format!("users/{uid}"), format!("groups/{gid}")] {
        let g = format!("/system/{actor}/roles/{reader}");
        assert_eq!(
            c.req(Method::HEAD, &c.v3(&g), Some(&t), None).await.status,
            404
        );
        assert_eq!(
            c.req(Method::PUT, &c.v3(&g), Some(&t), None).await.status,
            204
        );
        assert_eq!(
            c.req(Method::GET, &c.v3(&g), Some(&t), None).await.status,
            204
        );
        let l = c
            .req(
                Method::GET,
                &c.v3(&format!("/system/{actor}/roles")),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(l.status, 200);
        assert_eq!(l.body["roles"][0]["name"], "reader");
        assert_eq!(l.body["roles"][0]["domain_id"], Value::Null);
        assert_eq!(
            l.body["links"]["self"],
            c.v3(&format!("/system/{actor}/roles"))
        );
    }
    let sys = c.role_assignments(&t, "?scope.system=all").await;
    assert!(sys
        .iter()
        .all(|a| a["scope"] == json!({"system": {"all": true}})));
    let mine: Vec<&Value> = sys
        .iter()
        .filter(|a| a["user"]["id"] == uid.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        mine[0]["links"]["assignment"],
        c.v3(&format!("/system/users/{uid}/roles/{reader}"))
    );
    // A system-scoped token now works for the user.
    let auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": uid, "password": "pw-123456"}}}, "scope": {"system": {"all": true}}}});
    let r = c
        .req(
            Method::POST,
            &c.v3("/auth/tokens"),
            None,
            Some(auth.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let st = r.header("x-subject-token");
    let l = c
        .req(Method::GET, &c.v3("/role_assignments"), Some(&st), None)
        .await;
    assert_eq!(l.status, 200, "a system reader lists assignments");
    let w = c
        .req(
            Method::PUT,
            &c.v3(&format!(
                "/system/users/{uid}/roles/{}",
                c.role_id(&t, "admin").await
            )),
            Some(&st),
            None,
        )
        .await;
    assert_eq!(w.status, 403, "a system reader cannot grant");
    for actor in [format!("users/{uid}"), format!("groups/{gid}")] {
        let g = format!("/system/{actor}/roles/{reader}");
        assert_eq!(
            c.req(Method::DELETE, &c.v3(&g), Some(&t), None)
                .await
                .status,
            204
        );
        let r = c.req(Method::DELETE, &c.v3(&g), Some(&t), None).await;
        assert_eq!(r.status, 404);
    }
    assert_eq!(
        c.req(Method::POST, &c.v3("/auth/tokens"), None, Some(auth))
            .await
            .status,
        401
    );
    c.stop().await.unwrap();
}

/// A revoked grant shows in tokens at once; losing every role on the project kills the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_grants_reaches_tokens() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let (uid, pid, ut) = c.user_with_role(&t, "dave", "member").await;
    let member = c.role_id(&t, "member").await;
    let service = c.role_id(&t, "service").await;
    let roles = || async {
        let r = c
            .client
            .get(c.v3("/auth/tokens"))
            .header("X-Auth-Token", &t)
            .header("X-Subject-Token", &ut)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let mut names: Vec<String> = body["token"]["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        (status, names)
    };
    assert_eq!(
        roles().await,
        (200, vec!["member".to_string(), "reader".to_string()])
    );
    assert_eq!(
        c.req(
            Method::PUT,
            &c.v3(&format!("/projects/{pid}/users/{uid}/roles/{service}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(roles().await.1, ["member", "reader", "service"]);
    assert_eq!(
        c.req(
            Method::DELETE,
            &c.v3(&format!("/projects/{pid}/users/{uid}/roles/{member}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(roles().await.1, ["service"]);
    assert_eq!(
        c.req(Method::GET, &c.v3("/auth/projects"), Some(&ut), None)
            .await
            .status,
        200
    );
    assert_eq!(
        c.req(
            Method::DELETE,
            &c.v3(&format!("/projects/{pid}/users/{uid}/roles/{service}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        c.req(Method::GET, &c.v3("/auth/projects"), Some(&ut), None)
            .await
            .status,
        401
    );
    assert_eq!(
        c.project_token("dave", &pid).await.status,
        401,
        "no role, no token"
    );
    c.stop().await.unwrap();
}
