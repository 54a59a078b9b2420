//! The `file` driver on real files with the real host tools (qemu-img, qemu-io,
//! qemu-storage-daemon): every operation and its idempotency, bytes through snapshots, clones,
//! images, backups and NBD exports, and bad ids refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use volume_driver_file::{FileDriver, FileDriverConfig, CHUNK};
use volume_model::driver::{Connection, Connector, DriverError, VolumeDriver};

const GIB: u64 = 1 << 30;

fn driver(dir: &Path, export: &str) -> FileDriver {
    FileDriver::new(FileDriverConfig {
        volume_dir: dir.join("vol"),
        backup_dir: dir.join("bak"),
        capacity_gb: 100,
        export: export.into(),
        nbd_host: "127.0.0.1".into(),
        nbd_ports: (20810 + (std::process::id() % 500) as u16, 21400),
    })
    .unwrap()
}

fn local() -> Connector {
    Connector {
        host: "here".into(),
        local: true,
    }
}

/// Writes `data` at `offset` of a raw file.
fn poke(path: &Path, offset: u64, data: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(data).unwrap();
    f.sync_all().unwrap();
}

fn peek(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0; len];
    f.read_exact(&mut buf).unwrap();
    buf
}

fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn volumes_are_created_grown_and_deleted_idempotently() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path(), "auto");
    d.create("v1", 1).await.unwrap();
    d.create("v1", 1).await.unwrap();
    let p = d.volume_path("v1");
    assert_eq!(std::fs::metadata(&p).unwrap().len(), GIB);
    assert_eq!(d.list_volumes().await.unwrap(), vec!["v1".to_string()]);
    poke(&p, 4096, b"keep me");
    d.extend("v1", 2).await.unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 2 * GIB);
    assert_eq!(peek(&p, 4096, 7), b"keep me");
    assert!(matches!(
        d.extend("v1", 1).await,
        Err(DriverError::Invalid(_))
    ));
    assert_eq!(d.capacity().await.unwrap().free_gb, 98);
    d.delete("v1").await.unwrap();
    d.delete("v1").await.unwrap();
    assert!(!p.exists());
    assert!(d.list_volumes().await.unwrap().is_empty());
    assert!(matches!(
        d.extend("v1", 3).await,
        Err(DriverError::NotFound(_))
    ));
}

#[tokio::test]
async fn bad_ids_never_become_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path(), "auto");
    for bad in ["", "../x", "a/b", "a.b", &"x".repeat(65)] {
        assert!(
            matches!(d.create(bad, 1).await, Err(DriverError::Invalid(_))),
            "{bad:?}"
        );
        assert!(matches!(d.delete(bad).await, Err(DriverError::Invalid(_))));
    }
    assert!(d.list_volumes().await.unwrap().is_empty());
}

#[tokio::test]
async fn snapshots_and_clones_keep_the_bytes_of_their_moment() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path(), "auto");
    d.create("src", 1).await.unwrap();
    let src = d.volume_path("src");
    poke(&src, 0, b"before");
    d.create_snapshot("s1", "src").await.unwrap();
    d.create_snapshot("s1", "src").await.unwrap();
    d.clone_volume("c1", 2, "src").await.unwrap();
    poke(&src, 0, b"after!");
    d.create_from_snapshot("v2", 2, "s1").await.unwrap();
    let v2 = d.volume_path("v2");
    assert_eq!(peek(&v2, 0, 6), b"before");
    assert_eq!(std::fs::metadata(&v2).unwrap().len(), 2 * GIB);
    assert_eq!(peek(&d.volume_path("c1"), 0, 6), b"before");
    assert_eq!(d.list_snapshots().await.unwrap(), vec!["s1".to_string()]);
    d.delete_snapshot("s1").await.unwrap();
    d.delete_snapshot("s1").await.unwrap();
    assert!(matches!(
        d.create_from_snapshot("v3", 1, "s1").await,
        Err(DriverError::NotFound(_))
    ));
    assert!(!d.volume_path("v3").exists());
}

#[tokio::test]
async fn images_become_volumes_and_volumes_images() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path(), "auto");
    let img = tmp.path().join("img.qcow2");
    let i = img.display().to_string();
    sh("qemu-img", &["create", "-q", "-f", "qcow2", &i, "64M"]);
    sh("qemu-io", &["-f", "qcow2", "-c", "write -P 0xab 1M 1M", &i]);
    d.create_from_image("v1", 1, &img, "qcow2").await.unwrap();
    let p = d.volume_path("v1");
    assert_eq!(std::fs::metadata(&p).unwrap().len(), GIB);
    assert!(peek(&p, 1 << 20, 1 << 20).iter().all(|&b| b == 0xab));
    assert!(peek(&p, 0, 4096).iter().all(|&b| b == 0));
    // Too small a volume for the image: refused, nothing left.
    let big = tmp.path().join("big.qcow2");
    sh(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            &big.display().to_string(),
            "2G",
        ],
    );
    assert!(matches!(
        d.create_from_image("v2", 1, &big, "qcow2").await,
        Err(DriverError::Invalid(_))
    ));
    assert_eq!(d.list_volumes().await.unwrap(), vec!["v1".to_string()]);
    // Back to an image.
    let out = tmp.path().join("out.qcow2");
    d.copy_to_image("v1", &out, "qcow2").await.unwrap();
    let cmp = Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "qcow2"])
        .arg(&p)
        .arg(&out)
        .status()
        .unwrap();
    assert!(cmp.success(), "image differs from the volume");
}

