//! Routers: CRUD, gateway set/change/clear, interfaces by subnet and by port, static
//! routes, errors, isolation and quota.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{create, get, id, neutron, neutron_error, World};

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn router_crud_and_gateway() {
    let w = World::start().await;
    let (ap, at) = w.alice.clone();
    let c = &w.c;

    // What `openstack router create r1` sends.
    let r = create(
        c,
        "/routers",
        &at,
        "router",
        json!({"name": "r1", "admin_state_up": true}),
    )
    .await;
    let rid = id(&r);
    assert_eq!(r["name"], "r1");
    assert_eq!(r["status"], "ACTIVE");
    assert_eq!(r["admin_state_up"], true);
    assert_eq!(r["project_id"], ap.as_str());
    assert_eq!(r["tenant_id"], ap.as_str());
    assert_eq!(r["external_gateway_info"], Value::Null);
    assert_eq!(r["routes"], json!([]));
    assert_eq!(r["availability_zone_hints"], json!([]));
    assert_eq!(r["availability_zones"], json!(["nova"]));
    assert_eq!(r["revision_number"], 1);
    assert!(r["created_at"].is_string() && r["description"] == "");

    let shown = get(c, &format!("/routers/{rid}"), &at).await;
    assert_eq!(shown["router"], r);
    let listed = get(c, "/routers?name=r1", &at).await;
    assert_eq!(listed["routers"].as_array().unwrap().len(), 1);
    let only = get(c, &format!("/routers/{rid}?fields=id&fields=name"), &at).await;
    assert_eq!(keys(&only["router"]), ["id", "name"]);

    // `router set --external-gateway public`.
    let up = neutron(
        c,
        Method::PUT,
        &format!("/routers/{rid}"),
        &at,
        Some(json!({"router": {"external_gateway_info": {"network_id": w.ext}}})),
    )
    .await;
    assert_eq!(up.status, 200, "{}", up.text);
    let gw = &up.body["router"]["external_gateway_info"];
    assert_eq!(gw["network_id"], w.ext.as_str());
    assert_eq!(gw["enable_snat"], true);
    let fixed = gw["external_fixed_ips"].as_array().unwrap();
    assert_eq!(fixed.len(), 1);
    assert_eq!(fixed[0]["subnet_id"], w.ext_subnet.as_str());
    let gw_ip = fixed[0]["ip_address"].as_str().unwrap().to_string();
    assert!(
        gw_ip.starts_with("172.24.4.") && gw_ip != "172.24.4.1",
        "{gw_ip}"
    );
    // The gateway port exists, owned by no project, visible to the admin.
    let ports = get(c, &format!("/ports?device_id={rid}"), &w.admin).await;
    let ports = ports["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["device_owner"], "network:router_gateway");
    assert_eq!(ports[0]["fixed_ips"][0]["ip_address"], gw_ip.as_str());

    // SNAT is the admin's (ext-gw-mode policy).
    let r2 = neutron(
        c,
        Method::PUT,
        &format!("/routers/{rid}"),
        &at,
        Some(json!({"router": {"external_gateway_info": {"network_id": w.ext, "enable_snat": false}}})),
    )
    .await;
    let m = neutron_error(&r2, 403, "PolicyNotAuthorized");
    assert!(
        m.contains("update_router:external_gateway_info:enable_snat"),
        "{m}"
    );
    let r2 = neutron(
        c,
        Method::PUT,
        &format!("/routers/{rid}"),
        &w.admin,
        Some(json!({"router": {"external_gateway_info": {"network_id": w.ext, "enable_snat": false}}})),
    )
    .await;
    assert_eq!(r2.status, 200, "{}", r2.text);
    let gw = &r2.body["router"]["external_gateway_info"];
    assert_eq!(gw["enable_snat"], false);
    assert_eq!(
        gw["external_fixed_ips"][0]["ip_address"],
        gw_ip.as_str(),
        "same gateway port"
    );

    // `router unset --external-gateway` sends `{}`.
    let r3 = neutron(
        c,
        Method::PUT,
        &format!("/routers/{rid}"),
        &at,
        Some(json!({"router": {"external_gateway_info": {}}})),
    )
    .await;
    assert_eq!(r3.status, 200, "{}", r3.text);
    assert_eq!(r3.body["router"]["external_gateway_info"], Value::Null);
    let ports = get(c, &format!("/ports?device_id={rid}"), &w.admin).await;
    assert_eq!(ports["ports"], json!([]), "gateway port released");

    // Rename, then delete.
    let r4 = neutron(
        c,
        Method::PUT,
        &format!("/routers/{rid}"),
        &at,
        Some(json!({"router": {"name": "renamed", "description": "d"}})),
    )
    .await;
    assert_eq!(r4.status, 200, "{}", r4.text);
    assert_eq!(r4.body["router"]["name"], "renamed");
    assert!(r4.body["router"]["revision_number"].as_i64().unwrap() > 1);
    let d = neutron(c, Method::DELETE, &format!("/routers/{rid}"), &at, None).await;
    assert_eq!(d.status, 204, "{}", d.text);
    let g = neutron(c, Method::GET, &format!("/routers/{rid}"), &at, None).await;
    assert_eq!(
        neutron_error(&g, 404, "RouterNotFound"),
        format!("Router {rid} could not be found")
    );
    w.stop().await;
}

#[tokio::test]
async fn router_create_refusals_leave_nothing() {
    let w = World::start().await;
    let (_, at) = w.alice.clone();
    let c = &w.c;
    let (private, _) = w.tenant_net(&at, "private", "10.1.0.0/24").await;

    let post = |body: Value| neutron(c, Method::POST, "/routers", &at, Some(body));
    // Gateway on a network that is not external.
    let r =
        post(json!({"router": {"name": "x", "external_gateway_info": {"network_id": private}}}))
            .await;
    assert_eq!(
        neutron_error(&r, 400, "BadRequest"),
        format!("Bad router request: Network {private} is not an external network.")
    );
    // An unknown network.
    let ghost = "8d4c70a2-1fed-4aeb-a121-a1a429ba0d04";
    let r = post(json!({"router": {"external_gateway_info": {"network_id": ghost}}})).await;
    assert_eq!(
        neutron_error(&r, 404, "NetworkNotFound"),
        format!("Network {ghost} could not be found.")
    );
    // Malformed gateway info, read-only and unknown attributes.
    let r = post(json!({"router": {"external_gateway_info": {"enable_snat": true}}})).await;
    let m = neutron_error(&r, 400, "HTTPBadRequest");
    assert!(m.starts_with("Invalid input for external_gateway_info. Reason: Validation of dictionary's keys failed."), "{m}");
    let r = post(json!({"router": {"external_gateway_info": {"network_id": "nope"}}})).await;
    assert_eq!(
        neutron_error(&r, 400, "HTTPBadRequest"),
        "Invalid input for external_gateway_info. Reason: 'nope' is not a valid UUID."
    );
    let r = post(json!({"router": {"routes": []}})).await;
    assert_eq!(
        neutron_error(&r, 400, "HTTPBadRequest"),
        "Attribute 'routes' not allowed in POST"
    );
    let r = post(json!({"router": {"flavor": "x"}})).await;
    assert_eq!(
        neutron_error(&r, 400, "HTTPBadRequest"),
        "Unrecognized attribute(s) 'flavor'"
    );
    let r = post(json!({"router": {"admin_state_up": "maybe"}})).await;
    assert_eq!(
        neutron_error(&r, 400, "HTTPBadRequest"),
        "Invalid input for admin_state_up. Reason: 'maybe' cannot be converted to boolean."
    );
    let r = post(json!({"router": {"availability_zone_hints": ["elsewhere"]}})).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = c
        .raw(
            Method::POST,
            &crate::url(c, "/routers"),
            Some(&at),
            b"{nope".to_vec(),
        )
        .await;
    assert_eq!(
        neutron_error(&r, 400, "HTTPBadRequest"),
        "Malformed request body"
    );

    assert_eq!(get(c, "/routers", &at).await["routers"], json!([]));
    let ext_ports = get(c, &format!("/ports?network_id={}", w.ext), &w.admin).await;
    assert_eq!(ext_ports["ports"], json!([]), "no gateway port leaked");
    w.stop().await;
}

#[tokio::test]
async fn interfaces_by_subnet_and_by_port() {
    let w = World::start().await;
    let (ap, at) = w.alice.clone();
    let c = &w.c;
    let (net, sub) = w.tenant_net(&at, "private", "10.1.0.0/24").await;
    let rid = id(&create(c, "/routers", &at, "router", json!({"name": "r"})).await);
    let put = |action: &str, body: Value| {
        neutron(
            c,
            Method::PUT,
            &format!("/routers/{rid}/{action}"),
            &at,
            Some(body),
        )
    };

    // `router add subnet r private-subnet`: the flat answer.
    let a = put("add_router_interface", json!({"subnet_id": sub})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        keys(&a.body),
        [
            "id",
            "network_id",
            "port_id",
            "project_id",
            "subnet_id",
            "subnet_ids",
            "tenant_id"
        ]
    );
    assert_eq!(a.body["id"], rid.as_str());
    assert_eq!(a.body["subnet_id"], sub.as_str());
    assert_eq!(a.body["subnet_ids"], json!([sub]));
    assert_eq!(a.body["network_id"], net.as_str());
    assert_eq!(a.body["project_id"], ap.as_str());
    assert_eq!(a.body["tenant_id"], ap.as_str());
    let leg = a.body["port_id"].as_str().unwrap().to_string();
    let p = get(c, &format!("/ports/{leg}"), &at).await;
    assert_eq!(p["port"]["device_owner"], "network:router_interface");
    assert_eq!(p["port"]["device_id"], rid.as_str());
    assert_eq!(
        p["port"]["fixed_ips"],
        json!([{"subnet_id": sub, "ip_address": "10.1.0.1"}])
    );

    // The same subnet twice; an overlapping subnet.
    let again = put("add_router_interface", json!({"subnet_id": sub})).await;
    assert_eq!(
        neutron_error(&again, 400, "BadRequest"),
        format!("Bad router request: Router already has a port on subnet {sub}.")
    );
    let (_, overlap) = w.tenant_net(&at, "other", "10.1.0.0/25").await;
    let o = put("add_router_interface", json!({"subnet_id": overlap})).await;
    let m = neutron_error(&o, 400, "BadRequest");
    assert!(m.contains("overlaps with cidr 10.1.0.0/24"), "{m}");

    // The leg cannot be deleted as a port, the router not while it has legs.
    let d = neutron(c, Method::DELETE, &format!("/ports/{leg}"), &at, None).await;
    assert_eq!(
        neutron_error(&d, 409, "ServicePortInUse"),
        format!("Port {leg} cannot be deleted directly via the port API: has device owner network:router_interface.")
    );
    let d = neutron(c, Method::DELETE, &format!("/routers/{rid}"), &at, None).await;
    assert_eq!(
        neutron_error(&d, 409, "RouterInUse"),
        format!("Router {rid} has ports still attached: {leg}")
    );

    // Bad bodies.
    let e = put("add_router_interface", json!({})).await;
    assert_eq!(
        neutron_error(&e, 400, "BadRequest"),
        "Bad router request: Either subnet_id or port_id must be specified."
    );
    let e = put(
        "add_router_interface",
        json!({"subnet_id": sub, "port_id": leg}),
    )
    .await;
    assert_eq!(
        neutron_error(&e, 400, "BadRequest"),
        "Bad router request: Cannot specify both subnet-id and port-id."
    );
    let e = put("add_router_interface", json!({"subnet_id": "x"})).await;
    assert_eq!(
        neutron_error(&e, 400, "BadRequest"),
        "Bad router request: 'x' is not a valid UUID."
    );

    // `router remove subnet`: same flat answer, the leg is gone.
    let rm = put("remove_router_interface", json!({"subnet_id": sub})).await;
    assert_eq!(rm.status, 200, "{}", rm.text);
    assert_eq!(rm.body, a.body);
    let g = neutron(c, Method::GET, &format!("/ports/{leg}"), &at, None).await;
    assert_eq!(g.status, 404);
    let rm = put("remove_router_interface", json!({"subnet_id": sub})).await;
    assert_eq!(
        neutron_error(&rm, 404, "RouterInterfaceNotFoundForSubnet"),
        format!("Router {rid} has no interface on subnet {sub}")
    );

    // By port: an existing port of the project becomes the leg; removing it deletes it.
    let port = create(
        c,
        "/ports",
        &at,
        "port",
        json!({"network_id": net, "fixed_ips": [{"subnet_id": sub, "ip_address": "10.1.0.10"}]}),
    )
    .await;
    let pid = id(&port);
    let a = put("add_router_interface", json!({"port_id": pid})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["port_id"], pid.as_str());
    assert_eq!(a.body["subnet_ids"], json!([sub]));
    let p = get(c, &format!("/ports/{pid}"), &at).await;
    assert_eq!(p["port"]["device_owner"], "network:router_interface");
    let rm = put("remove_router_interface", json!({"port_id": pid})).await;
    assert_eq!(rm.status, 200, "{}", rm.text);
    assert_eq!(rm.body["port_id"], pid.as_str());
    assert_eq!(
        neutron(c, Method::GET, &format!("/ports/{pid}"), &at, None)
            .await
            .status,
        404
    );
    let rm = put("remove_router_interface", json!({"port_id": pid})).await;
    assert_eq!(
        neutron_error(&rm, 404, "RouterInterfaceNotFound"),
        format!("Router {rid} does not have an interface with id {pid}")
    );

    let d = neutron(c, Method::DELETE, &format!("/routers/{rid}"), &at, None).await;
    assert_eq!(d.status, 204, "{}", d.text);
    w.stop().await;
}

#[tokio::test]
async fn static_routes() {
    let w = World::start().await;
    let (_, at) = w.alice.clone();
    let c = &w.c;
    let (_, sub) = w.tenant_net(&at, "private", "10.1.0.0/24").await;
    let rid = w.router_to(&at, &sub).await;
    let set = |routes: Value| {
        neutron(
            c,
            Method::PUT,
            &format!("/routers/{rid}"),
            &at,
            Some(json!({"router": {"routes": routes}})),
        )
    };

    let r = set(json!([{"destination": "192.168.5.0/24", "nexthop": "10.1.0.9"}])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["router"]["routes"],
        json!([{"destination": "192.168.5.0/24", "nexthop": "10.1.0.9"}])
    );

    let bad = set(json!([{"destination": "192.168.6.0/24", "nexthop": "10.9.0.9"}])).await;
    assert_eq!(
        neutron_error(&bad, 400, "InvalidRoutes"),
        "Invalid format for routes: [{'destination': '192.168.6.0/24', 'nexthop': '10.9.0.9'}], the nexthop is not connected with router."
    );
    let bad = set(json!([{"destination": "192.168.6.0/24"}])).await;
    let m = neutron_error(&bad, 400, "HTTPBadRequest");
    assert!(
        m.starts_with("Invalid input for routes. Reason: Validation of dictionary's keys failed."),
        "{m}"
    );
    let bad = set(json!([{"destination": "nope", "nexthop": "10.1.0.9"}])).await;
    assert_eq!(
        neutron_error(&bad, 400, "HTTPBadRequest"),
        "Invalid input for routes. Reason: 'nope' is not a valid IP subnet."
    );
    // Unchanged by the refusals.
    let shown = get(c, &format!("/routers/{rid}"), &at).await;
    assert_eq!(shown["router"]["routes"].as_array().unwrap().len(), 1);

    // The leg a route needs stays.
    let rm = neutron(
        c,
        Method::PUT,
        &format!("/routers/{rid}/remove_router_interface"),
        &at,
        Some(json!({"subnet_id": sub})),
    )
    .await;
    assert_eq!(
        neutron_error(&rm, 409, "RouterInterfaceInUseByRoute"),
        format!("Router interface for subnet {sub} on router {rid} cannot be deleted, as it is required by one or more routes.")
    );
    // `router add route` / `router remove route` (extraroute-atomic).
    let extra = |action: &str, routes: Value| {
        neutron(
            c,
            Method::PUT,
            &format!("/routers/{rid}/{action}"),
            &at,
            Some(json!({"router": {"routes": routes}})),
        )
    };
    let five = json!({"destination": "192.168.5.0/24", "nexthop": "10.1.0.9"});
    let seven = json!({"destination": "192.168.7.0/24", "nexthop": "10.1.0.9"});
    let r = extra("add_extraroutes", json!([seven, five])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["router"]["routes"], json!([five, seven]));
    let r = extra(
        "add_extraroutes",
        json!([{"destination": "192.168.8.0/24", "nexthop": "10.9.0.9"}]),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["NeutronError"]["type"], "InvalidRoutes");
    let r = extra(
        "remove_extraroutes",
        json!([five, {"destination": "10.0.0.0/8", "nexthop": "10.1.0.9"}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["router"]["routes"], json!([seven]));
    // `router set --no-route` clears them.
    let r = set(json!([])).await;
    assert_eq!(r.body["router"]["routes"], json!([]));
    let r = set(Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text);
    w.stop().await;
}

#[tokio::test]
async fn routers_are_isolated_between_projects() {
    let w = World::start().await;
    let (_, at) = w.alice.clone();
    let (_, bt) = w.bob.clone();
    let c = &w.c;
    let (_, sub) = w.tenant_net(&at, "private", "10.1.0.0/24").await;
    let rid = w.router_to(&at, &sub).await;
    let missing = format!("Router {rid} could not be found");

    for (m, path, body) in [
        (Method::GET, format!("/routers/{rid}"), None),
        (
            Method::PUT,
            format!("/routers/{rid}"),
            Some(json!({"router": {"name": "x"}})),
        ),
        (Method::DELETE, format!("/routers/{rid}"), None),
        (
            Method::PUT,
            format!("/routers/{rid}/add_router_interface"),
            Some(json!({"subnet_id": sub})),
        ),
        (
            Method::PUT,
            format!("/routers/{rid}/remove_router_interface"),
            Some(json!({"subnet_id": sub})),
        ),
    ] {
        let r = neutron(c, m.clone(), &path, &bt, body).await;
        assert_eq!(
            neutron_error(&r, 404, "RouterNotFound"),
            missing,
            "{m} {path}"
        );
    }
    assert_eq!(get(c, "/routers", &bt).await["routers"], json!([]));
    let all = get(c, "/routers", &w.admin).await;
    assert!(all["routers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == rid.as_str()));

    // Bob's router cannot take Alice's subnet.
    let bob_r = id(&create(c, "/routers", &bt, "router", json!({"name": "b"})).await);
    let r = neutron(
        c,
        Method::PUT,
        &format!("/routers/{bob_r}/add_router_interface"),
        &bt,
        Some(json!({"subnet_id": sub})),
    )
    .await;
    assert_eq!(
        neutron_error(&r, 404, "SubnetNotFound"),
        format!("Subnet {sub} could not be found.")
    );
    // Without a token: 401.
    let r = c
        .req(Method::GET, &crate::url(c, "/routers"), None, None)
        .await;
    assert_eq!(r.status, 401);
    w.stop().await;
}

#[tokio::test]
async fn router_quota() {
    let w = World::start_with(|cfg| cfg.network.quota_router = 1).await;
    let (_, at) = w.alice.clone();
    let c = &w.c;
    create(c, "/routers", &at, "router", json!({"name": "one"})).await;
    let r = neutron(
        c,
        Method::POST,
        "/routers",
        &at,
        Some(json!({"router": {"name": "two"}})),
    )
    .await;
    assert_eq!(
        neutron_error(&r, 409, "OverQuota"),
        "Quota exceeded for resources: ['router']."
    );
    assert_eq!(
        get(c, "/routers", &at).await["routers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Another project has its own quota.
    create(c, "/routers", &w.bob.1, "router", json!({"name": "bob"})).await;
    w.stop().await;
}
