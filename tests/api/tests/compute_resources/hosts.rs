//! Compute services, availability zones, hypervisors, usage and migrations.
use api_tests::TestCloud;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{fault, nova, ok};

/// Waits for the fake agent's first heartbeat; returns the admin's view of its service.
async fn compute_service(c: &TestCloud, admin: &str) -> Value {
    for _ in 0..100 {
        let r = nova(
            c,
            Method::GET,
            "/os-services?binary=nova-compute",
            admin,
            Some("2.53"),
            None,
        )
        .await;
        if let Some(s) = ok(&r, 200)["services"].as_array().and_then(|a| a.first()) {
            return s.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no compute service registered");
}

#[tokio::test]
async fn services_hypervisors_zones_usage_and_migrations() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (_, p1, alice) = c.user_with_role(&admin, "alice", "member").await;
    let svc = compute_service(&c, &admin).await;
    let uuid = svc["id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            svc["state"].clone(),
            svc["status"].clone(),
            svc["zone"].clone()
        ),
        (json!("up"), json!("enabled"), json!("nova"))
    );
    let host = svc["host"].as_str().unwrap().to_string();

    // Services: admins only; integer ids before 2.53.
    let r = nova(&c, Method::GET, "/os-services", &alice, None, None).await;
    assert_eq!(
        fault(&r, 403, "forbidden"),
        "Policy doesn't allow os_compute_api:os-services:list to be performed."
    );
    let r = nova(&c, Method::GET, "/os-services", &admin, None, None).await;
    assert!(ok(&r, 200)["services"][0]["id"].is_i64(), "{}", r.text);
    let r = nova(
        &c,
        Method::GET,
        "/os-services?host=nope",
        &admin,
        None,
        None,
    )
    .await;
    assert_eq!(ok(&r, 200)["services"], json!([]));
    let disable = json!({"status": "disabled", "disabled_reason": "maintenance"});
    let r = nova(
        &c,
        Method::PUT,
        &format!("/os-services/{uuid}"),
        &admin,
        Some("2.53"),
        Some(disable),
    )
    .await;
    let s = &ok(&r, 200)["service"];
    assert_eq!(
        (
            s["status"].clone(),
            s["disabled_reason"].clone(),
            s["forced_down"].clone()
        ),
        (json!("disabled"), json!("maintenance"), json!(false))
    );
    let r = nova(
        &c,
        Method::PUT,
        "/os-services/not-a-uuid",
        &admin,
        Some("2.53"),
        Some(json!({"status": "enabled"})),
    )
    .await;
    assert_eq!(fault(&r, 400, "badRequest"), "Invalid uuid not-a-uuid");
    let r = nova(
        &c,
        Method::PUT,
        &format!("/os-services/{uuid}"),
        &admin,
        Some("2.53"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        fault(&r, 400, "badRequest"),
        "No updates were requested. Fields 'status' or 'forced_down' should be specified."
    );
    let r = nova(
        &c,
        Method::PUT,
        &format!("/os-services/{uuid}"),
        &admin,
        Some("2.53"),
        Some(json!({"status": "enabled", "disabled_reason": "x"})),
    )
    .await;
    assert_eq!(
        fault(&r, 400, "badRequest"),
        "Specifying 'disabled_reason' with status 'enabled' is invalid."
    );
    let missing = uuid::Uuid::new_v4().to_string();
    let r = nova(
        &c,
        Method::PUT,
        &format!("/os-services/{missing}"),
        &admin,
        Some("2.53"),
        Some(json!({"status": "enabled"})),
    )
    .await;
    assert_eq!(
        fault(&r, 404, "itemNotFound"),
        format!("Service {missing} could not be found.")
    );
    let r = nova(
        &c,
        Method::DELETE,
        &format!("/os-services/{missing}"),
        &admin,
        Some("2.53"),
        None,
    )
    .await;
    assert_eq!(
        fault(&r, 404, "itemNotFound"),
        format!("Service {missing} not found.")
    );

    // A disabled only service: its zone is unavailable, its hypervisor disabled.
    let r = nova(&c, Method::GET, "/os-availability-zone", &alice, None, None).await;
    assert_eq!(
        ok(&r, 200)["availabilityZoneInfo"],
        json!([{"zoneName": "nova", "zoneState": {"available": false}, "hosts": null}])
    );
    let r = nova(
        &c,
        Method::GET,
        "/os-hypervisors",
        &admin,
        Some("2.53"),
        None,
    )
    .await;
    let hv = ok(&r, 200)["hypervisors"][0].clone();
    assert_eq!(
        (hv["status"].clone(), hv["state"].clone()),
        (json!("disabled"), json!("up"))
    );

    // The older form, by host and binary.
    let enable = json!({"host": host, "binary": "nova-compute"});
    let r = nova(
        &c,
        Method::PUT,
        "/os-services/enable",
        &admin,
        None,
        Some(enable.clone()),
    )
    .await;
    assert_eq!(
        ok(&r, 200)["service"],
        json!({"host": host, "binary": "nova-compute", "status": "enabled"})
    );
    let r = nova(
        &c,
        Method::PUT,
        "/os-services/frobnicate",
        &admin,
        None,
        Some(enable),
    )
    .await;
    assert_eq!(fault(&r, 404, "itemNotFound"), "Unknown action");
    let r = nova(
        &c,
        Method::PUT,
        "/os-services/disable",
        &admin,
        None,
        Some(json!({"host": "nope", "binary": "nova-compute"})),
    )
    .await;
    assert_eq!(
        fault(&r, 404, "itemNotFound"),
        "Could not find binary nova-compute on host nope."
    );

    // Zones, in detail for admins.
    let r = nova(
        &c,
        Method::GET,
        "/os-availability-zone/detail",
        &alice,
        None,
        None,
    )
    .await;
    fault(&r, 403, "forbidden");
    let r = nova(
        &c,
        Method::GET,
        "/os-availability-zone/detail",
        &admin,
        None,
        None,
    )
    .await;
    let z = &ok(&r, 200)["availabilityZoneInfo"][0];
    assert_eq!(z["zoneState"]["available"], true);
    assert_eq!(z["hosts"][&host]["nova-compute"]["active"], true);

    // Hypervisors: ids, detail fields per microversion, statistics.
    let hv_id = hv["id"].as_str().unwrap().to_string();
    let r = nova(
        &c,
        Method::GET,
        &format!("/os-hypervisors/{hv_id}"),
        &admin,
        Some("2.53"),
        None,
    )
    .await;
    let h = &ok(&r, 200)["hypervisor"];
    assert_eq!(h["hypervisor_hostname"], host.as_str());
    assert_eq!(h["service"]["id"], uuid.as_str());
    assert!(
        h["vcpus"].is_i64() && h["running_vms"] == 0 && h["cpu_info"].is_object(),
        "{h}"
    );
    let r = nova(
        &c,
        Method::GET,
        "/os-hypervisors/detail",
        &admin,
        Some("2.27"),
        None,
    )
    .await;
    assert!(
        ok(&r, 200)["hypervisors"][0]["cpu_info"].is_string(),
        "{}",
        r.text
    );
    assert!(r.body["hypervisors"][0]["id"].is_i64(), "{}", r.text);
    let r = nova(
        &c,
        Method::GET,
        "/os-hypervisors/not-a-uuid",
        &admin,
        Some("2.53"),
        None,
    )
    .await;
    assert_eq!(fault(&r, 400, "badRequest"), "Invalid uuid not-a-uuid");
    let r = nova(&c, Method::GET, "/os-hypervisors/abc", &admin, None, None).await;
    assert_eq!(
        fault(&r, 404, "itemNotFound"),
        "Hypervisor with ID 'abc' could not be found."
    );
    let r = nova(
        &c,
        Method::GET,
        "/os-hypervisors/statistics",
        &admin,
        None,
        None,
    )
    .await;
    assert_eq!(ok(&r, 200)["hypervisor_statistics"]["count"], 1);
    let r = nova(&c, Method::GET, "/os-hypervisors", &alice, None, None).await;
    fault(&r, 403, "forbidden");

    // Usage and migrations (nothing ran yet).
    let r = nova(
        &c,
        Method::GET,
        &format!("/os-simple-tenant-usage/{p1}"),
        &alice,
        None,
        None,
    )
    .await;
    // A zero usage (Nova sends `{}`, which `openstack usage show` cannot print).
    let u = &ok(&r, 200)["tenant_usage"];
    assert_eq!(u["tenant_id"], p1.as_str());
    assert_eq!(u["total_hours"], 0.0);
    assert_eq!(u["total_memory_mb_usage"], 0.0);
    assert_eq!(u["server_usages"], json!([]));
    let r = nova(
        &c,
        Method::GET,
        "/os-simple-tenant-usage",
        &alice,
        None,
        None,
    )
    .await;
    fault(&r, 403, "forbidden");
    let r = nova(
        &c,
        Method::GET,
        "/os-simple-tenant-usage?start=2030-01-01T00:00:00&end=2029-01-01T00:00:00",
        &admin,
        None,
        None,
    )
    .await;
    assert_eq!(
        fault(&r, 400, "badRequest"),
        "Invalid start time. The start time cannot occur after the end time."
    );
    let r = nova(
        &c,
        Method::GET,
        "/os-simple-tenant-usage?start=yesterday",
        &admin,
        None,
        None,
    )
    .await;
    assert_eq!(
        fault(&r, 400, "badRequest"),
        "Invalid datetime string: Datetime is in invalid format"
    );
    let r = nova(
        &c,
        Method::GET,
        "/os-simple-tenant-usage?detailed=1",
        &admin,
        Some("2.40"),
        None,
    )
    .await;
    assert_eq!(ok(&r, 200)["tenant_usages"], json!([]));
    let r = nova(&c, Method::GET, "/os-migrations", &admin, None, None).await;
    assert_eq!(ok(&r, 200)["migrations"], json!([]));
    let r = nova(&c, Method::GET, "/os-migrations", &alice, None, None).await;
    fault(&r, 403, "forbidden");
    c.stop().await.unwrap();
}
