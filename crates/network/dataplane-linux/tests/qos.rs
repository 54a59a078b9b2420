//! QoS bandwidth limits on real devices: TCP throughput between two guests of one network,
//! measured with iperf3 inside the test's namespaces, before a limit, under it (TBF on the
//! tap towards the guest, the nft policer from the guest) and after it is removed. Rates
//! are compared with each other and with the limit within the same run.

mod common;

use common::{in_ns, must, Background, TestEnv};
use network_agent::Dataplane;
use network_model::dataplane::*;
use network_model::names;

const NET: &str = "0a000000-0000-4000-8000-0000000000a1";
const SUB: &str = "5a000000-0000-4000-8000-0000000000a3";
const PA: &str = "a1000000-0000-4000-8000-0000000000aa";
const PB: &str = "b2000000-0000-4000-8000-0000000000ab";
const SG: &str = "9a000000-0000-4000-8000-0000000000a4";
const MAC_A: &str = "fa:16:3e:00:01:0a";
const MAC_B: &str = "fa:16:3e:00:01:0b";
const IP_A: &str = "10.0.0.5";
const IP_B: &str = "10.0.0.6";
const MTU: u32 = 1450;
/// The limit in both directions, kbit/s.
const LIMIT_KBPS: u64 = 8000;

fn port(id: &str, mac: &str, ip: &str) -> PortPlan {
    PortPlan {
        id: id.into(),
        network_id: NET.into(),
        mac_address: mac.into(),
        fixed_ips: vec![FixedIp {
            subnet_id: SUB.into(),
            ip_address: ip.into(),
        }],
        admin_state_up: true,
        device_id: format!("vm-{id}"),
        security: Some(PortSecurity {
            security_groups: vec![SG.into()],
            allowed_address_pairs: vec![],
        }),
        qos: None,
    }
}

fn rule(id: &str, direction: Direction, protocol: Option<&str>) -> RulePlan {
    RulePlan {
        id: id.into(),
        direction,
        ip_version: 4,
        protocol: protocol.map(str::to_string),
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: Some(SG.into()),
    }
}

/// One VXLAN network without DHCP (the guests configure their addresses), two secured ports
/// whose group lets members talk TCP and ICMP.
fn plan(qos_on_a: Option<QosPlan>) -> HostPlan {
    let mut a = port(PA, MAC_A, IP_A);
    a.qos = qos_on_a;
    let mut plan = HostPlan {
        host: "h1".into(),
        networks: vec![NetworkPlan {
            id: NET.into(),
            segment: Segment::Vxlan { vni: 4343 },
            mtu: MTU,
            external: false,
            admin_state_up: true,
            subnets: vec![SubnetPlan {
                id: SUB.into(),
                ip_version: 4,
                cidr: "10.0.0.0/24".into(),
                gateway_ip: None,
                enable_dhcp: false,
                dns_nameservers: vec![],
                host_routes: vec![],
                ipv6_address_mode: None,
            }],
            dhcp: None,
            vxlan_peers: vec![],
        }],
        ports: vec![a, port(PB, MAC_B, IP_B)],
        routers: vec![],
        security_groups: vec![SecurityGroupPlan {
            id: SG.into(),
            stateful: true,
            rules: vec![
                rule("q-egress", Direction::Egress, None),
                rule("q-tcp", Direction::Ingress, Some("tcp")),
                rule("q-icmp", Direction::Ingress, Some("icmp")),
            ],
            member_ips: vec![IP_A.into(), IP_B.into()],
        }],
    };
    plan.normalize();
    plan
}

fn limit() -> QosPlan {
    let bw = Bandwidth {
        max_kbps: LIMIT_KBPS,
        max_burst_kbps: 0,
    };
    QosPlan {
        policy_id: "qos-8mbit".into(),
        ingress: Some(bw),
        egress: Some(bw),
    }
}

/// A guest's address and MTU (what DHCP would give it).
fn configure(guest: &str, ip: &str) {
    let cidr = format!("{ip}/24");
    let mtu = MTU.to_string();
    must(&["ip", "-n", guest, "link", "set", "eth0", "mtu", &mtu]);
    must(&["ip", "-n", guest, "addr", "add", &cidr, "dev", "eth0"]);
}

