//! Server groups: both create forms, rules, isolation, `all_projects`, the quota.
use api_tests::TestCloud;
use reqwest::Method;
use serde_json::json;

use crate::{fault, nova, ok};

#[tokio::test]
async fn server_groups_policies_quota_and_isolation() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (alice_id, p1, alice) = c.user_with_role(&admin, "alice", "member").await;
    let (_, _, bob) = c.user_with_role(&admin, "bob", "member").await;

    let body = json!({"server_group": {"name": "apart", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}});
    let r = nova(
        &c,
        Method::POST,
        "/os-server-groups",
        &alice,
        Some("2.64"),
        Some(body),
    )
    .await;
    let g = ok(&r, 200)["server_group"].clone();
    assert_eq!(g["policy"], "anti-affinity");
    assert_eq!(g["rules"], json!({"max_server_per_host": 2}));
    assert_eq!(g["members"], json!([]));
    assert_eq!(
        (g["project_id"].clone(), g["user_id"].clone()),
        (json!(p1), json!(alice_id))
    );
    let id = g["id"].as_str().unwrap().to_string();

    let old = json!({"server_group": {"name": "together", "policies": ["affinity"]}});
    let r = nova(
        &c,
        Method::POST,
        "/os-server-groups",
        &alice,
        None,
        Some(old),
    )
    .await;
    let g = &ok(&r, 200)["server_group"];
    assert_eq!(
        (g["policies"].clone(), g["metadata"].clone()),
        (json!(["affinity"]), json!({}))
    );
    assert!(g.get("project_id").is_none(), "{g}");

    let rules = json!({"server_group": {"name": "x", "policy": "affinity", "rules": {"max_server_per_host": 2}}});
    let r = nova(
        &c,
        Method::POST,
        "/os-server-groups",
        &alice,
        Some("2.64"),
        Some(rules),
    )
    .await;
    assert_eq!(
        fault(&r, 400, "badRequest"),
        "Only anti-affinity policy supports rules."
    );
    let soft = json!({"server_group": {"name": "x", "policies": ["soft-affinity"]}});
    let r = nova(
        &c,
        Method::POST,
        "/os-server-groups",
        &alice,
        Some("2.14"),
        Some(soft),
    )
    .await;
    assert!(
        fault(&r, 400, "badRequest")
            .contains("'soft-affinity' is not one of ['anti-affinity', 'affinity']"),
        "{}",
        r.text
    );
    let r = nova(
        &c,
        Method::POST,
        "/os-server-groups",
        &alice,
        Some("2.64"),
        Some(json!({"server_group": {"name": "x"}})),
    )
    .await;
    assert!(
        fault(&r, 400, "badRequest").ends_with("'policy' is a required property"),
        "{}",
        r.text
    );

    // Another project sees nothing of it; admins see everything.
    let r = nova(
        &c,
        Method::GET,
        &format!("/os-server-groups/{id}"),
        &bob,
        None,
        None,
    )
    .await;
    assert_eq!(
        fault(&r, 404, "itemNotFound"),
        format!("Instance group {id} could not be found.")
    );
    let r = nova(
        &c,
        Method::DELETE,
        &format!("/os-server-groups/{id}"),
        &bob,
        None,
        None,
    )
    .await;
    fault(&r, 404, "itemNotFound");
    let r = nova(&c, Method::GET, "/os-server-groups", &bob, None, None).await;
    assert_eq!(ok(&r, 200)["server_groups"], json!([]));
    let r = nova(
        &c,
        Method::GET,
        "/os-server-groups?all_projects=1",
        &bob,
        None,
        None,
    )
    .await;
    assert_eq!(ok(&r, 200)["server_groups"], json!([]));
    let r = nova(
        &c,
        Method::GET,
        "/os-server-groups?all_projects=1",
        &admin,
        None,
        None,
    )
    .await;
    assert_eq!(ok(&r, 200)["server_groups"].as_array().unwrap().len(), 2);
    let r = nova(
        &c,
        Method::GET,
        &format!("/os-server-groups/{id}"),
        &admin,
        Some("2.64"),
        None,
    )
    .await;
    assert_eq!(ok(&r, 200)["server_group"]["name"], "apart");
    let r = nova(
        &c,
        Method::GET,
        "/os-server-groups?limit=1&offset=1",
        &alice,
        None,
        None,
    )
    .await;
    assert_eq!(ok(&r, 200)["server_groups"][0]["name"], "together");

    // The server_groups quota.
    let r = nova(
        &c,
        Method::PUT,
        &format!("/os-quota-sets/{p1}"),
        &admin,
        None,
        Some(json!({"quota_set": {"server_groups": 2}})),
    )
    .await;
    ok(&r, 200);
    let third = json!({"server_group": {"name": "third", "policies": ["affinity"]}});
    let r = nova(
        &c,
        Method::POST,
        "/os-server-groups",
        &alice,
        None,
        Some(third),
    )
    .await;
    assert_eq!(
        fault(&r, 403, "forbidden"),
        "Quota exceeded, too many server groups."
    );

    let r = nova(
        &c,
        Method::DELETE,
        &format!("/os-server-groups/{id}"),
        &alice,
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = nova(
        &c,
        Method::GET,
        &format!("/os-server-groups/{id}"),
        &alice,
        None,
        None,
    )
    .await;
    fault(&r, 404, "itemNotFound");
    c.stop().await.unwrap();
}
