//! Conductor tests: crash safety of every build and delete step (named failpoints stop a
//! workflow dead, then a restarted conductor recovers), reconciliation of servers left
//! busy, agent `Sync`, pending workflows, heartbeats and power-state reports.

use compute_db::{status, Expect, InstanceChange, InstanceUpdate};
use compute_model::rpc::{ConductorReport, CONDUCTOR_TOPIC};
use compute_model::{PowerState, TaskState, VmState};

use crate::workflows::build::INTERRUPTED;
use crate::workflows::engine::Workflow;
use crate::workflows::failpoint::{self, Point};
use crate::workflows::testkit::{create_req, ctx, service, Env};
use crate::workflows::{build::Build, delete::Delete};

const POINTS: [Point; 3] = [Point::Started, Point::Ran, Point::Done];

/// Waits until a failpoint of `scope` fired and the run it stopped has ended.
async fn crashed(env: &Env, scope: &str) {
    env.until(|| async { failpoint::fired(scope) > 0 && env.conductor().running() == 0 })
        .await;
}

#[tokio::test]
async fn a_build_interrupted_at_any_step_is_undone_on_restart() {
    for step in Build::STEPS {
        for point in POINTS {
            let mut env = Env::new(1).await;
            let scope = format!("build-{step}-{point:?}");
            failpoint::arm(&scope, "build", step, point);
            let made = env
                .compute
                .server_create(&ctx(&scope), create_req("a"))
                .await
                .unwrap();
            let uuid = made[0].uuid.clone();
            crashed(&env, &scope).await;
            let case = format!("{step}/{point:?}");
            // What the run left behind when it stopped.
            let claimed = *step != "schedule_and_claim" || point != Point::Started;
            let spawned = *step == "finish" || (*step == "spawn" && point != Point::Started);
            assert_eq!(
                !env.placement.of(&uuid).is_empty(),
                claimed,
                "{case}: claimed before the crash"
            );
            assert_eq!(
                env.agent("h1").state(&uuid).is_some(),
                spawned,
                "{case}: VM before the crash"
            );
            env.restart().await;
            env.settle(&uuid).await;
            let i = env.get(&uuid).await;
            assert!(
                env.agent("h1").methods().contains(&"sync".to_string()),
                "{case}: agents are synced"
            );
            if *step == "finish" && point != Point::Started {
                // The last step commits with the workflow: the build completed.
                assert_eq!(i.vm_state, VmState::Active, "{case}");
                assert!(!env.placement.of(&uuid).is_empty(), "{case}");
                assert_eq!(
                    env.agent("h1").state(&uuid),
                    Some(PowerState::Running),
                    "{case}"
                );
                continue;
            }
            assert_eq!((i.vm_state, i.task_state), (VmState::Error, None), "{case}");
            assert_eq!(
                i.fault.map(|f| f.message),
                Some(INTERRUPTED.to_string()),
                "{case}"
            );
            assert!(
                env.placement.of(&uuid).is_empty(),
                "{case}: no allocation left"
            );
            assert!(env.agent("h1").state(&uuid).is_none(), "{case}: no VM left");
            assert!(i.host.is_none(), "{case}");
            let wfs = env.compute.store.workflow_unfinished().await.unwrap();
            assert!(wfs.is_empty(), "{case}: {wfs:?}");
            assert_eq!(
                env.usage(&scope).await["instances"],
                1,
                "{case}: an ERROR server keeps its quota"
            );
        }
    }
}

#[tokio::test]
async fn a_delete_interrupted_at_any_step_completes_on_restart() {
    for step in Delete::STEPS {
        for point in POINTS {
            let mut env = Env::new(1).await;
            let scope = format!("delete-{step}-{point:?}");
            let g = env.group(&scope, "affinity").await;
            let req = crate::server::ServerCreate {
                group: Some(g.clone()),
                ..create_req("a")
            };
            let made = env.compute.server_create(&ctx(&scope), req).await.unwrap();
            let uuid = made[0].uuid.clone();
            env.settle(&uuid).await;
            failpoint::arm(&scope, "delete", step, point);
            env.compute
                .server_delete(&ctx(&scope), &uuid, false)
                .await
                .unwrap();
            crashed(&env, &scope).await;
            env.restart().await;
            env.settle(&uuid).await;
            let case = format!("{step}/{point:?}");
            assert_eq!(env.get(&uuid).await.vm_state, VmState::Deleted, "{case}");
            assert!(env.placement.of(&uuid).is_empty(), "{case}");
            assert!(env.agent("h1").state(&uuid).is_none(), "{case}");
            assert_eq!(env.usage(&scope).await["instances"], 0, "{case}");
            let members = env
                .compute
                .store
                .server_group_get(&g)
                .await
                .unwrap()
                .unwrap()
                .members;
            assert!(members.is_empty(), "{case}");
        }
    }
}

