//! The agent and the host's network agent: a VM's ports are wired before it boots, and its
//! NICs and network_data reach the driver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common_error::Error;
use compute_model::rpc::AgentRequest;
use compute_model::Vif;
use support::{spec, FakePlug, World};

const UUID: &str = "0b5b6c4e-3c0a-4bd4-9d1e-2f0b1d7e0c01";

fn nic(port: &str, n: u8) -> Vif {
    Vif {
        port_id: port.into(),
        network_id: "net1".into(),
        network_name: "private".into(),
        mac: format!("fa:16:3e:00:00:{n:02x}"),
        tap: format!("tap{port}"),
        ..Vif::default()
    }
}

fn networked(uuid: &str) -> compute_model::rpc::InstanceSpec {
    compute_model::rpc::InstanceSpec {
        nics: vec![nic("port-a", 1), nic("port-b", 2)],
        network_data: serde_json::json!({"links": [{"id": "tapport-a"}]}),
        ..spec(uuid)
    }
}

#[tokio::test]
async fn ports_are_plugged_before_the_vm_boots_with_its_nics() {
    let world = World::new().await;
    let plug = Arc::new(FakePlug::default());
    let agent = world.start_networked(world.config(), plug.clone()).await;
    world
        .call(AgentRequest::Spawn {
            spec: networked(UUID),
        })
        .await
        .unwrap();
    assert_eq!(
        *plug.plugged.lock().unwrap(),
        vec![vec!["port-a".to_string(), "port-b".to_string()]]
    );
    let vm = world.driver.spawned.lock().unwrap().pop().unwrap();
    let taps: Vec<(&str, &str)> = vm
        .nics
        .iter()
        .map(|n| (n.tap.as_str(), n.mac.as_str()))
        .collect();
    assert_eq!(
        taps,
        vec![
            ("tapport-a", "fa:16:3e:00:00:01"),
            ("tapport-b", "fa:16:3e:00:00:02")
        ]
    );
    let drive = vm.config_drive.unwrap();
    assert_eq!(drive.network_data["links"][0]["id"], "tapport-a");
    // Power on plugs again (ports wired already return at once).
    world
        .call(AgentRequest::PowerOff {
            uuid: UUID.into(),
            timeout_secs: 0,
        })
        .await
        .unwrap();
    world
        .call(AgentRequest::PowerOn {
            spec: networked(UUID),
        })
        .await
        .unwrap();
    assert_eq!(plug.plugged.lock().unwrap().len(), 2);
    agent.stop().await;
}

#[tokio::test]
async fn a_vm_whose_ports_are_not_wired_does_not_boot() {
    let world = World::new().await;
    let plug = Arc::new(FakePlug::default());
    plug.fail.store(true, Ordering::SeqCst);
    let agent = world.start_networked(world.config(), plug.clone()).await;
    let e = world
        .call(AgentRequest::Spawn {
            spec: networked(UUID),
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
    assert!(world.driver.spawned.lock().unwrap().is_empty());
    agent.stop().await;

    // A host without a network agent refuses instances with NICs, and boots the others.
    let agent = world.start(world.config()).await;
    let e = world
        .call(AgentRequest::Spawn {
            spec: networked(UUID),
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::BadRequest(_)), "{e:?}");
    world
        .call(AgentRequest::Spawn { spec: spec(UUID) })
        .await
        .unwrap();
    assert!(world.driver.spawned.lock().unwrap()[0].nics.is_empty());
    // A bad tap name never reaches the driver.
    let mut bad = networked("0b5b6c4e-3c0a-4bd4-9d1e-2f0b1d7e0c02");
    bad.nics[0].tap = "tap;rm -rf".into();
    let e = world
        .call(AgentRequest::Spawn { spec: bad })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::BadRequest(_)), "{e:?}");
    agent.stop().await;
}
