//! Domain tests for servers: visibility, list, update, metadata, tags, delete.

use std::collections::BTreeMap;

use common_error::Error;
use compute_model::VmState;

use super::*;
use crate::workflows::testkit::{admin, create_req, ctx, Env};

fn bad(msg: &str) -> Error {
    Error::BadRequest(msg.into())
}

#[tokio::test]
async fn servers_are_visible_to_their_project_and_admins_only() {
    let env = Env::new(1).await;
    let (p1, p2) = (ctx("p1"), ctx("p2"));
    let a = env.boot(&p1, "a").await;
    let b = env.boot(&p2, "b").await;
    assert_eq!(
        env.compute.server_get(&p2, &a.uuid).await.unwrap_err(),
        Error::not_found("server", &a.uuid)
    );
    assert!(env.compute.server_get(&admin(), &a.uuid).await.is_ok());
    assert!(matches!(
        env.compute.server_delete(&p2, &a.uuid, false).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        env.compute.server_stop(&p2, &a.uuid).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        env.compute.instance_actions(&p2, &a.uuid).await,
        Err(Error::NotFound { .. })
    ));
    let f = ServerFilter::default();
    let mine: Vec<String> = env
        .compute
        .server_list(&p1, &f)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.uuid)
        .collect();
    assert_eq!(mine, vec![a.uuid.clone()]);
    // Even asking for all tenants, a member sees its own.
    let all = ServerFilter {
        all_tenants: true,
        ..ServerFilter::default()
    };
    assert_eq!(env.compute.server_list(&p1, &all).await.unwrap().len(), 1);
    assert_eq!(
        env.compute.server_list(&admin(), &all).await.unwrap().len(),
        2
    );
    assert_eq!(
        env.compute.server_list(&admin(), &f).await.unwrap().len(),
        0,
        "admin's own project"
    );
    let of_p2 = ServerFilter {
        project_id: Some("p2".into()),
        ..ServerFilter::default()
    };
    assert_eq!(
        env.compute.server_list(&admin(), &of_p2).await.unwrap()[0].uuid,
        b.uuid
    );
}

#[tokio::test]
async fn list_filters_sorts_and_pages() {
    let env = Env::new(1).await;
    let p1 = ctx("p1");
    let mut uuids = Vec::new();
    for n in ["alpha", "beta", "gamma", "delta"] {
        uuids.push(env.boot(&p1, n).await.uuid);
    }
    env.compute
        .server_tags_set(&p1, &uuids[0], vec!["red".into(), "blue".into()])
        .await
        .unwrap();
    env.compute
        .server_tags_set(&p1, &uuids[1], vec!["red".into()])
        .await
        .unwrap();
    env.compute.server_stop(&p1, &uuids[2]).await.unwrap();
    env.settle(&uuids[2]).await;
    let names = |v: Vec<compute_model::Instance>| v.into_iter().map(|i| i.name).collect::<Vec<_>>();
    let l = |f: ServerFilter| {
        let c = env.compute.clone();
        let p1 = p1.clone();
        async move { c.server_list(&p1, &f).await }
    };
    assert_eq!(
        names(l(ServerFilter::default()).await.unwrap()),
        vec!["delta", "gamma", "beta", "alpha"],
        "newest first"
    );
    let by_name = ServerFilter {
        sort: vec![("display_name".into(), "asc".into())],
        ..ServerFilter::default()
    };
    assert_eq!(
        names(l(by_name.clone()).await.unwrap()),
        vec!["alpha", "beta", "delta", "gamma"]
    );
    let page = ServerFilter {
        limit: Some(2),
        marker: Some(uuids[1].clone()),
        ..by_name.clone()
    };
    assert_eq!(names(l(page).await.unwrap()), vec!["delta", "gamma"]);
    let unknown = ServerFilter {
        marker: Some("nope".into()),
        ..ServerFilter::default()
    };
    assert_eq!(
        l(unknown).await.unwrap_err(),
        bad("marker [nope] not found")
    );
    let bad_key = ServerFilter {
        sort: vec![("color".into(), "asc".into())],
        ..ServerFilter::default()
    };
    assert!(matches!(l(bad_key).await, Err(Error::BadRequest(_))));
    let shutoff = ServerFilter {
        status: vec!["SHUTOFF".into()],
        ..ServerFilter::default()
    };
    assert_eq!(names(l(shutoff).await.unwrap()), vec!["gamma"]);
    let named = ServerFilter {
        name: Some("^ga".into()),
        ..ServerFilter::default()
    };
    assert_eq!(names(l(named).await.unwrap()), vec!["gamma"]);
    let tagged = ServerFilter {
        tags: vec!["red".into(), "blue".into()],
        ..ServerFilter::default()
    };
    assert_eq!(names(l(tagged).await.unwrap()), vec!["alpha"]);
    let any = ServerFilter {
        tags_any: vec!["red".into()],
        ..by_name.clone()
    };
    assert_eq!(names(l(any).await.unwrap()), vec!["alpha", "beta"]);
    let not_any = ServerFilter {
        not_tags_any: vec!["red".into()],
        ..by_name.clone()
    };
    assert_eq!(names(l(not_any).await.unwrap()), vec!["delta", "gamma"]);
    let flavor = ServerFilter {
        flavor: Some("small".into()),
        ..ServerFilter::default()
    };
    assert!(l(flavor).await.unwrap().is_empty());
    let since = ServerFilter {
        changes_since: Some("2000-01-01T00:00:00Z".into()),
        ..ServerFilter::default()
    };
    assert_eq!(l(since).await.unwrap().len(), 4);
}

