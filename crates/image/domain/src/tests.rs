//! Domain tests against a temporary SQLite database and a filesystem store.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common_config::ImageConfig;
use common_db::Db;
use futures_util::{stream, TryStreamExt};
use image_model::Status;
use image_store::FsStore;

use crate::{Caller, DataError, Images, NewImage};

struct Env {
    images: Images,
    dir: tempfile::TempDir,
}

async fn env(cfg: ImageConfig) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let db = Db::connect(&url, 4, Duration::from_secs(5)).await.unwrap();
    let store = image_db::Store::new(db);
    store.migrate().await.unwrap();
    let fs = FsStore::open(dir.path().join("images")).unwrap();
    Env {
        images: Images::new(store, Arc::new(fs), cfg),
        dir,
    }
}

fn files(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.map(|e| {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            files(&e.path())
        } else {
            1
        }
    })
    .sum()
}

fn caller(p: &str) -> Caller {
    Caller {
        user_id: "u".into(),
        project_id: Some(p.into()),
        is_admin: false,
    }
}

fn raw_image() -> NewImage {
    NewImage {
        disk_format: Some("raw".into()),
        container_format: Some("bare".into()),
        ..Default::default()
    }
}

fn body(
    chunks: Vec<&'static [u8]>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c))))
}

async fn read(e: &Env, c: &Caller, id: &str) -> Vec<u8> {
    let img = e.images.image_get(c, id).await.unwrap();
    let d = e
        .images
        .image_download(c, &img, 0, None)
        .await
        .unwrap()
        .unwrap();
    let parts: Vec<Bytes> = d.stream.try_collect().await.unwrap();
    parts.concat()
}

#[tokio::test]
async fn identical_uploads_share_a_blob_and_deleting_one_keeps_the_other() {
    let e = env(ImageConfig::default()).await;
    let c = caller("p1");
    let a = e.images.image_create(&c, raw_image()).await.unwrap();
    let b = e.images.image_create(&c, raw_image()).await.unwrap();
    e.images
        .image_upload(a.clone(), Some(10), body(vec![b"hello", b"world"]))
        .await
        .unwrap();
    e.images
        .image_upload(b.clone(), None, body(vec![b"helloworld"]))
        .await
        .unwrap();
    let a2 = e.images.image_get(&c, &a.id).await.unwrap();
    assert_eq!(a2.status, Status::Active);
    assert_eq!(a2.size, Some(10));
    assert_eq!(a2.virtual_size, Some(10));
    assert_eq!(
        a2.checksum.as_deref(),
        Some("fc5e038d38a57032085441e7fe7010b0")
    );
    assert_eq!(a2.os_hash_algo.as_deref(), Some("sha512"));
    assert_eq!(files(&e.dir.path().join("images")), 1);
    e.images.image_delete(&a2).await.unwrap();
    assert_eq!(read(&e, &c, &b.id).await, b"helloworld");
    assert_eq!(files(&e.dir.path().join("images")), 1);
    let b2 = e.images.image_get(&c, &b.id).await.unwrap();
    e.images.image_delete(&b2).await.unwrap();
    assert_eq!(files(&e.dir.path().join("images")), 0);
}

#[tokio::test]
async fn over_quota_and_broken_streams_leave_nothing_and_requeue() {
    let e = env(ImageConfig {
        image_size_total: 8,
        ..Default::default()
    })
    .await;
    let c = caller("p1");
    let a = e.images.image_create(&c, raw_image()).await.unwrap();
    let err = e
        .images
        .image_upload(a.clone(), None, body(vec![b"12345", b"67890"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DataError::Error(x) if x.status() == 413),
        "{err:?}"
    );
    assert_eq!(
        e.images.image_get(&c, &a.id).await.unwrap().status,
        Status::Queued
    );
    assert_eq!(files(&e.dir.path().join("images")), 0);
    let broken = stream::iter(vec![
        Ok(Bytes::from_static(b"123")),
        Err(std::io::Error::other("reset")),
    ]);
    let err = e
        .images
        .image_upload(a.clone(), Some(6), broken)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DataError::Error(x) if x.status() == 400),
        "{err:?}"
    );
    let a2 = e.images.image_get(&c, &a.id).await.unwrap();
    assert_eq!((a2.status, a2.size), (Status::Queued, None));
    assert_eq!(files(&e.dir.path().join("images")), 0);
    // Short body for its declared length: the client went away.
    let err = e
        .images
        .image_upload(a2, Some(6), body(vec![b"123"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DataError::Error(x) if x.status() == 400),
        "{err:?}"
    );
    assert_eq!(files(&e.dir.path().join("images")), 0);
}

