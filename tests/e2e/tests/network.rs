//! Networking with real guests and real packets, through the real CLI: two servers on one
//! tenant network get their fixed IPs by DHCP and ping each other, the metadata service gives
//! each its hostname and SSH key, a router with an external gateway lets a guest reach the
//! outside world (SNAT), a floating IP makes a guest reachable from the outside namespace
//! (ping and SSH with the keypair), and removing the security group rule that allows ICMP
//! stops the ping until it is added back.
//!
//! The cloud runs in a network namespace of its own (the harness), so every bridge, tap,
//! namespace and packet of this test stays inside namespaces it made.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e_tests::{text, Cloud};
use serde_json::Value;

/// Two TCG guests boot concurrently on two cores: leave room for a loaded machine.
const BOOT: Duration = Duration::from_secs(300);

fn cloud() -> Cloud {
    let image = guest_image::ensure_image().unwrap_or_else(|e| panic!("guest image: {e:#}"));
    let seed = format!("tiny={}", image.display());
    Cloud::start_with_args(&["--seed-image", &seed])
}

fn console(c: &Cloud, id: &str) -> String {
    c.osc(&["console", "log", "show", id])
}

/// Polls the console until every marker is there; returns the console.
fn wait_console(c: &Cloud, id: &str, markers: &[&str], timeout: Duration) -> String {
    let start = Instant::now();
    loop {
        let out = console(c, id);
        if markers.iter().all(|m| out.contains(m)) {
            return out;
        }
        if start.elapsed() > timeout {
            let missing: Vec<_> = markers.iter().filter(|m| !out.contains(*m)).collect();
            panic!("{missing:?} not on {id}'s console after {timeout:?}:\n{out}");
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// A user-data script that pings `peer` until it answers (60 tries) and then the outside
/// address (30 tries), printing a marker for each success.
fn pinger(peer: &str, outside: &str) -> String {
    format!(
        "#!/bin/sh\n\
         n=0; while [ $n -lt 60 ]; do if ping -c 1 -W 1 {peer} >/dev/null 2>&1; then echo \"E2E: peer {peer} answers\"; break; fi; n=$((n+1)); sleep 1; done\n\
         n=0; while [ $n -lt 30 ]; do if ping -c 1 -W 1 {outside} >/dev/null 2>&1; then echo \"E2E: outside {outside} answers\"; break; fi; n=$((n+1)); sleep 1; done\n"
    )
}

/// One ping from the outside namespace (1 s timeout); true when it answered.
fn outside_ping(c: &Cloud, ip: &str) -> bool {
    c.outside_output("ping", &["-c", "1", "-W", "1", ip])
        .status
        .success()
}

/// Pings from outside until the answer is `want`, at most `tries` times; returns how many
/// pings it took.
fn outside_ping_until(c: &Cloud, ip: &str, want: bool, tries: usize) -> usize {
    for i in 1..=tries {
        if outside_ping(c, ip) == want {
            return i;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("a ping from outside to {ip} never became {want} in {tries} tries");
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn fixed_port(c: &Cloud, name: &str, ip: &str, sg: &str) -> String {
    let p = c.osc_json(&[
        "port",
        "create",
        "--network",
        "net1",
        "--fixed-ip",
        &format!("subnet=sub1,ip-address={ip}"),
        "--security-group",
        sg,
        name,
    ]);
    text(&p, "id")
}

#[test]
fn guests_get_dhcp_ping_each_other_reach_outside_and_answer_on_a_floating_ip() {
    let c = cloud();
    let dir = c.dir().to_path_buf();

    c.osc(&["network", "create", "net1"]);
    c.osc(&[
        "subnet",
        "create",
        "--network",
        "net1",
        "--subnet-range",
        "10.1.0.0/24",
        "sub1",
    ]);
    c.osc(&["router", "create", "r1"]);
    c.osc(&["router", "set", "--external-gateway", "public", "r1"]);
    c.osc(&["router", "add", "subnet", "r1", "sub1"]);

    let sg = c.osc_json(&["security", "group", "create", "e2e"]);
    let sg_id = text(&sg, "id");
    let icmp = c.osc_json(&[
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "icmp",
        &sg_id,
    ]);
    let icmp_id = text(&icmp, "id");
    c.osc(&[
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "tcp",
        "--dst-port",
        "22",
        &sg_id,
    ]);

    let key = c.osc(&["keypair", "create", "k1"]);
    let key_path = write_file(&dir, "k1.pem", &key);
    std::fs::set_permissions(
        &key_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    let p1 = fixed_port(&c, "p1", "10.1.0.11", &sg_id);
    let p2 = fixed_port(&c, "p2", "10.1.0.12", &sg_id);
    let ud1 = write_file(&dir, "ud1.sh", &pinger("10.1.0.12", "172.24.4.1"));
    let ud2 = write_file(&dir, "ud2.sh", &pinger("10.1.0.11", "172.24.4.1"));
    let mut ids = Vec::new();
    for (name, port, ud) in [("s1", &p1, &ud1), ("s2", &p2, &ud2)] {
        let s = c.osc_json(&[
            "server",
            "create",
            "--image",
            "tiny",
            "--flavor",
            "m1.tiny",
            "--port",
            port,
            "--key-name",
            "k1",
            "--user-data",
            ud,
            name,
        ]);
        ids.push(text(&s, "id"));
    }
    for (id, (name, ip, peer)) in ids.iter().zip([
        ("s1", "10.1.0.11", "10.1.0.12"),
        ("s2", "10.1.0.12", "10.1.0.11"),
    ]) {
        let out = wait_console(
            &c,
            id,
            &[
                &format!("FERROSTACK-GUEST: got address {ip}"),
                "FERROSTACK-GUEST: metadata ok source=network",
                &format!("FERROSTACK-GUEST: hostname {name}"),
                "FERROSTACK-GUEST: public-keys 1",
                &format!("E2E: peer {peer} answers"),
                "E2E: outside 172.24.4.1 answers",
                "FERROSTACK-GUEST: ready",
            ],
            BOOT,
        );
        assert!(
            out.contains(&format!("FERROSTACK-GUEST: instance-id {id}")),
            "{out}"
        );
        let s: Value = c.osc_json(&["server", "show", id]);
        let addresses = s["addresses"].to_string();
        assert!(addresses.contains(ip), "server show addresses: {addresses}");
    }

    // A floating IP makes s1 reachable from the outside namespace.
    let fip = c.osc_json(&["floating", "ip", "create", "public"]);
    let fip_ip = text(&fip, "floating_ip_address");
    c.osc(&["floating", "ip", "set", "--port", &p1, &fip_ip]);
    outside_ping_until(&c, &fip_ip, true, 50);
    let ssh = c.outside_output(
        "ssh",
        &[
            "-i",
            &key_path,
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
            &format!("root@{fip_ip}"),
            "hostname",
        ],
    );
    assert!(
        ssh.status.success() && String::from_utf8_lossy(&ssh.stdout).trim() == "s1",
        "ssh with the keypair to {fip_ip}: {ssh:?}"
    );

    // Without the ICMP rule the ping stops; with it back, it answers again.
    c.osc(&["security", "group", "rule", "delete", &icmp_id]);
    let took = outside_ping_until(&c, &fip_ip, false, 5);
    eprintln!("ping stopped at attempt {took} after the rule was deleted");
    c.osc(&[
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "icmp",
        &sg_id,
    ]);
    outside_ping_until(&c, &fip_ip, true, 10);

    // Deleting the servers and ports leaves no tap behind.
    for id in &ids {
        c.osc(&["server", "delete", "--wait", id]);
    }
    c.osc(&["floating", "ip", "delete", &fip_ip]);
    c.osc(&["port", "delete", &p1, &p2]);
    let links = c.host("ip", &["-o", "link", "show"]);
    for p in [&p1, &p2] {
        let tap = format!("tap{}", &p[..11]);
        assert!(!links.contains(&tap), "{tap} left behind:\n{links}");
    }
}
