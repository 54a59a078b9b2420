//! Domain tests for servers with networks: requests checked up front with Nova's errors
//! (nothing created), ports allocated per NIC and given to the agent, undone when a build
//! fails or a restart interrupts it at any step, freed by delete (the user's own port
//! unbound, not deleted), kept across shelve, and the addresses views show.

use common_error::Error;
use compute_model::{PowerState, VmState};

use super::*;
use crate::workflows::build::Build;
use crate::workflows::engine::Workflow;
use crate::workflows::failpoint::{self, Point};
use crate::workflows::testkit::{create_req, ctx, Env};

fn on(list: Vec<NetworkRequest>) -> ServerCreate {
    ServerCreate {
        networks: Some(Networks::List(list)),
        ..create_req("vm")
    }
}

fn net(uuid: &str) -> NetworkRequest {
    NetworkRequest {
        uuid: Some(uuid.into()),
        ..NetworkRequest::default()
    }
}

async fn boot(env: &Env, project: &str, req: ServerCreate) -> Instance {
    let made = env.compute.server_create(&ctx(project), req).await.unwrap();
    env.settle(&made[0].uuid).await;
    env.get(&made[0].uuid).await
}

#[tokio::test]
async fn a_server_gets_one_port_per_nic_in_order_and_the_agent_its_nics() {
    let env = Env::networked(1).await;
    let a = env.net().add_network("p1", "private", false, false);
    let b = env.net().add_network("p1", "second", false, false);
    let mut second = net(&b);
    second.tag = Some("db".into());
    let i = boot(&env, "p1", on(vec![net(&a), second])).await;
    assert_eq!(i.vm_state, VmState::Active);
    let vifs = env.compute.store.instance_vifs(&i.uuid).await.unwrap();
    assert_eq!(vifs.len(), 2);
    assert_eq!(
        (vifs[0].network_id.as_str(), vifs[1].network_id.as_str()),
        (a.as_str(), b.as_str())
    );
    assert_eq!(vifs[1].tag.as_deref(), Some("db"));
    for v in &vifs {
        let p = env.net().port(&v.port_id).unwrap();
        assert_eq!(p.info.device_id, i.uuid);
        assert_eq!(p.info.device_owner, "compute:nova");
        assert_eq!(p.host, "h1");
        assert_eq!(p.security_groups, vec!["sg-default-p1".to_string()]);
    }
    let spec = env.agent("h1").spawned().pop().unwrap();
    assert_eq!(spec.nics, vifs);
    assert_eq!(
        spec.network_data["links"][0]["vif_id"],
        vifs[0].port_id.as_str()
    );
    assert_eq!(spec.network_data["networks"][1]["network_id"], b.as_str());

    let n = env
        .compute
        .server_networking(std::slice::from_ref(&i.uuid))
        .await
        .unwrap();
    let addrs = &n[&i.uuid].addresses;
    assert_eq!(addrs["private"][0].addr, vifs[0].fixed_ips[0].ip_address);
    assert_eq!(addrs["private"][0].kind, "fixed");
    assert_eq!(addrs["second"][0].mac, vifs[1].mac);
    assert_eq!(n[&i.uuid].security_groups, vec!["default".to_string()]);
    // The network service down: views fall back to the recorded NICs.
    *env.net().down.lock().unwrap() = true;
    let n = env
        .compute
        .server_networking(std::slice::from_ref(&i.uuid))
        .await
        .unwrap();
    assert_eq!(
        n[&i.uuid].addresses["second"][0].addr,
        vifs[1].fixed_ips[0].ip_address
    );
    *env.net().down.lock().unwrap() = false;

    env.compute
        .server_delete(&ctx("p1"), &i.uuid, false)
        .await
        .unwrap();
    env.settle(&i.uuid).await;
    assert!(env.net().port_ids().is_empty(), "delete removes the ports");
    assert!(env
        .compute
        .store
        .instance_vifs(&i.uuid)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn auto_and_unspecified_take_the_one_network_and_refuse_ambiguity() {
    let env = Env::networked(1).await;
    // No network: `auto` cannot allocate one; unspecified (before 2.37) boots without a NIC.
    let auto = ServerCreate {
        networks: Some(Networks::Auto),
        ..create_req("vm")
    };
    let e = env
        .compute
        .server_create(&ctx("p1"), auto.clone())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        Error::BadRequest("Unable to automatically allocate a network for project p1".into())
    );
    let unspecified = ServerCreate {
        networks: Some(Networks::Unspecified),
        ..create_req("vm")
    };
    let i = boot(&env, "p1", unspecified.clone()).await;
    assert!(env
        .compute
        .store
        .instance_vifs(&i.uuid)
        .await
        .unwrap()
        .is_empty());

    let mine = env.net().add_network("p1", "private", false, false);
    env.net().add_network("p2", "theirs", false, false);
    env.net().add_network("admin", "public", false, true);
    let i = boot(&env, "p1", auto.clone()).await;
    let vifs = env.compute.store.instance_vifs(&i.uuid).await.unwrap();
    assert_eq!(vifs.len(), 1);
    assert_eq!(vifs[0].network_id, mine);

    env.net().add_network("admin", "shared", true, false);
    let before = env.net().port_ids();
    for req in [auto, unspecified] {
        let e = env
            .compute
            .server_create(&ctx("p1"), req)
            .await
            .unwrap_err();
        assert_eq!(
            e,
            Error::Conflict("More than one possible network found. Specify network ID(s) to select which one(s) to connect to.".into())
        );
    }
    assert_eq!(env.net().port_ids(), before);
}

#[tokio::test]
async fn bad_network_requests_get_novas_errors_and_create_nothing() {
    let env = Env::networked(1).await;
    let mine = env.net().add_network("p1", "private", false, false);
    let theirs = env.net().add_network("p2", "theirs", false, false);
    let public = env.net().add_network("admin", "public", false, true);
    let their_port = env.net().add_port("p2", &theirs);
    let taken = env.net().add_port("p1", &mine);
    env.net()
        .ports
        .lock()
        .unwrap()
        .get_mut(&taken)
        .unwrap()
        .info
        .device_id = "other-vm".into();
    let used_ip = env.net().port(&taken).unwrap().info.fixed_ips[0]
        .ip_address
        .clone();
    let free = env.net().add_port("p1", &mine);
    let ghost = "3b5d8c1e-7f0a-4e2b-9c6d-0123456789ab";
    let port = |id: &str| NetworkRequest {
        port: Some(id.into()),
        ..NetworkRequest::default()
    };
    let fixed = |ip: &str| NetworkRequest {
        fixed_ip: Some(ip.into()),
        ..net(&mine)
    };
    let bad = |m: String| Error::BadRequest(m);
    let cases: Vec<(ServerCreate, Error)> = vec![
        (on(vec![net(ghost)]), bad(format!("Network {ghost} could not be found."))),
        (on(vec![net(&theirs)]), bad(format!("Network {theirs} could not be found."))),
        (
            on(vec![net(&public)]),
            Error::Forbidden(format!("It is not allowed to create an interface on external network {public}")),
        ),
        (on(vec![port(ghost)]), bad(format!("Port id {ghost} could not be found."))),
        (on(vec![port(&their_port)]), bad(format!("Port id {their_port} could not be found."))),
        (on(vec![port(&taken)]), Error::Conflict(format!("Port {taken} is still in use."))),
        (
            ServerCreate { max_count: 2, ..on(vec![port(&free)]) },
            bad("Failed to launch instances: Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.".into()),
        ),
        (
            on(vec![fixed("192.0.2.9")]),
            bad(format!("Invalid input received: Fixed IP 192.0.2.9 is not a valid ip address for network {mine}.")),
        ),
        (
            on(vec![fixed(&used_ip)]),
            bad(format!("Fixed IP address {used_ip} is already in use on instance other-vm.")),
        ),
        (
            ServerCreate { max_count: 2, ..on(vec![fixed("10.0.0.50")]) },
            bad("Failed to launch instances: max_count cannot be greater than 1 if an fixed_ip is specified.".into()),
        ),
        (
            ServerCreate { security_groups: vec!["web".into()], ..on(vec![net(&mine)]) },
            bad("Security group web not found.".into()),
        ),
    ];
    let ports = env.net().port_ids();
    for (req, want) in cases {
        let e = env
            .compute
            .server_create(&ctx("p1"), req)
            .await
            .unwrap_err();
        assert_eq!(e, want);
    }
    assert_eq!(env.net().port_ids(), ports, "no port made");
    assert_eq!(
        env.usage("p1").await.get("instances").copied().unwrap_or(0),
        0
    );
    let all = env
        .compute
        .server_list(&ctx("p1"), &ServerFilter::default())
        .await
        .unwrap();
    assert!(all.is_empty(), "no server made");
}

#[tokio::test]
async fn a_users_port_is_bound_then_unbound_and_a_fixed_ip_is_honoured() {
    let env = Env::networked(1).await;
    let mine = env.net().add_network("p1", "private", false, false);
    let own = env.net().add_port("p1", &mine);
    let req = on(vec![
        NetworkRequest {
            port: Some(own.clone()),
            ..NetworkRequest::default()
        },
        NetworkRequest {
            fixed_ip: Some("10.0.0.50".into()),
            ..net(&mine)
        },
    ]);
    let i = boot(&env, "p1", req).await;
    let vifs = env.compute.store.instance_vifs(&i.uuid).await.unwrap();
    assert_eq!(vifs[0].port_id, own);
    assert!(vifs[0].preserve);
    assert_eq!(vifs[1].fixed_ips[0].ip_address, "10.0.0.50");
    assert_eq!(env.net().port(&own).unwrap().info.device_id, i.uuid);
    env.compute
        .server_delete(&ctx("p1"), &i.uuid, false)
        .await
        .unwrap();
    env.settle(&i.uuid).await;
    let p = env.net().port(&own).expect("the user's port stays");
    assert_eq!((p.info.device_id.as_str(), p.host.as_str()), ("", ""));
    assert_eq!(env.net().port_ids().len(), 1, "compute's port is deleted");
}

#[tokio::test]
async fn a_failed_allocation_or_spawn_frees_every_port() {
    let env = Env::networked(1).await;
    let mine = env.net().add_network("p1", "private", false, false);
    let own = env.net().add_port("p1", &mine);
    // The second created port fails: the first and the user's port are freed.
    *env.net().fail_create_after.lock().unwrap() = Some(1);
    let req = on(vec![
        NetworkRequest {
            port: Some(own.clone()),
            ..NetworkRequest::default()
        },
        net(&mine),
        net(&mine),
    ]);
    let i = boot(&env, "p1", req).await;
    assert_eq!(i.vm_state, VmState::Error);
    assert_eq!(env.net().port_ids().len(), 1);
    assert_eq!(env.net().port(&own).unwrap().info.device_id, "");
    assert!(env.placement.of(&i.uuid).is_empty());
    *env.net().fail_create_after.lock().unwrap() = None;

    // A failed spawn undoes the ports too.
    env.agent("h1").fail.lock().unwrap().insert("spawn".into());
    let i = boot(&env, "p1", on(vec![net(&mine)])).await;
    assert_eq!(i.vm_state, VmState::Error);
    assert_eq!(env.net().port_ids().len(), 1);
    assert!(env
        .compute
        .store
        .instance_vifs(&i.uuid)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_build_interrupted_at_any_step_leaks_no_port() {
    for step in Build::STEPS {
        for point in [Point::Started, Point::Ran, Point::Done] {
            let mut env = Env::networked(1).await;
            let scope = format!("netbuild-{step}-{point:?}");
            let mine = env.net().add_network(&scope, "private", false, false);
            failpoint::arm(&scope, "build", step, point);
            let made = env
                .compute
                .server_create(&ctx(&scope), on(vec![net(&mine)]))
                .await
                .unwrap();
            let uuid = made[0].uuid.clone();
            env.until(|| async { failpoint::fired(&scope) > 0 && env.conductor().running() == 0 })
                .await;
            env.restart().await;
            env.settle(&uuid).await;
            let i = env.get(&uuid).await;
            let case = format!("{step}/{point:?}");
            if *step == "finish" && point != Point::Started {
                assert_eq!(i.vm_state, VmState::Active, "{case}");
                assert_eq!(env.net().ports_of(&uuid).len(), 1, "{case}");
                continue;
            }
            assert_eq!(i.vm_state, VmState::Error, "{case}");
            assert!(env.net().port_ids().is_empty(), "{case}: no port left");
            assert!(
                env.compute
                    .store
                    .instance_vifs(&uuid)
                    .await
                    .unwrap()
                    .is_empty(),
                "{case}"
            );
        }
    }
}

#[tokio::test]
async fn shelved_servers_keep_their_ports_and_power_on_gets_the_nics() {
    let env = Env::networked(2).await;
    let mine = env.net().add_network("p1", "private", false, false);
    let i = boot(&env, "p1", on(vec![net(&mine)])).await;
    let vifs = env.compute.store.instance_vifs(&i.uuid).await.unwrap();
    let p1 = ctx("p1");
    env.compute.server_stop(&p1, &i.uuid).await.unwrap();
    env.settle(&i.uuid).await;
    env.compute.server_start(&p1, &i.uuid).await.unwrap();
    env.settle(&i.uuid).await;
    let host = env.get(&i.uuid).await.host.unwrap();
    let started = env
        .agent(&host)
        .calls
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find_map(|r| match r {
            compute_model::rpc::AgentRequest::PowerOn { spec } => Some(spec.clone()),
            _ => None,
        });
    assert_eq!(started.unwrap().nics, vifs);

    env.compute.server_shelve(&p1, &i.uuid).await.unwrap();
    env.settle(&i.uuid).await;
    assert_eq!(env.get(&i.uuid).await.vm_state, VmState::ShelvedOffloaded);
    assert_eq!(
        env.net().ports_of(&i.uuid).len(),
        1,
        "ports stay while shelved"
    );
    env.compute.server_unshelve(&p1, &i.uuid).await.unwrap();
    env.settle(&i.uuid).await;
    let after = env.get(&i.uuid).await;
    assert_eq!(
        (after.vm_state, after.power_state),
        (VmState::Active, PowerState::Running)
    );
    let p = env.net().port(&vifs[0].port_id).unwrap();
    assert_eq!(Some(p.host), after.host, "bound to the new host");
}
