//! `Scheduler::select` over whole host lists: the default filters and weighers together.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::testing::{group_spec, host, spec, with_used};
use crate::*;

fn names(hosts: &[&HostState]) -> Vec<String> {
    hosts.iter().map(|h| h.host.clone()).collect()
}

/// h1 nearly empty, h2 half full, h3 nearly full (every class).
fn three_hosts() -> Vec<HostState> {
    let load = |name: &str, vcpu, ram, disk| {
        let h = with_used(host(name), "VCPU", vcpu);
        let h = with_used(h, "MEMORY_MB", ram);
        with_used(h, "DISK_GB", disk)
    };
    vec![
        load("h2", 4, 4096, 80),
        load("h3", 7, 7168, 140),
        load("h1", 1, 1024, 20),
    ]
}

/// Places `n` members of a group one after another, each on the best host, recording where
/// they went as the domain would.
fn place_group(
    scheduler: &Scheduler,
    hosts: &mut [HostState],
    policy: &str,
    n: usize,
) -> Vec<String> {
    let mut placed = Vec::new();
    for i in 0..n {
        let members: Vec<&str> = placed.iter().map(String::as_str).collect();
        let mut s = group_spec(policy, &members, None);
        s.instance_uuid = format!("m{i}");
        let Some(best) = scheduler.select(hosts, &s).first().map(|h| h.host.clone()) else {
            break;
        };
        let target = hosts.iter_mut().find(|h| h.host == best);
        if let Some(h) = target {
            h.instances.push(s.instance_uuid.clone());
            for (class, amount) in &s.resources {
                *h.used.entry(class.clone()).or_default() += amount;
            }
        }
        placed.push(best);
    }
    placed
}

#[test]
fn spread_prefers_the_emptiest_host_and_pack_the_fullest() {
    let hosts = three_hosts();
    let spread = Scheduler::from_config("spread");
    assert_eq!(names(&spread.select(&hosts, &spec())), ["h1", "h2", "h3"]);
    let pack = Scheduler::from_config("pack");
    assert_eq!(names(&pack.select(&hosts, &spec())), ["h3", "h2", "h1"]);
    let pack = Scheduler::from_config(" PACK ");
    assert_eq!(names(&pack.select(&hosts, &spec())), ["h3", "h2", "h1"]);
    let unknown = Scheduler::from_config("sideways");
    assert_eq!(
        names(&unknown.select(&hosts, &spec())),
        ["h1", "h2", "h3"],
        "spread is the default"
    );
}

#[test]
fn the_default_filters_run_in_nova_order() {
    assert_eq!(
        Scheduler::from_config("spread").filter_names(),
        [
            "IgnoreHostsFilter",
            "AvailabilityZoneFilter",
            "ComputeFilter",
            "ResourceFilter",
            "AggregateMultiTenancyIsolation",
            "ImagePropertiesFilter",
            "ServerGroupAntiAffinityFilter",
            "ServerGroupAffinityFilter",
        ]
    );
}

#[test]
fn filtered_hosts_are_never_selected_and_the_last_filter_is_named() {
    let mut hosts = three_hosts();
    hosts[2].disabled = true; // h1
    let s = RequestSpec {
        ignore_hosts: vec!["h2".into()],
        ..spec()
    };
    let scheduler = Scheduler::from_config("spread");
    assert_eq!(names(&scheduler.select(&hosts, &s)), ["h3"]);

    let s = RequestSpec {
        resources: [("VCPU".to_string(), 2)].into_iter().collect(),
        ignore_hosts: vec!["h2".into()],
        ..spec()
    };
    let (left, why) = scheduler.select_explained(&hosts, &s);
    assert!(left.is_empty());
    assert_eq!(why, Some("ResourceFilter"), "h3 has only 1 VCPU free");

    let (left, why) = scheduler.select_explained(&[], &spec());
    assert!(left.is_empty());
    assert_eq!(why, None);
}