/// Throughput A → B (`reverse` false: A's egress) or B → A (true: A's ingress) in bit/s, as
/// iperf3 in A measures it at the receiver over 4 s after 1 s left out (slow start and the
/// limit's initial burst).
fn throughput(guest_a: &str, reverse: bool) -> f64 {
    let mut args = vec![
        "timeout", "30", "iperf3", "-c", IP_B, "-p", "5201", "-t", "4", "-O", "1", "-J",
    ];
    if reverse {
        args.push("-R");
    }
    let (ok, out) = in_ns(guest_a, &args);
    assert!(ok, "iperf3 {args:?} failed: {out}");
    let json: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("iperf3 output ({e}): {out}"));
    json["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("no receiver rate: {out}"))
}

/// Waits until the iperf3 server in `guest` listens.
fn wait_listening(guest: &str) {
    for _ in 0..100 {
        if in_ns(guest, &["ss", "-Htln", "sport", "= :5201"])
            .1
            .contains("5201")
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("iperf3 server in {guest} does not listen");
}

fn mbit(bps: f64) -> String {
    format!("{:.1} Mbit/s", bps / 1e6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bandwidth_limit_caps_throughput_both_ways_and_its_removal_restores_it() {
    let env = TestEnv::new();
    let dp = env.dataplane(env.config());
    let ga = env.guest("qa", &names::tap(PA), MAC_A);
    let gb = env.guest("qb", &names::tap(PB), MAC_B);
    configure(&ga, IP_A);
    configure(&gb, IP_B);

    let applied = dp.apply(&plan(None)).await.unwrap();
    assert!(applied.failures.is_empty(), "{:?}", applied.failures);
    assert!(env.ping(&ga, IP_B), "A cannot ping B");
    let server = Background::spawn(&gb, &["iperf3", "-s", "-p", "5201"]);
    wait_listening(&gb);

    let limit_bps = (LIMIT_KBPS * 1000) as f64;
    let free_out = throughput(&ga, false);
    let free_in = throughput(&ga, true);
    eprintln!(
        "unlimited: from A {}, to A {}",
        mbit(free_out),
        mbit(free_in)
    );

    let applied = dp.apply(&plan(Some(limit()))).await.unwrap();
    assert!(applied.failures.is_empty(), "{:?}", applied.failures);
    let tap = names::tap(PA);
    let qdisc = must(&["tc", "-n", &env.host, "qdisc", "show", "dev", &tap, "root"]);
    assert!(qdisc.contains("tbf"), "{qdisc}");
    let limited_out = throughput(&ga, false);
    let limited_in = throughput(&ga, true);
    eprintln!(
        "limited to {}: from A {}, to A {}",
        mbit(limit_bps),
        mbit(limited_out),
        mbit(limited_in)
    );

    let applied = dp.apply(&plan(None)).await.unwrap();
    assert!(applied.failures.is_empty(), "{:?}", applied.failures);
    let restored_out = throughput(&ga, false);
    let restored_in = throughput(&ga, true);
    eprintln!(
        "limit removed: from A {}, to A {}",
        mbit(restored_out),
        mbit(restored_in)
    );

    for (what, rate) in [("from A", free_out), ("to A", free_in)] {
        assert!(
            rate >= 5.0 * limit_bps,
            "unlimited {what} {} is not well above the limit",
            mbit(rate)
        );
    }
    for (what, rate) in [("from A", limited_out), ("to A", limited_in)] {
        assert!(
            rate <= 1.5 * limit_bps && rate > 0.0,
            "limited {what}: {} for a limit of {}",
            mbit(rate),
            mbit(limit_bps)
        );
    }
    for (what, rate) in [("from A", restored_out), ("to A", restored_in)] {
        assert!(
            rate >= 5.0 * limit_bps,
            "{what} after the limit was removed: {}",
            mbit(rate)
        );
    }
    let qdisc = must(&["tc", "-n", &env.host, "qdisc", "show", "dev", &tap, "root"]);
    assert!(!qdisc.contains("tbf"), "{qdisc}");
    let ruleset = in_ns(&env.host, &["nft", "list", "ruleset"]).1;
    assert!(!ruleset.contains("limit rate"), "{ruleset}");

    drop(server);
    dp.cleanup_all().await.unwrap();
}
