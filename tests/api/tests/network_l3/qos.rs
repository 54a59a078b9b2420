//! QoS: policies (admin-created, shared ones readable by every project), bandwidth limit
//! rules one per direction, rule types, a port's `qos_policy_id`, default policies.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{create, get, id, neutron, neutron_error, World};

#[tokio::test]
async fn policies_and_bandwidth_limit_rules() {
    let w = World::start().await;
    let (ap, at) = w.alice.clone();
    let c = &w.c;
    let admin = &w.admin;

    // Creating a policy is the admin's.
    let r = neutron(
        c,
        Method::POST,
        "/qos/policies",
        &at,
        Some(json!({"policy": {"name": "p"}})),
    )
    .await;
    let m = neutron_error(&r, 403, "PolicyNotAuthorized");
    assert!(m.contains("create_policy"), "{m}");

    // `openstack network qos policy create --project alice-project gold`.
    let p = create(
        c,
        "/qos/policies",
        admin,
        "policy",
        json!({"name": "gold", "project_id": ap}),
    )
    .await;
    let pid = id(&p);
    assert_eq!(p["name"], "gold");
    assert_eq!(p["shared"], false);
    assert_eq!(p["is_default"], false);
    assert_eq!(p["rules"], json!([]));
    assert_eq!(p["project_id"], ap.as_str());
    assert_eq!(p["description"], "");
    let rules = format!("/qos/policies/{pid}/bandwidth_limit_rules");

    // `network qos rule create --type bandwidth-limit --max-kbps 1000 --max-burst-kbits 800
    // --egress gold`.
    let r = create(
        c,
        &rules,
        admin,
        "bandwidth_limit_rule",
        json!({"max_kbps": 1000, "max_burst_kbps": 800, "direction": "egress"}),
    )
    .await;
    let rid = id(&r);
    assert_eq!(
        r,
        json!({"id": rid, "max_kbps": 1000, "max_burst_kbps": 800, "direction": "egress"})
    );
    // One per direction.
    let dup = neutron(
        c,
        Method::POST,
        &rules,
        admin,
        Some(json!({"bandwidth_limit_rule": {"max_kbps": 5}})),
    )
    .await;
    assert_eq!(
        neutron_error(&dup, 409, "QoSRulesConflict"),
        format!("Rule bandwidth_limit conflicts with rule {rid} which already exists in QoS Policy {pid}.")
    );
    let ing = create(
        c,
        &rules,
        admin,
        "bandwidth_limit_rule",
        json!({"max_kbps": 2000, "direction": "ingress"}),
    )
    .await;
    assert_eq!(ing["max_burst_kbps"], 0);

    // Input errors.
    for (body, msg) in [
        (json!({"max_kbps": -1}), "Invalid input for max_kbps. Reason: '-1' is too small - must be at least '0'."),
        (json!({"max_kbps": 2147483648_i64}), "Invalid input for max_kbps. Reason: '2147483648' is too large - must be no larger than '2147483647'."),
        (json!({"max_kbps": "fast"}), "Invalid input for max_kbps. Reason: 'fast' is not an integer."),
        (json!({"max_kbps": 1, "direction": "up"}), "Invalid input for direction. Reason: up is not in valid_values."),
        (json!({"max_burst_kbps": 1}), "Failed to parse request. Required attribute 'max_kbps' not specified"),
        (json!({"max_kbps": 1, "dscp_mark": 8}), "Unrecognized attribute(s) 'dscp_mark'"),
    ] {
        let r = neutron(c, Method::POST, &rules, admin, Some(json!({"bandwidth_limit_rule": body}))).await;
        assert_eq!(neutron_error(&r, 400, "HTTPBadRequest"), msg);
    }

    // The policy shows its rules, typed (what `network qos rule set/delete` look up).
    let shown = get(c, &format!("/qos/policies/{pid}"), &at).await;
    let prules = shown["policy"]["rules"].as_array().unwrap();
    assert_eq!(prules.len(), 2);
    assert!(prules
        .iter()
        .all(|r| r["type"] == "bandwidth_limit" && r["qos_policy_id"] == pid.as_str()));
    let listed = get(c, &rules, &at).await;
    assert_eq!(listed["bandwidth_limit_rules"].as_array().unwrap().len(), 2);
    let one = get(c, &format!("{rules}/{rid}"), &at).await;
    assert_eq!(one["bandwidth_limit_rule"]["max_kbps"], 1000);

    // Update and delete a rule.
    let u = neutron(
        c,
        Method::PUT,
        &format!("{rules}/{rid}"),
        admin,
        Some(json!({"bandwidth_limit_rule": {"max_kbps": 3000}})),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["bandwidth_limit_rule"]["max_kbps"], 3000);
    assert_eq!(u.body["bandwidth_limit_rule"]["max_burst_kbps"], 800);
    let flip = neutron(
        c,
        Method::PUT,
        &format!("{rules}/{rid}"),
        admin,
        Some(json!({"bandwidth_limit_rule": {"direction": "ingress"}})),
    )
    .await;
    assert_eq!(flip.status, 409, "{}", flip.text);
    let d = neutron(c, Method::DELETE, &format!("{rules}/{rid}"), &at, None).await;
    let m = neutron_error(&d, 403, "PolicyNotAuthorized");
    assert!(m.contains("delete_policy_bandwidth_limit_rule"), "{m}");
    let d = neutron(c, Method::DELETE, &format!("{rules}/{rid}"), admin, None).await;
    assert_eq!(d.status, 204, "{}", d.text);
    let g = neutron(c, Method::GET, &format!("{rules}/{rid}"), admin, None).await;
    assert_eq!(
        neutron_error(&g, 404, "QosRuleNotFound"),
        format!("QoS rule {rid} for policy {pid} could not be found.")
    );

    // Update and delete the policy.
    let u = neutron(
        c,
        Method::PUT,
        &format!("/qos/policies/{pid}"),
        admin,
        Some(json!({"policy": {"description": "10 Mbit", "shared": true}})),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["policy"]["shared"], true);
    assert_eq!(u.body["policy"]["description"], "10 Mbit");
    let d = neutron(
        c,
        Method::DELETE,
        &format!("/qos/policies/{pid}"),
        admin,
        None,
    )
    .await;
    assert_eq!(d.status, 204, "{}", d.text);
    let g = neutron(c, Method::GET, &format!("/qos/policies/{pid}"), admin, None).await;
    assert_eq!(
        neutron_error(&g, 404, "QosPolicyNotFound"),
        format!("QoS policy {pid} could not be found.")
    );
    w.stop().await;
}

