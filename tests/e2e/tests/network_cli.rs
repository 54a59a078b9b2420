//! The network commands of the real CLI against a running cloud: create/list/show/set/delete
//! of networks, subnets, ports, routers, floating IPs, security groups and rules; `router add
//! subnet`, `router set --external-gateway`, `floating ip set --port`; a QoS policy with a
//! bandwidth-limit rule applied to a port (the tap gets the limit); the bootstrap topology
//! (`public`, `private`, `router1`); and bad input answered with Neutron's errors and nothing
//! left behind on the host.

use e2e_tests::{field, rows_where, text, Cloud};
use serde_json::Value;

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| field(r, "name").as_str().unwrap_or("").to_string())
        .collect()
}

/// The cloud's interfaces once the agent has stopped changing them (two reads 1 s apart
/// agree).
fn settled_links(c: &Cloud) -> String {
    let mut last = c.host("ip", &["-o", "link", "show"]);
    for _ in 0..30 {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let now = c.host("ip", &["-o", "link", "show"]);
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the cloud's devices kept changing:\n{last}");
}

#[test]
fn bootstrap_makes_public_private_and_router1() {
    let c = Cloud::start();
    let nets = c.osc_json(&["network", "list", "--long"]);
    let public = rows_where(&nets, "name", "public");
    assert_eq!(public.len(), 1, "{nets:#}");
    // `router:external` (OSC prints it as "External" in tables, `true` in JSON).
    assert_eq!(field(public[0], "router_type"), true, "{nets:#}");
    let routers = c.osc_json(&["router", "list", "--long"]);
    assert_eq!(
        rows_where(&routers, "name", "router1").len(),
        1,
        "{routers:#}"
    );
    // The demo project's network, as the demo user sees it.
    let all = c.osc_json(&["network", "list"]);
    assert!(names(&all).contains(&"private".to_string()), "{all:#}");
    // The outside world's namespace answers on the public gateway address.
    let ping = c.outside_output("ping", &["-c", "1", "-W", "1", "172.24.4.1"]);
    assert!(ping.status.success(), "{ping:?}");
}

/// A network `n1` with subnet `s1` (192.168.50.0/24) and a port `p1` on 192.168.50.20;
/// returns (network, subnet, port) ids.
fn net_subnet_port(c: &Cloud) -> (String, String, String) {
    let nid = text(&c.osc_json(&["network", "create", "n1"]), "id");
    let sid = text(
        &c.osc_json(&[
            "subnet",
            "create",
            "--network",
            &nid,
            "--subnet-range",
            "192.168.50.0/24",
            "s1",
        ]),
        "id",
    );
    let p = c.osc_json(&[
        "port",
        "create",
        "--network",
        &nid,
        "--fixed-ip",
        "ip-address=192.168.50.20",
        "p1",
    ]);
    assert!(p["fixed_ips"].to_string().contains("192.168.50.20"), "{p}");
    (nid, sid, text(&p, "id"))
}

#[test]
fn networks_subnets_ports_and_security_groups_through_the_cli() {
    let c = Cloud::start();

    // network
    let n = c.osc_json(&["network", "create", "--description", "d1", "n1"]);
    let nid = text(&n, "id");
    assert_eq!(text(&n, "status"), "ACTIVE");
    c.osc(&["network", "set", "--name", "n1b", "--mtu", "1400", &nid]);
    let n = c.osc_json(&["network", "show", &nid]);
    assert_eq!(text(&n, "name"), "n1b");
    assert_eq!(field(&n, "mtu"), 1400);
    assert!(names(&c.osc_json(&["network", "list"])).contains(&"n1b".to_string()));

    // subnet
    let s = c.osc_json(&[
        "subnet",
        "create",
        "--network",
        &nid,
        "--subnet-range",
        "192.168.50.0/24",
        "--dns-nameserver",
        "192.168.50.53",
        "s1",
    ]);
    let sid = text(&s, "id");
    assert_eq!(text(&s, "gateway_ip"), "192.168.50.1");
    c.osc(&["subnet", "set", "--name", "s1b", &sid]);
    assert_eq!(text(&c.osc_json(&["subnet", "show", &sid]), "name"), "s1b");
    assert!(names(&c.osc_json(&["subnet", "list"])).contains(&"s1b".to_string()));

    // port
    let p = c.osc_json(&[
        "port",
        "create",
        "--network",
        &nid,
        "--fixed-ip",
        "ip-address=192.168.50.20",
        "p1",
    ]);
    let pid = text(&p, "id");
    assert!(p["fixed_ips"].to_string().contains("192.168.50.20"), "{p}");
    c.osc(&["port", "set", "--name", "p1b", "--description", "x", &pid]);
    assert_eq!(text(&c.osc_json(&["port", "show", &pid]), "name"), "p1b");
    assert!(names(&c.osc_json(&["port", "list"])).contains(&"p1b".to_string()));

    // security group + rule
    let g = c.osc_json(&["security", "group", "create", "g1"]);
    let gid = text(&g, "id");
    c.osc(&["security", "group", "set", "--description", "web", &gid]);
    let r = c.osc_json(&[
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "tcp",
        "--dst-port",
        "80:81",
        &gid,
    ]);
    let rid = text(&r, "id");
    assert_eq!(field(&r, "port_range_min"), 80);
    let rules = c.osc_json(&["security", "group", "rule", "list", &gid]);
    assert!(rules.to_string().contains(&rid), "{rules}");
    let shown = c.osc_json(&["security", "group", "rule", "show", &rid]);
    assert_eq!(text(&shown, "protocol"), "tcp");
    let dup = c.osc_fails(&[
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "tcp",
        "--dst-port",
        "80:81",
        &gid,
    ]);
    assert!(
        dup.contains("409") || dup.contains("already exists"),
        "{dup}"
    );
    c.osc(&["port", "set", "--security-group", &gid, &pid]);
    assert_eq!(
        text(
            &c.osc_json(&["security", "group", "show", &gid]),
            "description"
        ),
        "web"
    );

    // delete everything
    c.osc(&["port", "delete", &pid]);
    c.osc(&["security", "group", "rule", "delete", &rid]);
    c.osc(&["security", "group", "delete", &gid]);
    c.osc(&["subnet", "delete", &sid]);
    c.osc(&["network", "delete", &nid]);
    assert!(!names(&c.osc_json(&["network", "list"])).contains(&"n1b".to_string()));
    let links = c.host("ip", &["-o", "link", "show"]);
    assert!(
        !links.contains(&format!("brq{}", &nid[..11])),
        "bridge left: {links}"
    );
}

#[test]
fn routers_floating_ips_and_qos_through_the_cli() {
    let c = Cloud::start();
    let (nid, sid, pid) = net_subnet_port(&c);

    // router
    let rt = c.osc_json(&["router", "create", "rt1"]);
    let rtid = text(&rt, "id");
    c.osc(&["router", "add", "subnet", &rtid, &sid]);
    c.osc(&["router", "set", "--external-gateway", "public", &rtid]);
    let rt = c.osc_json(&["router", "show", &rtid]);
    assert!(
        rt["external_gateway_info"]
            .to_string()
            .contains("172.24.4."),
        "{rt}"
    );
    c.osc(&["router", "set", "--name", "rt1b", &rtid]);
    assert!(names(&c.osc_json(&["router", "list"])).contains(&"rt1b".to_string()));

    // floating IP
    let f = c.osc_json(&["floating", "ip", "create", "public"]);
    let fip = text(&f, "floating_ip_address");
    c.osc(&["floating", "ip", "set", "--port", &pid, &fip]);
    let f = c.osc_json(&["floating", "ip", "show", &fip]);
    assert_eq!(text(&f, "port_id"), pid);
    assert_eq!(text(&f, "fixed_ip_address"), "192.168.50.20");
    assert!(c
        .osc_json(&["floating", "ip", "list"])
        .to_string()
        .contains(&fip));
    c.osc(&["floating", "ip", "unset", "--port", &fip]);
    assert!(field(&c.osc_json(&["floating", "ip", "show", &fip]), "port_id").is_null());

    // QoS: a bandwidth limit on the port
    let q = c.osc_json(&["network", "qos", "policy", "create", "slow"]);
    let qid = text(&q, "id");
    c.osc(&[
        "network",
        "qos",
        "rule",
        "create",
        "--type",
        "bandwidth-limit",
        "--max-kbps",
        "1000",
        "--max-burst-kbits",
        "100",
        "--egress",
        &qid,
    ]);
    c.osc(&["port", "set", "--qos-policy", &qid, &pid]);
    assert_eq!(
        text(&c.osc_json(&["port", "show", &pid]), "qos_policy_id"),
        qid
    );

    // delete everything
    c.osc(&["floating", "ip", "delete", &fip]);
    c.osc(&["router", "remove", "subnet", &rtid, &sid]);
    c.osc(&["router", "unset", "--external-gateway", &rtid]);
    c.osc(&["router", "delete", &rtid]);
    c.osc(&["port", "delete", &pid]);
    c.osc(&["network", "qos", "policy", "delete", &qid]);
    c.osc(&["subnet", "delete", &sid]);
    c.osc(&["network", "delete", &nid]);
    let ns = c.dataplane_namespaces();
    assert!(
        !ns.iter().any(|n| n.contains(&rtid)),
        "router namespace left: {ns:?}"
    );
}

#[test]
fn bad_input_gets_neutron_errors_and_leaves_nothing_behind() {
    let c = Cloud::start();
    let (nid, _, _) = net_subnet_port(&c);
    let links_before = settled_links(&c);
    let e = c.osc_fails(&[
        "port",
        "create",
        "--network",
        &nid,
        "--fixed-ip",
        "ip-address=10.99.0.5",
        "bad",
    ]);
    assert!(
        e.contains("400") || e.to_lowercase().contains("invalid"),
        "{e}"
    );
    let e = c.osc_fails(&[
        "port",
        "create",
        "--network",
        &nid,
        "--fixed-ip",
        "ip-address=192.168.50.20",
        "bad",
    ]);
    assert!(e.contains("409") || e.contains("already allocated"), "{e}");
    let e = c.osc_fails(&[
        "subnet",
        "create",
        "--network",
        &nid,
        "--subnet-range",
        "192.168.50.128/25",
        "bad",
    ]);
    assert!(e.contains("400") || e.contains("overlap"), "{e}");
    let e = c.osc_fails(&[
        "subnet",
        "create",
        "--network",
        &nid,
        "--subnet-range",
        "300.1.0.0/24",
        "bad",
    ]);
    assert!(!e.is_empty());
    assert!(!names(&c.osc_json(&["port", "list"])).contains(&"bad".to_string()));
    assert!(!names(&c.osc_json(&["subnet", "list"])).contains(&"bad".to_string()));
    let e = c.osc_fails(&["network", "delete", &nid]);
    assert!(e.contains("409") || e.contains("in use"), "{e}");
    assert_eq!(
        settled_links(&c),
        links_before,
        "a failed request changed the host's devices"
    );
}
