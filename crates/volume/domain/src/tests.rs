//! Domain tests over SQLite with the real `file` driver in a temporary directory (the image
//! service is a test double serving one raw file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common_config::VolumeConfig;
use common_error::{Error, Result};
use volume_driver_file::{FileDriver, FileDriverConfig};
use volume_model::driver::{Connection, Connector, VolumeDriver};
use volume_model::{AttachStatus, SnapshotStatus, VolumeStatus};

use crate::*;

struct OneImage(PathBuf);

#[async_trait::async_trait]
impl ImageSource for OneImage {
    async fn image(&self, _c: &Caller, id: &str) -> Result<ImageMeta> {
        if id != "img" {
            return Err(Error::not_found("image", id));
        }
        Ok(ImageMeta {
            id: id.into(),
            name: "tiny".into(),
            status: "active".into(),
            disk_format: "raw".into(),
            container_format: "bare".into(),
            size: 1 << 20,
            ..ImageMeta::default()
        })
    }
    async fn download(&self, _c: &Caller, _id: &str, dest: &Path) -> Result<()> {
        std::fs::copy(&self.0, dest)
            .map(|_| ())
            .map_err(|e| Error::internal("copy", e))
    }
    async fn upload(&self, _c: &Caller, _r: ImageUpload, _f: &Path) -> Result<String> {
        Err(Error::NotImplemented("upload".into()))
    }
}

struct Env {
    vols: Volumes,
    driver: FileDriver,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("v.db").display());
    let db = common_db::Db::connect(&url, 4, Duration::from_secs(30))
        .await
        .unwrap();
    let store = Store::new(db);
    store.migrate().await.unwrap();
    let driver = FileDriver::new(FileDriverConfig {
        volume_dir: dir.path().join("vol"),
        backup_dir: dir.path().join("bak"),
        capacity_gb: 100,
        export: "auto".into(),
        nbd_host: "127.0.0.1".into(),
        nbd_ports: (21500, 21600),
    })
    .unwrap();
    let image = dir.path().join("image.raw");
    let mut data = vec![0u8; 1 << 20];
    data[..11].copy_from_slice(b"image-bytes");
    std::fs::write(&image, data).unwrap();
    let vols = Volumes::new(
        store,
        VolumeConfig {
            quota_gigabytes: 5,
            ..VolumeConfig::default()
        },
        Arc::new(driver.clone()),
        Arc::new(OneImage(image)),
    );
    Env {
        vols,
        driver,
        _dir: dir,
    }
}

fn user(project: &str) -> Caller {
    Caller {
        user_id: "u".into(),
        project_id: Some(project.into()),
        is_admin: false,
    }
}

