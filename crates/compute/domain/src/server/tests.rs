//! Domain tests for servers: create (validation, quota, build).

use std::collections::BTreeMap;

use common_config::ComputeConfig;
use common_error::Error;
use compute_model::{PowerState, TaskState, VmState};

use super::*;
use crate::workflows::schedule::NO_VALID_HOST;
use crate::workflows::testkit::{create_req, ctx, Env};

fn bad(msg: &str) -> Error {
    Error::BadRequest(msg.into())
}

#[tokio::test]
async fn create_builds_an_active_server_with_an_allocation() {
    let env = Env::new(1).await;
    let p1 = ctx("p1");
    let req = ServerCreate {
        key_name: Some("k1".into()),
        metadata: [("role".to_string(), "web".to_string())]
            .into_iter()
            .collect(),
        ..create_req("web 1")
    };
    let made = env.compute.server_create(&p1, req).await.unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(
        (made[0].vm_state, made[0].task_state),
        (VmState::Building, Some(TaskState::Scheduling))
    );
    env.settle(&made[0].uuid).await;
    let i = env.compute.server_get(&p1, &made[0].uuid).await.unwrap();
    assert_eq!(
        (i.vm_state, i.task_state, i.power_state),
        (VmState::Active, None, PowerState::Running)
    );
    assert_eq!(i.host.as_deref(), Some("h1"));
    assert_eq!(i.node.as_deref(), Some("node-h1"));
    assert_eq!(i.availability_zone.as_deref(), Some("nova"));
    assert_eq!(i.hostname, "web-1");
    assert!(i.launched_at.is_some());
    let alloc = env.placement.of(&i.uuid);
    assert_eq!(alloc["node-h1"], i.flavor.resources());
    // The agent got the spec with Nova's meta_data.
    let spec = env.agent("h1").spawned().pop().unwrap();
    assert_eq!((spec.vcpus, spec.memory_mb, spec.root_gb), (1, 512, 1));
    assert_eq!(spec.image_id, "img");
    assert_eq!(
        spec.image_properties.get("hw_disk_bus").map(String::as_str),
        Some("virtio")
    );
    assert!(spec.config_drive);
    let md = &spec.meta_data;
    assert_eq!(md["uuid"], i.uuid.as_str());
    assert_eq!(md["hostname"], "web-1");
    assert_eq!(md["meta"]["role"], "web");
    assert_eq!(
        md["public_keys"]["k1"],
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample test"
    );
    assert_eq!(md["keys"][0]["name"], "k1");
    // The create action finished with a successful event.
    let actions = env.compute.instance_actions(&p1, &i.uuid).await.unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].action, "create");
    assert_eq!(actions[0].request_id, p1.request_id);
    let (_, events) = env
        .compute
        .instance_action(&p1, &i.uuid, &p1.request_id)
        .await
        .unwrap();
    assert_eq!(events[0].result.as_deref(), Some("Success"));
    let u = env.usage("p1").await;
    assert_eq!((u["instances"], u["cores"], u["ram"]), (1, 1, 512));
}

#[tokio::test]
async fn no_valid_host_leaves_error_with_a_fault_and_no_allocation() {
    let env = Env::new(1).await;
    let p1 = ctx("p1");
    let req = ServerCreate {
        flavor_ref: "huge".into(),
        ..create_req("big")
    };
    // The huge flavor passes quota only for an admin-sized limit: raise it.
    env.compute
        .store
        .quota_set(
            "p1",
            &[("cores".to_string(), -1), ("ram".to_string(), -1)]
                .into_iter()
                .collect(),
        )
        .await
        .unwrap();
    let made = env.compute.server_create(&p1, req).await.unwrap();
    env.settle(&made[0].uuid).await;
    let i = env.get(&made[0].uuid).await;
    assert_eq!((i.vm_state, i.task_state), (VmState::Error, None));
    let fault = i.fault.unwrap();
    assert_eq!((fault.code, fault.message.as_str()), (500, NO_VALID_HOST));
    assert!(env.placement.of(&i.uuid).is_empty());
    assert!(i.host.is_none());
    assert!(env.agent("h1").spawned().is_empty());
    let (a, ev) = env
        .compute
        .instance_action(&p1, &i.uuid, &p1.request_id)
        .await
        .unwrap();
    assert_eq!(a.message.as_deref(), Some("Error"));
    assert_eq!(ev[0].result.as_deref(), Some("Error"));
}

