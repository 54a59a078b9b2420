//! Store tests on a real SQLite file (the API suite runs the same queries on PostgreSQL).

use std::collections::BTreeMap;

use volume_model::driver::Connection;

use super::*;

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("v.db").display());
    let db = Db::connect(&url, 4, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let s = Store::new(db);
    s.migrate().await.unwrap();
    (s, dir)
}

fn volume(id: &str, project: &str, size: i64) -> Volume {
    Volume {
        id: id.into(),
        project_id: project.into(),
        user_id: "u".into(),
        name: Some(format!("name-{id}")),
        description: None,
        size,
        status: VolumeStatus::Creating,
        attach_status: AttachStatus::Detached,
        availability_zone: "nova".into(),
        volume_type_id: "t".into(),
        bootable: false,
        multiattach: false,
        read_only: false,
        snapshot_id: None,
        source_volid: None,
        image_id: None,
        metadata: BTreeMap::from([("k".to_string(), "v".to_string())]),
        image_metadata: BTreeMap::new(),
        host: "h@file".into(),
        created_at: now_text(),
        updated_at: None,
        attachments: Vec::new(),
    }
}

#[tokio::test]
async fn migrations_apply_once() {
    let (s, _d) = store().await;
    assert_eq!(s.migrate().await.unwrap(), 0);
}

#[tokio::test]
async fn volumes_round_trip_and_status_moves_only_from_what_it_names() {
    let (s, _d) = store().await;
    let mut tx = s.begin().await.unwrap();
    tx.volume_insert(&volume("v1", "p1", 2)).await.unwrap();
    tx.volume_insert(&volume("v2", "p2", 3)).await.unwrap();
    tx.commit().await.unwrap();
    let v = s.volume("v1").await.unwrap().unwrap();
    assert_eq!(v, {
        let mut want = volume("v1", "p1", 2);
        want.created_at = v.created_at.clone();
        want
    });
    assert_eq!(s.volumes(Some("p1")).await.unwrap().len(), 1);
    assert_eq!(s.volumes(None).await.unwrap().len(), 2);
    assert!(s.volume("nope").await.unwrap().is_none());

    let mut tx = s.begin().await.unwrap();
    assert!(tx
        .volume_set_status("v1", &[VolumeStatus::Creating], VolumeStatus::Available)
        .await
        .unwrap());
    assert!(!tx
        .volume_set_status("v1", &[VolumeStatus::Creating], VolumeStatus::Error)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert_eq!(
        s.volume("v1").await.unwrap().unwrap().status,
        VolumeStatus::Available
    );
}

#[tokio::test]
async fn usage_counts_volumes_and_snapshots_of_a_project() {
    let (s, _d) = store().await;
    let mut tx = s.begin().await.unwrap();
    assert_eq!(tx.usage("p1").await.unwrap(), Usage::default());
    tx.volume_insert(&volume("v1", "p1", 2)).await.unwrap();
    tx.volume_insert(&volume("v2", "p1", 5)).await.unwrap();
    tx.volume_insert(&volume("v3", "p2", 7)).await.unwrap();
    tx.snapshot_insert(&Snapshot {
        id: "s1".into(),
        volume_id: "v1".into(),
        project_id: "p1".into(),
        user_id: "u".into(),
        name: None,
        description: None,
        size: 2,
        status: SnapshotStatus::Creating,
        metadata: BTreeMap::new(),
        created_at: now_text(),
        updated_at: None,
    })
    .await
    .unwrap();
    assert_eq!(
        tx.usage("p1").await.unwrap(),
        Usage {
            volumes: 2,
            snapshots: 1,
            gigabytes: 9
        }
    );
    assert_eq!(tx.snapshot_count_of("v1").await.unwrap(), 1);
    tx.snapshot_set_status("s1", SnapshotStatus::Available)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let snap = s.snapshot("s1").await.unwrap().unwrap();
    assert_eq!(snap.status, SnapshotStatus::Available);
    assert_eq!(s.snapshots(Some("p2")).await.unwrap().len(), 0);
    let mut tx = s.begin().await.unwrap();
    tx.snapshot_delete("s1").await.unwrap();
    tx.commit().await.unwrap();
    assert!(s.snapshot("s1").await.unwrap().is_none());
}

#[tokio::test]
async fn attachments_follow_their_volume() {
    let (s, _d) = store().await;
    let mut tx = s.begin().await.unwrap();
    tx.volume_insert(&volume("v1", "p1", 1)).await.unwrap();
    let mut a = Attachment {
        id: "a1".into(),
        volume_id: "v1".into(),
        instance_uuid: Some("i1".into()),
        attached_host: None,
        mountpoint: None,
        attach_status: AttachStatus::Reserved,
        attach_mode: "rw".into(),
        connection_info: None,
        attached_at: None,
        detached_at: None,
    };
    tx.attachment_put(&a).await.unwrap();
    a.attach_status = AttachStatus::Attached;
    a.connection_info = Some(Connection::Local {
        device_path: "/x/v1.raw".into(),
        format: "raw".into(),
    });
    tx.attachment_put(&a).await.unwrap();
    tx.commit().await.unwrap();
    let v = s.volume("v1").await.unwrap().unwrap();
    assert_eq!(v.attachments, vec![a.clone()]);
    assert_eq!(s.attachment("a1").await.unwrap(), Some(a.clone()));
    assert_eq!(s.attachments().await.unwrap().len(), 1);
    let mut tx = s.begin().await.unwrap();
    tx.volume_delete("v1").await.unwrap();
    tx.commit().await.unwrap();
    assert!(s.attachment("a1").await.unwrap().is_none());
    assert!(s.volume("v1").await.unwrap().is_none());
}

#[tokio::test]
async fn quota_overrides_are_set_and_removed() {
    let (s, _d) = store().await;
    let mut tx = s.begin().await.unwrap();
    tx.quota_set("p1", "gigabytes", Some(5)).await.unwrap();
    tx.quota_set("p1", "gigabytes", Some(7)).await.unwrap();
    tx.quota_set("p1", "volumes", Some(1)).await.unwrap();
    tx.commit().await.unwrap();
    let q = s.quotas("p1").await.unwrap();
    assert_eq!(q.get("gigabytes"), Some(&7));
    assert_eq!(q.len(), 2);
    let mut tx = s.begin().await.unwrap();
    tx.quota_set("p1", "volumes", None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(s.quotas("p1").await.unwrap().len(), 1);
}
