//! Domain tests for rescue and unrescue: Nova's states and 409/400s, what the agent is asked,
//! undo of a failed rescue, and recovery of one a restart interrupted.

use common_error::Error;
use compute_db::{InstanceChange, InstanceUpdate};
use compute_model::rpc::AgentRequest;
use compute_model::state::status;
use compute_model::{PowerState, TaskState, VmState};

use crate::ports::ImageInfo;
use crate::workflows::failpoint::{self, Point};
use crate::workflows::testkit::{ctx, Env};

async fn settled(env: &Env, uuid: &str) -> (VmState, Option<TaskState>, PowerState) {
    env.settle(uuid).await;
    let i = env.get(uuid).await;
    (i.vm_state, i.task_state, i.power_state)
}

fn conflict(action: &str, uuid: &str, state: &str) -> Error {
    Error::Conflict(format!(
        "Cannot '{action}' instance {uuid} while it is in vm_state {state}"
    ))
}

/// The rescue image ids the agent of h1 was asked to boot, in order.
fn rescues(env: &Env) -> Vec<String> {
    env.agent("h1")
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter_map(|r| match r {
            AgentRequest::Rescue {
                rescue_image_id, ..
            } => Some(rescue_image_id.clone()),
            _ => None,
        })
        .collect()
}

/// The operations h1's agent was asked for (without the state queries and syncs).
fn ops(env: &Env) -> Vec<String> {
    env.agent("h1")
        .methods()
        .into_iter()
        .filter(|m| m != "power_states" && m != "sync")
        .collect()
}

fn add_image(env: &Env, id: &str, state: &str) {
    env.images.images.lock().unwrap().insert(
        id.into(),
        ImageInfo {
            id: id.into(),
            name: id.into(),
            status: state.into(),
            disk_format: "qcow2".into(),
            container_format: "bare".into(),
            ..ImageInfo::default()
        },
    );
}

#[tokio::test]
async fn rescue_and_unrescue_follow_novas_state_machine() {
    let env = Env::new(1).await;
    let c = &env.compute;
    let p = || ctx("p1");
    let u = env.boot(&p(), "a").await.uuid;

    assert_eq!(
        c.server_unrescue(&p(), &u).await.unwrap_err(),
        conflict("unrescue", &u, "active")
    );
    let pass = c
        .server_rescue(&p(), &u, None, Some("s3cret".into()))
        .await
        .unwrap();
    assert_eq!(pass, "s3cret");
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Rescued, None, PowerState::Running)
    );
    assert_eq!(status(VmState::Rescued, None), "RESCUE");
    assert_eq!(rescues(&env), ["img"], "the server's own image by default");

    // A rescued server refuses what Nova refuses.
    assert_eq!(
        c.server_rescue(&p(), &u, None, None).await.unwrap_err(),
        conflict("rescue", &u, "rescued")
    );
    assert_eq!(
        c.server_stop(&p(), &u).await.unwrap_err(),
        conflict("stop", &u, "rescued")
    );
    assert_eq!(
        c.server_pause(&p(), &u).await.unwrap_err(),
        conflict("pause", &u, "rescued")
    );

    c.server_unrescue(&p(), &u).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );
    let methods = ops(&env);
    assert_eq!(
        methods[methods.len() - 2..],
        ["rescue".to_string(), "unrescue".to_string()]
    );

    // From SHUTOFF, with another image and a generated password; unrescue ends ACTIVE.
    add_image(&env, "rescue-img", "active");
    c.server_stop(&p(), &u).await.unwrap();
    assert_eq!(settled(&env, &u).await.0, VmState::Stopped);
    let pass = c
        .server_rescue(&p(), &u, Some("rescue-img".into()), None)
        .await
        .unwrap();
    assert_eq!(pass.len(), 12, "{pass}");
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Rescued, None, PowerState::Running)
    );
    assert_eq!(rescues(&env), ["img", "rescue-img"]);
    c.server_unrescue(&p(), &u).await.unwrap();
    assert_eq!(settled(&env, &u).await.0, VmState::Active);

    let actions: Vec<String> = c
        .store
        .instance_action_list(&u)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "rescue").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "unrescue").count(),
        2,
        "{actions:?}"
    );
}

