//! The compute agent driven over the in-process bus, with the fake driver underneath and
//! test doubles for the image and placement ports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common_error::Error;
use compute_agent::{BASE_DIR, NODE_UUID_FILE};
use compute_model::rpc::{AgentRequest, ConductorReport, ConsoleReply, StatesReply, SyncReply};
use compute_model::PowerState;
use compute_virt::VirtDriver;
use support::*;

#[tokio::test]
async fn spawn_then_power_operations_and_console_over_the_bus() {
    let w = World::new().await;
    let agent = w.start(w.config()).await;
    let r = AgentRequest::Spawn { spec: spec("a1") };
    assert_eq!(
        power_state(w.call(r.clone()).await.unwrap()),
        PowerState::Running
    );
    assert_eq!(
        power_state(w.call(r.clone()).await.unwrap()),
        PowerState::Running,
        "a replayed spawn succeeds"
    );

    let steps = [
        (
            AgentRequest::PowerOff {
                uuid: "a1".into(),
                timeout_secs: 5,
            },
            PowerState::Shutdown,
        ),
        (
            AgentRequest::PowerOn { spec: spec("a1") },
            PowerState::Running,
        ),
        (
            AgentRequest::Reboot {
                uuid: "a1".into(),
                hard: false,
            },
            PowerState::Running,
        ),
        (
            AgentRequest::Pause { uuid: "a1".into() },
            PowerState::Paused,
        ),
        (
            AgentRequest::Unpause { uuid: "a1".into() },
            PowerState::Running,
        ),
        (
            AgentRequest::Suspend { uuid: "a1".into() },
            PowerState::Suspended,
        ),
        (
            AgentRequest::Resume { spec: spec("a1") },
            PowerState::Running,
        ),
        (
            AgentRequest::Resize { spec: spec("a1") },
            PowerState::Running,
        ),
    ];
    for (request, want) in steps {
        let got = power_state(w.call(request.clone()).await.unwrap());
        assert_eq!(got, want, "{request:?}");
        assert_eq!(
            w.fake.info("a1").await.unwrap().power_state,
            want,
            "{request:?}"
        );
    }

    let console = |length| AgentRequest::ConsoleOutput {
        uuid: "a1".into(),
        length,
    };
    let all: ConsoleReply = serde_json::from_value(w.call(console(None)).await.unwrap()).unwrap();
    assert!(
        all.output.starts_with("fake: vm-a1 booted\n"),
        "{}",
        all.output
    );
    assert!(all.output.contains("fake: power off\n"), "{}", all.output);
    let last: ConsoleReply =
        serde_json::from_value(w.call(console(Some(1))).await.unwrap()).unwrap();
    assert_eq!(last.output, "fake: resized\n");
    let two: ConsoleReply =
        serde_json::from_value(w.call(console(Some(2))).await.unwrap()).unwrap();
    assert_eq!(two.output, "fake: resume\nfake: resized\n");

    let states: StatesReply =
        serde_json::from_value(w.call(AgentRequest::PowerStates {}).await.unwrap()).unwrap();
    assert_eq!(
        states.states.into_iter().collect::<Vec<_>>(),
        [("a1".to_string(), PowerState::Running)]
    );

    let destroy = AgentRequest::Destroy { uuid: "a1".into() };
    assert_eq!(
        w.call(destroy.clone()).await.unwrap(),
        serde_json::json!({})
    );
    assert_eq!(
        w.call(destroy.clone()).await.unwrap(),
        serde_json::json!({}),
        "destroy is idempotent"
    );
    assert!(w.fake.list().await.unwrap().is_empty());
    agent.stop().await;
}

