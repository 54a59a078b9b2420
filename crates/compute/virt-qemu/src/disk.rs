//! Files on disk: the qcow2 overlay (`qemu-img`), the vfat config drive (mtools, no mount),
//! flattened snapshots and `spec.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use compute_virt::{ConfigDrive, VirtError, VmNic, VmSpec, VmVolume};
use serde::{Deserialize, Serialize};
use tokio::process::Command;

use crate::cmdline::VmPaths;
use crate::process::run_tool;

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// What `spec.json` keeps: enough to boot the VM again without the agent's help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSpec {
    pub uuid: String,
    pub name: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub root_gb: i64,
    pub base_image: PathBuf,
    pub base_format: String,
    #[serde(default)]
    pub image_properties: BTreeMap<String, String>,
    /// The NICs (taps the network agent made) the VM boots with.
    #[serde(default)]
    pub nics: Vec<VmNic>,
    /// Boot from volume: the root disk is this volume (there is no `disk.qcow2`).
    #[serde(default)]
    pub boot_volume: Option<VmVolume>,
    /// The attached volumes, in attach order, each with its PCI slot.
    #[serde(default)]
    pub volumes: Vec<SavedVolume>,
}

/// An attached volume and the PCI slot it occupies (see [`crate::cmdline::VOLUME_SLOT_BASE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedVolume {
    pub volume: VmVolume,
    pub slot: u8,
}

impl SavedSpec {
    pub fn from_spec(spec: &VmSpec) -> SavedSpec {
        SavedSpec {
            uuid: spec.uuid.clone(),
            name: spec.name.clone(),
            vcpus: spec.vcpus,
            memory_mb: spec.memory_mb,
            root_gb: spec.root_gb,
            base_image: spec.base_image.clone(),
            base_format: spec.base_format.clone(),
            image_properties: spec.image_properties.clone(),
            nics: spec.nics.clone(),
            boot_volume: spec.boot_volume.clone(),
            volumes: Vec::new(),
        }
        .with_volumes(&spec.volumes)
    }

    /// The spec to save for `spec` over an earlier `old` one: the attached volumes recorded
    /// in `old` stay (in their slots) and `spec`'s other volumes are added; a boot volume
    /// is kept when `spec` names none.
    pub fn merged(spec: &VmSpec, old: Option<SavedSpec>) -> SavedSpec {
        let Some(old) = old else {
            return SavedSpec::from_spec(spec);
        };
        let mut saved = SavedSpec::from_spec(&VmSpec {
            volumes: Vec::new(),
            ..spec.clone()
        });
        saved.boot_volume = spec.boot_volume.clone().or(old.boot_volume);
        saved.volumes = old.volumes;
        saved.with_volumes(&spec.volumes)
    }

    /// This spec with `volumes` recorded too (those not attached yet and not the boot
    /// volume, in order, each in the lowest free slot; those attached get the new target
    /// and keep their slot; those beyond [`crate::cmdline::MAX_VOLUMES`] are left out).
    pub fn with_volumes(mut self, volumes: &[VmVolume]) -> SavedSpec {
        for v in volumes {
            let is_root = self
                .boot_volume
                .as_ref()
                .is_some_and(|b| b.volume_id == v.volume_id);
            if is_root {
                continue;
            }
            if let Some(known) = self
                .volumes
                .iter_mut()
                .find(|k| k.volume.volume_id == v.volume_id)
            {
                // The VM is not running when a spec is saved: take the current connection.
                known.volume = v.clone();
            } else {
                match self.free_slot() {
                    Some(slot) => self.volumes.push(SavedVolume {
                        volume: v.clone(),
                        slot,
                    }),
                    None => tracing::warn!(uuid = %self.uuid, volume = %v.volume_id,
                        "no PCI slot left for the volume"),
                }
            }
        }
        self
    }

    /// The attached volume `volume_id`.
    pub fn volume(&self, volume_id: &str) -> Option<&SavedVolume> {
        self.volumes
            .iter()
            .find(|v| v.volume.volume_id == volume_id)
    }

