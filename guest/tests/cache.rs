//! The image cache under concurrent callers: one build, one entry, nothing left behind.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn concurrent_callers_share_one_build() {
    guest_image::ensure_host_packages().unwrap();
    let root = tempfile::tempdir().unwrap();
    let images: Vec<_> = std::thread::scope(|s| {
        let callers: Vec<_> = (0..3)
            .map(|_| s.spawn(|| guest_image::ensure_image_in(root.path())))
            .collect();
        callers
            .into_iter()
            .map(|c| c.join().unwrap().unwrap())
            .collect()
    });
    assert!(images.iter().all(|i| i == &images[0]), "{images:?}");
    let image = &images[0];
    assert!(image.is_absolute());
    assert!(image.ends_with(format!(
        "{}/{}",
        guest_image::input_hash(),
        guest_image::IMAGE_FILE
    )));

    let mut entries: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        vec![guest_image::input_hash()],
        "only the finished entry"
    );

    let info = std::fs::read_to_string(image.with_file_name(guest_image::BUILD_INFO_FILE)).unwrap();
    assert!(
        info.contains(&format!("input_hash={}", guest_image::input_hash())),
        "{info}"
    );

    let check = Command::new("qemu-img")
        .args(["check", "-q"])
        .arg(image)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    // A later caller finds the entry without building.
    assert_eq!(&guest_image::ensure_image_in(root.path()).unwrap(), image);
}