#[tokio::test]
async fn a_delete_whose_agent_is_unreachable_waits_for_the_next_start() {
    let mut env = Env::new(1).await;
    let p = ctx("p1");
    let uuid = env.boot(&p, "a").await.uuid;
    env.agent("h1")
        .unreachable
        .lock()
        .unwrap()
        .insert("destroy".into());
    env.compute
        .server_delete(&ctx("p1"), &uuid, false)
        .await
        .unwrap();
    env.until(|| async {
        let steps = match env
            .compute
            .store
            .workflow_list_for_instance(&uuid)
            .await
            .unwrap()
            .last()
        {
            Some(w) => env.compute.store.workflow_steps(&w.id).await.unwrap(),
            None => Vec::new(),
        };
        !steps.is_empty() && env.conductor().running() == 0
    })
    .await;
    let i = env.get(&uuid).await;
    assert_eq!(
        (i.vm_state, i.task_state),
        (VmState::Active, Some(TaskState::Deleting))
    );
    assert!(
        !env.placement.of(&uuid).is_empty(),
        "nothing released while the VM may run"
    );
    assert_eq!(env.usage("p1").await["instances"], 1);
    let wf = env
        .compute
        .store
        .workflow_list_for_instance(&uuid)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(wf.status, status::RUNNING);

    env.agent("h1").unreachable.lock().unwrap().clear();
    env.restart().await;
    env.settle(&uuid).await;
    assert_eq!(env.get(&uuid).await.vm_state, VmState::Deleted);
    assert!(env.placement.of(&uuid).is_empty());
    assert!(env.agent("h1").state(&uuid).is_none());
    assert_eq!(env.usage("p1").await["instances"], 0);
}

#[tokio::test]
async fn an_interrupted_stop_settles_on_what_the_vm_is() {
    let mut env = Env::new(1).await;
    let uuid = env.boot(&ctx("stop-ran"), "a").await.uuid;
    failpoint::arm("stop-ran", "power", "agent", Point::Ran);
    env.compute
        .server_stop(&ctx("stop-ran"), &uuid)
        .await
        .unwrap();
    crashed(&env, "stop-ran").await;
    assert_eq!(
        env.get(&uuid).await.task_state,
        Some(TaskState::PoweringOff)
    );
    env.restart().await;
    env.settle(&uuid).await;
    let i = env.get(&uuid).await;
    assert_eq!(
        (i.vm_state, i.task_state, i.power_state),
        (VmState::Stopped, None, PowerState::Shutdown)
    );
}

#[tokio::test]
async fn an_interrupted_resize_is_undone() {
    let mut env = Env::new(1).await;
    let uuid = env.boot(&ctx("resize-ran"), "a").await.uuid;
    failpoint::arm("resize-ran", "resize", "agent_resize", Point::Ran);
    env.compute
        .server_resize(&ctx("resize-ran"), &uuid, "small")
        .await
        .unwrap();
    crashed(&env, "resize-ran").await;
    env.restart().await;
    env.settle(&uuid).await;
    let i = env.get(&uuid).await;
    assert_eq!(
        (i.vm_state, i.task_state, i.flavor.id.as_str()),
        (VmState::Active, None, "tiny")
    );
    assert!(i.new_flavor.is_none());
    assert_eq!(env.placement.of(&uuid)["node-h1"]["VCPU"], 1);
    assert_eq!(env.usage("resize-ran").await["cores"], 1);
    assert!(
        env.agent("h1")
            .methods()
            .iter()
            .filter(|m| *m == "resize")
            .count()
            == 2,
        "resized back"
    );
}

