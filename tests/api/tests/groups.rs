//! Groups and group membership over raw HTTP.

use api_tests::TestCloud;
use reqwest::Method;
use serde_json::{json, Value};

async fn create(c: &TestCloud, tok: &str, kind: &str, body: Value) -> String {
    let r = c
        .req(
            Method::POST,
            &c.v3(&format!("/{kind}s")),
            Some(tok),
            Some(json!({ kind: body })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body[kind]["id"].as_str().unwrap().to_string()
}

async fn group_count(c: &TestCloud, tok: &str) -> usize {
    let r = c.req(Method::GET, &c.v3("/groups"), Some(tok), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["groups"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_crud_and_wire_format() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let r = c
        .req(Method::POST, &c.v3("/groups"), Some(&t), Some(json!({"group": {"name": "Contract developers", "description": "Contract developers", "domain_id": "default"}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let g = r.body["group"].clone();
    let id = g["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(
        g,
        json!({"id": id, "name": "Contract developers", "description": "Contract developers", "domain_id": "default",
            "links": {"self": c.v3(&format!("/groups/{id}"))}})
    );
    let plain = c
        .req(
            Method::POST,
            &c.v3("/groups"),
            Some(&t),
            Some(json!({"group": {"name": "plain", "tier": 2}})),
        )
        .await;
    assert_eq!(plain.status, 201);
    assert_eq!(plain.body["group"]["description"], "");
    assert_eq!(plain.body["group"]["domain_id"], "default");
    assert_eq!(plain.body["group"]["tier"], 2, "extra attributes are kept");

    let s = c
        .req(Method::GET, &c.v3(&format!("/groups/{id}")), Some(&t), None)
        .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["group"], g);
    let l = c.req(Method::GET, &c.v3("/groups"), Some(&t), None).await;
    assert_eq!(
        l.body["links"],
        json!({"self": c.v3("/groups"), "previous": null, "next": null})
    );
    assert_eq!(l.body["groups"].as_array().unwrap().len(), 2);
    for (q, n) in [
        ("name=plain", 1),
        ("name=none", 0),
        ("domain_id=default", 2),
        ("domain_id=other", 0),
    ] {
        let l = c
            .req(Method::GET, &c.v3(&format!("/groups?{q}")), Some(&t), None)
            .await;
        assert_eq!(l.body["groups"].as_array().unwrap().len(), n, "{q}");
    }
    let p = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/groups/{id}")),
            Some(&t),
            Some(
                json!({"group": {"name": "renamed", "description": "new", "domain_id": "default"}}),
            ),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["group"]["name"], "renamed");
    assert_eq!(p.body["group"]["description"], "new");
    let d = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/groups/{id}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(d.status, 204);
    let s = c
        .req(Method::GET, &c.v3(&format!("/groups/{id}")), Some(&t), None)
        .await;
    assert_eq!(s.status, 404);
    assert_eq!(
        s.body["error"],
        json!({"code": 404, "title": "Not Found", "message": format!("Could not find group: {id}.")})
    );
    assert_eq!(
        c.req(
            Method::DELETE,
            &c.v3(&format!("/groups/{id}")),
            Some(&t),
            None
        )
        .await
        .status,
        404
    );
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_bad_input_is_rejected_and_nothing_is_written() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let gid = create(&c, &t, "group", json!({"name": "taken"})).await;
    let before = group_count(&c, &t).await;
    for body in [
        json!({"group": {}}),
        json!({"group": {"name": 1}}),
        json!({"group": {"name": " "}}),
        json!({"group": {"name": "g".repeat(256)}}),
        json!({"group": {"name": "ok", "description": 5}}),
        json!({"group": {"name": "ok", "domain_id": "no_such!"}}),
        json!({"group": []}),
        json!({}),
    ] {
        let r = c
            .req(Method::POST, &c.v3("/groups"), Some(&t), Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.body["error"]["title"], "Bad Request");
    }
    let r = c
        .req(
            Method::POST,
            &c.v3("/groups"),
            Some(&t),
            Some(json!({"group": {"name": "ok", "domain_id": "nope"}})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["message"], "Could not find domain: nope.");
    let r = c
        .req(
            Method::POST,
            &c.v3("/groups"),
            Some(&t),
            Some(json!({"group": {"name": "taken"}})),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body["error"]["message"],
        "Conflict occurred attempting to store group - Duplicate entry found with name taken at domain ID default."
    );
    assert_eq!(before, group_count(&c, &t).await);

    let other = create(&c, &t, "group", json!({"name": "other"})).await;
    let url = c.v3(&format!("/groups/{other}"));
    let original = c.req(Method::GET, &url, Some(&t), None).await.body;
    for body in [
        json!({"group": {}}),
        json!({"group": {"name": ""}}),
        json!({"group": {"domain_id": "elsewhere"}}),
        json!({"group": {"id": gid}}),
        json!({"group": {"description": []}}),
    ] {
        let r = c
            .req(Method::PATCH, &url, Some(&t), Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    let r = c
        .req(
            Method::PATCH,
            &url,
            Some(&t),
            Some(json!({"group": {"name": "taken"}})),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        c.req(Method::GET, &url, Some(&t), None).await.body,
        original,
        "nothing changed"
    );
    let r = c
        .req(
            Method::PATCH,
            &c.v3("/groups/missing"),
            Some(&t),
            Some(json!({"group": {"name": "z"}})),
        )
        .await;
    assert_eq!(r.status, 404);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_add_check_list_remove() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let gid = create(&c, &t, "group", json!({"name": "devs"})).await;
    let uid = create(
        &c,
        &t,
        "user",
        json!({"name": "frank", "password": "pw-frank"}),
    )
    .await;
    let member = c.v3(&format!("/groups/{gid}/users/{uid}"));

    let head = c
        .client
        .head(&member)
        .header("X-Auth-Token", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 404);
    for _ in 0..2 {
        let r = c.req(Method::PUT, &member, Some(&t), None).await;
        assert_eq!(r.status, 204, "adding is idempotent: {}", r.text);
        assert!(r.text.is_empty());
    }
    let head = c
        .client
        .head(&member)
        .header("X-Auth-Token", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 204);
    assert_eq!(
        c.req(Method::GET, &member, Some(&t), None).await.status,
        204
    );

    let l = c
        .req(
            Method::GET,
            &c.v3(&format!("/groups/{gid}/users")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(l.status, 200, "{}", l.text);
    assert_eq!(
        l.body["links"]["self"],
        c.v3(&format!("/groups/{gid}/users"))
    );
    let users = l.body["users"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], uid.as_str());
    assert_eq!(users[0]["password_expires_at"], Value::Null);
    assert!(!l.text.contains("pw-frank"));
    for (q, n) in [
        ("name=frank", 1),
        ("name=x", 0),
        ("enabled=false", 0),
        ("domain_id=default", 1),
    ] {
        let l = c
            .req(
                Method::GET,
                &c.v3(&format!("/groups/{gid}/users?{q}")),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(l.body["users"].as_array().unwrap().len(), n, "{q}");
    }
    let l = c
        .req(
            Method::GET,
            &c.v3(&format!("/users/{uid}/groups")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(l.status, 200);
    assert_eq!(
        l.body["groups"],
        json!([{"id": gid, "name": "devs", "description": "", "domain_id": "default", "membership_expires_at": null,
            "links": {"self": c.v3(&format!("/groups/{gid}"))}}])
    );
    assert_eq!(
        l.body["links"]["self"],
        c.v3(&format!("/users/{uid}/groups"))
    );
    let l = c
        .req(
            Method::GET,
            &c.v3(&format!("/users/{uid}/groups?name=other")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(l.body["groups"], json!([]));

    // Unknown users and groups.
    for (path, msg) in [
        (
            format!("/groups/{gid}/users/nobody"),
            "Could not find user: nobody.".to_string(),
        ),
        (
            format!("/groups/nogroup/users/{uid}"),
            "Could not find group: nogroup.".to_string(),
        ),
    ] {
        for m in [Method::PUT, Method::GET, Method::DELETE] {
            let r = c.req(m.clone(), &c.v3(&path), Some(&t), None).await;
            assert_eq!(r.status, 404, "{m} {path}");
            assert_eq!(r.body["error"]["message"], msg.as_str(), "{m} {path}");
        }
    }
    let r = c
        .req(Method::GET, &c.v3("/groups/nogroup/users"), Some(&t), None)
        .await;
    assert_eq!(r.status, 404);

    // A member removed from a group loses their tokens.
    let tok = c
        .token("frank", "pw-frank", None)
        .await
        .header("x-subject-token");
    let me = c.v3(&format!("/users/{uid}"));
    assert_eq!(c.req(Method::GET, &me, Some(&tok), None).await.status, 200);
    let r = c.req(Method::DELETE, &member, Some(&t), None).await;
    assert_eq!(r.status, 204);
    assert_eq!(c.req(Method::GET, &me, Some(&tok), None).await.status, 401);
    assert_eq!(
        c.req(Method::GET, &member, Some(&t), None).await.status,
        404
    );
    assert_eq!(
        c.req(Method::DELETE, &member, Some(&t), None).await.status,
        404,
        "not a member any more"
    );
    let l = c
        .req(
            Method::GET,
            &c.v3(&format!("/groups/{gid}/users")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(l.body["users"], json!([]));

    // Deleting the user or the group removes the membership.
    assert_eq!(
        c.req(Method::PUT, &member, Some(&t), None).await.status,
        204
    );
    assert_eq!(
        c.req(
            Method::DELETE,
            &c.v3(&format!("/users/{uid}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    let l = c
        .req(
            Method::GET,
            &c.v3(&format!("/groups/{gid}/users")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(l.body["users"], json!([]));
    let uid2 = create(&c, &t, "user", json!({"name": "gina"})).await;
    assert_eq!(
        c.req(
            Method::PUT,
            &c.v3(&format!("/groups/{gid}/users/{uid2}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        c.req(
            Method::DELETE,
            &c.v3(&format!("/groups/{gid}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    let l = c
        .req(
            Method::GET,
            &c.v3(&format!("/users/{uid2}/groups")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(l.body["groups"], json!([]));
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_policy_matrix() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let gid = create(&c, &t, "group", json!({"name": "admins-only"})).await;
    let victim = create(&c, &t, "user", json!({"name": "victim"})).await;
    let norole = create(
        &c,
        &t,
        "user",
        json!({"name": "norole", "password": "pw-norole"}),
    )
    .await;
    let unscoped = c
        .token("norole", "pw-norole", None)
        .await
        .header("x-subject-token");
    let (_, _, member) = c.user_with_role(&t, "memb", "member").await;
    let (_, _, reader) = c.user_with_role(&t, "read", "reader").await;
    for tok in [&unscoped, &member, &reader] {
        for (m, path, body) in [
            (Method::GET, "/groups".to_string(), None),
            (
                Method::POST,
                "/groups".to_string(),
                Some(json!({"group": {"name": "sneaky"}})),
            ),
            (Method::GET, format!("/groups/{gid}"), None),
            (
                Method::PATCH,
                format!("/groups/{gid}"),
                Some(json!({"group": {"name": "x"}})),
            ),
            (Method::DELETE, format!("/groups/{gid}"), None),
            (Method::GET, format!("/groups/{gid}/users"), None),
            (Method::PUT, format!("/groups/{gid}/users/{victim}"), None),
            (Method::GET, format!("/groups/{gid}/users/{victim}"), None),
            (
                Method::DELETE,
                format!("/groups/{gid}/users/{victim}"),
                None,
            ),
            (Method::PUT, format!("/groups/{gid}/users/{norole}"), None),
            (Method::GET, format!("/users/{victim}/groups"), None),
        ] {
            let r = c.req(m.clone(), &c.v3(&path), Some(tok), body).await;
            assert_eq!(r.status, 403, "{m} {path}: {}", r.text);
            assert_eq!(r.body["error"]["title"], "Forbidden");
        }
    }
    for tok in [None, Some("garbage")] {
        let r = c.req(Method::GET, &c.v3("/groups"), tok, None).await;
        assert_eq!(r.status, 401);
    }
    assert_eq!(group_count(&c, &t).await, 1, "nothing was created");
    let l = c
        .req(
            Method::GET,
            &c.v3(&format!("/groups/{gid}/users")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(l.body["users"], json!([]), "nobody was added");
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_roles_follow_membership() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let pid = create(&c, &t, "project", json!({"name": "shared"})).await;
    let gid = create(&c, &t, "group", json!({"name": "team"})).await;
    let uid = create(
        &c,
        &t,
        "user",
        json!({"name": "hank", "password": "pw-hank"}),
    )
    .await;
    let roles = c
        .req(Method::GET, &c.v3("/roles?name=member"), Some(&t), None)
        .await;
    let rid = roles.body["roles"][0]["id"].as_str().unwrap().to_string();
    let g = c
        .req(
            Method::PUT,
            &c.v3(&format!("/projects/{pid}/groups/{gid}/roles/{rid}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(g.status, 204, "{}", g.text);
    assert_eq!(
        c.token("hank", "pw-hank", Some("shared")).await.status,
        401,
        "no role yet"
    );
    assert_eq!(
        c.req(
            Method::PUT,
            &c.v3(&format!("/groups/{gid}/users/{uid}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    let r = c.token("hank", "pw-hank", Some("shared")).await;
    assert_eq!(
        r.status, 201,
        "the group's role applies at once: {}",
        r.text
    );
    let tok = r.header("x-subject-token");
    let p = c
        .req(
            Method::GET,
            &c.v3(&format!("/users/{uid}/projects")),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(p.body["projects"][0]["id"], pid.as_str(), "{}", p.text);
    assert_eq!(
        c.req(
            Method::DELETE,
            &c.v3(&format!("/groups/{gid}/users/{uid}")),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        c.req(
            Method::GET,
            &c.v3(&format!("/users/{uid}")),
            Some(&tok),
            None
        )
        .await
        .status,
        401
    );
    assert_eq!(
        c.token("hank", "pw-hank", Some("shared")).await.status,
        401,
        "the role went with the membership"
    );
    c.stop().await.unwrap();
}
