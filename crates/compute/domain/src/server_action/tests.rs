//! Domain tests for server actions: each action's state machine, Nova's 409s, locks,
//! agent failures.

use std::collections::BTreeMap;

use common_error::Error;
use compute_model::{PowerState, TaskState, VmState};

use super::Rebuild;
use crate::workflows::testkit::{admin, ctx, Env};

/// (vm_state, task_state, power_state) of a server once its workflows ended.
async fn settled(env: &Env, uuid: &str) -> (VmState, Option<TaskState>, PowerState) {
    env.settle(uuid).await;
    let i = env.get(uuid).await;
    (i.vm_state, i.task_state, i.power_state)
}

fn conflict(action: &str, uuid: &str, attr: &str, state: &str) -> Error {
    Error::Conflict(format!(
        "Cannot '{action}' instance {uuid} while it is in {attr} {state}"
    ))
}

#[tokio::test]
async fn power_actions_follow_novas_state_machine() {
    let env = Env::new(1).await;
    let c = &env.compute;
    let u = env.boot(&ctx("p1"), "a").await.uuid;
    let p = || ctx("p1");

    c.server_stop(&p(), &u).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Stopped, None, PowerState::Shutdown)
    );
    assert_eq!(
        c.server_stop(&p(), &u).await.unwrap_err(),
        conflict("stop", &u, "vm_state", "stopped")
    );
    assert_eq!(
        c.server_pause(&p(), &u).await.unwrap_err(),
        conflict("pause", &u, "vm_state", "stopped")
    );
    assert_eq!(
        c.server_reboot(&p(), &u, false).await.unwrap_err(),
        conflict("reboot", &u, "vm_state", "stopped")
    );
    c.server_start(&p(), &u).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );
    assert_eq!(
        c.server_start(&p(), &u).await.unwrap_err(),
        conflict("start", &u, "vm_state", "active")
    );

    c.server_reboot(&p(), &u, false).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );
    c.server_pause(&p(), &u).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Paused, None, PowerState::Paused)
    );
    assert_eq!(
        c.server_suspend(&p(), &u).await.unwrap_err(),
        conflict("suspend", &u, "vm_state", "paused")
    );
    c.server_unpause(&p(), &u).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );
    c.server_suspend(&p(), &u).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Suspended, None, PowerState::Suspended)
    );
    // A hard reboot is allowed from SUSPENDED.
    c.server_reboot(&p(), &u, true).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );
    c.server_suspend(&p(), &u).await.unwrap();
    settled(&env, &u).await;
    c.server_resume(&p(), &u).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );

    let events: Vec<String> = env
        .agent("h1")
        .methods()
        .into_iter()
        .filter(|m| m != "sync")
        .collect();
    assert_eq!(
        events,
        vec![
            "spawn",
            "power_off",
            "power_on",
            "reboot",
            "pause",
            "unpause",
            "suspend",
            "reboot",
            "suspend",
            "resume"
        ]
    );
    let actions: Vec<String> = c
        .instance_actions(&p(), &u)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(actions.len(), 10);
    assert!(actions.contains(&"stop".to_string()) && actions.contains(&"resume".to_string()));
}

#[tokio::test]
async fn an_action_in_progress_refuses_another() {
    let mut env = Env::new(1).await;
    let u = env.boot(&ctx("p1"), "a").await.uuid;
    // No conductor: the stop stays in powering-off.
    env.hold_conductor().await;
    let c = &env.compute;
    c.server_stop(&ctx("p1"), &u).await.unwrap();
    assert_eq!(env.get(&u).await.task_state, Some(TaskState::PoweringOff));
    assert_eq!(
        c.server_start(&ctx("p1"), &u).await.unwrap_err(),
        conflict("start", &u, "vm_state", "active")
    );
    assert_eq!(
        c.server_reboot(&ctx("p1"), &u, false).await.unwrap_err(),
        conflict("reboot", &u, "task_state", "powering-off")
    );
}

#[tokio::test]
async fn locked_servers_refuse_members_but_not_admins() {
    let env = Env::new(1).await;
    let c = &env.compute;
    let u = env.boot(&ctx("p1"), "a").await.uuid;
    c.server_lock(&ctx("p1"), &u, Some("why".into()))
        .await
        .unwrap();
    let locked = Error::Conflict(format!("Instance {u} is locked"));
    assert_eq!(c.server_stop(&ctx("p1"), &u).await.unwrap_err(), locked);
    assert_eq!(
        c.server_resize(&ctx("p1"), &u, "small").await.unwrap_err(),
        locked
    );
    assert_eq!(c.server_shelve(&ctx("p1"), &u).await.unwrap_err(), locked);
    c.server_stop(&admin(), &u).await.unwrap();
    assert_eq!(settled(&env, &u).await.0, VmState::Stopped);
    c.server_unlock(&ctx("p1"), &u).await.unwrap();
    let i = env.get(&u).await;
    assert!(!i.locked && i.locked_reason.is_none());
    c.server_start(&ctx("p1"), &u).await.unwrap();
    assert_eq!(settled(&env, &u).await.0, VmState::Active);
}

