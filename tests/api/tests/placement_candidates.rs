//! Placement allocation candidates: the unsuffixed group over a tree, granular groups with
//! group_policy, traits, member_of, limit, and the formats of 1.10, 1.12+ and 1.34+.

mod placement_common;

use api_tests::TestCloud;
use placement_common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates() {
    let c = TestCloud::start_without_compute().await.unwrap();
    let t = c.admin_token().await;
    // cn1 (VCPU, MEMORY_MB) with two NUMA children holding VFs; cn2 small.
    let cn1 = mk_rp(&c, &t, "cn1", None).await;
    let n0 = mk_rp(&c, &t, "cn1-pf0", Some(&cn1)).await;
    let n1 = mk_rp(&c, &t, "cn1-pf1", Some(&cn1)).await;
    let cn2 = mk_rp(&c, &t, "cn2", None).await;
    set_inv(
        &c,
        &t,
        &cn1,
        json!({"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096}}),
    )
    .await;
    set_inv(&c, &t, &n0, json!({"SRIOV_NET_VF": {"total": 4}})).await;
    set_inv(&c, &t, &n1, json!({"SRIOV_NET_VF": {"total": 4}})).await;
    set_inv(
        &c,
        &t,
        &cn2,
        json!({"VCPU": {"total": 2}, "MEMORY_MB": {"total": 1024}}),
    )
    .await;
    let g = p(
        &c,
        Method::GET,
        &format!("/resource_providers/{cn2}"),
        &t,
        None,
    )
    .await
    .body["generation"]
        .clone();
    let r = p(
        &c,
        Method::PUT,
        &format!("/resource_providers/{cn2}/traits"),
        &t,
        Some(json!({"resource_provider_generation": g, "traits": ["STORAGE_DISK_SSD"]})),
    )
    .await;
    assert_eq!(r.status, 200);

    // Both hosts fit 1 VCPU / 512 MB.
    let r = p(
        &c,
        Method::GET,
        "/allocation_candidates?resources=VCPU:1,MEMORY_MB:512",
        &t,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let reqs = r.body["allocation_requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 2, "{}", r.text);
    assert_eq!(
        reqs[0]["allocations"][&cn1]["resources"],
        json!({"VCPU": 1, "MEMORY_MB": 512})
    );
    assert_eq!(reqs[0]["mappings"], json!({"": [cn1]}));
    let sum = &r.body["provider_summaries"];
    assert_eq!(
        sum[&cn1]["resources"]["VCPU"],
        json!({"capacity": 8, "used": 0})
    );
    assert_eq!(sum[&cn1]["root_provider_uuid"], cn1);
    assert_eq!(sum[&n0]["parent_provider_uuid"], cn1);
    assert_eq!(sum[&cn2]["traits"], json!(["STORAGE_DISK_SSD"]));
    // Too big for cn2; traits; forbidden traits; limit.
    let r = p(
        &c,
        Method::GET,
        "/allocation_candidates?resources=VCPU:4",
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["allocation_requests"].as_array().unwrap().len(), 1);
    let r = p(
        &c,
        Method::GET,
        "/allocation_candidates?resources=VCPU:1&required=STORAGE_DISK_SSD",
        &t,
        None,
    )
    .await;
    let reqs = r.body["allocation_requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0]["allocations"].get(&cn2).is_some());
    let r = p(
        &c,
        Method::GET,
        "/allocation_candidates?resources=VCPU:1&required=!STORAGE_DISK_SSD",
        &t,
        None,
    )
    .await;
    assert!(r.body["allocation_requests"][0]["allocations"]
        .get(&cn1)
        .is_some());
    let r = p(
        &c,
        Method::GET,
        "/allocation_candidates?resources=VCPU:1&limit=1",
        &t,
        None,
    )
    .await;
    assert_eq!(r.body["allocation_requests"].as_array().unwrap().len(), 1);
    // Nested: VFs come from a child in the same tree.
    let r = p(
        &c,
        Method::GET,
        "/allocation_candidates?resources=VCPU:1,SRIOV_NET_VF:2",
        &t,
        None,
    )
    .await;
    let reqs = r.body["allocation_requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 2, "{}", r.text);
    // Granular: two VF groups, isolated = different PFs; none = may share.
    let q = "/allocation_candidates?resources=VCPU:1&resources1=SRIOV_NET_VF:1&resources2=SRIOV_NET_VF:1&group_policy=isolate";
    let r = p(&c, Method::GET, q, &t, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // One distinct allocation (pf0 + pf1; the mirrored mapping is the same allocation).
    assert_eq!(
        r.body["allocation_requests"].as_array().unwrap().len(),
        1,
        "{}",
        r.text
    );
    let m = &r.body["allocation_requests"][0]["mappings"];
    assert_ne!(m["1"], m["2"]);
    let r = p(&c, Method::GET, &q.replace("isolate", "none"), &t, None).await;
    assert_eq!(
        r.body["allocation_requests"].as_array().unwrap().len(),
        3,
        "{}",
        r.text
    );
    let r = p(
        &c,
        Method::GET,
        "/allocation_candidates?resources1=VCPU:1&resources2=MEMORY_MB:1",
        &t,
        None,
    )
    .await;
    assert_err(&r, 400, "placement.undefined");
    // Old formats.
    let r = preq(
        &c,
        Method::GET,
        "/allocation_candidates?resources=VCPU:4",
        Some(&t),
        Some("1.10"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["allocation_requests"][0]["allocations"],
        json!([{"resource_provider": {"uuid": cn1}, "resources": {"VCPU": 4}}])
    );
    assert_eq!(
        r.body["provider_summaries"][&cn1],
        json!({"resources": {"VCPU": {"capacity": 8, "used": 0}}})
    );
    let r = preq(
        &c,
        Method::GET,
        "/allocation_candidates?resources=VCPU:4",
        Some(&t),
        Some("1.9"),
        None,
    )
    .await;
    assert_err(&r, 404, "placement.undefined");
    // Bad input.
    for q in [
        "",
        "?resources=VCPU",
        "?resources=VCPU:1&bogus=1",
        "?resources=CUSTOM_NOPE:1",
        "?resources=VCPU:1&limit=0",
        "?resources1=VCPU:1&group_policy=maybe",
    ] {
        let r = p(
            &c,
            Method::GET,
            &format!("/allocation_candidates{q}"),
            &t,
            None,
        )
        .await;
        assert_err(&r, 400, "placement.undefined");
    }
    c.stop().await.unwrap();
}
