//! The block storage commands of the real CLI against a running cloud with the `file`
//! backend: `volume create` (blank, from the tiny image, from a snapshot, from a volume),
//! `volume list/show/set --size/delete`, `volume snapshot create/show/delete`, the volume part
//! of `quota show` and `limits show`, and the refusals Cinder answers (shrink, a volume with a
//! snapshot, over quota), with nothing left behind on disk.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e_tests::{field, text, Cloud};
use serde_json::Value;

const STATE: Duration = Duration::from_secs(180);

fn cloud() -> Cloud {
    let image = guest_image::ensure_image().unwrap_or_else(|e| panic!("guest image: {e:#}"));
    let seed = format!("tiny={}", image.display());
    Cloud::start_with_args(&["--seed-image", &seed])
}

/// Polls `show` until `status` is `want`; fails at once on an error status.
fn wait(c: &Cloud, what: &[&str], id: &str, want: &str) -> Value {
    let start = Instant::now();
    loop {
        let mut a = what.to_vec();
        a.extend(["show", id]);
        let v = c.osc_json(&a);
        let status = text(&v, "status");
        if status == want {
            return v;
        }
        assert!(!status.starts_with("error"), "{id} went to {status}: {v:#}");
        assert!(
            start.elapsed() < STATE,
            "{id} is {status}, not {want}: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn wait_gone(c: &Cloud, what: &[&str], id: &str) {
    let start = Instant::now();
    loop {
        let mut a = what.to_vec();
        a.extend(["show", id]);
        if !c.osc_output(&a).status.success() {
            return;
        }
        assert!(start.elapsed() < STATE, "{id} never went away");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Every file under `dir`, relative.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn volumes_and_snapshots_through_the_cli() {
    let c = cloud();
    let vols = c.dir().join("volumes");

    // Blank volume: created, listed, shown, extended.
    let v = c.osc_json(&["volume", "create", "--size", "1", "--property", "k=v", "v1"]);
    let v1 = text(&v, "id");
    let shown = wait(&c, &["volume"], &v1, "available");
    assert_eq!(field(&shown, "size"), 1, "{shown:#}");
    assert_eq!(field(&shown, "bootable"), false, "{shown:#}");
    let list = c.osc_json(&["volume", "list"]);
    assert!(list.to_string().contains(&v1), "{list:#}");
    assert!(files(&vols).contains(&format!("volumes/{v1}.raw")));
    c.osc(&["volume", "set", "--size", "2", &v1]);
    let grown = wait(&c, &["volume"], &v1, "available");
    assert_eq!(field(&grown, "size"), 2, "{grown:#}");
    assert_eq!(
        std::fs::metadata(vols.join(format!("volumes/{v1}.raw")))
            .unwrap()
            .len(),
        2 << 30
    );
    // Shrinking is refused (OSC checks it before asking; the API's own refusal is in the
    // API suite) and the volume keeps its size.
    let err = c.osc_fails(&["volume", "set", "--size", "1", &v1]);
    assert!(err.contains("New size must be greater than 2 GB"), "{err}");
    assert_eq!(field(&c.osc_json(&["volume", "show", &v1]), "size"), 2);

    // From the tiny image: bootable, and holds the image's bytes (its MBR signature).
    let img = c.osc_json(&[
        "volume", "create", "--image", "tiny", "--size", "1", "boot1",
    ]);
    let b1 = text(&img, "id");
    let shown = wait(&c, &["volume"], &b1, "available");
    assert_eq!(field(&shown, "bootable"), true, "{shown:#}");
    let raw = std::fs::read(vols.join(format!("volumes/{b1}.raw"))).unwrap();
    assert_eq!(
        &raw[510..512],
        &[0x55, 0xaa],
        "the image's MBR is on the volume"
    );

    // Snapshot, and volumes from the snapshot and from the volume.
    let s = c.osc_json(&["volume", "snapshot", "create", "--volume", &b1, "s1"]);
    let s1 = text(&s, "id");
    wait(&c, &["volume", "snapshot"], &s1, "available");
    let from_snap = text(
        &c.osc_json(&["volume", "create", "--snapshot", &s1, "--size", "1", "v2"]),
        "id",
    );
    wait(&c, &["volume"], &from_snap, "available");
    let from_vol = text(
        &c.osc_json(&["volume", "create", "--source", &b1, "--size", "1", "v3"]),
        "id",
    );
    wait(&c, &["volume"], &from_vol, "available");
    for id in [&from_snap, &from_vol] {
        let copy = std::fs::read(vols.join(format!("volumes/{id}.raw"))).unwrap();
        assert!(copy == raw, "volume {id} differs from its source");
    }
    // A volume with a snapshot cannot go.
    let err = c.osc_fails(&["volume", "delete", &b1]);
    assert!(err.contains("Invalid volume"), "{err}");

    // Quota and limits of the project.
    // 2 + 1 + 1 + 1 GiB of volumes and the 1 GiB snapshot.
    let limits = c.osc_json(&["limits", "show", "--absolute"]);
    let used = limits
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Name"] == "total_gigabytes_used")
        .unwrap_or_else(|| panic!("no total_gigabytes_used: {limits:#}"));
    assert_eq!(used["Value"], 6, "{limits:#}");
    let quota = c.osc_json(&["quota", "show"]);
    assert!(quota.to_string().contains("gigabytes"), "{quota:#}");

    // Over the gigabytes quota: refused, nothing created.
    let before = c.osc_json(&["volume", "list"]).as_array().unwrap().len();
    let err = c.osc_fails(&["volume", "create", "--size", "5000", "huge"]);
    assert!(err.contains("VolumeSizeExceedsAvailableQuota"), "{err}");
    assert_eq!(
        c.osc_json(&["volume", "list"]).as_array().unwrap().len(),
        before
    );

    // Delete everything: no file is left.
    c.osc(&["volume", "snapshot", "delete", &s1]);
    wait_gone(&c, &["volume", "snapshot"], &s1);
    for id in [&v1, &b1, &from_snap, &from_vol] {
        c.osc(&["volume", "delete", id]);
    }
    for id in [&v1, &b1, &from_snap, &from_vol] {
        wait_gone(&c, &["volume"], id);
    }
    let left: Vec<String> = files(&vols)
        .into_iter()
        .filter(|f| !f.starts_with("exports/"))
        .collect();
    assert!(left.is_empty(), "files left: {left:?}");
}
