//! Roles, domain-specific roles and implied roles over raw HTTP.

use api_tests::{assert_error, Resp, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

fn id(r: &Resp, key: &str) -> String {
    r.body[key]["id"].as_str().unwrap_or_default().to_string()
}

async fn role_names(c: &TestCloud, t: &str, query: &str) -> Vec<String> {
    let r = c
        .req(Method::GET, &c.v3(&format!("/roles{query}")), Some(t), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_crud_and_conflicts() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let r = c
        .req(
            Method::POST,
            &c.v3("/roles"),
            Some(&t),
            Some(json!({"role": {"name": "developer", "description": "My new role"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rid = id(&r, "role");
    assert_eq!(rid.len(), 32);
    let mut keys: Vec<&str> = r.body["role"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["description", "domain_id", "id", "links", "name", "options"]
    );
    assert_eq!(r.body["role"]["domain_id"], Value::Null);
    assert_eq!(r.body["role"]["options"], json!({}));
    assert_eq!(
        r.body["role"]["links"]["self"],
        c.v3(&format!("/roles/{rid}"))
    );

    let g = c
        .req(Method::GET, &c.v3(&format!("/roles/{rid}")), Some(&t), None)
        .await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["role"], r.body["role"]);
    let l = c.req(Method::GET, &c.v3("/roles"), Some(&t), None).await;
    assert_eq!(
        l.body["links"],
        json!({"self": c.v3("/roles"), "previous": null, "next": null})
    );
    let names = role_names(&c, &t, "").await;
    for n in [
        "admin",
        "developer",
        "manager",
        "member",
        "reader",
        "service",
    ] {
        assert!(names.contains(&n.to_string()), "{names:?}");
    }
    assert_eq!(role_names(&c, &t, "?name=developer").await, ["developer"]);

    let dup = c
        .req(
            Method::POST,
            &c.v3("/roles"),
            Some(&t),
            Some(json!({"role": {"name": "developer"}})),
        )
        .await;
    assert_error(
        &dup,
        409,
        "Conflict occurred attempting to store role - Duplicate entry found with name developer.",
    );

    let u = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/roles/{rid}")),
            Some(&t),
            Some(json!({"role": {"name": "dev", "description": null}})),
        )
        .await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["role"]["name"], "dev");
    assert_eq!(u.body["role"]["description"], Value::Null);
    let clash = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/roles/{rid}")),
            Some(&t),
            Some(json!({"role": {"name": "member"}})),
        )
        .await;
    assert_eq!(clash.status, 409, "{}", clash.text);
    let dom = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/roles/{rid}")),
            Some(&t),
            Some(json!({"role": {"domain_id": "default"}})),
        )
        .await;
    assert_error(&dom, 400, "Update of `domain_id` is not allowed.");
    let idc = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/roles/{rid}")),
            Some(&t),
            Some(json!({"role": {"id": "other"}})),
        )
        .await;
    assert_error(&idc, 400, "Cannot change ID");
    assert_eq!(
        role_names(&c, &t, "?name=dev").await,
        ["dev"],
        "failed updates change nothing"
    );

    let d = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/roles/{rid}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(d.status, 204);
    assert!(d.text.is_empty());
    let gone = c
        .req(Method::GET, &c.v3(&format!("/roles/{rid}")), Some(&t), None)
        .await;
    assert_error(&gone, 404, &format!("Could not find role: {rid}."));
    let again = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/roles/{rid}")),
            Some(&t),
            None,
        )
        .await;
    assert_error(&again, 404, &format!("Could not find role: {rid}."));
    let p = c
        .req(
            Method::PATCH,
            &c.v3("/roles/nope"),
            Some(&t),
            Some(json!({"role": {"name": "x"}})),
        )
        .await;
    assert_error(&p, 404, "Could not find role: nope.");
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_bad_input_is_rejected_and_nothing_is_written() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let before = role_names(&c, &t, "").await;
    for body in [
        json!({"role": {"name": 5}}),
        json!({"role": {}}),
        json!({"role": {"name": "x".repeat(256)}}),
        json!({"role": {"name": "   "}}),
        json!({"role": {"name": "ok", "description": 5}}),
        json!({"role": {"name": "ok", "description": "d".repeat(256)}}),
        json!({"role": {"name": "ok", "options": {"colour": true}}}),
        json!({"role": {"name": "ok", "options": {"immutable": "yes"}}}),
        json!({"role": {"name": "ok", "options": []}}),
        json!({"role": {"name": "ok", "domain_id": 7}}),
        json!({"role": {"name": "ok", "domain_id": "bad id!"}}),
        json!({"role": "x"}),
        json!({"nope": {}}),
        json!([]),
    ] {
        let r = c
            .req(Method::POST, &c.v3("/roles"), Some(&t), Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.body["error"]["title"], "Bad Request");
    }
    let r = c
        .raw(
            Method::POST,
            &c.v3("/roles"),
            Some(&t),
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .req(
            Method::POST,
            &c.v3("/roles"),
            Some(&t),
            Some(json!({"role": {"name": "ok", "domain_id": "nope"}})),
        )
        .await;
    assert_error(&r, 404, "Could not find domain: nope.");
    assert_eq!(role_names(&c, &t, "").await, before, "nothing was written");

    let rid = c.role_id(&t, "service").await;
    for body in [
        json!({"role": {}}),
        json!({"role": {"name": ""}}),
        json!({"role": {"options": {"x": 1}}}),
        json!({"role": 1}),
    ] {
        let r = c
            .req(
                Method::PATCH,
                &c.v3(&format!("/roles/{rid}")),
                Some(&t),
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    assert_eq!(role_names(&c, &t, "").await, before);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_specific_and_immutable_roles() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let r = c
        .req(
            Method::POST,
            &c.v3("/roles"),
            Some(&t),
            Some(json!({"role": {"name": "member", "domain_id": "default"}})),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "a domain role may share a global role's name: {}",
        r.text
    );
    assert_eq!(r.body["role"]["domain_id"], "default");
    let drid = id(&r, "role");
    let dup = c
        .req(
            Method::POST,
            &c.v3("/roles"),
            Some(&t),
            Some(json!({"role": {"name": "member", "domain_id": "default"}})),
        )
        .await;
    assert_error(&dup, 409, "Conflict occurred attempting to store role - Duplicate entry found with name member at domain ID default.");
    let in_domain = c
        .req(
            Method::GET,
            &c.v3("/roles?domain_id=default"),
            Some(&t),
            None,
        )
        .await;
    let ids: Vec<&str> = in_domain.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [drid.as_str()]);
    assert_eq!(
        role_names(&c, &t, "?name=member").await,
        ["member"],
        "the global listing leaves domain roles out"
    );
    let show = c
        .req(
            Method::GET,
            &c.v3(&format!("/roles/{drid}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(show.status, 200);

    let r = c
        .req(
            Method::POST,
            &c.v3("/roles"),
            Some(&t),
            Some(json!({"role": {"name": "frozen", "options": {"immutable": true}}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["role"]["options"], json!({"immutable": true}));
    let fid = id(&r, "role");
    let u = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/roles/{fid}")),
            Some(&t),
            Some(json!({"role": {"name": "thawed"}})),
        )
        .await;
    assert_error(&u, 403, &format!("Unable to update immutable role resource: `{fid}. Set resource option \"immutable\" to false first."));
    let d = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/roles/{fid}")),
            Some(&t),
            None,
        )
        .await;
    assert_error(&d, 403, &format!("Unable to delete immutable role resource: `{fid}. Set resource option \"immutable\" to false first."));
    let both = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/roles/{fid}")),
            Some(&t),
            Some(json!({"role": {"name": "x", "options": {"immutable": false}}})),
        )
        .await;
    assert_eq!(
        both.status, 403,
        "making mutable and renaming at once is refused"
    );
    let m = c
        .req(
            Method::PATCH,
            &c.v3(&format!("/roles/{fid}")),
            Some(&t),
            Some(json!({"role": {"options": {"immutable": null}}})),
        )
        .await;
    assert_eq!(m.status, 200, "{}", m.text);
    assert_eq!(m.body["role"]["options"], json!({}));
    let d = c
        .req(
            Method::DELETE,
            &c.v3(&format!("/roles/{fid}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(d.status, 204);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_policy_matrix() {
    let c = TestCloud::start().await.unwrap();
    let t = c.admin_token().await;
    let (_, _, member) = c.user_with_role(&t, "bob", "member").await;
    let (_, _, reader) = c.user_with_role(&t, "carol", "reader").await;
    let rid = c.role_id(&t, "service").await;
    let member_id = c.role_id(&t, "member").await;
    for tok in [&member, &reader] {
        let calls = [
            (
                Method::POST,
                "/roles".to_string(),
                Some(json!({"role": {"name": "sneaky"}})),
            ),
            (
                Method::POST,
                "/roles".to_string(),
                Some(json!({"role": {"name": "sneaky", "domain_id": "default"}})),
            ),
            (Method::GET, "/roles".to_string(), None),
            (Method::GET, format!("/roles/{rid}"), None),
            (
                Method::PATCH,
                format!("/roles/{rid}"),
                Some(json!({"role": {"name": "x"}})),
            ),
            (Method::DELETE, format!("/roles/{rid}"), None),
            (
                Method::PUT,
                format!("/roles/{rid}/implies/{member_id}"),
                None,
            ),
            (
                Method::DELETE,
                format!(
                    "/roles/{member_id}/implies/{}",
                    c.role_id(&t, "reader").await
                ),
                None,
            ),
            (Method::GET, "/role_inferences".to_string(), None),
        ];
        for (m, path, body) in calls {
            let r = c.req(m.clone(), &c.v3(&path), Some(tok), body).await;
            assert_eq!(r.status, 403, "{m} {path}: {}", r.text);
            assert_eq!(r.body["error"]["title"], "Forbidden");
        }
    }
    let r = c
        .req(Method::GET, &c.v3("/roles"), Some("not-a-token"), None)
        .await;
    assert_eq!(r.status, 401);
    let r = c
        .req(
            Method::POST,
            &c.v3("/roles"),
            None,
            Some(json!({"role": {"name": "x"}})),
        )
        .await;
    assert_eq!(r.status, 401);
    let names = role_names(&c, &t, "").await;
    assert!(
        names.contains(&"service".to_string()) && !names.contains(&"sneaky".to_string()),
        "{names:?}"
    );
    let inf = c
        .req(
            Method::GET,
            &c.v3(&format!("/roles/{member_id}/implies")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(
        inf.body["role_inference"]["implies"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "denied writes changed nothing"
    );
    c.stop().await.unwrap();
}
