//! Placement allocations: per-consumer PUT/GET/DELETE across microversions, POST of several
//! consumers at once, consumer generations, capacity and unit rules, usages, inventory in
//! use, and 30+ concurrent claims that must never overcommit.

mod placement_common;

use std::sync::Arc;

use api_tests::TestCloud;
use placement_common::*;
use reqwest::Method;
use serde_json::json;

const C1: &str = "c0000000-0000-4000-8000-000000000001";
const C2: &str = "c0000000-0000-4000-8000-000000000002";
const PROJ: &str = "p0000000000000000000000000000001";
const USER: &str = "u0000000000000000000000000000001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocations_lifecycle() {
    let c = TestCloud::start_without_compute().await.unwrap();
    let t = c.admin_token().await;
    let rp = mk_rp(&c, &t, "cn", None).await;
    set_inv(&c, &t, &rp, json!({"VCPU": {"total": 4, "allocation_ratio": 2.0}, "MEMORY_MB": {"total": 2048, "step_size": 256, "max_unit": 1024}})).await;
    let body = |gen: serde_json::Value, vcpu: i64| {
        json!({"allocations": {rp.clone(): {"resources": {"VCPU": vcpu, "MEMORY_MB": 512}}},
        "project_id": PROJ, "user_id": USER, "consumer_generation": gen, "consumer_type": "INSTANCE"})
    };
    let r = p(
        &c,
        Method::PUT,
        &format!("/allocations/{C1}"),
        &t,
        Some(body(json!(null), 2)),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = p(&c, Method::GET, &format!("/allocations/{C1}"), &t, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["allocations"][&rp]["resources"],
        json!({"VCPU": 2, "MEMORY_MB": 512})
    );
    assert!(r.body["allocations"][&rp]["generation"].is_i64());
    assert_eq!(r.body["project_id"], PROJ);
    assert_eq!(r.body["user_id"], USER);
    assert_eq!(r.body["consumer_generation"], 0);
    assert_eq!(r.body["consumer_type"], "INSTANCE");
    // Stale or missing consumer generation: 409 concurrent_update.
    let r = p(
        &c,
        Method::PUT,
        &format!("/allocations/{C1}"),
        &t,
        Some(body(json!(null), 3)),
    )
    .await;
    assert_err(&r, 409, "placement.concurrent_update");
    let r = p(
        &c,
        Method::PUT,
        &format!("/allocations/{C1}"),
        &t,
        Some(body(json!(7), 3)),
    )
    .await;
    assert_err(&r, 409, "placement.concurrent_update");
    let r = p(
        &c,
        Method::PUT,
        &format!("/allocations/{C1}"),
        &t,
        Some(body(json!(0), 3)),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    // Capacity: (4 - 0) * 2 = 8 VCPU; 3 used, 6 more is too many.
    let r = p(
        &c,
        Method::PUT,
        &format!("/allocations/{C2}"),
        &t,
        Some(body(json!(null), 6)),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    // Unit rules: step_size 256, max_unit 1024.
    let mut b = body(json!(null), 1);
    b["allocations"][&rp]["resources"]["MEMORY_MB"] = json!(300);
    let r = p(
        &c,
        Method::PUT,
        &format!("/allocations/{C2}"),
        &t,
        Some(b.clone()),
    )
    .await;
    assert_err(&r, 400, "placement.undefined");
    b["allocations"][&rp]["resources"]["MEMORY_MB"] = json!(1280);
    let r = p(&c, Method::PUT, &format!("/allocations/{C2}"), &t, Some(b)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Bad input: 400, nothing written.
    for bad in [
        json!({"allocations": {}}),
        json!({"allocations": {rp.clone(): {"resources": {"VCPU": 0}}}, "project_id": PROJ, "user_id": USER, "consumer_generation": null, "consumer_type": "X"}),
        json!({"allocations": {rp.clone(): {"resources": {"CUSTOM_NOPE": 1}}}, "project_id": PROJ, "user_id": USER, "consumer_generation": null, "consumer_type": "X"}),
        json!({"allocations": {"not-a-uuid": {"resources": {"VCPU": 1}}}, "project_id": PROJ, "user_id": USER, "consumer_generation": null, "consumer_type": "X"}),
        json!({"allocations": {rp.clone(): {"resources": {"VCPU": 1}}}, "project_id": PROJ, "user_id": USER, "consumer_generation": null}),
    ] {
        let r = p(
            &c,
            Method::PUT,
            &format!("/allocations/{C2}"),
            &t,
            Some(bad),
        )
        .await;
        assert_err(&r, 400, "placement.undefined");
    }
    let r = p(&c, Method::GET, &format!("/allocations/{C2}"), &t, None).await;
    assert_eq!(r.body, json!({"allocations": {}}));
    // An unknown provider: 400.
    let r = p(&c, Method::PUT, &format!("/allocations/{C2}"), &t, Some(json!({"allocations": {"11111111-1111-1111-1111-111111111111": {"resources": {"VCPU": 1}}},
        "project_id": PROJ, "user_id": USER, "consumer_generation": null, "consumer_type": "X"}))).await;
    assert_err(&r, 400, "placement.undefined");
    // The 1.0 list format.
    let r = preq(
        &c,
        Method::PUT,
        &format!("/allocations/{C2}"),
        Some(&t),
        Some("1.8"),
        Some(
            json!({"allocations": [{"resource_provider": {"uuid": rp}, "resources": {"VCPU": 1}}],
        "project_id": PROJ, "user_id": "other-user"}),
        ),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    // Provider views and usages.
    let r = p(
        &c,
        Method::GET,
        &format!("/resource_providers/{rp}/allocations"),
        &t,
        None,
    )
    .await;
    assert_eq!(
        r.body["allocations"][C1]["resources"],
        json!({"VCPU": 3, "MEMORY_MB": 512})
    );
    assert_eq!(r.body["allocations"][C2]["resources"], json!({"VCPU": 1}));
    assert!(r.body["resource_provider_generation"].is_i64());
    let r = p(
        &c,
        Method::GET,
        &format!("/resource_providers/{rp}/usages"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["usages"], json!({"VCPU": 4, "MEMORY_MB": 512}));
    let r = preq(
        &c,
        Method::GET,
        &format!("/usages?project_id={PROJ}"),
        Some(&t),
        Some("1.9"),
        None,
    )
    .await;
    assert_eq!(
        r.body,
        json!({"usages": {"VCPU": 4, "MEMORY_MB": 512}}),
        "{}",
        r.text
    );
    let r = preq(
        &c,
        Method::GET,
        &format!("/usages?project_id={PROJ}&user_id={USER}"),
        Some(&t),
        Some("1.9"),
        None,
    )
    .await;
    assert_eq!(r.body, json!({"usages": {"VCPU": 3, "MEMORY_MB": 512}}));
    let r = p(
        &c,
        Method::GET,
        &format!("/usages?project_id={PROJ}"),
        &t,
        None,
    )
    .await;
    assert_eq!(
        r.body["usages"]["INSTANCE"],
        json!({"consumer_count": 1, "VCPU": 3, "MEMORY_MB": 512}),
        "{}",
        r.text
    );
    assert_eq!(r.body["usages"]["unknown"]["consumer_count"], 1);
    let r = p(&c, Method::GET, "/usages", &t, None).await;
    assert_err(&r, 400, "placement.undefined");
    // Inventory in use cannot be removed; the provider cannot be deleted.
    let r = p(
        &c,
        Method::DELETE,
        &format!("/resource_providers/{rp}/inventories/VCPU"),
        &t,
        None,
    )
    .await;
    assert_err(&r, 409, "placement.inventory.inuse");
    let g = p(
        &c,
        Method::GET,
        &format!("/resource_providers/{rp}"),
        &t,
        None,
    )
    .await
    .body["generation"]
        .clone();
    let r = p(&c, Method::PUT, &format!("/resource_providers/{rp}/inventories"), &t, Some(json!({"resource_provider_generation": g, "inventories": {"MEMORY_MB": {"total": 2048}}}))).await;
    assert_err(&r, 409, "placement.inventory.inuse");
    let r = p(
        &c,
        Method::DELETE,
        &format!("/resource_providers/{rp}"),
        &t,
        None,
    )
    .await;
    assert_err(&r, 409, "placement.resource_provider.inuse");
    // POST /allocations: both consumers at once; a failing one rolls back all.
    let r = p(&c, Method::POST, "/allocations", &t, Some(json!({
        C1: {"allocations": {}, "project_id": PROJ, "user_id": USER, "consumer_generation": 1, "consumer_type": "INSTANCE"},
        C2: {"allocations": {rp.clone(): {"resources": {"VCPU": 99}}}, "project_id": PROJ, "user_id": USER, "consumer_generation": 0, "consumer_type": "MIGRATION"}}))).await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = p(&c, Method::GET, &format!("/allocations/{C1}"), &t, None).await;
    assert_eq!(r.body["allocations"][&rp]["resources"]["VCPU"], 3);
    let r = p(&c, Method::POST, "/allocations", &t, Some(json!({
        C1: {"allocations": {}, "project_id": PROJ, "user_id": USER, "consumer_generation": 1, "consumer_type": "INSTANCE"},
        C2: {"allocations": {rp.clone(): {"resources": {"VCPU": 8}}}, "project_id": PROJ, "user_id": USER, "consumer_generation": 0, "consumer_type": "MIGRATION"}}))).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = p(&c, Method::GET, &format!("/allocations/{C1}"), &t, None).await;
    assert_eq!(r.body, json!({"allocations": {}}));
    // DELETE.
    let r = p(&c, Method::DELETE, &format!("/allocations/{C2}"), &t, None).await;
    assert_eq!(r.status, 204);
    let r = p(&c, Method::DELETE, &format!("/allocations/{C2}"), &t, None).await;
    assert_err(&r, 404, "placement.undefined");
    let r = p(
        &c,
        Method::GET,
        &format!("/resource_providers/{rp}/usages"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["usages"], json!({"VCPU": 0, "MEMORY_MB": 0}));
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_never_overcommit() {
    let c = Arc::new(TestCloud::start_without_compute().await.unwrap());
    let t = c.admin_token().await;
    let rp = mk_rp(&c, &t, "busy", None).await;
    // Room for exactly 7 claims of 2 VCPU: (16 - 2) * 1.0 = 14.
    set_inv(&c, &t, &rp, json!({"VCPU": {"total": 16, "reserved": 2}})).await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let (c, t, rp) = (c.clone(), t.clone(), rp.clone());
        tasks.push(tokio::spawn(async move {
            let consumer = format!("d0000000-0000-4000-8000-{i:012}");
            let r = p(&c, Method::PUT, &format!("/allocations/{consumer}"), &t, Some(json!({"allocations": {rp: {"resources": {"VCPU": 2}}},
                "project_id": PROJ, "user_id": USER, "consumer_generation": null, "consumer_type": "INSTANCE"}))).await;
            r.status.as_u16()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            204 => ok += 1,
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 7);
    let r = p(
        &c,
        Method::GET,
        &format!("/resource_providers/{rp}/usages"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["usages"]["VCPU"], 14);
    let r = p(
        &c,
        Method::GET,
        &format!("/resource_providers/{rp}/allocations"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["allocations"].as_object().unwrap().len(), 7);
    if let Ok(c) = Arc::try_unwrap(c) {
        c.stop().await.unwrap();
    }
}
