//! Placement: version discovery and microversion negotiation, resource providers (nesting,
//! filters), resource classes, traits, inventories and aggregates with generation checks,
//! errors in Placement's form, and the policy (admin only).

mod placement_common;

use api_tests::TestCloud;
use placement_common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_microversions() {
    let c = TestCloud::start_without_compute().await.unwrap();
    let r = preq(&c, Method::GET, "", None, None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"versions": [{"id": "v1.0", "min_version": "1.0", "max_version": "1.39", "status": "CURRENT",
            "links": [{"rel": "self", "href": ""}]}]})
    );
    assert_eq!(r.header("openstack-api-version"), "placement 1.0");
    assert!(r
        .header("vary")
        .to_lowercase()
        .contains("openstack-api-version"));
    let r = preq(&c, Method::GET, "/", None, Some("latest"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("openstack-api-version"), "placement 1.39");
    let r = preq(&c, Method::GET, "/", None, Some("1.17"), None).await;
    assert_eq!(r.header("openstack-api-version"), "placement 1.17");
    let r = preq(&c, Method::GET, "/", None, Some("1.40"), None).await;
    assert_err(&r, 406, "placement.undefined");
    let r = preq(&c, Method::GET, "/", None, Some("2.0"), None).await;
    assert_eq!(r.status, 406);
    let r = preq(&c, Method::GET, "/", None, Some("one.two"), None).await;
    assert_err(&r, 400, "placement.undefined");
    // Without a token, resources are 401.
    let r = preq(&c, Method::GET, "/resource_providers", None, None, None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.body["errors"][0]["status"] == 401, "{}", r.text);
    // Features gated by microversion are 404 below it.
    let t = c.admin_token().await;
    let r = preq(&c, Method::GET, "/traits", Some(&t), Some("1.5"), None).await;
    assert_err(&r, 404, "placement.undefined");
    let r = preq(&c, Method::GET, "/traits", Some(&t), Some("1.6"), None).await;
    assert_eq!(r.status, 200);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_crud_and_nesting() {
    let c = TestCloud::start_without_compute().await.unwrap();
    let t = c.admin_token().await;
    // Before 1.20 create is 201 with a Location and no body.
    let r = preq(
        &c,
        Method::POST,
        "/resource_providers",
        Some(&t),
        Some("1.0"),
        Some(json!({"name": "old"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r
        .header("location")
        .starts_with(&format!("{}/placement/resource_providers/", c.base)));
    assert!(r.text.is_empty());
    let uuid = "5ee1e6f0-4a6c-4d8e-9a83-0d7c2d6b6a11";
    let r = p(
        &c,
        Method::POST,
        "/resource_providers",
        &t,
        Some(json!({"name": "cn1", "uuid": uuid})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["uuid"], uuid);
    assert_eq!(r.body["generation"], 0);
    assert_eq!(r.body["root_provider_uuid"], uuid);
    assert!(r.body["parent_provider_uuid"].is_null());
    let rels: Vec<&str> = r.body["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(
        rels,
        [
            "self",
            "inventories",
            "usages",
            "aggregates",
            "traits",
            "allocations"
        ]
    );
    // Duplicate name: 409 duplicate_name; bad bodies: 400.
    let r = p(
        &c,
        Method::POST,
        "/resource_providers",
        &t,
        Some(json!({"name": "cn1"})),
    )
    .await;
    assert_err(&r, 409, "placement.duplicate_name");
    for bad in [
        json!({}),
        json!({"name": 5}),
        json!({"name": "x".repeat(201)}),
        json!({"name": "a", "uuid": "nope"}),
        json!({"name": "a", "bogus": 1}),
    ] {
        let r = p(
            &c,
            Method::POST,
            "/resource_providers",
            &t,
            Some(bad.clone()),
        )
        .await;
        assert_err(&r, 400, "placement.undefined");
    }
    let r = c
        .raw(
            Method::POST,
            &pu(&c, "/resource_providers"),
            Some(&t),
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Nesting.
    let child = mk_rp(&c, &t, "numa0", Some(uuid)).await;
    let r = p(
        &c,
        Method::GET,
        &format!("/resource_providers/{child}"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["parent_provider_uuid"], uuid);
    assert_eq!(r.body["root_provider_uuid"], uuid);
    // Below 1.14 there are no tree fields.
    let r = preq(
        &c,
        Method::GET,
        &format!("/resource_providers/{child}"),
        Some(&t),
        Some("1.13"),
        None,
    )
    .await;
    assert!(r.body.get("root_provider_uuid").is_none(), "{}", r.text);
    let r = p(&c, Method::POST, "/resource_providers", &t,
        Some(json!({"name": "orphan", "parent_provider_uuid": "11111111-1111-1111-1111-111111111111"}))).await;
    assert_err(&r, 400, "placement.undefined");
    // in_tree, name and uuid filters.
    let r = p(
        &c,
        Method::GET,
        &format!("/resource_providers?in_tree={child}"),
        &t,
        None,
    )
    .await;
    assert_eq!(
        r.body["resource_providers"].as_array().unwrap().len(),
        2,
        "{}",
        r.text
    );
    let r = p(&c, Method::GET, "/resource_providers?name=cn1", &t, None).await;
    assert_eq!(r.body["resource_providers"][0]["uuid"], uuid);
    let r = p(&c, Method::GET, "/resource_providers?bogus=1", &t, None).await;
    assert_err(&r, 400, "placement.undefined");
    // Update.
    let r = p(
        &c,
        Method::PUT,
        &format!("/resource_providers/{uuid}"),
        &t,
        Some(json!({"name": "cn1-renamed"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "cn1-renamed");
    // Delete: a parent with children is 409; unknown is 404.
    let r = p(
        &c,
        Method::DELETE,
        &format!("/resource_providers/{uuid}"),
        &t,
        None,
    )
    .await;
    assert_err(&r, 409, "placement.resource_provider.cannot_delete_parent");
    let r = p(
        &c,
        Method::DELETE,
        &format!("/resource_providers/{child}"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = p(
        &c,
        Method::DELETE,
        &format!("/resource_providers/{uuid}"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    let r = p(
        &c,
        Method::GET,
        &format!("/resource_providers/{uuid}"),
        &t,
        None,
    )
    .await;
    assert_err(&r, 404, "placement.undefined");
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classes_traits_inventories_aggregates() {
    let c = TestCloud::start_without_compute().await.unwrap();
    let t = c.admin_token().await;
    // Resource classes.
    let r = p(&c, Method::GET, "/resource_classes", &t, None).await;
    let names: Vec<&str> = r.body["resource_classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    for n in [
        "VCPU",
        "MEMORY_MB",
        "DISK_GB",
        "PCI_DEVICE",
        "SRIOV_NET_VF",
        "NUMA_CORE",
        "IPV4_ADDRESS",
        "VGPU",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    let r = p(
        &c,
        Method::POST,
        "/resource_classes",
        &t,
        Some(json!({"name": "CUSTOM_GOLD"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.header("location"),
        format!("{}/placement/resource_classes/CUSTOM_GOLD", c.base)
    );
    let r = p(
        &c,
        Method::POST,
        "/resource_classes",
        &t,
        Some(json!({"name": "CUSTOM_GOLD"})),
    )
    .await;
    assert_err(&r, 409, "placement.duplicate_name");
    let r = p(
        &c,
        Method::POST,
        "/resource_classes",
        &t,
        Some(json!({"name": "GOLD"})),
    )
    .await;
    assert_err(&r, 400, "placement.undefined");
    let r = p(&c, Method::PUT, "/resource_classes/CUSTOM_SILVER", &t, None).await;
    assert_eq!(r.status, 201);
    let r = p(&c, Method::PUT, "/resource_classes/CUSTOM_SILVER", &t, None).await;
    assert_eq!(r.status, 204);
    let r = p(&c, Method::GET, "/resource_classes/CUSTOM_SILVER", &t, None).await;
    assert_eq!(
        r.body,
        json!({"name": "CUSTOM_SILVER", "links": [{"rel": "self", "href": "/placement/resource_classes/CUSTOM_SILVER"}]})
    );
    let r = p(&c, Method::DELETE, "/resource_classes/VCPU", &t, None).await;
    assert_eq!(r.status, 400);
    let r = p(
        &c,
        Method::DELETE,
        "/resource_classes/CUSTOM_SILVER",
        &t,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    let r = p(&c, Method::GET, "/resource_classes/CUSTOM_SILVER", &t, None).await;
    assert_err(&r, 404, "placement.undefined");
    // Traits.
    let r = p(&c, Method::PUT, "/traits/CUSTOM_FAST", &t, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = p(&c, Method::PUT, "/traits/CUSTOM_FAST", &t, None).await;
    assert_eq!(r.status, 204);
    let r = p(&c, Method::PUT, "/traits/FAST", &t, None).await;
    assert_eq!(r.status, 400);
    let r = p(&c, Method::GET, "/traits/CUSTOM_FAST", &t, None).await;
    assert_eq!(r.status, 204);
    let r = p(&c, Method::GET, "/traits/CUSTOM_NOPE", &t, None).await;
    assert_err(&r, 404, "placement.undefined");
    let r = p(&c, Method::GET, "/traits?name=startswith:CUSTOM_", &t, None).await;
    assert_eq!(r.body, json!({"traits": ["CUSTOM_FAST"]}));
    let r = p(
        &c,
        Method::GET,
        "/traits?name=in:STORAGE_DISK_SSD,HW_CPU_X86_AVX2",
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["traits"].as_array().unwrap().len(), 2);
    // Inventories with generations.
    let rp = mk_rp(&c, &t, "cn", None).await;
    let base = format!("/resource_providers/{rp}");
    let r = p(&c, Method::PUT, &format!("{base}/inventories"), &t, Some(json!({"resource_provider_generation": 0,
        "inventories": {"VCPU": {"total": 8, "allocation_ratio": 2.0}, "MEMORY_MB": {"total": 4096, "reserved": 512}, "CUSTOM_GOLD": {"total": 3}}}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["resource_provider_generation"], 1);
    assert_eq!(
        r.body["inventories"]["VCPU"],
        json!({"total": 8, "reserved": 0, "min_unit": 1, "max_unit": 2147483647, "step_size": 1, "allocation_ratio": 2.0})
    );
    // A stale generation: 409 concurrent_update, nothing written.
    let r = p(
        &c,
        Method::PUT,
        &format!("{base}/inventories"),
        &t,
        Some(json!({"resource_provider_generation": 0, "inventories": {}})),
    )
    .await;
    assert_err(&r, 409, "placement.concurrent_update");
    let r = p(&c, Method::GET, &format!("{base}/inventories"), &t, None).await;
    assert_eq!(r.body["inventories"].as_object().unwrap().len(), 3);
    // Bad inventories: 400.
    for inv in [
        json!({"VCPU": {"total": 0}}),
        json!({"VCPU": {}}),
        json!({"VCPU": {"total": 2, "reserved": 3}}),
        json!({"CUSTOM_NOPE": {"total": 1}}),
        json!({"VCPU": {"total": "x"}}),
    ] {
        let r = p(
            &c,
            Method::PUT,
            &format!("{base}/inventories"),
            &t,
            Some(json!({"resource_provider_generation": 1, "inventories": inv})),
        )
        .await;
        assert_err(&r, 400, "placement.undefined");
    }
    let r = p(
        &c,
        Method::PUT,
        &format!("{base}/inventories/DISK_GB"),
        &t,
        Some(json!({"resource_provider_generation": 1, "total": 100})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["resource_provider_generation"], 2);
    let r = p(
        &c,
        Method::GET,
        &format!("{base}/inventories/DISK_GB"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["total"], 100);
    let r = p(
        &c,
        Method::POST,
        &format!("{base}/inventories"),
        &t,
        Some(json!({"resource_provider_generation": 2, "resource_class": "VGPU", "total": 2})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = p(
        &c,
        Method::DELETE,
        &format!("{base}/inventories/VGPU"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    let r = p(
        &c,
        Method::DELETE,
        &format!("{base}/inventories/VGPU"),
        &t,
        None,
    )
    .await;
    assert_err(&r, 404, "placement.undefined");
    // The resources filter.
    let r = p(
        &c,
        Method::GET,
        "/resource_providers?resources=VCPU:16,MEMORY_MB:3584",
        &t,
        None,
    )
    .await;
    assert_eq!(
        r.body["resource_providers"].as_array().unwrap().len(),
        1,
        "{}",
        r.text
    );
    let r = p(
        &c,
        Method::GET,
        "/resource_providers?resources=VCPU:17",
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["resource_providers"].as_array().unwrap().len(), 0);
    let r = p(
        &c,
        Method::GET,
        "/resource_providers?resources=VCPU",
        &t,
        None,
    )
    .await;
    assert_err(&r, 400, "placement.undefined");
    // Provider traits.
    let g = p(&c, Method::GET, &base, &t, None).await.body["generation"]
        .as_i64()
        .unwrap();
    let r = p(&c, Method::PUT, &format!("{base}/traits"), &t, Some(json!({"resource_provider_generation": g, "traits": ["CUSTOM_FAST", "STORAGE_DISK_SSD"]}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"traits": ["CUSTOM_FAST", "STORAGE_DISK_SSD"], "resource_provider_generation": g + 1})
    );
    let r = p(
        &c,
        Method::PUT,
        &format!("{base}/traits"),
        &t,
        Some(json!({"resource_provider_generation": g, "traits": []})),
    )
    .await;
    assert_err(&r, 409, "placement.concurrent_update");
    let r = p(
        &c,
        Method::PUT,
        &format!("{base}/traits"),
        &t,
        Some(json!({"resource_provider_generation": g + 1, "traits": ["CUSTOM_NOPE"]})),
    )
    .await;
    assert_err(&r, 400, "placement.undefined");
    let r = p(&c, Method::DELETE, "/traits/CUSTOM_FAST", &t, None).await;
    assert_eq!(r.status, 409);
    let r = p(
        &c,
        Method::GET,
        "/resource_providers?required=CUSTOM_FAST,!HW_CPU_X86_AVX",
        &t,
        None,
    )
    .await;
    assert_eq!(
        r.body["resource_providers"].as_array().unwrap().len(),
        1,
        "{}",
        r.text
    );
    let r = p(
        &c,
        Method::GET,
        "/resource_providers?required=!CUSTOM_FAST",
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["resource_providers"].as_array().unwrap().len(), 0);
    let r = p(&c, Method::GET, "/traits?associated=true", &t, None).await;
    assert_eq!(
        r.body,
        json!({"traits": ["CUSTOM_FAST", "STORAGE_DISK_SSD"]})
    );
    // Aggregates (1.19 with generation; 1.1 as a plain list).
    let agg = "7a8b2b5c-0c1a-4c8e-9d67-3e3f1f1b2a01";
    let g = g + 1;
    let r = p(
        &c,
        Method::PUT,
        &format!("{base}/aggregates"),
        &t,
        Some(json!({"resource_provider_generation": g, "aggregates": [agg]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"aggregates": [agg], "resource_provider_generation": g + 1})
    );
    let r = p(
        &c,
        Method::PUT,
        &format!("{base}/aggregates"),
        &t,
        Some(json!({"resource_provider_generation": g, "aggregates": []})),
    )
    .await;
    assert_err(&r, 409, "placement.concurrent_update");
    let r = preq(
        &c,
        Method::GET,
        &format!("{base}/aggregates"),
        Some(&t),
        Some("1.1"),
        None,
    )
    .await;
    assert_eq!(r.body, json!({"aggregates": [agg]}));
    let r = p(
        &c,
        Method::GET,
        &format!("/resource_providers?member_of=in:{agg},11111111-1111-1111-1111-111111111111"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["resource_providers"].as_array().unwrap().len(), 1);
    let r = p(
        &c,
        Method::GET,
        &format!("/resource_providers?member_of=!{agg}"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["resource_providers"].as_array().unwrap().len(), 0);
    let r = p(
        &c,
        Method::GET,
        "/resource_providers?member_of=notauuid",
        &t,
        None,
    )
    .await;
    assert_err(&r, 400, "placement.undefined");
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_admin_is_forbidden() {
    let c = TestCloud::start_without_compute().await.unwrap();
    let admin = c.admin_token().await;
    let (_, _, member) = c.user_with_role(&admin, "pmember", "member").await;
    for (m, path) in [
        (Method::GET, "/resource_providers"),
        (Method::POST, "/resource_providers"),
        (Method::GET, "/traits"),
        (Method::GET, "/resource_classes"),
        (
            Method::GET,
            "/allocations/5ee1e6f0-4a6c-4d8e-9a83-0d7c2d6b6a11",
        ),
    ] {
        let r = p(&c, m, path, &member, Some(json!({"name": "x"}))).await;
        assert_err(&r, 403, "placement.undefined");
    }
    let r = p(&c, Method::GET, "/resource_providers", "bad-token", None).await;
    assert_eq!(r.status, 401);
    let r = p(&c, Method::GET, "/resource_providers", &admin, None).await;
    assert_eq!(r.body, json!({"resource_providers": []}));
    c.stop().await.unwrap();
}