#[tokio::test]
async fn the_image_is_downloaded_once_for_concurrent_and_later_spawns() {
    let w = World::new().await;
    let agent = w.start(w.config()).await;
    let (a, b) = tokio::join!(
        w.call(AgentRequest::Spawn { spec: spec("a1") }),
        w.call(AgentRequest::Spawn { spec: spec("a2") }),
    );
    assert_eq!(power_state(a.unwrap()), PowerState::Running);
    assert_eq!(power_state(b.unwrap()), PowerState::Running);
    w.call(AgentRequest::Spawn { spec: spec("a3") })
        .await
        .unwrap();
    assert_eq!(w.images.downloads.load(Ordering::SeqCst), 1);

    let base = w.dir.path().join(BASE_DIR);
    assert_eq!(
        std::fs::read(base.join(IMAGE)).unwrap(),
        b"QFI\xfb fake qcow2 image"
    );
    assert_eq!(
        std::fs::read_to_string(base.join(format!("{IMAGE}.format"))).unwrap(),
        "qcow2"
    );
    let mut names: Vec<String> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [IMAGE.to_string(), format!("{IMAGE}.format")],
        "no temp files left"
    );
    agent.stop().await;

    // A restarted agent uses the cache it left.
    let agent = w.start(w.config()).await;
    w.call(AgentRequest::Spawn { spec: spec("a4") })
        .await
        .unwrap();
    assert_eq!(w.images.downloads.load(Ordering::SeqCst), 1);
    agent.stop().await;
}

#[tokio::test]
async fn heartbeats_reach_the_conductor_at_start_and_periodically() {
    let mut w = World::new().await;
    let cfg = compute_agent::AgentConfig {
        heartbeat: Duration::from_millis(20),
        availability_zone: "az1".into(),
        host_ip: "192.0.2.10".into(),
        ..w.config()
    };
    let agent = w.start(cfg).await;
    let mut beats = Vec::new();
    while beats.len() < 3 {
        let service = w
            .next_report(|r| match r {
                ConductorReport::Heartbeat { service } => Some(service),
                _ => None,
            })
            .await;
        beats.push(service);
    }
    let s = &beats[2];
    assert_eq!(s.host, HOST);
    assert_eq!(s.binary, "nova-compute");
    assert_eq!(s.node_uuid, agent.node_uuid());
    assert_eq!(s.availability_zone, "az1");
    assert_eq!(s.host_ip, "192.0.2.10");
    assert_eq!(
        (s.hypervisor_type.as_str(), s.hypervisor_version),
        ("fake", 1000)
    );
    assert_eq!((s.vcpus, s.memory_mb, s.local_gb), (8, 16384, 200));
    assert!(!s.disabled && !s.forced_down);
    assert!(
        beats.iter().all(|b| b.uuid == s.uuid),
        "one service uuid per run"
    );
    assert_eq!(
        w.nodes.calls.lock().unwrap().len(),
        1,
        "the unchanged node is reported once"
    );
    agent.stop().await;
}

#[tokio::test]
async fn power_sync_reports_a_vm_that_stopped_on_its_own_and_nothing_the_agent_did() {
    let mut w = World::new().await;
    let cfg = compute_agent::AgentConfig {
        power_sync: Duration::from_millis(10),
        ..w.config()
    };
    let agent = w.start(cfg).await;
    w.call(AgentRequest::Spawn { spec: spec("a1") })
        .await
        .unwrap();
    w.call(AgentRequest::Spawn { spec: spec("a2") })
        .await
        .unwrap();
    w.call(AgentRequest::Pause { uuid: "a1".into() })
        .await
        .unwrap();
    // Several sync rounds see a1 paused by the agent: no report.
    w.driver.wait_lists(3).await;

    // The guest in a2 powers itself off (the driver is used directly, not the agent).
    w.fake
        .power_off("a2", Duration::from_secs(1))
        .await
        .unwrap();
    let (uuid, state) = w
        .next_report(|r| match r {
            ConductorReport::PowerStateChanged { uuid, power_state } => Some((uuid, power_state)),
            _ => None,
        })
        .await;
    assert_eq!((uuid.as_str(), state), ("a2", PowerState::Shutdown));

    // Reported once: later rounds see no new change.
    w.driver.wait_lists(3).await;
    while let Ok(r) = w.reports.try_recv() {
        assert!(
            !matches!(r, ConductorReport::PowerStateChanged { .. }),
            "{r:?}"
        );
    }
    agent.stop().await;
}