#[tokio::test]
async fn rule_types() {
    let w = World::start().await;
    let c = &w.c;
    let t = get(c, "/qos/rule-types", &w.admin).await;
    assert_eq!(t, json!({"rule_types": [{"type": "bandwidth_limit"}]}));
    let t = get(c, "/qos/rule-types?all_supported=true", &w.admin).await;
    assert_eq!(t["rule_types"].as_array().unwrap().len(), 1);
    let d = get(c, "/qos/rule-types/bandwidth_limit", &w.admin).await;
    assert_eq!(d["rule_type"]["type"], "bandwidth_limit");
    let params: Vec<&str> = d["rule_type"]["drivers"][0]["supported_parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["parameter_name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["max_kbps", "max_burst_kbps", "direction"]);
    let r = neutron(
        c,
        Method::GET,
        "/qos/rule-types/dscp_marking",
        &w.admin,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    w.stop().await;
}

#[tokio::test]
async fn port_qos_policy_set_and_unset() {
    let w = World::start().await;
    let (ap, at) = w.alice.clone();
    let c = &w.c;
    let (net, _) = w.tenant_net(&at, "private", "10.1.0.0/24").await;
    let (port, _) = w.port(&at, &net, "p").await;
    let pid = id(&create(
        c,
        "/qos/policies",
        &w.admin,
        "policy",
        json!({"name": "gold", "project_id": ap}),
    )
    .await);
    assert_eq!(
        get(c, &format!("/ports/{port}"), &at).await["port"]["qos_policy_id"],
        Value::Null
    );

    // `openstack port set --qos-policy gold p`.
    let set = |policy: Value| {
        neutron(
            c,
            Method::PUT,
            &format!("/ports/{port}"),
            &at,
            Some(json!({"port": {"qos_policy_id": policy}})),
        )
    };
    let r = set(json!(pid)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["port"]["qos_policy_id"], pid.as_str());
    assert_eq!(
        get(c, &format!("/ports/{port}"), &at).await["port"]["qos_policy_id"],
        pid.as_str()
    );
    let listed = get(c, &format!("/ports?qos_policy_id={pid}"), &at).await;
    assert_eq!(listed["ports"].as_array().unwrap().len(), 1);

    // In use: the policy stays.
    let d = neutron(
        c,
        Method::DELETE,
        &format!("/qos/policies/{pid}"),
        &w.admin,
        None,
    )
    .await;
    assert_eq!(
        neutron_error(&d, 409, "QosPolicyInUse"),
        format!("QoS Policy {pid} is used by port {port}.")
    );

    // An unknown policy: the port keeps its policy.
    let ghost = "8d4c70a2-1fed-4aeb-a121-a1a429ba0d04";
    let r = set(json!(ghost)).await;
    assert_eq!(
        neutron_error(&r, 404, "QosPolicyNotFound"),
        format!("QoS policy {ghost} could not be found.")
    );
    assert_eq!(
        get(c, &format!("/ports/{port}"), &at).await["port"]["qos_policy_id"],
        pid.as_str()
    );

    // `openstack port unset --qos-policy p`.
    let r = set(Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["port"]["qos_policy_id"], Value::Null);
    let d = neutron(
        c,
        Method::DELETE,
        &format!("/qos/policies/{pid}"),
        &w.admin,
        None,
    )
    .await;
    assert_eq!(d.status, 204, "{}", d.text);

    // A port created with a policy; a network's policy.
    let pid = id(&create(
        c,
        "/qos/policies",
        &w.admin,
        "policy",
        json!({"name": "silver", "project_id": ap}),
    )
    .await);
    let p = create(
        c,
        "/ports",
        &at,
        "port",
        json!({"network_id": net, "qos_policy_id": pid}),
    )
    .await;
    assert_eq!(p["qos_policy_id"], pid.as_str());
    let n = neutron(
        c,
        Method::PUT,
        &format!("/networks/{net}"),
        &at,
        Some(json!({"network": {"qos_policy_id": pid}})),
    )
    .await;
    assert_eq!(n.status, 200, "{}", n.text);
    assert_eq!(n.body["network"]["qos_policy_id"], pid.as_str());
    w.stop().await;
}

#[tokio::test]
async fn policies_are_isolated_unless_shared() {
    let w = World::start().await;
    let (ap, at) = w.alice.clone();
    let (_, bt) = w.bob.clone();
    let c = &w.c;
    let private = id(&create(
        c,
        "/qos/policies",
        &w.admin,
        "policy",
        json!({"name": "mine", "project_id": ap}),
    )
    .await);
    let shared = id(&create(
        c,
        "/qos/policies",
        &w.admin,
        "policy",
        json!({"name": "all", "shared": true}),
    )
    .await);

    let g = neutron(
        c,
        Method::GET,
        &format!("/qos/policies/{private}"),
        &bt,
        None,
    )
    .await;
    assert_eq!(
        neutron_error(&g, 404, "QosPolicyNotFound"),
        format!("QoS policy {private} could not be found.")
    );
    let g = neutron(
        c,
        Method::GET,
        &format!("/qos/policies/{private}/bandwidth_limit_rules"),
        &bt,
        None,
    )
    .await;
    assert_eq!(g.status, 404, "{}", g.text);
    let s = get(c, &format!("/qos/policies/{shared}"), &bt).await;
    assert_eq!(s["policy"]["shared"], true);
    let listed = get(c, "/qos/policies", &bt).await;
    let ids: Vec<&str> = listed["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [shared.as_str()]);
    // Visible is not writable.
    let u = neutron(
        c,
        Method::PUT,
        &format!("/qos/policies/{shared}"),
        &bt,
        Some(json!({"policy": {"name": "x"}})),
    )
    .await;
    assert_eq!(u.status, 403, "{}", u.text);
    // Bob may use the shared policy on his port, not Alice's.
    let (bnet, _) = w.tenant_net(&bt, "bnet", "10.2.0.0/24").await;
    let (bport, _) = w.port(&bt, &bnet, "bp").await;
    let put = |policy: &str| {
        neutron(
            c,
            Method::PUT,
            &format!("/ports/{bport}"),
            &bt,
            Some(json!({"port": {"qos_policy_id": policy}})),
        )
    };
    assert_eq!(put(&shared).await.status, 200);
    let r = put(&private).await;
    assert_eq!(
        neutron_error(&r, 404, "QosPolicyNotFound"),
        format!("QoS policy {private} could not be found.")
    );
    assert_eq!(
        get(c, "/qos/policies", &at).await["policies"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    w.stop().await;
}

#[tokio::test]
async fn default_policy_per_project() {
    let w = World::start().await;
    let (ap, at) = w.alice.clone();
    let c = &w.c;
    let d = create(
        c,
        "/qos/policies",
        &w.admin,
        "policy",
        json!({"name": "default", "project_id": ap, "is_default": true}),
    )
    .await;
    assert_eq!(d["is_default"], true);
    let r = neutron(
        c,
        Method::POST,
        "/qos/policies",
        &w.admin,
        Some(json!({"policy": {"name": "other", "project_id": ap, "is_default": true}})),
    )
    .await;
    assert_eq!(
        neutron_error(&r, 409, "QoSPolicyDefaultAlreadyExists"),
        format!("A default QoS policy exists for project {ap}.")
    );
    assert_eq!(
        get(c, "/qos/policies", &at).await["policies"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // New networks of the project get it.
    let n = create(c, "/networks", &at, "network", json!({"name": "n"})).await;
    assert_eq!(n["qos_policy_id"], d["id"]);
    w.stop().await;
}
