//! Who may do what: readers read, members write, other projects see nothing.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::*;

#[tokio::test]
async fn readers_read_members_write_and_strangers_see_nothing() {
    let c = Cloud::start().await;
    let (st, _) = c
        .call(None, Method::GET, "/v2.1/flavors", "2.1", None)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let g = json!({"server_group": {"name": "g", "policies": ["affinity"]}});
    let (st, b) = c
        .call(
            Some(&READER),
            Method::POST,
            "/v2.1/os-server-groups",
            "2.1",
            Some(g.clone()),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(
        b["forbidden"]["message"],
        "Policy doesn't allow os_compute_api:os-server-groups:create to be performed."
    );
    let (st, b) = c
        .call(
            Some(&MEMBER),
            Method::POST,
            "/v2.1/os-server-groups",
            "2.1",
            Some(g),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let id = b["server_group"]["id"].as_str().unwrap().to_string();
    let (st, b) = c
        .get(&READER, &format!("/v2.1/os-server-groups/{id}"), "2.1")
        .await;
    assert_eq!(
        (st, b["server_group"]["name"].clone()),
        (StatusCode::OK, json!("g"))
    );
    let (st, b) = c
        .get(&OTHER, &format!("/v2.1/os-server-groups/{id}"), "2.1")
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(
        b["itemNotFound"]["message"],
        format!("Instance group {id} could not be found.")
    );
    let (st, _) = c
        .call(
            Some(&READER),
            Method::DELETE,
            &format!("/v2.1/os-server-groups/{id}"),
            "2.1",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Quotas: a reader reads its own project's, not another's.
    let (st, _) = c.get(&READER, "/v2.1/os-quota-sets/p1/detail", "2.1").await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = c.get(&READER, "/v2.1/os-quota-sets/p2", "2.1").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, b) = c.get(&ADMIN, "/v2.1/os-quota-sets/p2", "2.1").await;
    assert_eq!(
        (st, b["quota_set"]["id"].clone()),
        (StatusCode::OK, json!("p2"))
    );

    // Keypairs belong to users: a reader may keep its own.
    let (st, b) = c
        .call(
            Some(&READER),
            Method::POST,
            "/v2.1/os-keypairs",
            "2.2",
            Some(json!({"keypair": {"name": "mine"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");

    // Unsupported and malformed microversions.
    let (st, b) = c.get(&MEMBER, "/v2.1/flavors", "2.80").await;
    assert_eq!(st, StatusCode::NOT_ACCEPTABLE, "{b}");
    let (st, b) = c.get(&MEMBER, "/v2.1/flavors", "two").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
}