#[tokio::test]
async fn rescue_refuses_bad_images_locks_volume_backed_and_unplaced_servers() {
    let env = Env::new(1).await;
    let c = &env.compute;
    let p = || ctx("p1");
    let u = env.boot(&p(), "a").await.uuid;
    add_image(&env, "queued-img", "queued");
    for id in ["no-such-image", "queued-img"] {
        assert_eq!(
            c.server_rescue(&p(), &u, Some(id.into()), None)
                .await
                .unwrap_err(),
            Error::BadRequest(format!("Requested rescue image '{id}' is not supported"))
        );
    }

    c.server_lock(&p(), &u, None).await.unwrap();
    assert_eq!(
        c.server_rescue(&p(), &u, None, None).await.unwrap_err(),
        Error::Conflict(format!("Instance {u} is locked"))
    );
    c.server_unlock(&p(), &u).await.unwrap();

    // Another project's server does not exist for the caller.
    assert!(matches!(
        c.server_rescue(&ctx("p2"), &u, None, None).await,
        Err(Error::NotFound { .. })
    ));

    // A server without an image boots from a volume.
    let i = env.get(&u).await;
    let u2 = InstanceUpdate {
        change: InstanceChange {
            image_ref: Some(String::new()),
            ..InstanceChange::default()
        },
        ..InstanceUpdate::default()
    };
    c.store.instance_update(&i.uuid, &u2).await.unwrap();
    assert_eq!(
        c.server_rescue(&p(), &u, None, None).await.unwrap_err(),
        Error::BadRequest(format!(
            "Instance {u} cannot be rescued: Cannot rescue a volume-backed instance"
        ))
    );
    assert!(rescues(&env).is_empty(), "the agent was never asked");
    assert_eq!(env.get(&u).await.vm_state, VmState::Active);
}

#[tokio::test]
async fn a_failed_rescue_is_undone_or_ends_in_error_and_a_failed_unrescue_stays_rescued() {
    let env = Env::new(1).await;
    let c = &env.compute;
    let p = || ctx("p1");
    let u = env.boot(&p(), "a").await.uuid;
    let agent = env.agent("h1");

    // The rescue fails: the agent unrescues, the server is ACTIVE again with a fault.
    agent.fail.lock().unwrap().insert("rescue".into());
    c.server_rescue(&p(), &u, None, None).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );
    let fault = env.get(&u).await.fault.unwrap();
    assert!(
        fault.details.contains("injected failure of rescue"),
        "{fault:?}"
    );
    assert_eq!(ops(&env).last().unwrap(), "unrescue");

    // A stopped server is stopped again by the undo.
    c.server_stop(&p(), &u).await.unwrap();
    settled(&env, &u).await;
    c.server_rescue(&p(), &u, None, None).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Stopped, None, PowerState::Shutdown)
    );
    let methods = ops(&env);
    assert_eq!(
        methods[methods.len() - 3..],
        ["rescue", "unrescue", "power_off"].map(String::from)
    );

    // The undo fails too: ERROR, as Nova's failed rescue.
    agent.fail.lock().unwrap().insert("unrescue".into());
    c.server_rescue(&p(), &u, None, None).await.unwrap();
    assert_eq!(settled(&env, &u).await.0, VmState::Error);
    assert!(env.get(&u).await.fault.is_some());

    // From ERROR a rescue may start; once rescued, a failed unrescue stays RESCUED.
    agent.fail.lock().unwrap().remove("rescue");
    c.server_rescue(&p(), &u, None, None).await.unwrap();
    assert_eq!(settled(&env, &u).await.0, VmState::Rescued);
    c.server_unrescue(&p(), &u).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Rescued, None, PowerState::Running)
    );
    let fault = env.get(&u).await.fault.unwrap();
    assert!(
        fault.details.contains("injected failure of unrescue"),
        "{fault:?}"
    );
    agent.fail.lock().unwrap().clear();
    c.server_unrescue(&p(), &u).await.unwrap();
    assert_eq!(settled(&env, &u).await.0, VmState::Active);
}

#[tokio::test]
async fn a_rescue_interrupted_by_a_restart_is_undone() {
    for point in [Point::Started, Point::Ran, Point::Done] {
        let mut env = Env::new(1).await;
        let scope = format!("rescue-agent-{point:?}");
        let u = env.boot(&ctx(&scope), "a").await.uuid;
        failpoint::arm(&scope, "rescue", "agent", point);
        env.compute
            .server_rescue(&ctx(&scope), &u, None, None)
            .await
            .unwrap();
        env.until(|| async { failpoint::fired(&scope) > 0 && env.conductor().running() == 0 })
            .await;
        assert_eq!(env.get(&u).await.task_state, Some(TaskState::Rescuing));
        env.restart().await;
        assert_eq!(
            settled(&env, &u).await,
            (VmState::Active, None, PowerState::Running),
            "{point:?}"
        );
        assert_eq!(
            ops(&env).last().map(String::as_str),
            Some("unrescue"),
            "{point:?}: the VM is taken out of rescue"
        );
        let fault = env.get(&u).await.fault.unwrap();
        assert!(fault.details.contains("interrupted"), "{fault:?}");
    }
}
