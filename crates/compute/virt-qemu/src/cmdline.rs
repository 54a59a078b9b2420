//! The files of one VM and the `qemu-system-x86_64` command line that boots it.

use std::path::{Path, PathBuf};

use compute_virt::{VmVolume, VolumeTarget};
use serde_json::{json, Value};

/// The accelerator a VM runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// `<instances_dir>/<uuid>/` and the files in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPaths {
    pub dir: PathBuf,
}

impl VmPaths {
    pub fn new(instances_dir: &Path, uuid: &str) -> VmPaths {
        VmPaths {
            dir: instances_dir.join(uuid),
        }
    }
    /// The root disk: a qcow2 overlay on the base image.
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.qcow2")
    }
    /// The rescue disk: a qcow2 overlay on the rescue image, present only while the VM is
    /// rescued (it then boots from it, with [`VmPaths::disk`] attached second).
    pub fn rescue_disk(&self) -> PathBuf {
        self.dir.join("rescue.qcow2")
    }
    pub fn console(&self) -> PathBuf {
        self.dir.join("console.log")
    }
    pub fn qmp(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }
    pub fn serial(&self) -> PathBuf {
        self.dir.join("serial.sock")
    }
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("qemu.pid")
    }
    /// QEMU's own stdout/stderr from the last start (errors before it daemonized).
    pub fn qemu_log(&self) -> PathBuf {
        self.dir.join("qemu.log")
    }
    pub fn config_drive(&self) -> PathBuf {
        self.dir.join("config.img")
    }
    /// What is needed to boot the VM again (see `SavedSpec`).
    pub fn spec(&self) -> PathBuf {
        self.dir.join("spec.json")
    }
    /// The memory state of a suspended VM; present only when complete.
    pub fn saved_state(&self) -> PathBuf {
        self.dir.join("suspend.state")
    }
    /// The memory state while it is being written.
    pub fn saved_state_partial(&self) -> PathBuf {
        self.dir.join("suspend.state.part")
    }
}

/// A virtio NIC on a pre-created tap device (for when networks arrive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// The netdev id, unique per VM (`n0`, `n1`, ...).
    pub id: String,
    /// The host tap device QEMU opens.
    pub ifname: String,
    pub mac: String,
}

/// The first PCI slot of attached volumes: volume `n` of a VM sits in slot
/// `VOLUME_SLOT_BASE + n` whether it was hot-plugged or on the command line, so a saved
/// memory state (suspend) finds every device where it was.
pub const VOLUME_SLOT_BASE: u8 = 0x10;
/// How many volumes a VM can have attached (slots `0x10..=0x1f`).
pub const MAX_VOLUMES: usize = 16;

/// A volume as QEMU sees it: a block node (`node`) on the volume's target and a
/// virtio-blk-pci device (`device`) on that node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockVolume {
    pub node: String,
    pub device: String,
    /// The virtio-blk serial (the guest's `/dev/disk/by-id/virtio-<serial>`).
    pub serial: String,
    pub target: VolumeTarget,
    pub read_only: bool,
    /// The PCI slot; `None` lets QEMU choose (the boot volume).
    pub slot: Option<u8>,
}

/// The characters of a volume id QEMU ids and serials may carry (uuids keep all but dashes).
fn id_chars(volume_id: &str) -> String {
    volume_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect()
}

impl BlockVolume {
    /// The QEMU names of `volume` (deterministic from its id, so a replay finds what an
    /// earlier attempt plugged). Fails for ids without letters or digits.
    pub fn new(volume: &VmVolume, slot: Option<u8>) -> Option<BlockVolume> {
        let (node, device) = names(&volume.volume_id)?;
        Some(BlockVolume {
            node,
            device,
            serial: volume
                .volume_id
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(20)
                .collect(),
            target: volume.target.clone(),
            read_only: volume.read_only,
            slot,
        })
    }

    /// The `blockdev-add` arguments (also the JSON form of `-blockdev`).
    pub fn blockdev(&self) -> Value {
        let file = match &self.target {
            VolumeTarget::File { path, .. } => json!({
                "driver": "file",
                "filename": path.display().to_string(),
            }),
            VolumeTarget::Nbd {
                host, port, export, ..
            } => json!({
                "driver": "nbd",
                "server": {"type": "inet", "host": host, "port": port.to_string()},
                "export": export,
            }),
        };
        json!({
            "driver": target_format(&self.target),
            "node-name": self.node,
            "read-only": self.read_only,
            "file": file,
        })
    }