#[tokio::test]
async fn wrong_format_is_refused_and_active_images_take_no_data() {
    let e = env(ImageConfig::default()).await;
    let c = caller("p1");
    let mut new = raw_image();
    new.disk_format = Some("qcow2".into());
    let a = e.images.image_create(&c, new).await.unwrap();
    let err = e
        .images
        .image_upload(a.clone(), None, body(vec![b"not a qcow2"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DataError::InvalidImageData(m) if m.contains("does not match")),
        "{err:?}"
    );
    assert_eq!(files(&e.dir.path().join("images")), 0);
    let b = e.images.image_create(&c, raw_image()).await.unwrap();
    e.images
        .image_upload(b.clone(), None, body(vec![b"x"]))
        .await
        .unwrap();
    let b2 = e.images.image_get(&c, &b.id).await.unwrap();
    let err = e
        .images
        .image_upload(b2, None, body(vec![b"y"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DataError::Error(x) if x.status() == 409),
        "{err:?}"
    );
}

#[tokio::test]
async fn stage_then_import_activates_and_recover_cleans_up() {
    let e = env(ImageConfig::default()).await;
    let c = caller("p1");
    let a = e.images.image_create(&c, raw_image()).await.unwrap();
    e.images
        .image_stage(a.clone(), None, body(vec![b"staged data"]))
        .await
        .unwrap();
    let a2 = e.images.image_get(&c, &a.id).await.unwrap();
    assert_eq!(a2.status, Status::Uploading);
    e.images.image_import(&a2).await.unwrap();
    let a3 = e.images.image_get(&c, &a.id).await.unwrap();
    assert_eq!((a3.status, a3.size), (Status::Active, Some(11)));
    assert_eq!(read(&e, &c, &a.id).await, b"staged data");
    // An orphan blob and a stale partial disappear on recovery; referenced data stays.
    std::fs::create_dir_all(e.dir.path().join("images/blobs/ff")).unwrap();
    std::fs::write(e.dir.path().join("images/blobs/ff/ffff0000"), b"orphan").unwrap();
    std::fs::write(e.dir.path().join("images/tmp/x.part"), b"partial").unwrap();
    e.images.recover().await.unwrap();
    assert_eq!(files(&e.dir.path().join("images")), 1);
    assert_eq!(read(&e, &c, &a.id).await, b"staged data");
}

#[tokio::test]
async fn visibility_and_members() {
    let e = env(ImageConfig::default()).await;
    let owner = caller("p1");
    let other = caller("p2");
    let img = e.images.image_create(&owner, raw_image()).await.unwrap();
    assert_eq!(
        e.images
            .image_get(&other, &img.id)
            .await
            .unwrap_err()
            .status(),
        404
    );
    e.images.member_create(&img, "p2").await.unwrap();
    assert_eq!(
        e.images
            .member_create(&img, "p2")
            .await
            .unwrap_err()
            .status(),
        409
    );
    let seen = e.images.image_get(&other, &img.id).await.unwrap();
    assert_eq!(e.images.member_list(&other, &seen).await.unwrap().len(), 1);
    let m = e
        .images
        .member_update(&other, &seen, "p2", image_model::MemberStatus::Accepted)
        .await
        .unwrap();
    assert_eq!(m.status, image_model::MemberStatus::Accepted);
    assert_eq!(
        e.images
            .member_get(&other, &seen, "p3")
            .await
            .unwrap_err()
            .status(),
        404
    );
    let admin = Caller {
        is_admin: true,
        ..caller("adm")
    };
    assert!(e.images.image_get(&admin, &img.id).await.is_ok());
}

#[tokio::test]
async fn recovery_requeues_interrupted_uploads_and_keeps_finished_stages() {
    let e = env(ImageConfig::default()).await;
    let c = caller("p1");
    let saving = e.images.image_create(&c, raw_image()).await.unwrap();
    let uploading = e.images.image_create(&c, raw_image()).await.unwrap();
    let staged = e.images.image_create(&c, raw_image()).await.unwrap();
    e.images
        .image_stage(staged.clone(), None, body(vec![b"kept"]))
        .await
        .unwrap();
    let st = &e.images.store;
    assert!(st
        .image_transition(&saving.id, &[Status::Queued], Status::Saving, None)
        .await
        .unwrap());
    assert!(st
        .image_transition(&uploading.id, &[Status::Queued], Status::Uploading, None)
        .await
        .unwrap());
    e.images.recover().await.unwrap();
    let status = |id: String| {
        let images = e.images.clone();
        let c = c.clone();
        async move { images.image_get(&c, &id).await.unwrap().status }
    };
    assert_eq!(status(saving.id.clone()).await, Status::Queued);
    assert_eq!(status(uploading.id.clone()).await, Status::Queued);
    assert_eq!(status(staged.id.clone()).await, Status::Uploading);
    assert_eq!(files(&e.dir.path().join("images")), 1);
}
