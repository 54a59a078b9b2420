//! Services going down, hypervisors reading placement, deleting a busy service.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;

#[tokio::test]
async fn services_go_down_without_heartbeats_and_hypervisors_read_placement() {
    let c = Cloud::start().await;
    let s1 = c
        .compute
        .store
        .service_heartbeat(&service("h1"))
        .await
        .unwrap();
    c.compute
        .store
        .service_heartbeat(&service("h2"))
        .await
        .unwrap();
    c.sql("UPDATE compute_service SET updated_at = '2000-01-01T00:00:00.000000' WHERE host = 'h2'")
        .await;
    let (st, b) = c.get(&ADMIN, "/v2.1/os-services", "2.11").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let states: Vec<(Value, Value, Value)> = b["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].clone(), s["host"].clone(), s["state"].clone()))
        .collect();
    assert_eq!(
        states,
        vec![
            (json!(1), json!("h1"), json!("up")),
            (json!(2), json!("h2"), json!("down"))
        ]
    );
    let down = json!({"host": "h1", "binary": "nova-compute", "forced_down": true});
    let (st, b) = c
        .call(
            Some(&ADMIN),
            Method::PUT,
            "/v2.1/os-services/force-down",
            "2.11",
            Some(down),
        )
        .await;
    assert_eq!(
        (st, b["service"]["forced_down"].clone()),
        (StatusCode::OK, json!(true)),
        "{b}"
    );
    let (_, b) = c.get(&ADMIN, "/v2.1/os-services?host=h1", "2.53").await;
    assert_eq!(
        (
            b["services"][0]["state"].clone(),
            b["services"][0]["id"].clone()
        ),
        (json!("down"), json!(s1.uuid))
    );

    // Hypervisors: usage from placement, instances from the store.
    let n1 = node("h1");
    c.usages.0.lock().unwrap().insert(
        n1.clone(),
        BTreeMap::from([
            ("VCPU".into(), 2),
            ("MEMORY_MB".into(), 2048),
            ("DISK_GB".into(), 20),
        ]),
    );
    instance(&c, "i1", "p1", &n1, "2026-01-01T00:00:00.000000", None).await;
    instance(
        &c,
        "i0",
        "p1",
        &n1,
        "2025-01-01T00:00:00.000000",
        Some("2025-02-01T00:00:00.000000"),
    )
    .await;
    let (st, b) = c
        .get(
            &ADMIN,
            &format!("/v2.1/os-hypervisors/{n1}?with_servers=1"),
            "2.53",
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let h = &b["hypervisor"];
    assert_eq!(
        (
            h["vcpus_used"].clone(),
            h["memory_mb_used"].clone(),
            h["local_gb_used"].clone()
        ),
        (json!(2), json!(2048), json!(20))
    );
    assert_eq!(
        (h["running_vms"].clone(), h["free_ram_mb"].clone()),
        (json!(1), json!(14336))
    );
    assert_eq!(h["cpu_info"], json!({"arch": "x86_64"}));
    assert_eq!(h["servers"], json!([{"name": "vm-i1", "uuid": "i1"}]));
    assert_eq!(h["state"], "down");
    let (_, b) = c.get(&ADMIN, "/v2.1/os-hypervisors/1", "2.1").await;
    assert_eq!(b["hypervisor"]["cpu_info"], r#"{"arch": "x86_64"}"#);
    let (_, b) = c
        .get(&ADMIN, "/v2.1/os-hypervisors/statistics", "2.1")
        .await;
    let s = &b["hypervisor_statistics"];
    assert_eq!(
        (
            s["count"].clone(),
            s["vcpus"].clone(),
            s["vcpus_used"].clone(),
            s["running_vms"].clone()
        ),
        (json!(2), json!(16), json!(2), json!(1))
    );
    let (_, b) = c.get(&ADMIN, "/v2.1/os-hypervisors?limit=1", "2.53").await;
    let next = b["hypervisors_links"][0]["href"].as_str().unwrap();
    assert_eq!(
        next,
        format!("{BASE}/compute/v2.1/os-hypervisors?limit=1&marker={n1}")
    );
    let (st, b) = c
        .get(
            &ADMIN,
            "/v2.1/os-hypervisors?hypervisor_hostname_pattern=h2",
            "2.53",
        )
        .await;
    assert_eq!(
        (st, b["hypervisors"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    let (st, b) = c
        .get(
            &ADMIN,
            "/v2.1/os-hypervisors?hypervisor_hostname_pattern=zz",
            "2.53",
        )
        .await;
    assert_eq!(
        (st, b["itemNotFound"]["message"].clone()),
        (
            StatusCode::NOT_FOUND,
            json!("No hypervisor matching 'zz' could be found.")
        )
    );
    let (st, _) = c
        .get(&ADMIN, &format!("/v2.1/os-hypervisors/{n1}/uptime"), "2.53")
        .await;
    assert_eq!(st, StatusCode::NOT_IMPLEMENTED);

    // A compute service hosting instances is not deleted.
    let (st, b) = c
        .call(
            Some(&ADMIN),
            Method::DELETE,
            &format!("/v2.1/os-services/{}", s1.uuid),
            "2.53",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{b}");
    let (st, _) = c
        .call(
            Some(&ADMIN),
            Method::DELETE,
            "/v2.1/os-services/2",
            "2.1",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}