    /// The lowest volume slot no attached volume uses.
    pub fn free_slot(&self) -> Option<u8> {
        (0..crate::cmdline::MAX_VOLUMES as u8)
            .map(|n| crate::cmdline::VOLUME_SLOT_BASE + n)
            .find(|s| self.volumes.iter().all(|v| v.slot != *s))
    }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> VirtError {
    VirtError::Failed(format!("{what} {}: {e}", path.display()))
}

/// Writes `spec.json` atomically (temp file + rename).
pub async fn write_spec(paths: &VmPaths, spec: &SavedSpec) -> Result<(), VirtError> {
    let text = serde_json::to_vec_pretty(spec)
        .map_err(|e| VirtError::Failed(format!("encode spec.json: {e}")))?;
    let tmp = paths.dir.join("spec.json.tmp");
    tokio::fs::write(&tmp, text)
        .await
        .map_err(|e| io_err("write", &tmp, e))?;
    tokio::fs::rename(&tmp, paths.spec())
        .await
        .map_err(|e| io_err("rename", &tmp, e))
}

pub async fn read_spec(paths: &VmPaths) -> Result<SavedSpec, VirtError> {
    let path = paths.spec();
    let text = tokio::fs::read(&path)
        .await
        .map_err(|e| io_err("read", &path, e))?;
    serde_json::from_slice(&text)
        .map_err(|e| VirtError::Failed(format!("parse {}: {e}", path.display())))
}

/// The virtual size in bytes of an image (`qemu-img info -U`, safe while in use).
pub async fn virtual_size(image: &Path) -> Result<u64, VirtError> {
    let out = run_tool(
        Command::new("qemu-img")
            .args(["info", "-U", "--output=json"])
            .arg(image),
        "qemu-img info",
    )
    .await?;
    parse_virtual_size(&out)
}

pub fn parse_virtual_size(json: &[u8]) -> Result<u64, VirtError> {
    let v: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| VirtError::Failed(format!("qemu-img info output: {e}")))?;
    v.get("virtual-size")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| VirtError::Failed("qemu-img info: no virtual-size".into()))
}

/// Grows `disk` to `root_gb` GiB when that is larger than its virtual size (never shrinks).
pub async fn grow(disk: &Path, root_gb: i64) -> Result<(), VirtError> {
    let want = u64::try_from(root_gb).unwrap_or(0).saturating_mul(GIB);
    if want > virtual_size(disk).await? {
        run_tool(
            Command::new("qemu-img")
                .args(["resize", "-q", "-f", "qcow2"])
                .arg(disk)
                .arg(want.to_string()),
            "qemu-img resize",
        )
        .await?;
    }
    Ok(())
}

/// Creates `disk.qcow2` as an overlay on the (absolute) base image, grown to `root_gb`,
/// unless it already exists. Built under a temporary name and renamed, so a crash never
/// leaves half a disk.
pub async fn ensure_overlay(paths: &VmPaths, spec: &VmSpec) -> Result<(), VirtError> {
    let disk = paths.disk();
    if tokio::fs::try_exists(&disk).await.unwrap_or(false) {
        return Ok(());
    }
    create_overlay(&spec.base_image, &spec.base_format, &disk, spec.root_gb).await
}

/// Creates the qcow2 overlay `dest` on `base` (`qcow2` or `raw`, resolved to an absolute
/// path), grown to `root_gb` GiB when that is larger, replacing any `dest`. Built as
/// `<dest>.tmp` and renamed into place.
pub async fn create_overlay(
    base: &Path,
    base_format: &str,
    dest: &Path,
    root_gb: i64,
) -> Result<(), VirtError> {
    if !matches!(base_format, "qcow2" | "raw") {
        return Err(VirtError::Failed(format!(
            "unsupported base image format {base_format:?} (qcow2 or raw)"
        )));
    }
    let base = tokio::fs::canonicalize(base)
        .await
        .map_err(|e| io_err("base image", base, e))?;
    let mut tmp = dest.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = tokio::fs::remove_file(&tmp).await;
    run_tool(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", base_format, "-b"])
            .arg(&base)
            .arg(&tmp),
        "qemu-img create overlay",
    )
    .await?;
    grow(&tmp, root_gb).await?;
    tokio::fs::rename(&tmp, dest)
        .await
        .map_err(|e| io_err("rename", &tmp, e))
}

