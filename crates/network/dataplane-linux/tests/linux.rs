//! The Linux data plane on real devices, each test in namespaces of its own: DHCP, pings
//! between guests, security groups, anti-spoofing, router SNAT and floating IPs, metadata,
//! idempotence, crash-style resync and complete removal.

mod common;

use common::{in_ns, must, sh, TestEnv};
use network_agent::Dataplane;
use network_dataplane_linux::ExternalNamespace;
use network_model::dataplane::*;
use network_model::names;

const NET: &str = "0a000000-0000-4000-8000-000000000001";
const PUB: &str = "0b000000-0000-4000-8000-000000000002";
const SUB: &str = "5a000000-0000-4000-8000-000000000003";
const PUBSUB: &str = "5b000000-0000-4000-8000-000000000004";
const PA: &str = "a1000000-0000-4000-8000-00000000000a";
const PB: &str = "b2000000-0000-4000-8000-00000000000b";
const DHCP: &str = "d3000000-0000-4000-8000-00000000000d";
const RI: &str = "e4000000-0000-4000-8000-00000000000e";
const RG: &str = "f5000000-0000-4000-8000-00000000000f";
const ROUTER: &str = "c6000000-0000-4000-8000-000000000010";
const SG: &str = "9a000000-0000-4000-8000-000000000011";
const MAC_A: &str = "fa:16:3e:00:00:0a";
const MAC_B: &str = "fa:16:3e:00:00:0b";

fn fixed(subnet: &str, ip: &str) -> FixedIp {
    FixedIp {
        subnet_id: subnet.into(),
        ip_address: ip.into(),
    }
}

fn rule(id: &str, dir: Direction, proto: Option<&str>, remote_group: Option<&str>) -> RulePlan {
    RulePlan {
        id: id.into(),
        direction: dir,
        ip_version: 4,
        protocol: proto.map(str::to_string),
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote_group.map(str::to_string),
    }
}

fn port(id: &str, mac: &str, ip: &str) -> PortPlan {
    PortPlan {
        id: id.into(),
        network_id: NET.into(),
        mac_address: mac.into(),
        fixed_ips: vec![fixed(SUB, ip)],
        admin_state_up: true,
        device_id: format!("vm-{id}"),
        security: Some(PortSecurity {
            security_groups: vec![SG.into()],
            allowed_address_pairs: vec![],
        }),
        qos: None,
    }
}

fn host(mac: &str, ip: &str) -> DhcpHost {
    DhcpHost {
        mac_address: mac.into(),
        ip_address: ip.into(),
        subnet_id: SUB.into(),
        hostname: format!("host-{}", ip.replace('.', "-")),
    }
}