    /// The `device_add` properties (besides `driver`), as `key=value` pairs.
    fn device_props(&self, bootindex: Option<u8>) -> Vec<(&'static str, String)> {
        let mut props = vec![
            ("id", self.device.clone()),
            ("drive", self.node.clone()),
            ("serial", self.serial.clone()),
        ];
        if let Some(slot) = self.slot {
            props.push(("addr", format!("{slot:#04x}")));
        }
        if let Some(i) = bootindex {
            props.push(("bootindex", i.to_string()));
        }
        props
    }

    /// The `device_add` arguments.
    pub fn device(&self) -> Value {
        let mut obj = serde_json::Map::new();
        obj.insert("driver".into(), json!("virtio-blk-pci"));
        for (k, v) in self.device_props(None) {
            obj.insert(k.into(), json!(v));
        }
        Value::Object(obj)
    }

    /// The `-device` value.
    pub fn device_arg(&self, bootindex: Option<u8>) -> String {
        let mut s = "virtio-blk-pci".to_string();
        for (k, v) in self.device_props(bootindex) {
            s.push_str(&format!(",{k}={v}"));
        }
        s
    }
}

/// The block node and device names of a volume id: `v<id chars>` and `d<id chars>` (QEMU
/// ids start with a letter; at most 21 characters).
pub fn names(volume_id: &str) -> Option<(String, String)> {
    let id = id_chars(volume_id);
    (!id.is_empty()).then(|| (format!("v{id}"), format!("d{id}")))
}

/// The image format of a target (`raw` or `qcow2`; anything else is refused earlier).
pub fn target_format(target: &VolumeTarget) -> &str {
    match target {
        VolumeTarget::File { format, .. } | VolumeTarget::Nbd { format, .. } => format,
    }
}

/// Everything that goes on the command line of one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuArgs {
    pub uuid: String,
    pub paths: VmPaths,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub accel: Accel,
    /// Attach `config.img` as a read-only virtio disk.
    pub config_drive: bool,
    /// Boot from `rescue.qcow2`, with the root disk attached as the second disk.
    pub rescue: bool,
    /// No NICs means `-nic none`.
    pub nics: Vec<Nic>,
    /// Restore from this saved-state file (`-incoming "exec:cat <file>"`).
    pub incoming: Option<PathBuf>,
    /// Boot from this volume instead of `disk.qcow2`.
    pub boot_volume: Option<BlockVolume>,
    /// Attached volumes, after every other device, in attach order.
    pub volumes: Vec<BlockVolume>,
}

/// A path as a QEMU option value: commas are doubled (QEMU's escape in `key=value,...`).
pub fn opt_path(p: &Path) -> String {
    p.display().to_string().replace(',', ",,")
}