#[test]
fn anti_affinity_places_members_apart_until_hosts_run_out() {
    let scheduler = Scheduler::from_config("pack");
    let mut hosts = three_hosts();
    let placed = place_group(&scheduler, &mut hosts, "anti-affinity", 3);
    assert_eq!(
        placed,
        ["h3", "h2", "h1"],
        "pack would stack them, anti-affinity spreads"
    );

    let members: Vec<&str> = placed.iter().map(String::as_str).collect();
    let (left, why) =
        scheduler.select_explained(&hosts, &group_spec("anti-affinity", &members, None));
    assert!(left.is_empty(), "a fourth member has nowhere to go");
    assert_eq!(why, Some("ServerGroupAntiAffinityFilter"));

    let s = group_spec("anti-affinity", &members, Some(2));
    assert_eq!(
        names(&scheduler.select(&hosts, &s)),
        ["h2", "h1"],
        "max_server_per_host 2 reopens them (h3 has no VCPU left)"
    );
}

#[test]
fn affinity_places_members_together() {
    let scheduler = Scheduler::from_config("spread");
    let mut hosts = three_hosts();
    let placed = place_group(&scheduler, &mut hosts, "affinity", 4);
    assert_eq!(
        placed,
        ["h1", "h1", "h1", "h1"],
        "spread would move on, affinity stays"
    );

    // The members' host is full: affinity gives no host rather than another one.
    let full = with_used(hosts[2].clone(), "VCPU", 8);
    let hosts = vec![hosts[0].clone(), hosts[1].clone(), full];
    let (left, why) = scheduler.select_explained(&hosts, &group_spec("affinity", &["h1"], None));
    assert!(left.is_empty());
    assert_eq!(
        why,
        Some("ServerGroupAffinityFilter"),
        "h1 went first, then the others"
    );
}

#[test]
fn soft_affinity_prefers_the_members_host_but_does_not_require_it() {
    let scheduler = Scheduler::from_config("spread");
    let hosts = three_hosts();
    // Members on h3, the fullest host: the group weight beats spreading.
    let s = group_spec("soft-affinity", &["h3"], None);
    assert_eq!(names(&scheduler.select(&hosts, &s)), ["h3", "h1", "h2"]);
    // h3 cannot take it: the others still qualify.
    let s = RequestSpec {
        ignore_hosts: vec!["h3".into()],
        ..s
    };
    assert_eq!(names(&scheduler.select(&hosts, &s)), ["h1", "h2"]);
}

#[test]
fn soft_anti_affinity_prefers_other_hosts_but_does_not_require_them() {
    let scheduler = Scheduler::from_config("pack");
    let hosts = three_hosts();
    let s = group_spec("soft-anti-affinity", &["h3", "h2", "h2"], None);
    assert_eq!(names(&scheduler.select(&hosts, &s)), ["h1", "h3", "h2"]);
    // Every host has members: all remain candidates, fewest members first.
    let s = group_spec(
        "soft-anti-affinity",
        &["h3", "h2", "h2", "h1", "h1", "h1"],
        None,
    );
    assert_eq!(names(&scheduler.select(&hosts, &s)), ["h3", "h2", "h1"]);

    let mut hosts = three_hosts();
    let placed = place_group(&scheduler, &mut hosts, "soft-anti-affinity", 4);
    assert_eq!(
        placed,
        ["h3", "h2", "h1", "h2"],
        "apart first, then packed again (h3 has no VCPU left)"
    );
}

#[test]
fn ties_are_broken_by_host_name() {
    let hosts: Vec<HostState> = ["c", "a", "d", "b"].into_iter().map(host).collect();
    for weigh in ["spread", "pack"] {
        let scheduler = Scheduler::from_config(weigh);
        assert_eq!(
            names(&scheduler.select(&hosts, &spec())),
            ["a", "b", "c", "d"],
            "{weigh}"
        );
    }
}