#[tokio::test]
async fn a_failed_action_goes_back_with_a_fault_or_to_error_when_the_vm_is_unknown() {
    let env = Env::new(1).await;
    let c = &env.compute;
    let u = env.boot(&ctx("p1"), "a").await.uuid;
    env.agent("h1").fail.lock().unwrap().insert("pause".into());
    c.server_pause(&ctx("p1"), &u).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );
    let i = env.get(&u).await;
    assert!(i
        .fault
        .unwrap()
        .details
        .contains("injected failure of pause"));
    // The VM vanished from the host: its state is unknown.
    env.agent("h1").vms.lock().unwrap().clear();
    c.server_stop(&ctx("p1"), &u).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Error, None, PowerState::NoState)
    );
}

#[tokio::test]
async fn console_output_asks_the_agent() {
    let env = Env::new(1).await;
    let u = env.boot(&ctx("p1"), "a").await.uuid;
    let out = env
        .compute
        .server_console_output(&ctx("p1"), &u, Some(2))
        .await
        .unwrap();
    assert_eq!(out, "line 4\nline 5");
    assert!(env
        .compute
        .server_console_output(&ctx("p2"), &u, None)
        .await
        .is_err());
}

#[tokio::test]
async fn create_image_snapshots_into_a_new_image() {
    let env = Env::new(1).await;
    let c = &env.compute;
    let u = env.boot(&ctx("p1"), "a").await.uuid;
    let meta: BTreeMap<String, String> = [("purpose".to_string(), "backup".to_string())]
        .into_iter()
        .collect();
    let id = c
        .server_create_image(&ctx("p1"), &u, "snap", meta)
        .await
        .unwrap();
    assert_eq!(env.get(&u).await.task_state, Some(TaskState::ImageSnapshot));
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );
    let img = env.images.images.lock().unwrap()[&id].clone();
    assert_eq!(img.name, "snap");
    assert_eq!(img.disk_format, "qcow2");
    for (k, v) in [
        ("purpose", "backup"),
        ("image_type", "snapshot"),
        ("instance_uuid", u.as_str()),
        ("base_image_ref", "img"),
    ] {
        assert_eq!(img.properties.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert!(env.agent("h1").methods().contains(&"snapshot".to_string()));
    // A failed upload deletes the image again.
    env.agent("h1")
        .fail
        .lock()
        .unwrap()
        .insert("snapshot".into());
    let id = c
        .server_create_image(&ctx("p1"), &u, "snap2", BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(settled(&env, &u).await.0, VmState::Active);
    assert!(!env.images.images.lock().unwrap().contains_key(&id));
}

#[tokio::test]
async fn resize_then_confirm_or_revert() {
    let env = Env::new(1).await;
    let c = &env.compute;
    let u = env.boot(&ctx("p1"), "a").await.uuid;
    assert_eq!(
        c.server_resize(&ctx("p1"), &u, "tiny")
            .await
            .unwrap_err()
            .status(),
        400,
        "same flavor"
    );
    assert_eq!(
        c.server_resize(&ctx("p1"), &u, "nope")
            .await
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        c.server_confirm_resize(&ctx("p1"), &u).await.unwrap_err(),
        conflict("confirmResize", &u, "vm_state", "active")
    );

    c.server_resize(&ctx("p1"), &u, "small").await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Resized, None, PowerState::Running)
    );
    let i = env.get(&u).await;
    assert_eq!(i.new_flavor.as_ref().map(|f| f.id.as_str()), Some("small"));
    assert_eq!(env.placement.of(&u)["node-h1"]["VCPU"], 2);
    assert_eq!(
        env.usage("p1").await["cores"],
        2,
        "the upsize is counted while resized"
    );
    let ms = c.store.migration_list_for_instance(&u).await.unwrap();
    assert_eq!(
        (ms[0].migration_type.as_str(), ms[0].status.as_str()),
        ("resize", "finished")
    );

    c.server_revert_resize(&ctx("p1"), &u).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );
    let i = env.get(&u).await;
    assert_eq!(
        (i.flavor.id.as_str(), i.new_flavor.is_none()),
        ("tiny", true)
    );
    assert_eq!(env.placement.of(&u)["node-h1"]["VCPU"], 1);
    assert_eq!(env.usage("p1").await["cores"], 1);
    assert_eq!(
        c.store.migration_list_for_instance(&u).await.unwrap()[0].status,
        "reverted"
    );

    c.server_resize(&ctx("p1"), &u, "small").await.unwrap();
    settled(&env, &u).await;
    c.server_confirm_resize(&ctx("p1"), &u).await.unwrap();
    let i = env.get(&u).await;
    assert_eq!(
        (i.vm_state, i.flavor.id.as_str(), i.new_flavor.is_none()),
        (VmState::Active, "small", true)
    );
    assert_eq!(env.usage("p1").await["cores"], 2);
    assert_eq!(
        c.store.migration_list_for_instance(&u).await.unwrap()[0].status,
        "confirmed"
    );
}