/// A path quoted for `/bin/sh` (used in `exec:` migration URIs).
pub fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// True for the 8-4-4-4-12 hex form QEMU's `-uuid` accepts.
pub fn is_canonical_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl QemuArgs {
    /// The arguments after `qemu-system-x86_64`.
    pub fn to_args(&self) -> Vec<String> {
        let p = &self.paths;
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        push(&["-name", &format!("guest={},debug-threads=on", self.uuid)]);
        if is_canonical_uuid(&self.uuid) {
            push(&["-uuid", &self.uuid]);
        }
        push(&["-machine", "pc", "-nodefaults", "-no-user-config"]);
        push(&["-display", "none"]);
        match self.accel {
            Accel::Kvm => push(&["-accel", "kvm"]),
            Accel::Tcg if self.vcpus > 1 => push(&["-accel", "tcg,tb-size=32,thread=multi"]),
            Accel::Tcg => push(&["-accel", "tcg,tb-size=32"]),
        }
        push(&["-m", &self.memory_mb.to_string()]);
        push(&["-smp", &self.vcpus.to_string()]);
        if self.rescue {
            push(&[
                "-drive",
                &format!(
                    "if=none,id=rescue,file={},format=qcow2",
                    opt_path(&p.rescue_disk())
                ),
                "-device",
                "virtio-blk-pci,drive=rescue,bootindex=0",
            ]);
        }
        let root_device = if self.rescue {
            "virtio-blk-pci,drive=root,bootindex=1"
        } else {
            "virtio-blk-pci,drive=root,bootindex=0"
        };
        match &self.boot_volume {
            Some(v) => push(&[
                "-blockdev",
                &v.blockdev().to_string(),
                "-device",
                &v.device_arg(Some(u8::from(self.rescue))),
            ]),
            None => push(&[
                "-drive",
                &format!("if=none,id=root,file={},format=qcow2", opt_path(&p.disk())),
                "-device",
                root_device,
            ]),
        }
        if self.config_drive {
            push(&[
                "-drive",
                &format!(
                    "if=none,id=config,file={},format=raw,readonly=on",
                    opt_path(&p.config_drive())
                ),
                "-device",
                "virtio-blk-pci,drive=config",
            ]);
        }
        if self.nics.is_empty() {
            push(&["-nic", "none"]);
        }
        for nic in &self.nics {
            push(&[
                "-netdev",
                &format!(
                    "tap,id={},ifname={},script=no,downscript=no",
                    nic.id, nic.ifname
                ),
                "-device",
                &format!("virtio-net-pci,netdev={},mac={}", nic.id, nic.mac),
            ]);
        }
        for v in &self.volumes {
            push(&[
                "-blockdev",
                &v.blockdev().to_string(),
                "-device",
                &v.device_arg(None),
            ]);
        }
        push(&[
            "-qmp",
            &format!("unix:{},server=on,wait=off", opt_path(&p.qmp())),
        ]);
        push(&[
            "-chardev",
            &format!(
                "socket,id=ser0,path={},server=on,wait=off,logfile={},logappend=on",
                opt_path(&p.serial()),
                opt_path(&p.console())
            ),
            "-serial",
            "chardev:ser0",
        ]);
        if let Some(file) = &self.incoming {
            push(&["-incoming", &format!("exec:cat {}", shell_quote(file))]);
        }
        push(&["-daemonize", "-pidfile", &p.pidfile().display().to_string()]);
        a
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const UUID: &str = "0b5b6c4e-3c0a-4bd4-9d1e-2f0b1d7e0c01";

    fn args(vcpus: i64, accel: Accel) -> QemuArgs {
        QemuArgs {
            uuid: UUID.into(),
            paths: VmPaths::new(Path::new("/var/lib/ft/instances"), UUID),
            memory_mb: 256,
            vcpus,
            accel,
            config_drive: false,
            rescue: false,
            nics: vec![],
            incoming: None,
            boot_volume: None,
            volumes: vec![],
        }
    }

    /// The value following `flag` each time it occurs.
    fn values(a: &[String], flag: &str) -> Vec<String> {
        a.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].clone())
            .collect()
    }

    #[test]
    fn builds_a_daemonized_tcg_vm_with_qmp_serial_log_and_no_nic() {
        let a = args(1, Accel::Tcg).to_args();
        let dir = format!("/var/lib/ft/instances/{UUID}");
        assert_eq!(values(&a, "-machine"), ["pc"]);
        assert_eq!(values(&a, "-accel"), ["tcg,tb-size=32"]);
        assert_eq!(values(&a, "-m"), ["256"]);
        assert_eq!(values(&a, "-smp"), ["1"]);
        assert_eq!(values(&a, "-uuid"), [UUID]);
        assert_eq!(values(&a, "-nic"), ["none"]);
        assert_eq!(values(&a, "-display"), ["none"]);
        for flag in ["-nodefaults", "-no-user-config", "-daemonize"] {
            assert!(a.iter().any(|x| x == flag), "{flag} missing: {a:?}");
        }
        assert_eq!(values(&a, "-pidfile"), [format!("{dir}/qemu.pid")]);
        assert_eq!(
            values(&a, "-drive"),
            [format!(
                "if=none,id=root,file={dir}/disk.qcow2,format=qcow2"
            )]
        );
        assert_eq!(
            values(&a, "-device"),
            ["virtio-blk-pci,drive=root,bootindex=0"]
        );
        assert_eq!(
            values(&a, "-qmp"),
            [format!("unix:{dir}/qmp.sock,server=on,wait=off")]
        );
        assert_eq!(
            values(&a, "-chardev"),
            [format!(
                "socket,id=ser0,path={dir}/serial.sock,server=on,wait=off,\
                 logfile={dir}/console.log,logappend=on"
            )]
        );
        assert_eq!(values(&a, "-serial"), ["chardev:ser0"]);
        assert!(values(&a, "-incoming").is_empty());
        // Every argument names the instance dir somewhere: /proc/<pid>/cmdline proves ownership.
        assert!(a.iter().any(|x| x.contains(&dir)));
    }

    #[test]
    fn smp_uses_multithreaded_tcg_and_kvm_is_plain() {
        let a = args(2, Accel::Tcg).to_args();
        assert_eq!(values(&a, "-accel"), ["tcg,tb-size=32,thread=multi"]);
        assert_eq!(values(&a, "-smp"), ["2"]);
        let a = args(2, Accel::Kvm).to_args();
        assert_eq!(values(&a, "-accel"), ["kvm"]);
    }

    #[test]
    fn adds_config_drive_nics_and_incoming() {
        let mut q = args(1, Accel::Tcg);
        q.config_drive = true;
        q.nics = vec![
            Nic {
                id: "n0".into(),
                ifname: "tap-a".into(),
                mac: "52:54:00:aa:01:10".into(),
            },
            Nic {
                id: "n1".into(),
                ifname: "tap-b".into(),
                mac: "52:54:00:aa:01:11".into(),
            },
        ];
        q.incoming = Some(q.paths.saved_state());
        let a = q.to_args();
        let dir = format!("/var/lib/ft/instances/{UUID}");
        assert_eq!(
            values(&a, "-drive")[1],
            format!("if=none,id=config,file={dir}/config.img,format=raw,readonly=on")
        );
        assert!(values(&a, "-nic").is_empty());
        assert_eq!(
            values(&a, "-netdev"),
            [
                "tap,id=n0,ifname=tap-a,script=no,downscript=no",
                "tap,id=n1,ifname=tap-b,script=no,downscript=no"
            ]
        );
        assert_eq!(
            values(&a, "-device"),
            [
                "virtio-blk-pci,drive=root,bootindex=0",
                "virtio-blk-pci,drive=config",
                "virtio-net-pci,netdev=n0,mac=52:54:00:aa:01:10",
                "virtio-net-pci,netdev=n1,mac=52:54:00:aa:01:11"
            ]
        );
        assert_eq!(
            values(&a, "-incoming"),
            [format!("exec:cat '{dir}/suspend.state'")]
        );
    }

    #[test]
    fn a_rescued_vm_boots_the_rescue_disk_with_the_root_disk_second() {
        let mut q = args(1, Accel::Tcg);
        q.rescue = true;
        q.config_drive = true;
        let a = q.to_args();
        let dir = format!("/var/lib/ft/instances/{UUID}");
        assert_eq!(
            values(&a, "-drive"),
            [
                format!("if=none,id=rescue,file={dir}/rescue.qcow2,format=qcow2"),
                format!("if=none,id=root,file={dir}/disk.qcow2,format=qcow2"),
                format!("if=none,id=config,file={dir}/config.img,format=raw,readonly=on"),
            ]
        );
        assert_eq!(
            values(&a, "-device"),
            [
                "virtio-blk-pci,drive=rescue,bootindex=0",
                "virtio-blk-pci,drive=root,bootindex=1",
                "virtio-blk-pci,drive=config",
            ]
        );
    }

    #[test]
    fn escapes_commas_and_quotes_and_skips_odd_uuids() {
        let mut q = args(1, Accel::Tcg);
        q.uuid = "vm1".into();
        q.paths = VmPaths::new(Path::new("/tmp/a,b'c"), "vm1");
        q.incoming = Some(q.paths.saved_state());
        let a = q.to_args();
        assert!(values(&a, "-uuid").is_empty());
        assert_eq!(
            values(&a, "-drive"),
            ["if=none,id=root,file=/tmp/a,,b'c/vm1/disk.qcow2,format=qcow2"]
        );
        assert_eq!(
            values(&a, "-incoming"),
            [r"exec:cat '/tmp/a,b'\''c/vm1/suspend.state'"]
        );
        assert!(is_canonical_uuid(UUID));
        assert!(!is_canonical_uuid("0b5b6c4e3c0a4bd49d1e2f0b1d7e0c01"));
        assert!(!is_canonical_uuid("0b5b6c4e-3c0a-4bd4-9d1e-2f0b1d7e0c0z"));
    }

    fn volume(id: &str, target: VolumeTarget, read_only: bool) -> VmVolume {
        VmVolume {
            volume_id: id.into(),
            target,
            read_only,
        }
    }

    #[test]
    fn volumes_are_named_from_their_ids_and_open_files_or_nbd_exports() {
        let file = volume(
            "3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b",
            VolumeTarget::File {
                path: "/srv/vols/a,b.raw".into(),
                format: "raw".into(),
            },
            false,
        );
        let v = BlockVolume::new(&file, Some(0x10)).unwrap();
        assert_eq!(v.node, "v3f1e2d4c5b6a49788a9b");
        assert_eq!(v.device, "d3f1e2d4c5b6a49788a9b");
        assert_eq!(v.serial, "3f1e2d4c-5b6a-4978-8");
        assert_eq!(
            v.blockdev(),
            json!({"driver": "raw", "node-name": "v3f1e2d4c5b6a49788a9b", "read-only": false,
                   "file": {"driver": "file", "filename": "/srv/vols/a,b.raw"}})
        );
        assert_eq!(
            v.device(),
            json!({"driver": "virtio-blk-pci", "id": "d3f1e2d4c5b6a49788a9b",
                   "drive": "v3f1e2d4c5b6a49788a9b", "serial": "3f1e2d4c-5b6a-4978-8",
                   "addr": "0x10"})
        );
        let nbd = volume(
            "vol-1",
            VolumeTarget::Nbd {
                host: "10.0.0.5".into(),
                port: 10809,
                export: "volume-1".into(),
                format: "qcow2".into(),
            },
            true,
        );
        let v = BlockVolume::new(&nbd, None).unwrap();
        assert_eq!(v.node, "vvol1");
        assert_eq!(
            v.blockdev(),
            json!({"driver": "qcow2", "node-name": "vvol1", "read-only": true,
                   "file": {"driver": "nbd", "export": "volume-1",
                            "server": {"type": "inet", "host": "10.0.0.5", "port": "10809"}}})
        );
        assert_eq!(
            v.device_arg(Some(0)),
            "virtio-blk-pci,id=dvol1,drive=vvol1,serial=vol-1,bootindex=0"
        );
        // Ids QEMU names cannot be made of; odd characters never reach an option string.
        assert!(BlockVolume::new(&volume("--", file.target.clone(), false), None).is_none());
        let odd = BlockVolume::new(&volume("a,b=c d", file.target.clone(), false), None).unwrap();
        assert_eq!((odd.node.as_str(), odd.serial.as_str()), ("vabcd", "abcd"));
    }

    #[test]
    fn volumes_follow_every_other_device_and_a_boot_volume_replaces_the_root_disk() {
        let mut q = args(1, Accel::Tcg);
        q.nics = vec![Nic {
            id: "n0".into(),
            ifname: "tap-a".into(),
            mac: "52:54:00:aa:01:10".into(),
        }];
        let file = |id: &str| {
            volume(
                id,
                VolumeTarget::File {
                    path: format!("/v/{id}").into(),
                    format: "raw".into(),
                },
                false,
            )
        };
        q.volumes = vec![
            BlockVolume::new(&file("b"), Some(0x11)).unwrap(),
            BlockVolume::new(&file("a"), Some(0x10)).unwrap(),
        ];
        let a = q.to_args();
        assert_eq!(
            values(&a, "-device"),
            [
                "virtio-blk-pci,drive=root,bootindex=0",
                "virtio-net-pci,netdev=n0,mac=52:54:00:aa:01:10",
                "virtio-blk-pci,id=db,drive=vb,serial=b,addr=0x11",
                "virtio-blk-pci,id=da,drive=va,serial=a,addr=0x10",
            ]
        );
        let blockdevs: Vec<Value> = values(&a, "-blockdev")
            .iter()
            .map(|j| serde_json::from_str(j).unwrap())
            .collect();
        assert_eq!(blockdevs[0]["file"]["filename"], "/v/b");
        assert_eq!(blockdevs[1]["node-name"], "va");

        q.boot_volume = Some(BlockVolume::new(&file("root-vol"), None).unwrap());
        q.volumes.clear();
        let a = q.to_args();
        assert!(!a.iter().any(|x| x.contains("disk.qcow2")), "{a:?}");
        assert_eq!(
            values(&a, "-device")[0],
            "virtio-blk-pci,id=drootvol,drive=vrootvol,serial=root-vol,bootindex=0"
        );
        q.rescue = true;
        let a = q.to_args();
        assert_eq!(
            values(&a, "-device")[..2],
            [
                "virtio-blk-pci,drive=rescue,bootindex=0",
                "virtio-blk-pci,id=drootvol,drive=vrootvol,serial=root-vol,bootindex=1"
            ]
        );
    }
}