#[tokio::test]
async fn servers_left_busy_without_a_workflow_are_reconciled() {
    let mut env = Env::new(1).await;
    let p = ctx("p1");
    let stopping = env.boot(&p, "stopping").await.uuid;
    let gone = env.boot(&p, "gone").await.uuid;
    let deleting = env.boot(&p, "deleting").await.uuid;
    let compute = env.compute.clone();
    let set_task = |uuid: String, t: TaskState| {
        let c = compute.clone();
        async move {
            let u = InstanceUpdate {
                change: InstanceChange {
                    task_state: Some(Some(t)),
                    ..InstanceChange::default()
                },
                expect: Expect::default(),
                ..InstanceUpdate::default()
            };
            c.store.instance_update(&uuid, &u).await.unwrap();
        }
    };
    // The VM stopped but the conductor died before recording it; another VM is lost.
    set_task(stopping.clone(), TaskState::PoweringOff).await;
    env.agent("h1")
        .vms
        .lock()
        .unwrap()
        .insert(stopping.clone(), PowerState::Shutdown);
    set_task(gone.clone(), TaskState::Rebooting).await;
    env.agent("h1").vms.lock().unwrap().remove(&gone);
    set_task(deleting.clone(), TaskState::Deleting).await;
    // A build whose workflow row is lost.
    env.hold_conductor().await;
    let building = env
        .compute
        .server_create(&p, create_req("building"))
        .await
        .unwrap()[0]
        .uuid
        .clone();
    for w in env
        .compute
        .store
        .workflow_list_for_instance(&building)
        .await
        .unwrap()
    {
        env.compute
            .store
            .workflow_finish(&w.id, status::FAILED, &w.data, Some("lost"))
            .await
            .unwrap();
    }
    // A stray VM nobody knows.
    env.agent("h1")
        .vms
        .lock()
        .unwrap()
        .insert("stray".into(), PowerState::Running);

    env.restart().await;
    env.settle(&deleting).await;
    let i = env.get(&stopping).await;
    assert_eq!(
        (i.vm_state, i.task_state, i.power_state),
        (VmState::Stopped, None, PowerState::Shutdown)
    );
    let i = env.get(&gone).await;
    assert_eq!((i.vm_state, i.task_state), (VmState::Error, None));
    assert!(i.fault.is_some());
    let i = env.get(&building).await;
    assert_eq!((i.vm_state, i.task_state), (VmState::Error, None));
    assert_eq!(i.fault.map(|f| f.message), Some(INTERRUPTED.to_string()));
    assert_eq!(env.get(&deleting).await.vm_state, VmState::Deleted);
    assert!(
        env.agent("h1").state("stray").is_none(),
        "Sync destroyed the stray VM"
    );
    assert_eq!(
        env.agent("h1").state(&stopping),
        Some(PowerState::Shutdown),
        "Sync kept a known VM"
    );
}

#[tokio::test]
async fn pending_builds_run_once_the_conductor_is_back() {
    let mut env = Env::new(1).await;
    env.hold_conductor().await;
    let made = env
        .compute
        .server_create(&ctx("p1"), create_req("a"))
        .await
        .unwrap();
    assert_eq!(
        env.compute.store.workflow_unfinished().await.unwrap()[0].status,
        status::PENDING
    );
    env.restart().await;
    env.settle(&made[0].uuid).await;
    assert_eq!(env.get(&made[0].uuid).await.vm_state, VmState::Active);
    assert_eq!(
        env.agent("h1").spawned().len(),
        1,
        "run once, not once per start and per cast"
    );
}

#[tokio::test]
async fn heartbeats_and_power_state_reports_are_recorded() {
    let env = Env::new(1).await;
    let bus = env.compute.bus.clone();
    let cast = |r: ConductorReport| {
        let bus = bus.clone();
        async move {
            let (m, a) = r.to_wire().unwrap();
            bus.cast(CONDUCTOR_TOPIC, &m, a).await.unwrap();
        }
    };
    cast(ConductorReport::Heartbeat {
        service: Box::new(service("h9", "node-h9")),
    })
    .await;
    env.until(|| async {
        env.compute
            .store
            .service_list()
            .await
            .unwrap()
            .iter()
            .any(|s| s.host == "h9")
    })
    .await;

    let uuid = env.boot(&ctx("p1"), "a").await.uuid;
    cast(ConductorReport::PowerStateChanged {
        uuid: uuid.clone(),
        power_state: PowerState::Shutdown,
    })
    .await;
    env.until(|| async { env.get(&uuid).await.vm_state == VmState::Stopped })
        .await;
    assert_eq!(env.get(&uuid).await.power_state, PowerState::Shutdown);
    cast(ConductorReport::PowerStateChanged {
        uuid: uuid.clone(),
        power_state: PowerState::Running,
    })
    .await;
    env.until(|| async { env.get(&uuid).await.vm_state == VmState::Active })
        .await;
    // Unknown methods are errors, not panics.
    let e = bus
        .call(
            CONDUCTOR_TOPIC,
            "nope",
            serde_json::json!({}),
            std::time::Duration::from_secs(5),
        )
        .await;
    assert!(matches!(e, Err(common_error::Error::BadRequest(_))));
}