/// Builds `config.img`: vfat labelled `config-2` with `openstack/latest/meta_data.json`,
/// (when given) `network_data.json` and `user_data`, written with mtools.
pub async fn build_config_drive(paths: &VmPaths, drive: &ConfigDrive) -> Result<(), VirtError> {
    let staging = paths.dir.join("config.d");
    let _ = tokio::fs::remove_dir_all(&staging).await;
    tokio::fs::create_dir_all(&staging)
        .await
        .map_err(|e| io_err("create", &staging, e))?;
    let meta = serde_json::to_vec(&drive.meta_data)
        .map_err(|e| VirtError::Failed(format!("encode meta_data.json: {e}")))?;
    let mut files = vec![("meta_data.json", meta)];
    if !drive.network_data.is_null() {
        let net = serde_json::to_vec(&drive.network_data)
            .map_err(|e| VirtError::Failed(format!("encode network_data.json: {e}")))?;
        files.push(("network_data.json", net));
    }
    if let Some(user_data) = &drive.user_data {
        files.push(("user_data", user_data.clone()));
    }
    let payload: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
    let img = paths.dir.join("config.img.tmp");
    let result = async {
        for (name, bytes) in &files {
            let p = staging.join(name);
            tokio::fs::write(&p, bytes)
                .await
                .map_err(|e| io_err("write", &p, e))?;
        }
        let mib = config_drive_mib(payload);
        let f = tokio::fs::File::create(&img)
            .await
            .map_err(|e| io_err("create", &img, e))?;
        f.set_len(mib * MIB)
            .await
            .map_err(|e| io_err("size", &img, e))?;
        drop(f);
        let sectors = (mib * MIB / 512).to_string();
        mtools(
            "mformat",
            &img,
            &[
                "-T", &sectors, "-h", "64", "-s", "32", "-v", "config-2", "::",
            ],
        )
        .await?;
        mtools("mmd", &img, &["::/openstack", "::/openstack/latest"]).await?;
        for (name, _) in &files {
            let src = staging.join(name).display().to_string();
            let dest = format!("::/openstack/latest/{name}");
            mtools("mcopy", &img, &[&src, &dest]).await?;
        }
        tokio::fs::rename(&img, paths.config_drive())
            .await
            .map_err(|e| io_err("rename", &img, e))
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&staging).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&img).await;
    }
    result
}

/// The config drive's size: room for the payload twice over plus FAT overhead, at least
/// 2 MiB, in whole MiB (the mformat geometry is 64 heads x 32 sectors = 1 MiB a cylinder).
pub fn config_drive_mib(payload: u64) -> u64 {
    (payload.saturating_mul(2) / MIB + 2).max(2)
}

async fn mtools(tool: &str, img: &Path, args: &[&str]) -> Result<(), VirtError> {
    run_tool(
        Command::new(tool)
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(img)
            .args(args),
        &format!("config drive: {tool}"),
    )
    .await
    .map(|_| ())
}