#[test]
fn normalize_maps_onto_zero_to_one() {
    let cases: [(&[f64], &[f64]); 5] = [
        (&[], &[]),
        (&[5.0], &[0.0]),
        (&[3.0, 3.0], &[0.0, 0.0]),
        (&[0.0, 5.0, 10.0], &[0.0, 0.5, 1.0]),
        (&[-2.0, -1.0, 0.0], &[0.0, 0.5, 1.0]),
    ];
    for (input, want) in cases {
        let mut w = input.to_vec();
        normalize(&mut w);
        assert_eq!(w, want, "{input:?}");
    }
}

#[test]
fn multipliers_scale_each_normalised_weigher() {
    // RAM says h1, CPU says h2 twice as loudly.
    let h1 = with_used(host("h1"), "VCPU", 4);
    let h2 = with_used(host("h2"), "MEMORY_MB", 4096);
    let hosts = vec![h1, h2];
    let ram_only = Scheduler::new(vec![], vec![(Box::new(weighers::RamWeigher), 1.0)]);
    assert_eq!(names(&ram_only.select(&hosts, &spec())), ["h1", "h2"]);
    let both = Scheduler::new(
        vec![],
        vec![
            (Box::new(weighers::RamWeigher), 1.0),
            (Box::new(weighers::CpuWeigher), 2.0),
        ],
    );
    assert_eq!(names(&both.select(&hosts, &spec())), ["h2", "h1"]);
    let muted = Scheduler::new(
        vec![],
        vec![
            (Box::new(weighers::RamWeigher), 1.0),
            (Box::new(weighers::CpuWeigher), 0.0),
        ],
    );
    assert_eq!(names(&muted.select(&hosts, &spec())), ["h1", "h2"]);
}

struct CountingFilter(Arc<AtomicUsize>);

impl Filter for CountingFilter {
    fn name(&self) -> &'static str {
        "CountingFilter"
    }
    fn passes(&self, _host: &HostState, _spec: &RequestSpec) -> bool {
        self.0.fetch_add(1, Ordering::Relaxed);
        true
    }
}

struct CountingWeigher(Arc<AtomicUsize>);

impl Weigher for CountingWeigher {
    fn name(&self) -> &'static str {
        "CountingWeigher"
    }
    fn weigh(&self, host: &HostState, _spec: &RequestSpec) -> f64 {
        self.0.fetch_add(1, Ordering::Relaxed);
        host.free("MEMORY_MB") as f64
    }
}

#[test]
fn ten_thousand_hosts_take_one_pass_per_filter_and_one_weight_per_host() {
    let hosts: Vec<HostState> = (0..10_000)
        .map(|i| {
            let mut h = with_used(host(&format!("host{i:05}")), "MEMORY_MB", (i * 7919) % 7000);
            h.disabled = i % 10 == 0;
            h.instances = (0..20).map(|j| format!("vm-{i}-{j}")).collect();
            h
        })
        .collect();
    let filtered = Arc::new(AtomicUsize::new(0));
    let weighed = Arc::new(AtomicUsize::new(0));
    let mut filters = filters::defaults();
    filters.push(Box::new(CountingFilter(filtered.clone())));
    let mut weighers = weighers::defaults(1.0);
    weighers.push((Box::new(CountingWeigher(weighed.clone())), 1.0));
    let scheduler = Scheduler::new(filters, weighers);

    let s = group_spec("soft-anti-affinity", &["host00001", "host00002"], None);
    let picked = scheduler.select(&hosts, &s);
    assert_eq!(picked.len(), 9_000, "the disabled tenth is gone");
    assert_eq!(
        filtered.load(Ordering::Relaxed),
        9_000,
        "one filter call per survivor"
    );
    assert_eq!(
        weighed.load(Ordering::Relaxed),
        9_000,
        "one weight per host, computed once"
    );
    assert!(picked.iter().all(|h| !h.disabled));
    assert!(
        !picked[..100]
            .iter()
            .any(|h| h.host == "host00001" || h.host == "host00002"),
        "members' hosts are weighed down"
    );
    // Best first: free RAM never increases among hosts without members.
    let free: Vec<i64> = picked[..8_998]
        .iter()
        .map(|h| h.free("MEMORY_MB"))
        .collect();
    assert!(free.windows(2).all(|w| w[0] >= w[1]));
}