async fn wait(v: &Volumes, c: &Caller, id: &str, want: VolumeStatus) -> volume_model::Volume {
    for _ in 0..300 {
        let vol = v.get(c, id).await.unwrap();
        if vol.status == want {
            return vol;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("volume {id} never {want:?}: {:?}", v.get(c, id).await);
}

fn sized(size: i64) -> VolumeCreate {
    VolumeCreate {
        size,
        name: Some("v".into()),
        ..VolumeCreate::default()
    }
}

#[tokio::test]
async fn create_extend_and_delete_follow_cinders_status_machine() {
    let e = env().await;
    let c = user("p1");
    let v = e.vols.create(&c, sized(1)).await.unwrap();
    assert_eq!(v.status, VolumeStatus::Creating);
    wait(&e.vols, &c, &v.id, VolumeStatus::Available).await;
    assert_eq!(e.driver.list_volumes().await.unwrap(), vec![v.id.clone()]);

    let err = e.vols.extend(&c, &v.id, 1).await.unwrap_err();
    assert_eq!(
        err,
        Error::BadRequest(
            "New size for extend must be greater than current size. (current: 1, extended: 1)."
                .into()
        )
    );
    e.vols.extend(&c, &v.id, 2).await.unwrap();
    let grown = wait(&e.vols, &c, &v.id, VolumeStatus::Available).await;
    assert_eq!(grown.size, 2);

    // Another project sees nothing.
    assert!(matches!(
        e.vols.get(&user("p2"), &v.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.vols.delete(&user("p2"), &v.id, false, false).await,
        Err(Error::NotFound { .. })
    ));

    e.vols.delete(&c, &v.id, false, false).await.unwrap();
    for _ in 0..300 {
        if e.vols.get(&c, &v.id).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(e.vols.get(&c, &v.id).await.is_err());
    assert!(e.driver.list_volumes().await.unwrap().is_empty());
}

#[tokio::test]
async fn quotas_refuse_with_413_and_create_nothing() {
    let e = env().await;
    let c = user("p1");
    let v = e.vols.create(&c, sized(2)).await.unwrap();
    wait(&e.vols, &c, &v.id, VolumeStatus::Available).await;
    let err = e.vols.create(&c, sized(4)).await.unwrap_err();
    assert_eq!(
        err,
        Error::QuotaExceeded(
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed \
             gigabytes quota. Requested 4G, quota is 5G and 2G has been consumed."
                .into()
        )
    );
    assert_eq!(e.vols.list(&c, false).await.unwrap().len(), 1);
    let err = e.vols.extend(&c, &v.id, 9).await.unwrap_err();
    assert!(matches!(err, Error::QuotaExceeded(_)), "{err:?}");
    e.vols
        .quota_update("p1", &BTreeMap::from([("gigabytes".to_string(), Some(10))]))
        .await
        .unwrap();
    e.vols.create(&c, sized(4)).await.unwrap();
    assert_eq!(e.vols.usage("p1").await.unwrap().gigabytes, 6);
}

#[tokio::test]
async fn attachments_reserve_export_complete_and_release() {
    let e = env().await;
    let c = user("p1");
    let v = e.vols.create(&c, sized(1)).await.unwrap();
    wait(&e.vols, &c, &v.id, VolumeStatus::Available).await;
    let a = e
        .vols
        .attachment_create(&c, &v.id, Some("server-1"), None, None)
        .await
        .unwrap();
    assert_eq!(
        e.vols.get(&c, &v.id).await.unwrap().status,
        VolumeStatus::Reserved
    );
    // Not multiattach: a second reservation is refused.
    let err = e
        .vols
        .attachment_create(&c, &v.id, Some("server-2"), None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::BadRequest(m) if m.starts_with("Invalid volume: ")),
        "{err:?}"
    );
    let connector = Connector {
        host: "h".into(),
        local: true,
    };
    let a = e
        .vols
        .attachment_update(&c, &a.id, connector)
        .await
        .unwrap();
    assert!(matches!(a.connection_info, Some(Connection::Local { .. })));
    e.vols.attachment_complete(&c, &a.id).await.unwrap();
    let vol = e.vols.get(&c, &v.id).await.unwrap();
    assert_eq!(vol.status, VolumeStatus::InUse);
    assert_eq!(vol.attach_status, AttachStatus::Attached);
    assert_eq!(vol.attachments.len(), 1);
    // In use: no delete, and a snapshot only with force.
    let err = e.vols.delete(&c, &v.id, false, false).await.unwrap_err();
    assert!(matches!(&err, Error::BadRequest(m) if m.starts_with("Invalid volume: ")));
    assert!(e
        .vols
        .snapshot_create(&c, &v.id, None, None, BTreeMap::new(), false)
        .await
        .is_err());
    e.vols.attachment_delete(&c, &a.id).await.unwrap();
    let vol = e.vols.get(&c, &v.id).await.unwrap();
    assert_eq!(vol.status, VolumeStatus::Available);
    assert!(vol.attachments.is_empty());
    assert!(e.driver.list_exports().await.unwrap().is_empty());
}

#[tokio::test]
async fn snapshots_images_and_clones_hold_the_source_bytes() {
    let e = env().await;
    let c = user("p1");
    let from_image = e
        .vols
        .create(
            &c,
            VolumeCreate {
                size: 1,
                image_id: Some("img".into()),
                ..VolumeCreate::default()
            },
        )
        .await
        .unwrap();
    let vol = wait(&e.vols, &c, &from_image.id, VolumeStatus::Available).await;
    assert!(vol.bootable);
    let head = |id: &str| {
        let p = e.driver.volume_path(id);
        std::fs::read(p).unwrap()[..11].to_vec()
    };
    assert_eq!(head(&vol.id), b"image-bytes");
    let s = e
        .vols
        .snapshot_create(&c, &vol.id, Some("s".into()), None, BTreeMap::new(), false)
        .await
        .unwrap();
    for _ in 0..300 {
        if e.vols.snapshot_get(&c, &s.id).await.unwrap().status == SnapshotStatus::Available {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let from_snap = e
        .vols
        .create(
            &c,
            VolumeCreate {
                snapshot_id: Some(s.id.clone()),
                ..VolumeCreate::default()
            },
        )
        .await
        .unwrap();
    wait(&e.vols, &c, &from_snap.id, VolumeStatus::Available).await;
    assert_eq!(head(&from_snap.id), b"image-bytes");

    // A volume in error cannot be snapshotted.
    let admin = Caller {
        is_admin: true,
        ..user("p1")
    };
    e.vols
        .reset_status(&admin, &vol.id, Some(VolumeStatus::Error), None)
        .await
        .unwrap();
    let err = e
        .vols
        .snapshot_create(&c, &vol.id, None, None, BTreeMap::new(), false)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::BadRequest(format!(
            "Invalid volume: Volume {} status must be available, but current status is: error.",
            vol.id
        ))
    );
    assert_eq!(e.vols.snapshots(&c, false).await.unwrap().len(), 1);
    // Its volume cannot go while the snapshot exists (without cascade).
    assert!(e.vols.delete(&c, &vol.id, false, false).await.is_err());
}

#[tokio::test]
async fn recovery_finishes_interrupted_work_and_removes_strays() {
    let e = env().await;
    let c = user("p1");
    // A row left `creating` (the process died before the driver ran).
    let v = e.vols.create(&c, sized(1)).await.unwrap();
    wait(&e.vols, &c, &v.id, VolumeStatus::Available).await;
    e.driver.delete(&v.id).await.unwrap();
    e.vols
        .set_status(&v.id, &[VolumeStatus::Available], VolumeStatus::Creating)
        .await
        .unwrap();
    // Data no row owns, and an export no attachment owns.
    e.driver.create("stray-volume", 1).await.unwrap();
    let local = Connector {
        host: "h".into(),
        local: true,
    };
    e.driver
        .export("stray-volume", "gone-attachment", &local)
        .await
        .unwrap();
    assert_eq!(e.driver.list_exports().await.unwrap().len(), 1);
    e.vols.recover().await.unwrap();
    assert_eq!(
        e.vols.get(&c, &v.id).await.unwrap().status,
        VolumeStatus::Available
    );
    assert_eq!(e.driver.list_volumes().await.unwrap(), vec![v.id.clone()]);
    assert!(e.driver.list_exports().await.unwrap().is_empty());
}