/// A flattened qcow2 copy of `disk` at `dest` (`-U`: the disk may be open in QEMU).
pub async fn convert_snapshot(disk: &Path, dest: &Path) -> Result<(), VirtError> {
    run_tool(
        Command::new("qemu-img")
            .args(["convert", "-U", "-O", "qcow2"])
            .arg(disk)
            .arg(dest),
        "snapshot: qemu-img convert",
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_virtual_size_and_sizes_config_drives() {
        let info = br#"{"virtual-size": 71303168, "filename": "x", "format": "qcow2"}"#;
        assert_eq!(parse_virtual_size(info).unwrap(), 71_303_168);
        assert!(parse_virtual_size(b"{}").is_err());
        assert!(parse_virtual_size(b"nope").is_err());
        assert_eq!(config_drive_mib(0), 2);
        assert_eq!(config_drive_mib(64 * 1024), 2);
        assert_eq!(config_drive_mib(3 * MIB), 8);
    }

    fn spec(base: &Path, root_gb: i64) -> VmSpec {
        VmSpec {
            uuid: "vm".into(),
            name: "vm".into(),
            vcpus: 1,
            memory_mb: 64,
            root_gb,
            base_image: base.to_path_buf(),
            base_format: "raw".into(),
            image_properties: Default::default(),
            config_drive: None,
            nics: vec![VmNic {
                port_id: "p1".into(),
                tap: "tapp1".into(),
                mac: "fa:16:3e:00:00:01".into(),
            }],
            boot_volume: None,
            volumes: Vec::new(),
        }
    }

    #[tokio::test]
    async fn overlay_is_created_once_and_grown_to_root_gb() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base.raw");
        std::fs::File::create(&base)
            .unwrap()
            .set_len(4 * MIB)
            .unwrap();
        let paths = VmPaths::new(tmp.path(), "vm");
        std::fs::create_dir_all(&paths.dir).unwrap();
        ensure_overlay(&paths, &spec(&base, 1)).await.unwrap();
        assert_eq!(virtual_size(&paths.disk()).await.unwrap(), GIB);
        // Exists: untouched even when asked for more.
        ensure_overlay(&paths, &spec(&base, 2)).await.unwrap();
        assert_eq!(virtual_size(&paths.disk()).await.unwrap(), GIB);
        grow(&paths.disk(), 2).await.unwrap();
        assert_eq!(virtual_size(&paths.disk()).await.unwrap(), 2 * GIB);
        grow(&paths.disk(), 1).await.unwrap();
        assert_eq!(
            virtual_size(&paths.disk()).await.unwrap(),
            2 * GIB,
            "never shrinks"
        );
        let info = run_tool(
            Command::new("qemu-img")
                .args(["info", "--output=json"])
                .arg(paths.disk()),
            "info",
        )
        .await
        .unwrap();
        let info: serde_json::Value = serde_json::from_slice(&info).unwrap();
        assert_eq!(info["backing-filename"], base.display().to_string());
        assert_eq!(info["backing-filename-format"], "raw");
        assert!(!paths.dir.join("disk.qcow2.tmp").exists());

        let mut bad = spec(&base, 1);
        bad.base_format = "vmdk,x=y".into();
        let other = VmPaths::new(tmp.path(), "other");
        std::fs::create_dir_all(&other.dir).unwrap();
        assert!(ensure_overlay(&other, &bad).await.is_err());
    }

    #[tokio::test]
    async fn a_rescue_overlay_is_fresh_each_time() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("rescue.raw");
        std::fs::File::create(&base)
            .unwrap()
            .set_len(4 * MIB)
            .unwrap();
        let paths = VmPaths::new(tmp.path(), "vm");
        std::fs::create_dir_all(&paths.dir).unwrap();
        let dest = paths.rescue_disk();
        std::fs::write(&dest, b"an old rescue disk").unwrap();
        create_overlay(&base, "raw", &dest, 0).await.unwrap();
        assert_eq!(virtual_size(&dest).await.unwrap(), 4 * MIB, "not grown");
        let info = run_tool(
            Command::new("qemu-img")
                .args(["info", "--output=json"])
                .arg(&dest),
            "info",
        )
        .await
        .unwrap();
        let info: serde_json::Value = serde_json::from_slice(&info).unwrap();
        assert_eq!(info["format"], "qcow2");
        assert_eq!(info["backing-filename"], base.display().to_string());
        assert!(!paths.dir.join("rescue.qcow2.tmp").exists());
        assert!(create_overlay(&tmp.path().join("nope"), "raw", &dest, 0)
            .await
            .is_err());
        assert!(dest.exists(), "a failed create leaves the old overlay");
    }

    #[tokio::test]
    async fn config_drive_holds_meta_data_and_user_data() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = VmPaths::new(tmp.path(), "vm");
        std::fs::create_dir_all(&paths.dir).unwrap();
        let drive = ConfigDrive {
            meta_data: serde_json::json!({"uuid": "u", "hostname": "h1"}),
            user_data: Some(b"#!/bin/sh\necho hi\n".to_vec()),
            network_data: serde_json::json!({"links": [{"id": "tap1"}]}),
        };
        build_config_drive(&paths, &drive).await.unwrap();
        let img = paths.config_drive();
        let label = run_tool(
            Command::new("mlabel")
                .env("MTOOLS_SKIP_CHECK", "1")
                .args(["-s", "-i"])
                .arg(&img)
                .arg("::"),
            "mlabel",
        )
        .await
        .unwrap();
        assert!(String::from_utf8_lossy(&label).contains("CONFIG-2"));
        let read = |name: &'static str| {
            let img = img.clone();
            async move {
                run_tool(
                    Command::new("mtype")
                        .env("MTOOLS_SKIP_CHECK", "1")
                        .arg("-i")
                        .arg(&img)
                        .arg(format!("::/openstack/latest/{name}")),
                    "mtype",
                )
                .await
            }
        };
        let meta: serde_json::Value =
            serde_json::from_slice(&read("meta_data.json").await.unwrap()).unwrap();
        assert_eq!(meta["hostname"], "h1");
        assert_eq!(read("user_data").await.unwrap(), b"#!/bin/sh\necho hi\n");
        let net: serde_json::Value =
            serde_json::from_slice(&read("network_data.json").await.unwrap()).unwrap();
        assert_eq!(net["links"][0]["id"], "tap1");
        assert!(!paths.dir.join("config.d").exists());
        assert!(!paths.dir.join("config.img.tmp").exists());
    }

    #[tokio::test]
    async fn spec_json_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = VmPaths::new(tmp.path(), "vm");
        std::fs::create_dir_all(&paths.dir).unwrap();
        let s = SavedSpec::from_spec(&spec(Path::new("/b.qcow2"), 3));
        write_spec(&paths, &s).await.unwrap();
        assert_eq!(read_spec(&paths).await.unwrap(), s);
    }

    fn vol(id: &str) -> VmVolume {
        VmVolume {
            volume_id: id.into(),
            target: compute_virt::VolumeTarget::File {
                path: format!("/v/{id}").into(),
                format: "raw".into(),
            },
            read_only: false,
        }
    }

    #[test]
    fn saved_volumes_keep_their_slots_and_merge_with_a_new_spec() {
        let base = Path::new("/b.qcow2");
        let mut s = spec(base, 1);
        s.volumes = vec![vol("a"), vol("b")];
        let saved = SavedSpec::from_spec(&s);
        let slots: Vec<(&str, u8)> = saved
            .volumes
            .iter()
            .map(|v| (v.volume.volume_id.as_str(), v.slot))
            .collect();
        assert_eq!(slots, [("a", 0x10), ("b", 0x11)]);

        // `a` detached: its slot is free; a spec naming none keeps `b` where it is, and a
        // spec naming `b` and `c` adds `c` in the free slot.
        let mut old = saved.clone();
        old.volumes.retain(|v| v.volume.volume_id != "a");
        let kept = SavedSpec::merged(&spec(base, 2), Some(old.clone()));
        assert_eq!(kept.volumes, old.volumes);
        assert_eq!(kept.root_gb, 2);
        s.volumes = vec![vol("b"), vol("c")];
        let merged = SavedSpec::merged(&s, Some(old));
        let slots: Vec<(&str, u8)> = merged
            .volumes
            .iter()
            .map(|v| (v.volume.volume_id.as_str(), v.slot))
            .collect();
        assert_eq!(slots, [("b", 0x11), ("c", 0x10)]);
        // A recorded volume takes the spec's current target (and keeps its slot).
        let mut moved = vol("b");
        moved.target = compute_virt::VolumeTarget::File {
            path: "/elsewhere/b".into(),
            format: "qcow2".into(),
        };
        s.volumes = vec![moved.clone()];
        let updated = SavedSpec::merged(&s, Some(merged));
        assert_eq!(updated.volume("b").unwrap().volume, moved);
        assert_eq!(updated.volume("b").unwrap().slot, 0x11);

        // A boot volume survives a spec without one; at most 16 volumes get a slot.
        let mut bfv = spec(base, 1);
        bfv.boot_volume = Some(vol("root"));
        bfv.volumes = vec![vol("root"), vol("a")];
        let saved = SavedSpec::from_spec(&bfv);
        assert_eq!(
            saved.volumes.len(),
            1,
            "the root volume is not attached twice"
        );
        assert_eq!(
            SavedSpec::merged(&spec(base, 1), Some(saved)).boot_volume,
            Some(vol("root"))
        );
        let mut many = spec(base, 1);
        many.volumes = (0..20).map(|n| vol(&format!("v{n}"))).collect();
        let saved = SavedSpec::from_spec(&many);
        assert_eq!(saved.volumes.len(), 16);
        assert_eq!(saved.free_slot(), None);
        assert_eq!(saved.volumes[15].slot, 0x1f);
    }
}