#[tokio::test]
async fn sync_destroys_the_vms_the_control_plane_does_not_know() {
    let w = World::new().await;
    let agent = w.start(w.config()).await;
    for uuid in ["a1", "a2", "a3"] {
        w.call(AgentRequest::Spawn { spec: spec(uuid) })
            .await
            .unwrap();
    }
    let r = w
        .call(AgentRequest::Sync {
            keep: vec!["a2".into(), "gone".into()],
        })
        .await
        .unwrap();
    let reply: SyncReply = serde_json::from_value(r).unwrap();
    assert_eq!(reply.destroyed, ["a1", "a3"]);
    assert_eq!(w.fake.list().await.unwrap(), ["a2"]);
    let r = w
        .call(AgentRequest::Sync {
            keep: vec!["a2".into()],
        })
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_value::<SyncReply>(r).unwrap().destroyed,
        Vec::<String>::new()
    );
    agent.stop().await;
}

#[tokio::test]
async fn the_node_uuid_is_stable_across_restarts_and_reported_to_placement() {
    let w = World::new().await;
    let first = w.start(w.config()).await;
    let uuid = first.node_uuid().to_string();
    first.stop().await;
    let text = std::fs::read_to_string(w.dir.path().join(NODE_UUID_FILE)).unwrap();
    assert_eq!(text.trim(), uuid);
    let second = w.start(w.config()).await;
    assert_eq!(second.node_uuid(), uuid);
    second.stop().await;

    let calls = w.nodes.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "one report per start");
    for (node, name, inv) in calls {
        assert_eq!((node.as_str(), name.as_str()), (uuid.as_str(), HOST));
        let vcpu = &inv["VCPU"];
        assert_eq!(
            (
                vcpu.total,
                vcpu.reserved,
                vcpu.max_unit,
                vcpu.allocation_ratio
            ),
            (8, 0, 8, 16.0)
        );
        let ram = &inv["MEMORY_MB"];
        assert_eq!(
            (ram.total, ram.reserved, ram.max_unit, ram.allocation_ratio),
            (16384, 512, 16384, 1.5)
        );
        let disk = &inv["DISK_GB"];
        assert_eq!(
            (
                disk.total,
                disk.reserved,
                disk.max_unit,
                disk.allocation_ratio
            ),
            (200, 0, 200, 1.0)
        );
    }
}

#[tokio::test]
async fn bad_requests_come_back_as_errors_and_the_agent_keeps_serving() {
    let w = World::new().await;
    let agent = w.start(w.config()).await;
    let bad = |r: Result<serde_json::Value, Error>| match r {
        Err(Error::BadRequest(m)) => m,
        other => panic!("expected BadRequest, got {other:?}"),
    };
    bad(w.call_raw("launch_missiles", serde_json::json!({})).await);
    bad(w.call_raw("pause", serde_json::json!({"uuid": 7})).await);
    bad(w.call_raw("spawn", serde_json::Value::Null).await);
    bad(w
        .call(AgentRequest::Pause {
            uuid: "../../etc".into(),
        })
        .await);
    bad(w
        .call(AgentRequest::Snapshot {
            uuid: "a1".into(),
            image_id: "../x".into(),
        })
        .await);
    let mut s = spec("a1");
    s.image_id = "../../../etc/passwd".into();
    bad(w.call(AgentRequest::Spawn { spec: s }).await);
    let mut s = spec("a1");
    s.user_data = Some("not base64!".into());
    bad(w.call(AgentRequest::Spawn { spec: s }).await);
    let mut s = spec("a1");
    s.vcpus = 0;
    bad(w.call(AgentRequest::Spawn { spec: s }).await);

    let unknown = [
        AgentRequest::PowerOff {
            uuid: "nope".into(),
            timeout_secs: u64::MAX,
        },
        AgentRequest::Pause {
            uuid: "nope".into(),
        },
        AgentRequest::Reboot {
            uuid: "nope".into(),
            hard: false,
        },
        AgentRequest::ConsoleOutput {
            uuid: "nope".into(),
            length: Some(5),
        },
        AgentRequest::Snapshot {
            uuid: "nope".into(),
            image_id: "img1".into(),
        },
        AgentRequest::PowerOn { spec: spec("nope") },
    ];
    for request in unknown {
        let err = w.call(request.clone()).await.unwrap_err();
        assert_eq!(err, Error::not_found("instance", "nope"), "{request:?}");
    }

    let mut s = spec("a1");
    s.image_id = "missing-image".into();
    let err = w.call(AgentRequest::Spawn { spec: s }).await.unwrap_err();
    assert_eq!(err, Error::not_found("image", "missing-image"));

    w.call(AgentRequest::Spawn { spec: spec("a1") })
        .await
        .unwrap();
    w.call(AgentRequest::Pause { uuid: "a1".into() })
        .await
        .unwrap();
    let err = w
        .call(AgentRequest::Reboot {
            uuid: "a1".into(),
            hard: false,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict(_)),
        "soft reboot of a paused VM: {err:?}"
    );
    let state = power_state(
        w.call(AgentRequest::PowerOff {
            uuid: "a1".into(),
            timeout_secs: u64::MAX,
        })
        .await
        .unwrap(),
    );
    assert_eq!(
        state,
        PowerState::Shutdown,
        "a huge timeout is capped, not a panic"
    );
    agent.stop().await;
}

