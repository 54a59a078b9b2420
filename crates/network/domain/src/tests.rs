//! Domain tests against a real SQLite file.

use common_config::NetworkConfig;
use common_db::Db;
use network_db::Store;

use crate::{Caller, Network};

pub(crate) async fn service() -> (Network, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("n.db").display());
    let db = Db::connect(&url, 4, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let store = Store::new(db);
    store.migrate().await.unwrap();
    let cfg = NetworkConfig {
        vni_range: "100:102".into(),
        ..NetworkConfig::default()
    };
    (Network::new(store, cfg), dir)
}

pub(crate) fn project(p: &str) -> Caller {
    Caller {
        user_id: format!("u-{p}"),
        project_id: Some(p.into()),
        is_admin: false,
    }
}

#[tokio::test]
async fn vnis_are_allocated_from_the_range_until_exhausted() {
    let (n, _d) = service().await;
    let a = project("a");
    let mut vnis = Vec::new();
    for _ in 0..3 {
        let net = n
            .network_create(
                &a,
                crate::NetworkCreate {
                    admin_state_up: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        vnis.push(net.segmentation_id.unwrap());
    }
    assert_eq!(vnis, vec![100, 101, 102]);
    let e = n
        .network_create(&a, crate::NetworkCreate::default())
        .await
        .unwrap_err();
    assert_eq!(e.status(), 503);
}

use network_model::errors::neutron_type;

fn admin() -> Caller {
    Caller::service()
}

async fn net_with_subnet(
    n: &Network,
    c: &Caller,
    cidr: &str,
) -> (network_model::Network, network_model::Subnet) {
    let net = n
        .network_create(
            c,
            crate::NetworkCreate {
                admin_state_up: true,
                port_security_enabled: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let sn = n
        .subnet_create(
            c,
            crate::SubnetCreate {
                network_id: net.id.clone(),
                ip_version: 4,
                cidr: Some(cidr.into()),
                enable_dhcp: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    (net, sn)
}

fn port_on(net: &str) -> crate::PortCreate {
    crate::PortCreate {
        network_id: net.into(),
        admin_state_up: true,
        device_owner: "compute:nova".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn subnet_defaults_dhcp_port_and_first_addresses() {
    let (n, _d) = service().await;
    let a = project("a");
    let (net, sn) = net_with_subnet(&n, &a, "10.0.0.7/24").await;
    assert_eq!(sn.cidr, "10.0.0.0/24");
    assert_eq!(sn.gateway_ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(sn.allocation_pools[0].start, "10.0.0.2");
    assert_eq!(sn.allocation_pools[0].end, "10.0.0.254");
    let dhcp = n
        .ports_by_device(&crate::subnet::dhcp_device_id(&net.id))
        .await
        .unwrap();
    assert_eq!(dhcp.len(), 1);
    assert_eq!(dhcp[0].fixed_ips[0].ip_address, "10.0.0.2");
    let p = n.port_create(&a, port_on(&net.id)).await.unwrap();
    assert_eq!(p.fixed_ips[0].ip_address, "10.0.0.3");
    assert!(p.mac_address.starts_with("fa:16:3e:"));
    assert_eq!(p.security_groups.len(), 1, "default group applied");
    assert_eq!(p.status, "DOWN");
}

#[tokio::test]
async fn overlapping_cidrs_only_conflict_on_one_network() {
    let (n, _d) = service().await;
    let a = project("a");
    let (net, _) = net_with_subnet(&n, &a, "10.0.0.0/24").await;
    let e = n
        .subnet_create(
            &a,
            crate::SubnetCreate {
                network_id: net.id.clone(),
                ip_version: 4,
                cidr: Some("10.0.0.128/25".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(neutron_type(&e).as_deref(), Some("InvalidInput"));
    assert!(
        e.to_string().contains("overlaps with another subnet"),
        "{e}"
    );
    // Another project, same CIDR: fine.
    net_with_subnet(&n, &project("b"), "10.0.0.0/24").await;
    let e = n
        .subnet_create(
            &a,
            crate::SubnetCreate {
                network_id: net.id.clone(),
                ip_version: 4,
                cidr: Some("10.0.0.0/33".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(
        e.to_string()
            .contains("'10.0.0.0/33' is not a valid IP subnet"),
        "{e}"
    );
}

#[tokio::test]
async fn fixed_ip_errors_create_nothing() {
    let (n, _d) = service().await;
    let a = project("a");
    let (net, sn) = net_with_subnet(&n, &a, "10.0.0.0/24").await;
    let mut req = port_on(&net.id);
    req.fixed_ips = Some(vec![crate::IpRequest {
        subnet_id: Some(sn.id.clone()),
        ip_address: Some("10.1.0.5".into()),
    }]);
    let e = n.port_create(&a, req).await.unwrap_err();
    assert_eq!(neutron_type(&e).as_deref(), Some("InvalidIpForSubnet"));
    let mut req = port_on(&net.id);
    req.fixed_ips = Some(vec![crate::IpRequest {
        subnet_id: None,
        ip_address: Some("10.0.0.9".into()),
    }]);
    n.port_create(&a, req.clone()).await.unwrap();
    let e = n.port_create(&a, req).await.unwrap_err();
    assert_eq!(e.status(), 409);
    assert_eq!(
        neutron_type(&e).as_deref(),
        Some("IpAddressAlreadyAllocated")
    );
    let ports = n.port_list(&a, Default::default()).await.unwrap();
    assert_eq!(ports.len(), 2, "DHCP port and the one good port");
    // Network in use, then deletable once the port is gone (the DHCP port goes with it).
    let e = n.network_delete(&a, &net.id).await.unwrap_err();
    assert_eq!(neutron_type(&e).as_deref(), Some("NetworkInUse"));
    let vm = ports.iter().find(|p| p.is_compute()).unwrap();
    n.port_delete(&a, &vm.id).await.unwrap();
    n.network_delete(&a, &net.id).await.unwrap();
    assert!(n
        .port_list(&admin(), Default::default())
        .await
        .unwrap()
        .is_empty());
    assert!(n.subnet_list(&admin()).await.unwrap().is_empty());
}

#[tokio::test]
async fn fifty_concurrent_ports_get_distinct_addresses() {
    let (n, _d) = service().await;
    let a = project("a");
    let (net, _) = net_with_subnet(&n, &a, "10.0.0.0/24").await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (n, a, id) = (n.clone(), a.clone(), net.id.clone());
        tasks.push(tokio::spawn(async move {
            n.port_create(&a, port_on(&id)).await
        }));
    }
    let mut ips = std::collections::HashSet::new();
    for t in tasks {
        let p = t.await.unwrap().unwrap();
        assert!(ips.insert(p.fixed_ips[0].ip_address.clone()));
    }
    assert_eq!(ips.len(), 50);
}

#[tokio::test]
async fn default_group_is_created_once_with_four_rules() {
    let (n, _d) = service().await;
    let a = project("a");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let n = n.clone();
        tasks.push(tokio::spawn(
            async move { n.security_group_default("a").await },
        ));
    }
    let ids: std::collections::HashSet<String> = futures_join(tasks).await.into_iter().collect();
    assert_eq!(ids.len(), 1);
    let groups = n.security_group_list(&a).await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].rules.len(), 4);
    let rule = crate::RuleCreate {
        security_group_id: groups[0].id.clone(),
        direction: "ingress".into(),
        protocol: Some("tcp".into()),
        port_range_min: Some(22),
        port_range_max: Some(22),
        remote_ip_prefix: Some("0.0.0.0/0".into()),
        ..Default::default()
    };
    n.security_group_rule_create(&a, rule.clone())
        .await
        .unwrap();
    let e = n.security_group_rule_create(&a, rule).await.unwrap_err();
    assert_eq!(neutron_type(&e).as_deref(), Some("SecurityGroupRuleExists"));
    let e = n
        .security_group_delete(&a, &groups[0].id)
        .await
        .unwrap_err();
    assert_eq!(
        neutron_type(&e).as_deref(),
        Some("SecurityGroupCannotRemoveDefault")
    );
}

async fn futures_join(
    tasks: Vec<tokio::task::JoinHandle<common_error::Result<String>>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn quota_counts_inside_the_transaction() {
    let (n, _d) = service().await;
    let a = project("a");
    n.quota_update("a", &[("network".to_string(), 1)].into())
        .await
        .unwrap();
    n.network_create(&a, crate::NetworkCreate::default())
        .await
        .unwrap();
    let e = n
        .network_create(&a, crate::NetworkCreate::default())
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409);
    assert_eq!(neutron_type(&e).as_deref(), Some("OverQuota"));
    assert_eq!(n.quota_details("a").await.unwrap()["network"].used, 1);
}

#[tokio::test]
async fn host_plan_carries_dhcp_bound_ports_and_their_groups() {
    let (n, _d) = service().await;
    let a = project("a");
    let (net, _) = net_with_subnet(&n, &a, "10.0.0.0/24").await;
    let mut req = port_on(&net.id);
    req.binding_host_id = Some("h1".into());
    let p = n
        .port_create(
            &admin(),
            crate::PortCreate {
                project_id: Some("a".into()),
                ..req
            },
        )
        .await
        .unwrap();
    let rx = n.subscribe();
    let plan = n.host_plan("h1").await.unwrap();
    assert_eq!(plan.networks.len(), 1);
    let dhcp = plan.networks[0].dhcp.as_ref().unwrap();
    assert_eq!(dhcp.hosts.len(), 1);
    assert_eq!(dhcp.hosts[0].ip_address, p.fixed_ips[0].ip_address);
    assert_eq!(dhcp.hosts[0].hostname, "host-10-0-0-3");
    assert_eq!(plan.ports.len(), 1);
    let sec = plan.ports[0].security.as_ref().unwrap();
    assert_eq!(sec.security_groups, p.security_groups);
    assert_eq!(plan.security_groups.len(), 1);
    assert_eq!(plan.security_groups[0].rules.len(), 4);
    assert_eq!(
        plan.security_groups[0].member_ips,
        vec!["10.0.0.3".to_string()]
    );
    n.set_ports_status("h1", std::slice::from_ref(&p.id))
        .await
        .unwrap();
    assert_eq!(n.port_get(&a, &p.id).await.unwrap().status, "ACTIVE");
    n.port_update(
        &a,
        &p.id,
        crate::PortUpdate {
            name: Some("x".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(rx.has_changed().unwrap());
    let found = n
        .port_for_address(&net.id, "10.0.0.3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, p.id);
    assert!(n.host_plan("other").await.unwrap().ports.is_empty());
}

#[tokio::test]
async fn other_projects_see_nothing_but_shared_networks() {
    let (n, _d) = service().await;
    let (a, b) = (project("a"), project("b"));
    let (net, _) = net_with_subnet(&n, &a, "10.0.0.0/24").await;
    assert_eq!(n.network_get(&b, &net.id).await.unwrap_err().status(), 404);
    let e = n.port_create(&b, port_on(&net.id)).await.unwrap_err();
    assert_eq!(e, common_error::Error::not_found("network", net.id.clone()));
    n.network_update(
        &a,
        &net.id,
        crate::NetworkUpdate {
            shared: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(n.network_get(&b, &net.id).await.is_ok());
    let p = n.port_create(&b, port_on(&net.id)).await.unwrap();
    assert_eq!(p.project_id, "b");
}
