//! Crash safety of the network agent: the process is killed (SIGKILL) while it wires ten
//! ports; after a restart the data plane converges to the database (every port's tap on its
//! bridge, its filter rules present, ports ACTIVE), a further restart changes nothing (no
//! duplicate rules or devices), and ports deleted just before another kill leave no device
//! or rule behind.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e_tests::{field, text, Cloud};
use serde_json::{json, Value};

const CONVERGE: Duration = Duration::from_secs(120);

fn tap(port: &str) -> String {
    format!("tap{}", &port[..11])
}

/// Interface names in the cloud's namespace.
fn links(c: &Cloud) -> BTreeSet<String> {
    c.host("ip", &["-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// The nftables ruleset of the cloud's namespace without counters (they change with traffic).
fn ruleset(c: &Cloud) -> String {
    c.host("nft", &["list", "ruleset"])
        .lines()
        .map(|l| {
            l.split(" counter packets")
                .next()
                .unwrap_or(l)
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ports(c: &Cloud, token: &str, net: &str) -> Vec<Value> {
    let r = c.get_with_token(
        &format!("/network/v2.0/ports?network_id={net}&device_owner=compute:nova"),
        token,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["ports"].as_array().unwrap().clone()
}

/// Waits until the instance ports of `net` are exactly `want`, all ACTIVE, each with its tap
/// on the network's bridge and named in the ruleset.
fn wait_converged(c: &Cloud, token: &str, net: &str, want: &BTreeSet<String>) {
    let bridge = format!("brq{}", &net[..11]);
    let start = Instant::now();
    loop {
        let ps = ports(c, token, net);
        let ids: BTreeSet<String> = ps.iter().map(|p| text(p, "id")).collect();
        let all_active = ps.iter().all(|p| field(p, "status") == "ACTIVE");
        let shown = c.host("ip", &["-o", "link", "show", "master", &bridge]);
        let rules = ruleset(c);
        let wired = want
            .iter()
            .all(|p| shown.contains(&tap(p)) && rules.contains(&tap(p)));
        if ids == *want && all_active && wired {
            return;
        }
        if start.elapsed() > CONVERGE {
            panic!(
                "not converged after {CONVERGE:?}: ports {ids:?} (want {want:?}), all active {all_active}\nbridge:\n{shown}\nrules:\n{rules}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_kill_mid_wiring_converges_on_restart_without_duplicates_or_leaks() {
    let mut c = Cloud::start();
    let net = text(&c.osc_json(&["network", "create", "crashnet"]), "id");
    c.osc(&[
        "subnet",
        "create",
        "--network",
        "crashnet",
        "--subnet-range",
        "10.77.0.0/24",
        "crashsub",
    ]);
    let services = c.osc_json(&["compute", "service", "list"]);
    let host = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| field(s, "binary") == "nova-compute")
        .map(|s| text(s, "host"))
        .unwrap_or_else(|| panic!("no nova-compute in {services:#}"));
    let token = c.token();

    let mut made = BTreeSet::new();
    for i in 0..10 {
        let r = c.http(
            "POST",
            "/network/v2.0/ports",
            &[("X-Auth-Token", token.as_str())],
            Some(&json!({"port": {
                "network_id": net,
                "name": format!("crash-{i}"),
                "device_owner": "compute:nova",
                "device_id": format!("00000000-0000-4000-8000-0000000000{i:02}"),
                "binding:host_id": host,
            }})),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        made.insert(text(&r.body["port"], "id"));
    }
    c.kill();
    c.start_again();
    let token = c.token();
    wait_converged(&c, &token, &net, &made);
    let links_once = links(&c);
    let rules_once = ruleset(&c);

    // Another restart: the agent resynchronises and changes nothing.
    c.stop(Duration::from_secs(60));
    c.start_again();
    let token = c.token();
    wait_converged(&c, &token, &net, &made);
    assert_eq!(links(&c), links_once, "devices changed after a restart");
    assert_eq!(ruleset(&c), rules_once, "rules changed after a restart");

    // Five ports deleted just before a kill leave nothing behind after the restart.
    let gone: Vec<String> = made.iter().take(5).cloned().collect();
    for p in &gone {
        let r = c.http(
            "DELETE",
            &format!("/network/v2.0/ports/{p}"),
            &[("X-Auth-Token", token.as_str())],
            None,
        );
        assert_eq!(r.status, 204, "{}", r.text);
        made.remove(p);
    }
    c.kill();
    c.start_again();
    let token = c.token();
    wait_converged(&c, &token, &net, &made);
    let now = links(&c);
    let rules = ruleset(&c);
    for p in &gone {
        assert!(!now.contains(&tap(p)), "{} left behind", tap(p));
        assert!(!rules.contains(&tap(p)), "rules for {} left behind", tap(p));
    }
}
