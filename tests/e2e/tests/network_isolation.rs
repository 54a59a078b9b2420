//! Tenant isolation with real guests: two projects each create `10.0.0.0/24` and boot a
//! server; neither guest can reach the other, although both groups allow ICMP from anywhere.
//! Project B cannot see or use project A's network, port, router or security group (404),
//! except a network that A shares.

use std::time::{Duration, Instant};

use e2e_tests::{strs, text, Cloud};
use serde_json::json;

const BOOT: Duration = Duration::from_secs(300);

fn cloud() -> Cloud {
    let image = guest_image::ensure_image().unwrap_or_else(|e| panic!("guest image: {e:#}"));
    let seed = format!("tiny={}", image.display());
    Cloud::start_with_args(&["--seed-image", &seed])
}

fn wait_console(c: &Cloud, auth: &[&str], id: &str, markers: &[&str]) -> String {
    let start = Instant::now();
    loop {
        let out = c
            .osc_with_output(auth, &["console", "log", "show", id])
            .stdout;
        let out = String::from_utf8_lossy(&out).into_owned();
        if markers.iter().all(|m| out.contains(m)) {
            return out;
        }
        if start.elapsed() > BOOT {
            panic!("{markers:?} not all on {id}'s console after {BOOT:?}:\n{out}");
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Makes project `name` with a member user; returns its auth flags.
fn project_user(c: &Cloud, name: &str) -> Vec<String> {
    c.osc(&["project", "create", name]);
    let user = format!("{name}-user");
    c.osc(&["user", "create", "--password", "pw-secret-1", &user]);
    c.osc(&["role", "add", "--user", &user, "--project", name, "member"]);
    c.password_auth(&user, "pw-secret-1", Some(name))
}

/// A user-data script pinging `peer` 20 times and saying whether it ever answered.
fn probe(peer: &str) -> String {
    format!(
        "#!/bin/sh\n\
         ok=no; n=0; while [ $n -lt 20 ]; do if ping -c 1 -W 1 {peer} >/dev/null 2>&1; then ok=yes; break; fi; n=$((n+1)); done\n\
         echo \"E2E: peer {peer} reachable=$ok\"\n"
    )
}

#[test]
fn two_projects_with_the_same_cidr_cannot_reach_or_see_each_other() {
    let c = cloud();
    let a = project_user(&c, "pa");
    let b = project_user(&c, "pb");
    let (a, b) = (strs(&a), strs(&b));
    let mut servers = Vec::new();
    for (auth, me, peer) in [
        (&a, "10.0.0.11", "10.0.0.12"),
        (&b, "10.0.0.12", "10.0.0.11"),
    ] {
        let net = c.osc_with_json(auth, &["network", "create", "n"]);
        c.osc_with_json(
            auth,
            &[
                "subnet",
                "create",
                "--network",
                "n",
                "--subnet-range",
                "10.0.0.0/24",
                "s",
            ],
        );
        // Allow ICMP from anywhere, so only the network separation can stop the ping.
        c.osc_with_json(
            auth,
            &[
                "security",
                "group",
                "rule",
                "create",
                "--protocol",
                "icmp",
                "default",
            ],
        );
        let port = c.osc_with_json(
            auth,
            &[
                "port",
                "create",
                "--network",
                "n",
                "--fixed-ip",
                &format!("subnet=s,ip-address={me}"),
                "p",
            ],
        );
        let ud = c.dir().join(format!("probe-{me}.sh"));
        std::fs::write(&ud, probe(peer)).unwrap();
        let s = c.osc_with_json(
            auth,
            &[
                "server",
                "create",
                "--image",
                "tiny",
                "--flavor",
                "m1.tiny",
                "--port",
                &text(&port, "id"),
                "--user-data",
                ud.to_str().unwrap(),
                "vm",
            ],
        );
        let router = c.osc_with_json(auth, &["router", "create", "r"]);
        let sg = c.osc_with_json(auth, &["security", "group", "show", "default"]);
        servers.push((
            text(&s, "id"),
            text(&net, "id"),
            text(&port, "id"),
            text(&router, "id"),
            text(&sg, "id"),
            me,
            peer,
        ));
    }
    for (auth, (id, _, _, _, _, me, peer)) in [&a, &b].into_iter().zip(&servers) {
        let out = wait_console(
            &c,
            auth,
            id,
            &[
                &format!("FERROSTACK-GUEST: got address {me}"),
                &format!("E2E: peer {peer} reachable="),
            ],
        );
        assert!(
            out.contains(&format!("E2E: peer {peer} reachable=no")),
            "a guest reached the other project's guest:\n{out}"
        );
    }

    // B sees none of A's resources: 404 through the API, "not found" through the CLI.
    let token_b = text(&c.osc_with_json(&b, &["token", "issue"]), "id");
    let (_, net_a, port_a, router_a, sg_a, _, _) = &servers[0];
    for path in [
        format!("/network/v2.0/networks/{net_a}"),
        format!("/network/v2.0/ports/{port_a}"),
        format!("/network/v2.0/routers/{router_a}"),
        format!("/network/v2.0/security-groups/{sg_a}"),
    ] {
        let r = c.get_with_token(&path, &token_b);
        assert_eq!(r.status, 404, "B GET {path}: {}", r.text);
        assert!(
            r.body["NeutronError"]["type"]
                .as_str()
                .unwrap()
                .ends_with("NotFound"),
            "{}",
            r.text
        );
    }
    let r = c.http(
        "POST",
        "/network/v2.0/ports",
        &[("X-Auth-Token", token_b.as_str())],
        Some(&json!({"port": {"network_id": net_a}})),
    );
    assert_eq!(r.status, 404, "B attaches to A's network: {}", r.text);
    assert_eq!(
        r.body["NeutronError"]["type"], "NetworkNotFound",
        "{}",
        r.text
    );
    let listed = c.osc_with_json(&b, &["network", "list"]).to_string();
    assert!(
        !listed.contains(net_a.as_str()),
        "B lists A's network: {listed}"
    );

    // A network shared by the admin project is visible to B and B can attach to it.
    let shared = c.osc_json(&["network", "create", "--share", "common"]);
    c.osc(&[
        "subnet",
        "create",
        "--network",
        "common",
        "--subnet-range",
        "10.9.0.0/24",
        "common-sub",
    ]);
    let shared_id = text(&shared, "id");
    let seen = c.osc_with_json(&b, &["network", "show", &shared_id]);
    assert_eq!(text(&seen, "id"), shared_id);
    let p = c.osc_with_json(
        &b,
        &["port", "create", "--network", &shared_id, "pb-shared"],
    );
    assert!(p["fixed_ips"].to_string().contains("10.9.0."), "{p}");
}