#[tokio::test]
async fn snapshot_uploads_the_disk_and_leaves_no_temp_file() {
    let w = World::new().await;
    let agent = w.start(w.config()).await;
    w.call(AgentRequest::Spawn { spec: spec("a1") })
        .await
        .unwrap();
    let r = w
        .call(AgentRequest::Snapshot {
            uuid: "a1".into(),
            image_id: "snap1".into(),
        })
        .await
        .unwrap();
    assert_eq!(r, serde_json::json!({}));
    assert_eq!(
        w.images.uploads.lock().unwrap()["snap1"],
        b"fake snapshot\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".snapshot"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    agent.stop().await;
}

#[tokio::test]
async fn operations_on_one_vm_are_serialised_and_different_vms_run_in_parallel() {
    let w = World::new().await;
    let agent = w.start(w.config()).await;
    w.call(AgentRequest::Spawn { spec: spec("a1") })
        .await
        .unwrap();
    w.call(AgentRequest::Spawn { spec: spec("a2") })
        .await
        .unwrap();

    // Two hard reboots meet at a barrier of two inside the driver: they finish only if the
    // agent runs them at the same time.
    let (a, b) = tokio::join!(
        w.call(AgentRequest::Reboot {
            uuid: "a1".into(),
            hard: true
        }),
        w.call(AgentRequest::Reboot {
            uuid: "a2".into(),
            hard: true
        }),
    );
    assert_eq!(
        (power_state(a.unwrap()), power_state(b.unwrap())),
        (PowerState::Running, PowerState::Running)
    );

    // Many soft reboots of one VM at once: never two in the driver together.
    let calls = (0..8).map(|_| {
        w.call(AgentRequest::Reboot {
            uuid: "a1".into(),
            hard: false,
        })
    });
    for r in futures_join_all(calls).await {
        assert_eq!(power_state(r.unwrap()), PowerState::Running);
    }
    assert_eq!(w.driver.max_in_flight_per_vm.load(Ordering::SeqCst), 1);
    agent.stop().await;
}

#[tokio::test]
async fn a_stopped_agent_no_longer_serves_but_its_vms_keep_running() {
    let w = World::new().await;
    let agent = w.start(w.config()).await;
    w.call(AgentRequest::Spawn { spec: spec("a1") })
        .await
        .unwrap();
    agent.stop().await;
    let (method, args) = AgentRequest::PowerStates {}.to_wire().unwrap();
    let err = w
        .bus
        .call(
            &compute_model::rpc::agent_topic(HOST),
            &method,
            args,
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert_eq!(
        w.fake.info("a1").await.unwrap().power_state,
        PowerState::Running
    );
}

/// Runs the futures concurrently on this task and returns their outputs in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut pending: Vec<_> = handles.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(out) => {
                outputs[*i] = Some(out);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