#[tokio::test]
async fn a_failed_spawn_is_undone() {
    let env = Env::new(1).await;
    env.agent("h1").fail.lock().unwrap().insert("spawn".into());
    let made = env
        .compute
        .server_create(&ctx("p1"), create_req("x"))
        .await
        .unwrap();
    env.settle(&made[0].uuid).await;
    let i = env.get(&made[0].uuid).await;
    assert_eq!(i.vm_state, VmState::Error);
    assert!(i
        .fault
        .unwrap()
        .details
        .contains("injected failure of spawn"));
    assert!(
        env.placement.of(&i.uuid).is_empty(),
        "the claim was released"
    );
    let calls: Vec<String> = env
        .agent("h1")
        .methods()
        .into_iter()
        .filter(|m| m != "sync")
        .collect();
    assert_eq!(calls, vec!["spawn", "destroy"], "the spawn was undone");
}

#[tokio::test]
async fn twenty_concurrent_creates_with_ten_instances_quota_make_exactly_ten() {
    let env = Env::new(2).await;
    let mut tasks = Vec::new();
    for k in 0..20 {
        let c = env.compute.clone();
        tasks.push(tokio::spawn(async move {
            c.server_create(&ctx("p1"), create_req(&format!("s{k}")))
                .await
        }));
    }
    let mut ok = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(mut v) => ok.push(v.remove(0)),
            Err(e) => assert_eq!(
                e,
                Error::Forbidden("Quota exceeded for instances: Requested 1, but already used 10 of 10 instances".into())
            ),
        }
    }
    assert_eq!(ok.len(), 10);
    for i in &ok {
        env.settle(&i.uuid).await;
        assert_eq!(env.get(&i.uuid).await.vm_state, VmState::Active);
    }
    assert_eq!(env.usage("p1").await["instances"], 10);
}

#[tokio::test]
async fn multi_create_names_like_nova_and_fits_min_count() {
    let cfg = ComputeConfig {
        quota_instances: 2,
        ..ComputeConfig::default()
    };
    let env = Env::with(cfg, 1).await;
    let p1 = ctx("p1");
    let req = ServerCreate {
        min_count: 1,
        max_count: 3,
        ..create_req("web")
    };
    let made = env.compute.server_create(&p1, req).await.unwrap();
    let names: Vec<&str> = made.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["web-1", "web-2"],
        "reduced to what the quota allows"
    );
    assert_eq!(made[1].launch_index, 1);
    assert_eq!(made[0].reservation_id, made[1].reservation_id);
    for i in &made {
        env.settle(&i.uuid).await;
    }
    let req = ServerCreate {
        min_count: 1,
        max_count: 1,
        ..create_req("more")
    };
    assert!(matches!(
        env.compute.server_create(&p1, req).await,
        Err(Error::Forbidden(_))
    ));
}

#[tokio::test]
async fn create_checks_what_the_request_names() {
    let env = Env::new(1).await;
    let p1 = ctx("p1");
    let c = &env.compute;
    let try_ = |r: ServerCreate| async move { c.server_create(&ctx("p1"), r).await.unwrap_err() };
    assert_eq!(
        try_(ServerCreate {
            flavor_ref: "nope".into(),
            ..create_req("a")
        })
        .await,
        bad("Flavor nope could not be found.")
    );
    assert_eq!(
        try_(ServerCreate {
            flavor_ref: "private".into(),
            ..create_req("a")
        })
        .await,
        bad("Flavor private could not be found.")
    );
    assert_eq!(
        try_(ServerCreate {
            flavor_ref: "disabled".into(),
            ..create_req("a")
        })
        .await,
        bad("Flavor disabled could not be found.")
    );
    assert_eq!(
        try_(ServerCreate {
            image_ref: Some("nope".into()),
            ..create_req("a")
        })
        .await,
        bad("Image nope could not be found.")
    );
    assert_eq!(
        try_(ServerCreate {
            key_name: Some("nope".into()),
            ..create_req("a")
        })
        .await,
        bad("Invalid key_name provided.")
    );
    assert_eq!(
        try_(ServerCreate {
            networks: Some(Networks::List(vec![NetworkRequest::default()])),
            ..create_req("a")
        })
        .await
        .status(),
        400
    );
    assert_eq!(
        try_(ServerCreate {
            availability_zone: Some("mars".into()),
            ..create_req("a")
        })
        .await
        .status(),
        400
    );
    assert_eq!(
        try_(ServerCreate {
            group: Some("nope".into()),
            ..create_req("a")
        })
        .await
        .status(),
        400
    );
    let many: BTreeMap<String, String> = (0..129)
        .map(|n| (format!("k{n}"), "v".to_string()))
        .collect();
    assert_eq!(
        try_(ServerCreate {
            metadata: many,
            ..create_req("a")
        })
        .await,
        Error::Forbidden("Maximum number of metadata items exceeds 128".into())
    );
    {
        let mut imgs = env.images.images.lock().unwrap();
        let base = imgs["img"].clone();
        imgs.insert(
            "queued".into(),
            crate::ImageInfo {
                id: "queued".into(),
                status: "queued".into(),
                ..base.clone()
            },
        );
        imgs.insert(
            "fat".into(),
            crate::ImageInfo {
                id: "fat".into(),
                size: 2 << 30,
                ..base.clone()
            },
        );
        imgs.insert(
            "needy".into(),
            crate::ImageInfo {
                id: "needy".into(),
                min_disk: 5,
                min_ram: 64,
                ..base
            },
        );
    }
    assert_eq!(
        try_(ServerCreate {
            image_ref: Some("queued".into()),
            ..create_req("a")
        })
        .await,
        bad("Image queued is not active.")
    );
    assert_eq!(
        try_(ServerCreate { image_ref: Some("fat".into()), ..create_req("a") }).await,
        bad("Flavor's disk is too small for requested image. Flavor disk is 1073741824 bytes, image is 2147483648 bytes.")
    );
    assert_eq!(
        try_(ServerCreate { image_ref: Some("needy".into()), ..create_req("a") }).await,
        bad("Flavor's disk is too small for requested image. Flavor disk is 1073741824 bytes, minimum requested disk is 5368709120 bytes.")
    );
    // The private flavor with access, and OSC's image BDM beside imageRef, are fine.
    env.compute
        .store
        .flavor_access_add("private", "p1")
        .await
        .unwrap();
    let bdm = BlockDevice {
        uuid: Some("img".into()),
        source_type: "image".into(),
        destination_type: Some("local".into()),
        boot_index: Some(0),
        volume_size: None,
        delete_on_termination: true,
    };
    let req = ServerCreate {
        flavor_ref: "private".into(),
        block_devices: vec![bdm],
        ..create_req("ok")
    };
    let made = env.compute.server_create(&p1, req).await.unwrap();
    env.settle(&made[0].uuid).await;
    assert_eq!(
        env.usage("p1").await["instances"],
        1,
        "nothing of the refused requests was kept"
    );
}

