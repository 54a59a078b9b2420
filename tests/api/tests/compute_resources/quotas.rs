//! Quota sets per microversion, who may set them, bad values, detail, limits, revert.
use api_tests::TestCloud;
use reqwest::Method;
use serde_json::json;

use crate::{fault, nova, ok};

#[tokio::test]
async fn quota_sets_and_limits() {
    let c = TestCloud::start().await.unwrap();
    let admin = c.admin_token().await;
    let (_, p1, alice) = c.user_with_role(&admin, "alice", "member").await;
    let (_, p2, _) = c.user_with_role(&admin, "bob", "member").await;
    let qs = format!("/os-quota-sets/{p1}");

    let r = nova(&c, Method::GET, &qs, &alice, None, None).await;
    let q = &ok(&r, 200)["quota_set"];
    assert_eq!(q["id"], p1.as_str());
    assert_eq!(
        (q["instances"].clone(), q["cores"].clone(), q["ram"].clone()),
        (json!(10), json!(20), json!(51200))
    );
    assert_eq!(q["floating_ips"], 10);
    let r = nova(&c, Method::GET, &qs, &alice, Some("2.56"), None).await;
    let q = &ok(&r, 200)["quota_set"];
    assert!(
        q.get("floating_ips").is_none() && q["injected_files"] == 5,
        "{q}"
    );
    let r = nova(&c, Method::GET, &qs, &alice, Some("2.57"), None).await;
    let q = &ok(&r, 200)["quota_set"];
    assert!(
        q.get("injected_files").is_none() && q["key_pairs"] == 100,
        "{q}"
    );
    let r = nova(
        &c,
        Method::GET,
        &format!("/os-quota-sets/{p2}"),
        &alice,
        None,
        None,
    )
    .await;
    assert_eq!(
        fault(&r, 403, "forbidden"),
        "Policy doesn't allow os_compute_api:os-quota-sets:show to be performed."
    );
    let r = nova(
        &c,
        Method::GET,
        &format!("{qs}/defaults"),
        &alice,
        None,
        None,
    )
    .await;
    assert_eq!(ok(&r, 200)["quota_set"]["instances"], 10);

    // Only admins set quotas; values are checked as Nova checks them.
    let set = json!({"quota_set": {"instances": 7, "cores": "9"}});
    let r = nova(&c, Method::PUT, &qs, &alice, None, Some(set.clone())).await;
    fault(&r, 403, "forbidden");
    let r = nova(&c, Method::PUT, &qs, &admin, None, Some(set)).await;
    let q = &ok(&r, 200)["quota_set"];
    assert_eq!(
        (q["instances"].clone(), q["cores"].clone()),
        (json!(7), json!(9))
    );
    assert!(q.get("id").is_none(), "{q}");
    let r = nova(
        &c,
        Method::PUT,
        &qs,
        &admin,
        None,
        Some(json!({"quota_set": {"instances": -2}})),
    )
    .await;
    assert_eq!(
        fault(&r, 400, "badRequest"),
        "Invalid input for field/attribute instances. Value: -2. -2 is less than the minimum of -1"
    );
    let r = nova(
        &c,
        Method::PUT,
        &qs,
        &admin,
        None,
        Some(json!({"quota_set": {"instances": "many"}})),
    )
    .await;
    assert_eq!(fault(&r, 400, "badRequest"), "Invalid input for field/attribute instances. Value: many. 'many' does not match '^-?[0-9]+$'");
    let r = nova(
        &c,
        Method::PUT,
        &qs,
        &admin,
        Some("2.57"),
        Some(json!({"quota_set": {"injected_files": 3}})),
    )
    .await;
    assert_eq!(
        fault(&r, 400, "badRequest"),
        "Invalid input for field/attribute quota_set. Value: {'injected_files': 3}. Additional properties are not allowed ('injected_files' was unexpected)"
    );
    let r = nova(&c, Method::GET, &format!("{qs}/detail"), &alice, None, None).await;
    assert_eq!(
        ok(&r, 200)["quota_set"]["instances"],
        json!({"in_use": 0, "limit": 7, "reserved": 0})
    );

    // Limits: what the CLI asks (no microversion, ?reserved=False).
    let r = nova(
        &c,
        Method::GET,
        "/limits?reserved=False",
        &alice,
        None,
        None,
    )
    .await;
    let l = &ok(&r, 200)["limits"];
    assert_eq!(l["rate"], json!([]));
    let a = &l["absolute"];
    assert_eq!(
        (a["maxTotalInstances"].clone(), a["maxTotalCores"].clone()),
        (json!(7), json!(9))
    );
    for k in [
        "maxTotalRAMSize",
        "maxTotalKeypairs",
        "maxServerMeta",
        "maxServerGroups",
        "maxServerGroupMembers",
        "totalInstancesUsed",
        "totalCoresUsed",
        "totalRAMUsed",
        "totalServerGroupsUsed",
        "maxTotalFloatingIps",
    ] {
        assert!(a[k].is_i64(), "{k}: {a}");
    }
    let r = nova(&c, Method::GET, "/limits", &alice, Some("2.57"), None).await;
    let a = &ok(&r, 200)["limits"]["absolute"];
    assert!(
        a.get("maxTotalFloatingIps").is_none()
            && a.get("maxPersonality").is_none()
            && a.get("maxImageMeta").is_none(),
        "{a}"
    );
    let r = nova(
        &c,
        Method::GET,
        &format!("/limits?tenant_id={p2}"),
        &alice,
        None,
        None,
    )
    .await;
    fault(&r, 403, "forbidden");
    let r = nova(
        &c,
        Method::GET,
        &format!("/limits?tenant_id={p1}"),
        &admin,
        None,
        None,
    )
    .await;
    assert_eq!(ok(&r, 200)["limits"]["absolute"]["maxTotalInstances"], 7);

    let r = nova(&c, Method::DELETE, &qs, &admin, None, None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let r = nova(&c, Method::GET, &qs, &alice, None, None).await;
    assert_eq!(ok(&r, 200)["quota_set"]["instances"], 10);
    c.stop().await.unwrap();
}
