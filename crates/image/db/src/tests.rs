//! Store tests against a temporary SQLite database.

use std::time::Duration;

use common_db::Db;
use image_model::{Image, ListQuery, MemberStatus, Status, Visibility};

use crate::{new_id, now_text, DataFields, Store};

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let db = Db::connect(&url, 4, Duration::from_secs(5)).await.unwrap();
    let s = Store::new(db);
    s.migrate().await.unwrap();
    (s, dir)
}

fn image(owner: &str, name: &str, vis: Visibility) -> Image {
    let now = now_text();
    Image {
        id: new_id(),
        name: Some(name.into()),
        status: Status::Queued,
        visibility: vis,
        protected: false,
        os_hidden: false,
        owner: Some(owner.into()),
        disk_format: Some("raw".into()),
        container_format: Some("bare".into()),
        size: None,
        virtual_size: None,
        checksum: None,
        os_hash_algo: None,
        os_hash_value: None,
        min_disk: 0,
        min_ram: 0,
        created_at: now.clone(),
        updated_at: now,
        tags: vec!["a".into(), "b".into()],
        properties: [("k".to_string(), "v".to_string())].into_iter().collect(),
        blob: None,
        generation: 0,
    }
}

fn q(project: &str) -> ListQuery {
    ListQuery {
        project_id: Some(project.into()),
        limit: 100,
        ..Default::default()
    }
}

#[tokio::test]
async fn create_get_update_and_conflicting_generation() {
    let (s, _d) = store().await;
    let mut img = image("p1", "one", Visibility::Private);
    s.image_create(&img).await.unwrap();
    assert!(s
        .image_create(&img)
        .await
        .unwrap_err()
        .to_string()
        .contains("already exists"));
    let got = s.image_get(&img.id).await.unwrap().unwrap();
    assert_eq!(got, img);
    img.name = Some("renamed".into());
    img.tags = vec!["z".into()];
    let g = s.image_update(&img).await.unwrap();
    assert_eq!(g, 1);
    // A writer holding the old generation loses.
    assert_eq!(s.image_update(&img).await.unwrap_err().status(), 409);
    let got = s.image_get(&img.id).await.unwrap().unwrap();
    assert_eq!(got.name.as_deref(), Some("renamed"));
    assert_eq!(got.tags, vec!["z".to_string()]);
}

#[tokio::test]
async fn visibility_rules_of_the_list() {
    let (s, _d) = store().await;
    let private = image("p1", "private", Visibility::Private);
    let shared = image("p1", "shared", Visibility::Shared);
    let public = image("p1", "public", Visibility::Public);
    let community = image("p1", "community", Visibility::Community);
    for i in [&private, &shared, &public, &community] {
        s.image_create(i).await.unwrap();
    }
    let names = |v: Vec<Image>| {
        let mut n: Vec<String> = v.into_iter().filter_map(|i| i.name).collect();
        n.sort();
        n
    };
    assert_eq!(
        names(s.image_list(&q("p1"), None).await.unwrap()),
        vec!["community", "private", "public", "shared"]
    );
    assert_eq!(
        names(s.image_list(&q("p2"), None).await.unwrap()),
        vec!["public"]
    );
    s.member_create(&shared.id, "p2").await.unwrap();
    assert_eq!(
        names(s.image_list(&q("p2"), None).await.unwrap()),
        vec!["public"]
    );
    let mut pending = q("p2");
    pending.member_status = Some(MemberStatus::Pending);
    assert_eq!(
        names(s.image_list(&pending, None).await.unwrap()),
        vec!["public", "shared"]
    );
    s.member_set_status(&shared.id, "p2", MemberStatus::Accepted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        names(s.image_list(&q("p2"), None).await.unwrap()),
        vec!["public", "shared"]
    );
    let mut comm = q("p2");
    comm.visibility = Some(Visibility::Community);
    assert_eq!(
        names(s.image_list(&comm, None).await.unwrap()),
        vec!["community"]
    );
    let admin = ListQuery {
        is_admin: true,
        project_id: Some("adm".into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        names(s.image_list(&admin, None).await.unwrap()),
        vec!["private", "public", "shared"]
    );
}

#[tokio::test]
async fn keyset_pagination_visits_every_image_once() {
    let (s, _d) = store().await;
    for i in 0..7 {
        let mut img = image("p1", &format!("n{}", i % 3), Visibility::Private);
        img.size = if i % 2 == 0 { Some(i) } else { None };
        s.image_create(&img).await.unwrap();
    }
    for sort in [
        vec![
            ("name".to_string(), false),
            ("created_at".into(), true),
            ("id".into(), true),
        ],
        vec![
            ("size".to_string(), true),
            ("created_at".into(), true),
            ("id".into(), true),
        ],
    ] {
        let mut seen = Vec::new();
        let mut marker: Option<Image> = None;
        loop {
            let mut lq = q("p1");
            lq.limit = 2;
            lq.sort = sort.clone();
            let page = s.image_list(&lq, marker.as_ref()).await.unwrap();
            if page.is_empty() {
                break;
            }
            seen.extend(page.iter().map(|i| i.id.clone()));
            marker = page.last().cloned();
        }
        let mut uniq = seen.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(seen.len(), 7);
        assert_eq!(uniq.len(), 7);
    }
}

#[tokio::test]
async fn transitions_are_compare_and_set_and_delete_releases_blobs() {
    let (s, _d) = store().await;
    let img = image("p1", "x", Visibility::Private);
    s.image_create(&img).await.unwrap();
    assert!(s
        .image_transition(&img.id, &[Status::Queued], Status::Saving, None)
        .await
        .unwrap());
    assert!(!s
        .image_transition(&img.id, &[Status::Queued], Status::Saving, None)
        .await
        .unwrap());
    let data = DataFields {
        size: Some(5),
        blob: Some("blobkey1".into()),
        ..Default::default()
    };
    assert!(s
        .image_transition(&img.id, &[Status::Saving], Status::Active, Some(&data))
        .await
        .unwrap());
    assert_eq!(s.blob_refs("blobkey1").await.unwrap(), 1);
    let u = s.usage("p1").await.unwrap();
    assert_eq!((u.count, u.bytes), (1, 5));
    assert_eq!(
        s.image_delete(&img.id).await.unwrap(),
        Some(vec!["blobkey1".to_string()])
    );
    assert_eq!(s.image_delete(&img.id).await.unwrap(), None);
    assert_eq!(s.blob_refs("blobkey1").await.unwrap(), 0);
    assert!(s.image_get(&img.id).await.unwrap().is_none());
    assert_eq!(s.usage("p1").await.unwrap().count, 0);
}
