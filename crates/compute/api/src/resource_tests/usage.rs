//! Usage reports over instance rows; counts in limits and quota detail.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;

#[tokio::test]
async fn usage_reports_add_up_hours_in_the_period() {
    let c = Cloud::start().await;
    instance(&c, "a1", "p1", "n", "2026-01-01T00:00:00.000000", None).await;
    instance(
        &c,
        "a2",
        "p1",
        "n",
        "2026-01-01T02:00:00.000000",
        Some("2026-01-01T05:00:00.000000"),
    )
    .await;
    instance(&c, "b1", "p2", "n", "2026-01-01T09:00:00.000000", None).await;
    let q = "start=2026-01-01T00:00:00&end=2026-01-01T10:00:00";
    let (st, b) = c
        .get(
            &MEMBER,
            &format!("/v2.1/os-simple-tenant-usage/p1?{q}"),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let u = &b["tenant_usage"];
    assert_eq!(u["total_hours"], 13.0);
    assert_eq!(u["total_vcpus_usage"], 26.0);
    assert_eq!(u["total_memory_mb_usage"], 26624.0);
    assert_eq!(u["total_local_gb_usage"], 260.0);
    assert_eq!(u["start"], "2026-01-01T00:00:00.000000");
    let lines = u["server_usages"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[1]["state"].clone(), lines[1]["hours"].clone()),
        (json!("terminated"), json!(3.0))
    );
    assert_eq!(lines[0]["ended_at"], Value::Null);
    let (st, _) = c
        .get(
            &OTHER,
            &format!("/v2.1/os-simple-tenant-usage/p1?{q}"),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (_, b) = c
        .get(
            &ADMIN,
            &format!("/v2.1/os-simple-tenant-usage?{q}&detailed=1"),
            "2.1",
        )
        .await;
    let tenants: Vec<Value> = b["tenant_usages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant_id"].clone())
        .collect();
    assert_eq!(tenants, vec![json!("p1"), json!("p2")]);
    let (_, b) = c
        .get(
            &ADMIN,
            &format!("/v2.1/os-simple-tenant-usage?{q}&limit=1"),
            "2.40",
        )
        .await;
    let href = b["tenant_usages_links"][0]["href"].as_str().unwrap();
    assert!(href.contains("marker=a1"), "{href}");
    assert!(b["tenant_usages"][0].get("server_usages").is_none());

    // The limits and quota detail see the server group count.
    let g = json!({"server_group": {"name": "g", "policies": ["affinity"]}});
    c.call(
        Some(&MEMBER),
        Method::POST,
        "/v2.1/os-server-groups",
        "2.1",
        Some(g),
    )
    .await;
    let (_, b) = c.get(&MEMBER, "/v2.1/limits", "2.1").await;
    assert_eq!(b["limits"]["absolute"]["totalServerGroupsUsed"], 1);
    let (_, b) = c.get(&MEMBER, "/v2.1/os-quota-sets/p1/detail", "2.1").await;
    assert_eq!(b["quota_set"]["server_groups"]["in_use"], 1);
}
