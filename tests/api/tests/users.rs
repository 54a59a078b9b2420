//! Users over raw HTTP: the wire format, bad input, policy, and a user's projects.

use api_tests::TestCloud;
use reqwest::Method;
use serde_json::{json, Value};

async fn create_user(c: &TestCloud, tok: &str, body: Value) -> Value {
    let r = c
        .req(
            Method::POST,
            &c.v3("/users"),
            Some(tok),
            Some(json!({ "user": body })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["user"].clone()
}

async fn user_count(c: &TestCloud, tok: &str) -> usize {
    let r = c.req(Method::GET, &c.v3("/users"), Some(tok), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["users"].as_array().map(Vec::len).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_crud_and_wire_format() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let pw = "sekrit-Passw0rd";
    let r = c
        .req(
            Method::POST,
            &c.v3("/users"),
            Some(&t),
            Some(json!({"user": {"name": "  alice ", "password": pw, "domain_id": "default", "description": "d",
                "email": "a@example.com", "team": "blue", "options": {"ignore_password_expiry": true}}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(!r.text.contains(pw), "the password is never returned");
    let u = &r.body["user"];
    let id = u["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    let mut keys: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "description",
            "domain_id",
            "email",
            "enabled",
            "id",
            "links",
            "name",
            "options",
            "password_expires_at",
            "team"
        ]
    );
    assert_eq!(u["name"], "alice", "names are stripped as in Keystone");
    assert_eq!(u["domain_id"], "default");
    assert_eq!(u["enabled"], true);
    assert_eq!(u["password_expires_at"], Value::Null);
    assert_eq!(u["options"], json!({"ignore_password_expiry": true}));
    assert_eq!(u["links"], json!({"self": c.v3(&format!("/users/{id}"))}));

    let plain = create_user(&c, &t, json!({"name": "bob"})).await;
    let mut keys: Vec<&str> = plain
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "domain_id",
            "enabled",
            "id",
            "links",
            "name",
            "options",
            "password_expires_at"
        ]
    );
    assert_eq!(
        plain["domain_id"], "default",
        "a project-scoped token creates in the default domain"
    );
    assert_eq!(plain["options"], json!({}));

    let s = c
        .req(Method::GET, &c.v3(&format!("/users/{id}")), Some(&t), None)
        .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["user"], *u);

    let l = c.req(Method::GET, &c.v3("/users"), Some(&t), None).await;
    assert_eq!(l.status, 200);
    assert_eq!(
        l.body["links"],
        json!({"self": c.v3("/users"), "previous": null, "next": null})
    );
    assert!(!l.text.contains("password_hash") && !l.text.contains(pw));
    let names: Vec<&str> = l.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"admin") && names.contains(&"alice") && names.contains(&"bob"),
        "{names:?}"
    );
    for (q, n) in [
        ("name=alice", 1),
        ("name=nobody", 0),
        ("domain_id=default&name=bob", 1),
        ("domain_id=other", 0),
        ("enabled=false", 0),
    ] {
        let l = c
            .req(Method::GET, &c.v3(&format!("/users?{q}")), Some(&t), None)
            .await;
        assert_eq!(l.status, 200, "{q}");
        assert_eq!(
            l.body["users"].as_array().unwrap().len(),
            n,
            "{q}: {}",
            l.text
        );
    }
    let l = c
        .req(
            Method::GET,
            &c.v3("/users?password_expires_at=lt:2016-12-08T22:02:00Z"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(
        (l.status.as_u16(), l.body["users"].as_array().unwrap().len()),
        (200, 0)
    );
    let l = c
        .req(
            Method::GET,
            &c.v3("/users?password_expires_at=xx:2016-12-08T22:02:00Z"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(l.status, 400);

    let p = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/users/{id}")),
            Some(&t),
            Some(json!({"user": {"name": "alice2", "description": null, "team": "red", "enabled": false,
                "default_project_id": "263fd9", "options": {"ignore_password_expiry": null, "lock_password": true}}})),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    let pu = &p.body["user"];
    assert_eq!(pu["name"], "alice2");
    assert_eq!(
        pu["description"],
        Value::Null,
        "a null description is shown as null, as Keystone does"
    );
    assert_eq!(pu["email"], "a@example.com");
    assert_eq!(pu["team"], "red");
    assert_eq!(pu["enabled"], false);
    assert_eq!(pu["default_project_id"], "263fd9");
    assert_eq!(pu["options"], json!({"lock_password": true}));
    let l = c
        .req(Method::GET, &c.v3("/users?enabled=false"), Some(&t), None)
        .await;
    assert_eq!(l.body["users"].as_array().unwrap().len(), 1);
    let p = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/users/{id}")),
            Some(&t),
            Some(json!({"user": {"default_project_id": null, "domain_id": "default", "id": id}})),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert!(p.body["user"].get("default_project_id").is_none());

    let d = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/users/{id}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(d.status, 204);
    assert!(d.text.is_empty());
    let g = c
        .req(Method::GET, &c.v3(&format!("/users/{id}")), Some(&t), None)
        .await;
    assert_eq!(g.status, 404);
    assert_eq!(
        g.body["error"],
        json!({"code": 404, "title": "Not Found", "message": format!("Could not find user: {id}.")})
    );
    let d = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/users/{id}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(d.status, 404);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_bad_input_is_rejected_and_nothing_is_written() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let existing = create_user(&c, &t, json!({"name": "taken", "password": "pw"})).await;
    let eid = existing["id"].as_str().unwrap().to_string();
    let before = user_count(&c, &t).await;
    for body in [
        json!({"user": {}}),
        json!({"user": {"name": 5}}),
        json!({"user": {"name": ""}}),
        json!({"user": {"name": "   "}}),
        json!({"user": {"name": "x".repeat(256)}}),
        json!({"user": {"name": "ok", "enabled": "yes"}}),
        json!({"user": {"name": "ok", "enabled": null}}),
        json!({"user": {"name": "ok", "password": 12345}}),
        json!({"user": {"name": "ok", "password": "p".repeat(4097)}}),
        json!({"user": {"name": "ok", "domain_id": "bad_id!"}}),
        json!({"user": {"name": "ok", "domain_id": null}}),
        json!({"user": {"name": "ok", "default_project_id": 7}}),
        json!({"user": {"name": "ok", "default_project_id": "default"}}),
        json!({"user": {"name": "ok", "description": 3}}),
        json!({"user": {"name": "ok", "options": {"bogus": true}}}),
        json!({"user": {"name": "ok", "options": {"lock_password": "yes"}}}),
        json!({"user": {"name": "ok", "options": []}}),
        json!({"user": {"name": "ok", "federated": [{"idp_id": "nope", "protocols": []}]}}),
        json!({"user": "x"}),
        json!({"nope": {}}),
        json!([]),
    ] {
        let r = c
            .req(Method::POST, &c.v3("/users"), Some(&t), Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.body["error"]["code"], 400, "{}", r.text);
        assert_eq!(r.body["error"]["title"], "Bad Request");
        assert!(
            !r.text.contains("12345"),
            "a password is never echoed: {}",
            r.text
        );
    }
    let r = c
        .raw(
            Method::POST,
            &c.v3("/users"),
            Some(&t),
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .req(
            Method::POST,
            &c.v3("/users"),
            Some(&t),
            Some(json!({"user": {"name": "ok", "domain_id": "nope"}})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["message"], "Could not find domain: nope.");
    let r = c
        .req(
            Method::POST,
            &c.v3("/users"),
            Some(&t),
            Some(json!({"user": {"name": "taken"}})),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["error"]["title"], "Conflict");
    assert_eq!(
        r.body["error"]["message"],
        "Conflict occurred attempting to store user - Duplicate entry found with name taken at domain ID default."
    );
    assert_eq!(before, user_count(&c, &t).await, "nothing was written");

    let other = create_user(&c, &t, json!({"name": "other"})).await;
    let oid = other["id"].as_str().unwrap();
    let url = c.v3(&format!("/users/{oid}"));
    for body in [
        json!({"user": {}}),
        json!({"user": {"domain_id": "elsewhere"}}),
        json!({"user": {"id": "different"}}),
        json!({"user": {"name": ""}}),
        json!({"user": {"name": "y".repeat(256)}}),
        json!({"user": {"enabled": 1}}),
        json!({"user": {"options": {"nope": 1}}}),
        json!({"user": {"password": ["x"]}}),
        json!({"user": {"default_project_id": "default"}}),
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
            Some(json!({"user": {"name": "taken"}})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.body["error"]["message"],
        "Conflict occurred attempting to store user - Duplicate entry found with name taken."
    );
    let after = c.req(Method::GET, &url, Some(&t), None).await;
    assert_eq!(after.body["user"], other, "failed updates change nothing");
    let r = c
        .req(
            Method::PATCH,
            &c.v3("/users/missing"),
            Some(&t),
            Some(json!({"user": {"name": "z"}})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["message"], "Could not find user: missing.");
    let r = c
        .req(
            Method::GET,
            &c.v3(&format!("/users/{eid}/projects")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["projects"].clone()),
        (200, json!([]))
    );
    let r = c
        .req(
            Method::GET,
            &c.v3("/users/missing/projects"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = c
        .req(Method::GET, &c.v3("/users/missing/groups"), Some(&t), None)
        .await;
    assert_eq!(r.status, 404);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_policy_matrix() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let target = create_user(&c, &t, json!({"name": "target"})).await;
    let tid = target["id"].as_str().unwrap().to_string();
    let me = create_user(&c, &t, json!({"name": "norole", "password": "pw-norole"})).await;
    let mid = me["id"].as_str().unwrap().to_string();
    let unscoped = c
        .token("norole", "pw-norole", None)
        .await
        .header("x-subject-token");
    let (_, _, member) = c.user_with_role(&t, "memb", "member").await;
    let (_, _, reader) = c.user_with_role(&t, "read", "reader").await;
    for tok in [&unscoped, &member, &reader] {
        for (m, path, body) in [
            (Method::GET, "/users".to_string(), None),
            (
                Method::POST,
                "/users".to_string(),
                Some(json!({"user": {"name": "sneaky"}})),
            ),
            (Method::GET, format!("/users/{tid}"), None),
            (
                Method::PATCH,
                format!("/users/{tid}"),
                Some(json!({"user": {"name": "x"}})),
            ),
            (Method::DELETE, format!("/users/{tid}"), None),
            (Method::GET, format!("/users/{tid}/groups"), None),
            (Method::GET, format!("/users/{tid}/projects"), None),
            (Method::GET, "/users/missing".to_string(), None),
        ] {
            let r = c.req(m.clone(), &c.v3(&path), Some(tok), body).await;
            assert_eq!(r.status, 403, "{m} {path}: {}", r.text);
            assert_eq!(r.body["error"]["title"], "Forbidden");
        }
    }
    // Users may read themselves and their groups and projects, but not update themselves.
    for path in [
        format!("/users/{mid}"),
        format!("/users/{mid}/groups"),
        format!("/users/{mid}/projects"),
    ] {
        let r = c
            .req(Method::GET, &c.v3(&path), Some(&unscoped), None)
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    let r = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/users/{mid}")),
            Some(&unscoped),
            Some(json!({"user": {"enabled": true}})),
        )
        .await;
    assert_eq!(r.status, 403);
    for tok in [None, Some("not-a-token")] {
        let r = c.req(Method::GET, &c.v3("/users"), tok, None).await;
        assert_eq!(r.status, 401, "{tok:?}");
        assert_eq!(r.body["error"]["code"], 401);
    }
    let r = c
        .req(Method::GET, &c.v3(&format!("/users/{tid}")), Some(&t), None)
        .await;
    assert_eq!(r.body["user"], target, "nothing changed");
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_projects_lists_projects_with_roles() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let (uid, pid, tok) = c.user_with_role(&t, "erin", "member").await;
    let r = c
        .req(
            Method::GET,
            &c.v3(&format!("/users/{uid}/projects")),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ids: Vec<&str> = r.body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [pid.as_str()]);
    assert_eq!(
        r.body["projects"][0]["links"]["self"],
        c.v3(&format!("/projects/{pid}"))
    );
    assert_eq!(
        r.body["links"]["self"],
        c.v3(&format!("/users/{uid}/projects"))
    );
    for (q, n) in [
        ("name=erin-project", 1),
        ("name=other", 0),
        ("enabled=false", 0),
        ("domain_id=default", 1),
    ] {
        let r = c
            .req(
                Method::GET,
                &c.v3(&format!("/users/{uid}/projects?{q}")),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(r.body["projects"].as_array().unwrap().len(), n, "{q}");
    }
    c.stop().await.unwrap();
}