/// Two guests on a VXLAN tenant network with DHCP, a router to a flat external network with
/// SNAT and a floating IP for A, one security group allowing ICMP in, TCP from members, and
/// everything out.
fn plan() -> HostPlan {
    let private = NetworkPlan {
        id: NET.into(),
        segment: Segment::Vxlan { vni: 4242 },
        mtu: 1450,
        external: false,
        admin_state_up: true,
        subnets: vec![SubnetPlan {
            id: SUB.into(),
            ip_version: 4,
            cidr: "10.0.0.0/24".into(),
            gateway_ip: Some("10.0.0.1".into()),
            enable_dhcp: true,
            dns_nameservers: vec!["10.0.0.53".into()],
            host_routes: vec![],
            ipv6_address_mode: None,
        }],
        dhcp: Some(DhcpPlan {
            port_id: DHCP.into(),
            mac_address: "fa:16:3e:00:00:0d".into(),
            fixed_ips: vec![fixed(SUB, "10.0.0.2")],
            hosts: vec![host(MAC_A, "10.0.0.5"), host(MAC_B, "10.0.0.6")],
        }),
        vxlan_peers: vec![],
    };
    let public = NetworkPlan {
        id: PUB.into(),
        segment: Segment::Flat {
            physical_network: "public".into(),
        },
        mtu: 1500,
        external: true,
        admin_state_up: true,
        subnets: vec![SubnetPlan {
            id: PUBSUB.into(),
            ip_version: 4,
            cidr: "172.24.4.0/24".into(),
            gateway_ip: Some("172.24.4.1".into()),
            enable_dhcp: false,
            dns_nameservers: vec![],
            host_routes: vec![],
            ipv6_address_mode: None,
        }],
        dhcp: None,
        vxlan_peers: vec![],
    };
    let mut plan = HostPlan {
        host: "h1".into(),
        networks: vec![private, public],
        ports: vec![port(PA, MAC_A, "10.0.0.5"), port(PB, MAC_B, "10.0.0.6")],
        routers: vec![RouterPlan {
            id: ROUTER.into(),
            admin_state_up: true,
            interfaces: vec![RouterLeg {
                port_id: RI.into(),
                network_id: NET.into(),
                mac_address: "fa:16:3e:00:00:0e".into(),
                addresses: vec!["10.0.0.1/24".into()],
            }],
            gateway: Some(RouterGateway {
                leg: RouterLeg {
                    port_id: RG.into(),
                    network_id: PUB.into(),
                    mac_address: "fa:16:3e:00:00:0f".into(),
                    addresses: vec!["172.24.4.10/24".into()],
                },
                nexthop: Some("172.24.4.1".into()),
                enable_snat: true,
            }),
            routes: vec![],
            floating_ips: vec![FloatingIpPlan {
                id: "fip".into(),
                floating_ip_address: "172.24.4.100".into(),
                fixed_ip_address: "10.0.0.5".into(),
                port_id: PA.into(),
            }],
        }],
        security_groups: vec![SecurityGroupPlan {
            id: SG.into(),
            stateful: true,
            rules: vec![
                rule("r1-egress", Direction::Egress, None, None),
                rule("r2-icmp", Direction::Ingress, Some("icmp"), None),
                rule("r3-members", Direction::Ingress, Some("tcp"), Some(SG)),
            ],
            member_ips: vec!["10.0.0.5".into(), "10.0.0.6".into()],
        }],
    };
    plan.normalize();
    plan
}

/// Everything a converged host shows: devices, addresses, routes, rules of every namespace
/// of the test, and the dnsmasq pids.
fn snapshot(env: &TestEnv) -> String {
    let mut out = String::new();
    let mut all = vec![env.host.clone()];
    all.extend(env.namespaces());
    for ns in &all {
        out += &format!("== {ns}\n");
        out += &must(&["ip", "-n", ns, "-o", "link", "show"]);
        // DAD state changes by itself.
        out += &must(&["ip", "-n", ns, "-o", "addr", "show"]).replace(" tentative", "");
        out += &must(&["ip", "-n", ns, "route", "show"]);
        out += &in_ns(ns, &["nft", "list", "ruleset"]).1;
    }
    for d in std::fs::read_dir(env.dir.path().join("dhcp"))
        .into_iter()
        .flatten()
        .flatten()
    {
        out += &std::fs::read_to_string(d.path().join("pid")).unwrap_or_default();
    }
    out
}

fn assert_same(before: &str, after: &str) {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let gone: Vec<&&str> = a.iter().filter(|l| !b.contains(l)).collect();
    let new: Vec<&&str> = b.iter().filter(|l| !a.contains(l)).collect();
    assert!(
        gone.is_empty() && new.is_empty() && a.len() == b.len(),
        "changed:\n-{gone:#?}\n+{new:#?}"
    );
}