#[tokio::test]
async fn a_full_server_group_takes_the_whole_create_back() {
    let cfg = ComputeConfig {
        quota_server_group_members: 1,
        ..ComputeConfig::default()
    };
    let env = Env::with(cfg, 1).await;
    let g = env.group("p1", "soft-anti-affinity").await;
    let req = ServerCreate {
        group: Some(g.clone()),
        min_count: 2,
        max_count: 2,
        ..create_req("g")
    };
    assert_eq!(
        env.compute
            .server_create(&ctx("p1"), req)
            .await
            .unwrap_err(),
        Error::Forbidden("Quota exceeded, too many servers in group".into())
    );
    assert_eq!(env.usage("p1").await["instances"], 0);
    assert!(env
        .compute
        .store
        .server_group_get(&g)
        .await
        .unwrap()
        .unwrap()
        .members
        .is_empty());
    assert!(env
        .compute
        .store
        .workflow_unfinished()
        .await
        .unwrap()
        .is_empty());
    let f = ServerFilter {
        all_tenants: true,
        ..ServerFilter::default()
    };
    assert!(env
        .compute
        .server_list(&crate::workflows::testkit::admin(), &f)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn server_group_policies_place_members() {
    let env = Env::new(2).await;
    let p1 = ctx("p1");
    let anti = env.group("p1", "anti-affinity").await;
    let mut hosts = Vec::new();
    for n in 0..3 {
        let req = ServerCreate {
            group: Some(anti.clone()),
            ..create_req(&format!("anti{n}"))
        };
        let made = env.compute.server_create(&ctx("p1"), req).await.unwrap();
        env.settle(&made[0].uuid).await;
        let i = env.get(&made[0].uuid).await;
        hosts.push((i.vm_state, i.host));
    }
    assert_eq!(hosts[0].0, VmState::Active);
    assert_eq!(hosts[1].0, VmState::Active);
    assert_ne!(hosts[0].1, hosts[1].1, "anti-affinity spreads the members");
    assert_eq!(
        hosts[2].0,
        VmState::Error,
        "no third host for a third member"
    );
    let same = env.group("p1", "affinity").await;
    let mut placed = Vec::new();
    for n in 0..2 {
        let req = ServerCreate {
            group: Some(same.clone()),
            ..create_req(&format!("aff{n}"))
        };
        let made = env.compute.server_create(&p1, req).await.unwrap();
        env.settle(&made[0].uuid).await;
        placed.push(env.get(&made[0].uuid).await.host);
    }
    assert!(placed[0].is_some());
    assert_eq!(placed[0], placed[1], "affinity keeps the members together");
}
