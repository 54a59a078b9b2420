//! Floating IPs: allocation, association by `PUT port_id` (what `openstack floating ip
//! set --port` and `server add floating ip` send), filters, errors, isolation and quota.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{create, get, id, neutron, neutron_error, World};

#[tokio::test]
async fn floating_ip_lifecycle() {
    let w = World::start().await;
    let (ap, at) = w.alice.clone();
    let c = &w.c;
    let (net, sub) = w.tenant_net(&at, "private", "10.1.0.0/24").await;
    let rid = w.router_to(&at, &sub).await;
    let (port, fixed) = w.port(&at, &net, "vm-port").await;

    // `openstack floating ip create public`.
    let f = create(
        c,
        "/floatingips",
        &at,
        "floatingip",
        json!({"floating_network_id": w.ext}),
    )
    .await;
    let fid = id(&f);
    let address = f["floating_ip_address"].as_str().unwrap().to_string();
    assert!(address.starts_with("172.24.4."), "{address}");
    assert_eq!(f["floating_network_id"], w.ext.as_str());
    assert_eq!(f["port_id"], Value::Null);
    assert_eq!(f["fixed_ip_address"], Value::Null);
    assert_eq!(f["router_id"], Value::Null);
    assert_eq!(f["port_details"], Value::Null);
    assert_eq!(f["status"], "DOWN");
    assert_eq!(f["project_id"], ap.as_str());
    assert_eq!(f["tenant_id"], ap.as_str());
    assert_eq!(f["description"], "");

    // The address is not an id.
    let g = neutron(
        c,
        Method::GET,
        &format!("/floatingips/{address}"),
        &at,
        None,
    )
    .await;
    assert_eq!(
        neutron_error(&g, 404, "FloatingIPNotFound"),
        format!("Floating IP {address} could not be found")
    );

    // `openstack floating ip set --port vm-port <ip>`.
    let a = neutron(
        c,
        Method::PUT,
        &format!("/floatingips/{fid}"),
        &at,
        Some(json!({"floatingip": {"port_id": port}})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let f = &a.body["floatingip"];
    assert_eq!(f["port_id"], port.as_str());
    assert_eq!(f["fixed_ip_address"], fixed.as_str());
    assert_eq!(f["router_id"], rid.as_str());
    assert_eq!(f["status"], "ACTIVE");
    assert_eq!(f["floating_ip_address"], address.as_str());
    let d = &f["port_details"];
    assert_eq!(d["name"], "vm-port");
    assert_eq!(d["network_id"], net.as_str());
    assert_eq!(d["device_owner"], "compute:nova");
    assert_eq!(d["admin_state_up"], true);
    assert!(d["mac_address"].is_string() && d["status"].is_string() && d["device_id"].is_string());

    // Filters.
    let count = |q: String| {
        let at = at.clone();
        async move {
            get(c, &format!("/floatingips{q}"), &at).await["floatingips"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count(format!("?port_id={port}")).await, 1);
    assert_eq!(count(format!("?floating_ip_address={address}")).await, 1);
    assert_eq!(count(format!("?router_id={rid}")).await, 1);
    assert_eq!(count(format!("?fixed_ip_address={fixed}")).await, 1);
    assert_eq!(count(format!("?router_id={sub}")).await, 0);
    assert_eq!(count("?status=DOWN".to_string()).await, 0);

    // A second floating IP for the same fixed IP.
    let f2 = id(&create(
        c,
        "/floatingips",
        &at,
        "floatingip",
        json!({"floating_network_id": w.ext}),
    )
    .await);
    let dup = neutron(
        c,
        Method::PUT,
        &format!("/floatingips/{f2}"),
        &at,
        Some(json!({"floatingip": {"port_id": port}})),
    )
    .await;
    let m = neutron_error(&dup, 409, "FloatingIPPortAlreadyAssociated");
    assert!(
        m.contains(&format!("with port {port} using fixed IP {fixed}")),
        "{m}"
    );

    // What the association needs stays.
    let rm = neutron(
        c,
        Method::PUT,
        &format!("/routers/{rid}/remove_router_interface"),
        &at,
        Some(json!({"subnet_id": sub})),
    )
    .await;
    assert_eq!(
        neutron_error(&rm, 409, "RouterInterfaceInUseByFloatingIP"),
        format!("Router interface for subnet {sub} on router {rid} cannot be deleted, as it is required by one or more floating IPs.")
    );
    let clear = neutron(
        c,
        Method::PUT,
        &format!("/routers/{rid}"),
        &at,
        Some(json!({"router": {"external_gateway_info": {}}})),
    )
    .await;
    assert_eq!(clear.status, 409, "{}", clear.text);
    assert_eq!(
        clear.body["NeutronError"]["type"],
        "RouterExternalGatewayInUseByFloatingIp"
    );
    let fport = get(c, &format!("/ports?device_id={fid}"), &w.admin).await;
    let fport = fport["ports"][0]["id"].as_str().unwrap().to_string();
    let d = neutron(
        c,
        Method::DELETE,
        &format!("/ports/{fport}"),
        &w.admin,
        None,
    )
    .await;
    assert_eq!(d.status, 409, "{}", d.text);
    assert_eq!(d.body["NeutronError"]["type"], "ServicePortInUse");

    // `openstack floating ip unset --port <ip>`.
    let u = neutron(
        c,
        Method::PUT,
        &format!("/floatingips/{fid}"),
        &at,
        Some(json!({"floatingip": {"port_id": null}})),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    let f = &u.body["floatingip"];
    assert_eq!(f["port_id"], Value::Null);
    assert_eq!(f["fixed_ip_address"], Value::Null);
    assert_eq!(f["router_id"], Value::Null);
    assert_eq!(f["port_details"], Value::Null);
    assert_eq!(f["status"], "DOWN");

    // Deleting the internal port disassociates.
    let a = neutron(
        c,
        Method::PUT,
        &format!("/floatingips/{f2}"),
        &at,
        Some(json!({"floatingip": {"port_id": port, "description": "web"}})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["floatingip"]["description"], "web");
    let d = neutron(c, Method::DELETE, &format!("/ports/{port}"), &at, None).await;
    assert_eq!(d.status, 204, "{}", d.text);
    let f = get(c, &format!("/floatingips/{f2}"), &at).await;
    assert_eq!(f["floatingip"]["port_id"], Value::Null);
    assert_eq!(f["floatingip"]["status"], "DOWN");

    // Release: the address goes with it.
    for f in [&fid, &f2] {
        let d = neutron(c, Method::DELETE, &format!("/floatingips/{f}"), &at, None).await;
        assert_eq!(d.status, 204, "{}", d.text);
    }
    assert_eq!(get(c, "/floatingips", &at).await["floatingips"], json!([]));
    let left = get(c, "/ports?device_owner=network:floatingip", &w.admin).await;
    assert_eq!(left["ports"], json!([]));
    w.stop().await;
}

#[tokio::test]
async fn floating_ip_refusals_leave_nothing() {
    let w = World::start().await;
    let (_, at) = w.alice.clone();
    let c = &w.c;
    let (net, sub) = w.tenant_net(&at, "private", "10.1.0.0/24").await;
    let (port, _) = w.port(&at, &net, "p").await;
    let post = |body: Value| {
        neutron(
            c,
            Method::POST,
            "/floatingips",
            &at,
            Some(json!({"floatingip": body})),
        )
    };

    // No router joins the port's subnet to the external network.
    let r = post(json!({"floating_network_id": w.ext, "port_id": port})).await;
    assert_eq!(
        neutron_error(&r, 404, "ExternalGatewayForFloatingIPNotFound"),
        format!("External network {} is not reachable from subnet {sub}.  Therefore, cannot associate Port {port} with a Floating IP.", w.ext)
    );
    // Not an external network.
    let r = post(json!({"floating_network_id": net})).await;
    assert_eq!(
        neutron_error(&r, 400, "BadRequest"),
        format!("Bad floatingip request: Network {net} is not a valid external network.")
    );
    // Input errors.
    let r = post(json!({})).await;
    assert_eq!(
        neutron_error(&r, 400, "HTTPBadRequest"),
        "Failed to parse request. Required attribute 'floating_network_id' not specified"
    );
    let r = post(json!({"floating_network_id": "public"})).await;
    assert_eq!(
        neutron_error(&r, 400, "HTTPBadRequest"),
        "Invalid input for floating_network_id. Reason: 'public' is not a valid UUID."
    );
    let r = post(json!({"floating_network_id": w.ext, "fixed_ip_address": "10.1.0.300"})).await;
    assert_eq!(
        neutron_error(&r, 400, "HTTPBadRequest"),
        "Invalid input for fixed_ip_address. Reason: '10.1.0.300' is not a valid IP address."
    );
    let r = post(json!({"floating_network_id": w.ext, "router_id": port})).await;
    assert_eq!(
        neutron_error(&r, 400, "HTTPBadRequest"),
        "Attribute 'router_id' not allowed in POST"
    );
    // A chosen address is the admin's.
    let r = post(json!({"floating_network_id": w.ext, "floating_ip_address": "172.24.4.50"})).await;
    let m = neutron_error(&r, 403, "PolicyNotAuthorized");
    assert!(m.contains("create_floatingip:floating_ip_address"), "{m}");

    assert_eq!(get(c, "/floatingips", &at).await["floatingips"], json!([]));
    let ext_ports = get(c, &format!("/ports?network_id={}", w.ext), &w.admin).await;
    assert_eq!(ext_ports["ports"], json!([]), "no address leaked");

    // The admin may choose it; twice is a conflict.
    let f = create(
        c,
        "/floatingips",
        &w.admin,
        "floatingip",
        json!({"floating_network_id": w.ext, "floating_ip_address": "172.24.4.50"}),
    )
    .await;
    assert_eq!(f["floating_ip_address"], "172.24.4.50");
    let r = neutron(
        c,
        Method::POST,
        "/floatingips",
        &w.admin,
        Some(json!({"floatingip": {"floating_network_id": w.ext, "floating_ip_address": "172.24.4.50"}})),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["NeutronError"]["type"], "IpAddressAlreadyAllocated");
    w.stop().await;
}

#[tokio::test]
async fn floating_ips_are_isolated_between_projects() {
    let w = World::start().await;
    let (_, at) = w.alice.clone();
    let (_, bt) = w.bob.clone();
    let c = &w.c;
    let (net, sub) = w.tenant_net(&at, "private", "10.1.0.0/24").await;
    w.router_to(&at, &sub).await;
    let (port, _) = w.port(&at, &net, "p").await;
    let fid = id(&create(
        c,
        "/floatingips",
        &at,
        "floatingip",
        json!({"floating_network_id": w.ext}),
    )
    .await);
    let missing = format!("Floating IP {fid} could not be found");

    for (m, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"floatingip": {"port_id": null}}))),
        (Method::DELETE, None),
    ] {
        let r = neutron(c, m.clone(), &format!("/floatingips/{fid}"), &bt, body).await;
        assert_eq!(neutron_error(&r, 404, "FloatingIPNotFound"), missing, "{m}");
    }
    assert_eq!(get(c, "/floatingips", &bt).await["floatingips"], json!([]));

    // Bob's floating IP cannot take Alice's port.
    let bf = id(&create(
        c,
        "/floatingips",
        &bt,
        "floatingip",
        json!({"floating_network_id": w.ext}),
    )
    .await);
    let r = neutron(
        c,
        Method::PUT,
        &format!("/floatingips/{bf}"),
        &bt,
        Some(json!({"floatingip": {"port_id": port}})),
    )
    .await;
    assert_eq!(
        neutron_error(&r, 404, "PortNotFound"),
        format!("Port {port} could not be found.")
    );
    let f = get(c, &format!("/floatingips/{bf}"), &bt).await;
    assert_eq!(f["floatingip"]["port_id"], Value::Null);
    w.stop().await;
}

#[tokio::test]
async fn floating_ip_quota() {
    let w = World::start_with(|cfg| cfg.network.quota_floatingip = 1).await;
    let (_, at) = w.alice.clone();
    let c = &w.c;
    create(
        c,
        "/floatingips",
        &at,
        "floatingip",
        json!({"floating_network_id": w.ext}),
    )
    .await;
    let r = neutron(
        c,
        Method::POST,
        "/floatingips",
        &at,
        Some(json!({"floatingip": {"floating_network_id": w.ext}})),
    )
    .await;
    assert_eq!(
        neutron_error(&r, 409, "OverQuota"),
        "Quota exceeded for resources: ['floatingip']."
    );
    assert_eq!(
        get(c, "/floatingips", &at).await["floatingips"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let ext_ports = get(c, &format!("/ports?network_id={}", w.ext), &w.admin).await;
    assert_eq!(
        ext_ports["ports"].as_array().unwrap().len(),
        1,
        "no address leaked"
    );
    w.stop().await;
}
