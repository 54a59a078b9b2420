//! Store tests for instances (SQLite temp file).

use std::collections::BTreeMap;

use super::*;
use crate::test_store;
use crate::workflow::NewWorkflow;

fn flavor(vcpus: i64, ram: i64) -> Flavor {
    Flavor {
        id: format!("f{vcpus}"),
        name: format!("f{vcpus}"),
        vcpus,
        ram,
        disk: 1,
        ephemeral: 0,
        swap: 0,
        rxtx_factor: 1.0,
        is_public: true,
        disabled: false,
        description: None,
        extra_specs: BTreeMap::new(),
    }
}

fn instance(uuid: &str, project: &str) -> Instance {
    let now = now_text();
    Instance {
        uuid: uuid.into(),
        name: format!("vm-{uuid}"),
        project_id: project.into(),
        user_id: "u1".into(),
        image_ref: "img".into(),
        flavor: flavor(2, 512),
        new_flavor: None,
        vm_state: VmState::Building,
        task_state: Some(TaskState::Scheduling),
        power_state: PowerState::NoState,
        host: None,
        node: None,
        availability_zone: None,
        key_name: None,
        key_data: None,
        user_data: None,
        metadata: [("k".to_string(), "v".to_string())].into_iter().collect(),
        tags: vec!["t1".into()],
        description: None,
        hostname: format!("vm-{uuid}"),
        locked: false,
        locked_reason: None,
        config_drive: true,
        access_ip_v4: String::new(),
        access_ip_v6: String::new(),
        launch_index: 0,
        reservation_id: "r-1".into(),
        progress: 0,
        created_at: now.clone(),
        updated_at: now,
        launched_at: None,
        terminated_at: None,
        fault: None,
        server_group: None,
        generation: 1,
    }
}