#[tokio::test]
async fn backups_are_incremental_and_restore_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path(), "auto");
    d.create("v1", 1).await.unwrap();
    let p = d.volume_path("v1");
    poke(&p, 0, &vec![1u8; CHUNK * 2]);
    poke(&p, 100 * CHUNK as u64, b"far away");
    let full = d.backup("v1", "b1", None).await.unwrap();
    assert!(!full.incremental);
    assert_eq!(full.stored_bytes, 2 * CHUNK as u64, "two distinct chunks");
    // Idempotent: a second call stores nothing more and says the same.
    assert_eq!(d.backup("v1", "b1", None).await.unwrap(), full);
    poke(&p, 100 * CHUNK as u64, b"changed!");
    let inc = d.backup("v1", "b2", Some("b1")).await.unwrap();
    assert!(inc.incremental);
    assert_eq!(inc.stored_bytes, CHUNK as u64, "only the changed chunk");

    d.create("r1", 1).await.unwrap();
    poke(&d.volume_path("r1"), 0, b"garbage that must go");
    d.restore("b1", "r1").await.unwrap();
    let r = d.volume_path("r1");
    assert_eq!(peek(&r, 0, 8), vec![1u8; 8]);
    assert_eq!(peek(&r, 100 * CHUNK as u64, 8), b"far away");
    assert_eq!(peek(&r, 3 * CHUNK as u64, 8), vec![0u8; 8]);
    // Deleting the parent keeps what the child needs.
    d.delete_backup("b1").await.unwrap();
    d.delete_backup("b1").await.unwrap();
    d.restore("b2", "r1").await.unwrap();
    assert_eq!(peek(&r, 0, 8), vec![1u8; 8]);
    assert_eq!(peek(&r, 100 * CHUNK as u64, 8), b"changed!");
    d.delete_backup("b2").await.unwrap();
    let chunks: Vec<PathBuf> = walk(&tmp.path().join("bak/chunks"));
    assert!(chunks.is_empty(), "chunks left: {chunks:?}");
    assert!(matches!(
        d.restore("b2", "r1").await,
        Err(DriverError::NotFound(_))
    ));
    // A smaller volume cannot take a larger backup.
    d.create("v9", 2).await.unwrap();
    d.backup("v9", "b9", None).await.unwrap();
    assert!(matches!(
        d.restore("b9", "r1").await,
        Err(DriverError::Invalid(_))
    ));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Kills the NBD daemons of a driver's exports when a test ends, even when it fails.
struct Unexport<'a>(&'a FileDriver);

impl Drop for Unexport<'_> {
    fn drop(&mut self) {
        let d = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                for (v, a) in d.list_exports().await.unwrap_or_default() {
                    let _ = d.unexport(&v, &a).await;
                }
            })
        })
        .join();
    }
}

#[tokio::test]
async fn local_and_nbd_exports_serve_the_volume_and_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path(), "auto");
    let _guard = Unexport(&d);
    d.create("v1", 1).await.unwrap();
    poke(&d.volume_path("v1"), 0, b"through nbd");

    let c = d.export("v1", "a1", &local()).await.unwrap();
    assert_eq!(
        c,
        Connection::Local {
            device_path: d.volume_path("v1"),
            format: "raw".into()
        }
    );
    let remote = Connector {
        host: "other".into(),
        local: false,
    };
    let c = d.export("v1", "a2", &remote).await.unwrap();
    let Connection::Nbd {
        host, port, export, ..
    } = c.clone()
    else {
        panic!("not an NBD export: {c:?}");
    };
    assert_eq!(
        d.export("v1", "a2", &remote).await.unwrap(),
        c,
        "idempotent"
    );
    let url = format!("nbd://{host}:{port}/{export}");
    let out = sh("qemu-io", &["-f", "raw", "-c", "read -v 0 11", &url]);
    assert!(out.contains("74 68 72 6f 75 67 68 20 6e 62 64"), "{out}");
    sh(
        "qemu-io",
        &["-f", "raw", "-c", "write -P 0x5a 4096 512", &url],
    );
    assert!(peek(&d.volume_path("v1"), 4096, 512)
        .iter()
        .all(|&b| b == 0x5a));

    // A new driver over the same directories (a restart) finds both exports.
    let again = driver(tmp.path(), "auto");
    let mut listed = again.list_exports().await.unwrap();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("v1".to_string(), "a1".to_string()),
            ("v1".to_string(), "a2".to_string())
        ]
    );
    again.unexport("v1", "a2").await.unwrap();
    again.unexport("v1", "a2").await.unwrap();
    let gone = Command::new("qemu-io")
        .args(["-f", "raw", "-c", "read 0 1", &url])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "the export still answers");
    // Delete removes the remaining export too.
    again.delete("v1").await.unwrap();
    assert!(again.list_exports().await.unwrap().is_empty());
}