fn assert_converged(applied: &network_agent::Applied) {
    assert!(
        applied.failures.is_empty(),
        "failures: {:?}",
        applied.failures
    );
    assert_eq!(applied.wired_ports, vec![PA.to_string(), PB.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_get_dhcp_talk_route_and_are_filtered() {
    let env = TestEnv::new();
    let mut cfg = env.config();
    cfg.external = Some(ExternalNamespace {
        physical_network: "public".into(),
        address: "172.24.4.1/24".into(),
    });
    let ext = cfg.external_namespace();
    let dp = env.dataplane(cfg.clone());
    let ga = env.guest("ga", &names::tap(PA), MAC_A);
    let gb = env.guest("gb", &names::tap(PB), MAC_B);
    let mut plan = plan();

    let applied = dp.apply(&plan).await.unwrap();
    assert_converged(&applied);

    // DHCP hands each guest exactly its fixed IP, the routes and the MTU.
    let lease_a = env.dhcp(&ga);
    assert!(
        lease_a.contains("ip=10.0.0.5 mask=24 router=10.0.0.1 mtu=1450"),
        "{lease_a}"
    );
    assert!(
        lease_a.contains("staticroutes=169.254.169.254/32 10.0.0.2 0.0.0.0/0 10.0.0.1"),
        "{lease_a}"
    );
    assert!(lease_a.contains("hostname=host-10-0-0-5"), "{lease_a}");
    let lease_b = env.dhcp(&gb);
    assert!(lease_b.contains("ip=10.0.0.6 "), "{lease_b}");

    // The guests reach each other, the metadata service and, through the router's SNAT,
    // the outside world; the floating IP makes A reachable from outside.
    assert!(env.ping(&ga, "10.0.0.6"), "A cannot ping B");
    assert!(env.ping(&gb, "10.0.0.5"), "B cannot ping A");
    let (ok, body) = in_ns(
        &ga,
        &[
            "timeout",
            "5",
            "busybox",
            "wget",
            "-q",
            "-O",
            "-",
            "http://169.254.169.254/",
        ],
    );
    assert!(
        ok && body.contains(&format!("meta-ok {NET}")),
        "metadata: {body}"
    );
    assert!(
        env.ping(&gb, "172.24.4.1"),
        "B cannot reach the outside through SNAT"
    );
    assert!(
        env.ping(&ext, "172.24.4.100"),
        "the floating IP does not reach A"
    );
    assert!(
        !env.ping(&ext, "10.0.0.6"),
        "a fixed IP is reachable from outside"
    );

    // A second apply of the same plan changes nothing.
    let before = snapshot(&env);
    assert_converged(&dp.apply(&plan).await.unwrap());
    assert_same(&before, &snapshot(&env));

    // Without an ICMP ingress rule pings stop, a running ping too (its tracked flow is cut);
    // the rule back restores them.
    let running = common::Background::spawn(
        &gb,
        &["ping", "-c", "25", "-i", "0.2", "-W", "1", "10.0.0.5"],
    );
    std::thread::sleep(std::time::Duration::from_millis(1000));
    plan.security_groups[0].rules.retain(|r| r.id != "r2-icmp");
    assert_converged(&dp.apply(&plan).await.unwrap());
    assert!(!env.ping(&ga, "10.0.0.6"), "ICMP passes without a rule");
    let out = running.wait();
    let received: u32 = out
        .split(", ")
        .find_map(|p| p.strip_suffix(" received"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no ping summary: {out}"));
    assert!(
        received > 0 && received < 25,
        "a running ping was not cut: {out}"
    );
    plan = self::plan();
    assert_converged(&dp.apply(&plan).await.unwrap());
    assert!(env.ping(&ga, "10.0.0.6"), "ICMP rule restored but no ping");

    // A spoofed source address is dropped (B knows A's MAC, so ARP is not the reason).
    must(&[
        "ip",
        "-n",
        &ga,
        "addr",
        "add",
        "10.0.0.99/32",
        "dev",
        "eth0",
    ]);
    must(&[
        "ip",
        "-n",
        &gb,
        "neigh",
        "replace",
        "10.0.0.99",
        "lladdr",
        MAC_A,
        "dev",
        "eth0",
    ]);
    let (spoofed, _) = in_ns(
        &ga,
        &["ping", "-c", "2", "-W", "1", "-I", "10.0.0.99", "10.0.0.6"],
    );
    assert!(!spoofed, "a spoofed source got through");
    assert!(env.ping(&ga, "10.0.0.6"));

    // Crash-style damage: devices deleted, dnsmasq killed, the filter table gone.
    let pid = std::fs::read_to_string(env.dir.path().join("dhcp").join(NET).join("pid")).unwrap();
    must(&["kill", "-9", pid.trim()]);
    must(&["ip", "-n", &env.host, "link", "delete", &names::vxlan(4242)]);
    must(&["ip", "-n", &env.host, "link", "delete", &names::tap(RI)]);
    must(&["ip", "-n", &env.host, "link", "delete", &names::tap(DHCP)]);
    let table = cfg.table();
    in_ns(&env.host, &["nft", "delete", "table", "inet", &table]);
    let applied = dp.apply(&plan).await.unwrap();
    assert_converged(&applied);
    assert!(env.dhcp(&ga).contains("ip=10.0.0.5 "));
    assert!(env.ping(&ga, "10.0.0.6"));
    assert!(env.ping(&ga, "172.24.4.1"), "SNAT after resync");
    let (ok, body) = in_ns(
        &ga,
        &[
            "timeout",
            "5",
            "busybox",
            "wget",
            "-q",
            "-O",
            "-",
            "http://169.254.169.254/",
        ],
    );
    assert!(
        ok && body.contains("meta-ok"),
        "metadata after resync: {body}"
    );

    // A restarted agent (a new data plane) adopts dnsmasq and rewrites the same rules.
    let before = snapshot(&env);
    env.sink.stop();
    drop(dp);
    let dp = env.dataplane(cfg.clone());
    assert_converged(&dp.apply(&plan).await.unwrap());
    assert_same(&before, &snapshot(&env));

    // Everything removed from the plan: no device, namespace, table or process left.
    let mut empty = plan.clone();
    empty.networks.clear();
    empty.ports.clear();
    empty.routers.clear();
    empty.security_groups.clear();
    let applied = dp.apply(&empty).await.unwrap();
    assert!(applied.failures.is_empty(), "{:?}", applied.failures);
    dp.cleanup_all().await.unwrap();
    let links = must(&["ip", "-n", &env.host, "-o", "link", "show"]);
    assert!(
        !links.contains("brq") && !links.contains("tap") && !links.contains("vxlan"),
        "{links}"
    );
    let ruleset = in_ns(&env.host, &["nft", "list", "ruleset"]).1;
    assert!(!ruleset.contains(&table), "{ruleset}");
    let left: Vec<String> = env
        .namespaces()
        .into_iter()
        .filter(|n| n != &ga && n != &gb)
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    assert!(
        !sh(&["pgrep", "-f", &env.dir.path().to_string_lossy()]).0,
        "dnsmasq left"
    );
}

/// A VXLAN network with peers, QoS on a port, and 50 ports sharing a group of 1,000 rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vxlan_peers_qos_and_a_large_shared_group() {
    let env = TestEnv::new();
    must(&[
        "ip", "-n", &env.host, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1",
    ]);
    must(&[
        "ip",
        "-n",
        &env.host,
        "addr",
        "add",
        "192.168.100.1/24",
        "dev",
        "ul0",
    ]);
    must(&["ip", "-n", &env.host, "link", "set", "ul0", "up"]);
    let mut cfg = env.config();
    cfg.underlay_ip = Some("192.168.100.1".into());
    let table = cfg.table();
    let dp = env.dataplane(cfg);

    let mut plan = self::plan();
    plan.routers.clear();
    plan.networks.retain(|n| n.id == NET);
    plan.networks[0].dhcp = None;
    plan.networks[0].vxlan_peers = vec!["192.168.100.2".into(), "192.168.100.3".into()];
    plan.ports.truncate(1);
    plan.ports[0].qos = Some(QosPlan {
        policy_id: "q".into(),
        ingress: Some(Bandwidth {
            max_kbps: 1000,
            max_burst_kbps: 0,
        }),
        egress: Some(Bandwidth {
            max_kbps: 500,
            max_burst_kbps: 100,
        }),
    });
    for i in 0..49u32 {
        let mut p = port(
            &format!("{i:08x}-1111-4000-8000-000000000000"),
            "fa:16:3e:00:10:00",
            "10.0.0.50",
        );
        p.fixed_ips[0].ip_address = format!("10.0.1.{i}");
        plan.ports.push(p);
    }
    plan.security_groups[0].rules = (0..1000u16)
        .map(|i| {
            let mut r = rule(
                &format!("r{i:04}"),
                Direction::Ingress,
                Some("tcp"),
                Some(SG),
            );
            r.port_range_min = Some(2000 + i);
            r.port_range_max = Some(2000 + i);
            r
        })
        .collect();
    plan.normalize();
    let pa = plan.ports.iter().position(|p| p.id == PA).unwrap();
    let applied = dp.apply(&plan).await.unwrap();
    assert!(applied.failures.is_empty(), "{:?}", applied.failures);
    assert_eq!(applied.wired_ports.len(), 50);

    let vx = names::vxlan(4242);
    let fdb = must(&["bridge", "-n", &env.host, "fdb", "show", "dev", &vx]);
    assert!(
        fdb.contains("dst 192.168.100.2") && fdb.contains("dst 192.168.100.3"),
        "{fdb}"
    );
    let details = must(&["ip", "-n", &env.host, "-d", "link", "show", &vx]);
    assert!(
        details.contains("vxlan id 4242") && details.contains("local 192.168.100.1"),
        "{details}"
    );
    let tap = names::tap(PA);
    let qdisc = must(&["tc", "-n", &env.host, "qdisc", "show", "dev", &tap, "root"]);
    assert!(
        qdisc.contains("tbf") && qdisc.contains("rate 1Mbit"),
        "{qdisc}"
    );
    let ruleset = in_ns(&env.host, &["nft", "list", "table", "bridge", &table]).1;
    assert!(
        ruleset.contains("limit rate over 62500 bytes/second burst 12500 bytes drop"),
        "{ruleset}"
    );
    let inet = in_ns(&env.host, &["nft", "list", "table", "inet", &table]).1;
    let zone = format!("\"{}\" : 1", names::bridge(NET));
    assert!(
        inet.contains("ct zone set iifname map @zones") && inet.contains(&zone),
        "{inet}"
    );

    // Peers, limits and one of the 1,000 rules change; a port goes down.
    plan.networks[0].vxlan_peers = vec!["192.168.100.3".into()];
    plan.ports[pa].qos = None;
    plan.ports[1].admin_state_up = false;
    plan.security_groups[0].rules[500].port_range_min = Some(9999);
    plan.security_groups[0].rules[500].port_range_max = Some(9999);
    let applied = dp.apply(&plan).await.unwrap();
    assert!(applied.failures.is_empty(), "{:?}", applied.failures);
    let fdb = must(&["bridge", "-n", &env.host, "fdb", "show", "dev", &vx]);
    assert!(
        !fdb.contains("dst 192.168.100.2") && fdb.contains("dst 192.168.100.3"),
        "{fdb}"
    );
    let qdisc = must(&["tc", "-n", &env.host, "qdisc", "show", "dev", &tap, "root"]);
    assert!(!qdisc.contains("tbf"), "{qdisc}");
    let ruleset = in_ns(&env.host, &["nft", "list", "ruleset"]).1;
    assert!(!ruleset.contains("limit rate"));
    assert!(
        ruleset.contains("tcp dport 9999 accept") && !ruleset.contains("tcp dport 2500 accept")
    );
    let down = must(&[
        "ip",
        "-n",
        &env.host,
        "link",
        "show",
        &names::tap(&plan.ports[1].id),
    ]);
    assert!(!down.contains(",UP"), "{down}");

    dp.cleanup_all().await.unwrap();
    let links = must(&["ip", "-n", &env.host, "-o", "link", "show"]);
    assert!(
        !links.contains("brq") && !links.contains("tap") && !links.contains("vxlan"),
        "{links}"
    );
}