fn create_req(project: &str, limit: i64) -> InstanceCreate {
    InstanceCreate {
        project_id: project.into(),
        min_count: 1,
        max_count: 1,
        per_instance: [("instances", 1), ("cores", 2), ("ram", 512)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        limits: [("instances", limit), ("cores", -1), ("ram", -1)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

async fn usage(s: &Store, project: &str) -> BTreeMap<String, i64> {
    let rows =
        sqlx::query("SELECT resource, in_use FROM compute_quota_usage WHERE project_id = $1")
            .bind(project)
            .fetch_all(s.db().reader())
            .await
            .unwrap();
    rows.iter()
        .map(|r| {
            (
                col::<String>(r, "resource").unwrap(),
                col::<i64>(r, "in_use").unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn create_get_and_quota_usage() {
    let (s, _dir) = test_store().await;
    let made = s
        .instance_create(&create_req("p1", 10), |n| {
            assert_eq!(n, 1);
            let i = instance("a", "p1");
            Ok(vec![NewInstance {
                workflow: Some(NewWorkflow::new("build", &i.uuid, serde_json::json!({}))),
                instance: i,
                action: None,
            }])
        })
        .await
        .unwrap();
    assert_eq!(made.len(), 1);
    let got = s.instance_get("a", false).await.unwrap().unwrap();
    assert_eq!(got.metadata.get("k").map(String::as_str), Some("v"));
    assert_eq!(got.tags, vec!["t1".to_string()]);
    assert_eq!(got.flavor, flavor(2, 512));
    assert_eq!(got.task_state, Some(TaskState::Scheduling));
    let u = usage(&s, "p1").await;
    assert_eq!((u["instances"], u["cores"], u["ram"]), (1, 2, 512));
    assert_eq!(s.workflow_unfinished().await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_creates_never_pass_the_instances_limit() {
    let (s, _dir) = test_store().await;
    let mut tasks = Vec::new();
    for k in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.instance_create(&create_req("p1", 10), |_| {
                Ok(vec![NewInstance {
                    instance: instance(&format!("i{k}"), "p1"),
                    action: None,
                    workflow: None,
                }])
            })
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(
                e,
                Error::Forbidden(
                    "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances".into()
                )
            ),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(usage(&s, "p1").await["instances"], 10);
    assert_eq!(
        s.instance_list(&InstanceQuery::default())
            .await
            .unwrap()
            .len(),
        10
    );
}

#[tokio::test]
async fn guarded_updates_resolve_races_exactly() {
    let (s, _dir) = test_store().await;
    s.instance_create(&create_req("p1", -1), |_| {
        Ok(vec![NewInstance {
            instance: instance("a", "p1"),
            action: None,
            workflow: None,
        }])
    })
    .await
    .unwrap();
    let cur = s.instance_get("a", false).await.unwrap().unwrap();
    let change = InstanceChange {
        vm_state: Some(VmState::Active),
        task_state: Some(None),
        host: Some(Some("h1".into())),
        ..InstanceChange::default()
    };
    let u = InstanceUpdate {
        expect: Expect {
            generation: Some(cur.generation),
            ..Expect::task(TaskState::Scheduling)
        },
        change: change.clone(),
        ..InstanceUpdate::default()
    };
    let after = s.instance_update("a", &u).await.unwrap();
    assert_eq!((after.vm_state, after.task_state), (VmState::Active, None));
    assert_eq!(after.host.as_deref(), Some("h1"));
    assert_eq!(after.generation, cur.generation + 1);
    // The same guarded write again loses: generation and task state moved on.
    assert!(matches!(
        s.instance_update("a", &u).await,
        Err(Error::Conflict(_))
    ));
    let stop = InstanceUpdate {
        expect: Expect {
            vm_states: vec![VmState::Active],
            task_states: Some(vec![None]),
            ..Expect::default()
        },
        change: InstanceChange {
            task_state: Some(Some(TaskState::PoweringOff)),
            ..InstanceChange::default()
        },
        ..InstanceUpdate::default()
    };
    assert_eq!(
        s.instance_update("a", &stop).await.unwrap().task_state,
        Some(TaskState::PoweringOff)
    );
    assert!(matches!(
        s.instance_update("a", &stop).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        s.instance_update("nope", &stop).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn soft_delete_gives_quota_back_and_hides_the_row() {
    let (s, _dir) = test_store().await;
    s.instance_create(&create_req("p1", 1), |_| {
        Ok(vec![NewInstance {
            instance: instance("a", "p1"),
            action: None,
            workflow: None,
        }])
    })
    .await
    .unwrap();
    assert!(s
        .instance_create(&create_req("p1", 1), |_| Ok(vec![NewInstance {
            instance: instance("b", "p1"),
            action: None,
            workflow: None
        }]))
        .await
        .is_err());
    s.instance_soft_delete("a", &Expect::default())
        .await
        .unwrap();
    assert!(s.instance_get("a", false).await.unwrap().is_none());
    let gone = s.instance_get("a", true).await.unwrap().unwrap();
    assert_eq!(gone.vm_state, VmState::Deleted);
    assert!(gone.terminated_at.is_some());
    let u = usage(&s, "p1").await;
    assert_eq!((u["instances"], u["cores"], u["ram"]), (0, 0, 0));
    assert!(matches!(
        s.instance_soft_delete("a", &Expect::default()).await,
        Err(Error::NotFound { .. })
    ));
    let deleted = s
        .instance_list(&InstanceQuery {
            deleted: ReadDeleted::Only,
            ..InstanceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(deleted.len(), 1);
    s.instance_create(&create_req("p1", 1), |_| {
        Ok(vec![NewInstance {
            instance: instance("b", "p1"),
            action: None,
            workflow: None,
        }])
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn metadata_tags_faults_actions_and_migrations() {
    let (s, _dir) = test_store().await;
    s.instance_create(&create_req("p1", -1), |_| {
        Ok(vec![NewInstance {
            instance: instance("a", "p1"),
            action: None,
            workflow: None,
        }])
    })
    .await
    .unwrap();
    let items: BTreeMap<String, String> =
        [("x".to_string(), "1".to_string())].into_iter().collect();
    let all = s
        .instance_metadata_set("a", &items, false, 128)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let all = s
        .instance_metadata_set("a", &items, true, 128)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    let many: BTreeMap<String, String> =
        (0..3).map(|i| (format!("m{i}"), "v".to_string())).collect();
    assert!(matches!(
        s.instance_metadata_set("a", &many, false, 2).await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(
        s.instance_get("a", false)
            .await
            .unwrap()
            .unwrap()
            .metadata
            .len(),
        1
    );
    s.instance_metadata_delete("a", "x").await.unwrap();
    assert!(matches!(
        s.instance_metadata_delete("a", "x").await,
        Err(Error::NotFound { .. })
    ));

    assert!(s.instance_tag_add("a", "t2", 50).await.unwrap());
    assert!(!s.instance_tag_add("a", "t2", 50).await.unwrap());
    assert_eq!(
        s.instance_tags_set("a", &["z".into(), "y".into()], 50)
            .await
            .unwrap(),
        vec!["y", "z"]
    );
    assert!(matches!(
        s.instance_tag_add("a", "w", 2).await,
        Err(Error::BadRequest(_))
    ));
    s.instance_tag_delete("a", "y").await.unwrap();
    assert!(matches!(
        s.instance_tag_delete("a", "y").await,
        Err(Error::NotFound { .. })
    ));

    let f = |m: &str, t: &str| Fault {
        code: 500,
        message: m.into(),
        details: String::new(),
        created: t.into(),
    };
    s.instance_fault_add("a", &f("old", "2020-01-01T00:00:00.000000"))
        .await
        .unwrap();
    s.instance_fault_add("a", &f("new", "2021-01-01T00:00:00.000000"))
        .await
        .unwrap();
    assert_eq!(
        s.instance_get("a", false)
            .await
            .unwrap()
            .unwrap()
            .fault
            .unwrap()
            .message,
        "new"
    );

    let now = now_text();
    let action = InstanceAction {
        instance_uuid: "a".into(),
        request_id: "req-1".into(),
        action: "stop".into(),
        project_id: "p1".into(),
        user_id: "u1".into(),
        start_time: now.clone(),
        updated_at: now.clone(),
        message: None,
    };
    let ev = InstanceActionEvent {
        event: "compute_stop_instance".into(),
        start_time: now.clone(),
        finish_time: None,
        result: None,
        host: Some("h1".into()),
    };
    let u = InstanceUpdate {
        action: Some(action.clone()),
        event: Some(("req-1".into(), ev.clone())),
        ..InstanceUpdate::default()
    };
    s.instance_update("a", &u).await.unwrap();
    let done = InstanceActionEvent {
        finish_time: Some(now_text()),
        result: Some("Error".into()),
        host: None,
        ..ev
    };
    s.instance_action_event("a", "req-1", &done, Some(Some("Error")))
        .await
        .unwrap();
    let (a, events) = s.instance_action_get("a", "req-1").await.unwrap().unwrap();
    assert_eq!(a.message.as_deref(), Some("Error"));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].result.as_deref(), Some("Error"));
    assert_eq!(
        events[0].host.as_deref(),
        Some("h1"),
        "a finish keeps the host"
    );
    assert_eq!(s.instance_action_list("a").await.unwrap().len(), 1);

    let m = Migration {
        uuid: "m1".into(),
        id: 0,
        instance_uuid: "a".into(),
        migration_type: "resize".into(),
        status: "pre-migrating".into(),
        source_compute: Some("h1".into()),
        dest_compute: Some("h1".into()),
        source_node: None,
        dest_node: None,
        old_flavor_id: "f2".into(),
        new_flavor_id: "f4".into(),
        project_id: "p1".into(),
        user_id: "u1".into(),
        created_at: now.clone(),
        updated_at: now,
    };
    s.instance_update(
        "a",
        &InstanceUpdate {
            migration_new: Some(m),
            ..InstanceUpdate::default()
        },
    )
    .await
    .unwrap();
    s.migration_set_status("m1", "finished").await.unwrap();
    let ms = s.migration_list_for_instance("a").await.unwrap();
    assert_eq!((ms[0].id, ms[0].status.as_str()), (1, "finished"));
}

#[tokio::test]
async fn list_filters_by_columns_and_host_map() {
    let (s, _dir) = test_store().await;
    for (u, p) in [("a", "p1"), ("b", "p1"), ("c", "p2")] {
        s.instance_create(&create_req(p, -1), |_| {
            Ok(vec![NewInstance {
                instance: instance(u, p),
                action: None,
                workflow: None,
            }])
        })
        .await
        .unwrap();
    }
    let place = InstanceUpdate {
        change: InstanceChange {
            host: Some(Some("h1".into())),
            ..InstanceChange::default()
        },
        ..InstanceUpdate::default()
    };
    s.instance_update("b", &place).await.unwrap();
    let q = |p: &str| InstanceQuery {
        project_id: Some(p.into()),
        ..InstanceQuery::default()
    };
    assert_eq!(s.instance_list(&q("p1")).await.unwrap().len(), 2);
    let on_h1 = s
        .instance_list(&InstanceQuery {
            host: Some("h1".into()),
            ..InstanceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(on_h1.len(), 1);
    assert_eq!(on_h1[0].uuid, "b");
    let busy = s
        .instance_list(&InstanceQuery {
            busy: true,
            ..InstanceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(busy.len(), 3);
    let by_uuid = s
        .instance_list(&InstanceQuery {
            uuids: Some(vec!["a".into(), "c".into()]),
            ..InstanceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_uuid.len(), 2);
    let hosts = s.instance_hosts().await.unwrap();
    assert_eq!(hosts.get("h1"), Some(&vec!["b".to_string()]));
}