#[tokio::test]
async fn a_stopped_server_resizes_and_stays_stopped() {
    let env = Env::new(1).await;
    let c = &env.compute;
    let u = env.boot(&ctx("p1"), "a").await.uuid;
    c.server_stop(&ctx("p1"), &u).await.unwrap();
    settled(&env, &u).await;
    c.server_resize(&ctx("p1"), &u, "small").await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Resized, None, PowerState::Shutdown)
    );
    c.server_confirm_resize(&ctx("p1"), &u).await.unwrap();
    assert_eq!(env.get(&u).await.vm_state, VmState::Stopped);
}

#[tokio::test]
async fn a_resize_that_does_not_fit_goes_back_with_a_fault() {
    let env = Env::new(1).await;
    let c = &env.compute;
    let u = env.boot(&ctx("p1"), "a").await.uuid;
    // Fill the host so the larger flavor no longer fits.
    env.placement
        .capacity
        .lock()
        .unwrap()
        .get_mut("node-h1")
        .unwrap()
        .insert("VCPU".into(), 1);
    c.server_resize(&ctx("p1"), &u, "small").await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );
    let i = env.get(&u).await;
    assert!(i.new_flavor.is_none());
    assert_eq!(i.fault.unwrap().code, 500);
    assert_eq!(env.placement.of(&u)["node-h1"]["VCPU"], 1);
    assert_eq!(
        env.usage("p1").await["cores"],
        1,
        "the upsize quota was given back"
    );
    assert_eq!(
        c.store.migration_list_for_instance(&u).await.unwrap()[0].status,
        "error"
    );
}

#[tokio::test]
async fn rebuild_respawns_from_the_new_image() {
    let env = Env::new(1).await;
    let c = &env.compute;
    let u = env.boot(&ctx("p1"), "a").await.uuid;
    {
        let mut imgs = env.images.images.lock().unwrap();
        let base = imgs["img"].clone();
        imgs.insert(
            "img2".into(),
            crate::ImageInfo {
                id: "img2".into(),
                ..base
            },
        );
    }
    let r = Rebuild {
        image_ref: "img2".into(),
        name: Some("renamed".into()),
        metadata: Some([("m".to_string(), "1".to_string())].into_iter().collect()),
        ..Rebuild::default()
    };
    c.server_rebuild(&ctx("p1"), &u, r).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );
    let i = env.get(&u).await;
    assert_eq!((i.image_ref.as_str(), i.name.as_str()), ("img2", "renamed"));
    assert_eq!(i.metadata.get("m").map(String::as_str), Some("1"));
    let spec = env.agent("h1").spawned().pop().unwrap();
    assert_eq!(spec.image_id, "img2");
    let bad = Rebuild {
        image_ref: "nope".into(),
        ..Rebuild::default()
    };
    assert_eq!(
        c.server_rebuild(&ctx("p1"), &u, bad)
            .await
            .unwrap_err()
            .status(),
        400
    );
}

#[tokio::test]
async fn shelve_offloads_and_unshelve_boots_from_the_snapshot() {
    let env = Env::new(1).await;
    let c = &env.compute;
    let u = env.boot(&ctx("p1"), "a").await.uuid;
    c.server_shelve(&ctx("p1"), &u).await.unwrap();
    assert_eq!(settled(&env, &u).await.0, VmState::ShelvedOffloaded);
    let i = env.get(&u).await;
    assert!(i.host.is_none() && i.node.is_none());
    assert!(
        env.placement.of(&u).is_empty(),
        "an offloaded server holds no resources"
    );
    assert!(env.agent("h1").state(&u).is_none());
    let shelved: Vec<String> = env
        .images
        .images
        .lock()
        .unwrap()
        .values()
        .filter(|img| img.name == "a-shelved")
        .map(|img| img.id.clone())
        .collect();
    assert_eq!(shelved.len(), 1);
    assert_eq!(
        c.server_stop(&ctx("p1"), &u).await.unwrap_err(),
        conflict("stop", &u, "vm_state", "shelved_offloaded")
    );

    c.server_unshelve(&ctx("p1"), &u).await.unwrap();
    assert_eq!(
        settled(&env, &u).await,
        (VmState::Active, None, PowerState::Running)
    );
    let i = env.get(&u).await;
    assert_eq!(i.host.as_deref(), Some("h1"));
    assert!(!env.placement.of(&u).is_empty());
    assert_eq!(
        env.agent("h1").spawned().pop().unwrap().image_id,
        shelved[0]
    );
    assert!(
        !env.images.images.lock().unwrap().contains_key(&shelved[0]),
        "the shelved image is deleted"
    );
    assert_eq!(
        i.image_ref, "img",
        "the server still names its original image"
    );
}