#[tokio::test]
async fn update_metadata_and_tags() {
    let env = Env::new(1).await;
    let p1 = ctx("p1");
    let i = env.boot(&p1, "a").await;
    let u = ServerUpdate {
        name: Some("b".into()),
        description: Some(Some("d".into())),
        ..ServerUpdate::default()
    };
    let after = env.compute.server_update(&p1, &i.uuid, u).await.unwrap();
    assert_eq!(
        (after.name.as_str(), after.description.as_deref()),
        ("b", Some("d"))
    );
    let items: BTreeMap<String, String> =
        [("a".to_string(), "1".to_string())].into_iter().collect();
    assert_eq!(
        env.compute
            .server_metadata_set(&p1, &i.uuid, items.clone(), false)
            .await
            .unwrap()
            .len(),
        1
    );
    env.compute
        .server_metadata_delete(&p1, &i.uuid, "a")
        .await
        .unwrap();
    assert!(matches!(
        env.compute.server_metadata_delete(&p1, &i.uuid, "a").await,
        Err(Error::NotFound { .. })
    ));
    assert!(env.compute.server_tag_add(&p1, &i.uuid, "t").await.unwrap());
    assert!(!env.compute.server_tag_add(&p1, &i.uuid, "t").await.unwrap());
    env.compute
        .server_tag_delete(&p1, &i.uuid, "t")
        .await
        .unwrap();
    let too_many: Vec<String> = (0..51).map(|n| format!("t{n}")).collect();
    assert!(matches!(
        env.compute.server_tags_set(&p1, &i.uuid, too_many).await,
        Err(Error::BadRequest(_))
    ));
    // Locked: a member may not change metadata, an admin may.
    env.compute
        .server_lock(&admin(), &i.uuid, Some("maintenance".into()))
        .await
        .unwrap();
    assert_eq!(
        env.compute
            .server_metadata_set(&p1, &i.uuid, items.clone(), false)
            .await
            .unwrap_err(),
        Error::Conflict(format!("Instance {} is locked", i.uuid))
    );
    assert!(env
        .compute
        .server_metadata_set(&admin(), &i.uuid, items, false)
        .await
        .is_ok());
    assert_eq!(
        env.get(&i.uuid).await.locked_reason.as_deref(),
        Some("maintenance")
    );
}

#[tokio::test]
async fn delete_frees_quota_allocation_vm_and_group_membership() {
    let env = Env::new(1).await;
    let p1 = ctx("p1");
    let g = env.group("p1", "anti-affinity").await;
    let made = env
        .compute
        .server_create(
            &p1,
            ServerCreate {
                group: Some(g.clone()),
                ..create_req("a")
            },
        )
        .await
        .unwrap();
    let uuid = made[0].uuid.clone();
    env.settle(&uuid).await;
    assert_eq!(
        env.compute
            .store
            .server_group_get(&g)
            .await
            .unwrap()
            .unwrap()
            .members,
        vec![uuid.clone()]
    );
    assert_eq!(env.usage("p1").await["instances"], 1);
    env.compute
        .server_delete(&ctx("p1"), &uuid, false)
        .await
        .unwrap();
    env.settle(&uuid).await;
    assert!(matches!(
        env.compute.server_get(&p1, &uuid).await,
        Err(Error::NotFound { .. })
    ));
    let gone = env.get(&uuid).await;
    assert_eq!(gone.vm_state, VmState::Deleted);
    assert!(env.placement.of(&uuid).is_empty());
    assert!(env.agent("h1").state(&uuid).is_none());
    assert!(env.agent("h1").methods().contains(&"destroy".to_string()));
    let u = env.usage("p1").await;
    assert_eq!((u["instances"], u["cores"], u["ram"]), (0, 0, 0));
    assert!(env
        .compute
        .store
        .server_group_get(&g)
        .await
        .unwrap()
        .unwrap()
        .members
        .is_empty());
    let actions = env.compute.instance_actions(&p1, &uuid).await.unwrap();
    assert_eq!(
        actions[0].action, "delete",
        "deleted servers keep their actions"
    );
}

#[tokio::test]
async fn delete_of_a_locked_server_is_refused_to_members() {
    let env = Env::new(1).await;
    let p1 = ctx("p1");
    let i = env.boot(&p1, "a").await;
    env.compute.server_lock(&p1, &i.uuid, None).await.unwrap();
    assert_eq!(
        env.compute
            .server_delete(&p1, &i.uuid, false)
            .await
            .unwrap_err(),
        Error::Conflict(format!("Instance {} is locked", i.uuid))
    );
    env.compute
        .server_delete(&admin(), &i.uuid, true)
        .await
        .unwrap();
    env.settle(&i.uuid).await;
    assert_eq!(env.get(&i.uuid).await.vm_state, VmState::Deleted);
}

#[tokio::test]
async fn delete_while_building_cleans_up_what_the_build_made() {
    let env = Env::new(1).await;
    let p1 = ctx("p1");
    let made = env
        .compute
        .server_create(&p1, create_req("a"))
        .await
        .unwrap();
    let uuid = made[0].uuid.clone();
    env.compute.server_delete(&p1, &uuid, false).await.unwrap();
    env.settle(&uuid).await;
    assert_eq!(env.get(&uuid).await.vm_state, VmState::Deleted);
    assert!(env.placement.of(&uuid).is_empty());
    assert!(env.agent("h1").state(&uuid).is_none());
    assert_eq!(env.usage("p1").await["instances"], 0);
}
