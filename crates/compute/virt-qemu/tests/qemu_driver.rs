//! The QEMU driver against real QEMU (TCG) booting the tiny guest image. Boots are costly
//! (~7 CPU-seconds each on a shared 2-core box), so one test walks a VM through its whole
//! life; the others boot nothing.
//!
//! Every QEMU a test starts is SIGKILLed by its pid (verified through `/proc/<pid>/cmdline`)
//! when the test's [`Cleanup`] guard drops, panics included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use compute_virt::{
    ConfigDrive, PowerState, VirtDriver, VirtError, VmSpec, VmVolume, VolumeTarget,
};
use compute_virt_qemu::qmp::Qmp;
use compute_virt_qemu::{Accel, QemuConfig, QemuDriver};
use guest_image::marker;

/// How long one boot to `ready` may take (TCG on 2 shared cores).
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(90);
const GIB: u64 = 1024 * 1024 * 1024;

fn image() -> PathBuf {
    static IMAGE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let image = IMAGE.get_or_init(|| {
        guest_image::ensure_host_packages().map_err(|e| format!("{e:#}"))?;
        guest_image::ensure_image().map_err(|e| format!("{e:#}"))
    });
    match image {
        Ok(p) => p.clone(),
        Err(e) => panic!("guest image: {e}"),
    }
}

/// Kills every QEMU whose pid file is under `dir` and whose command line names its VM
/// directory, then waits for them to go. Runs on drop, so failures clean up too.
struct Cleanup {
    dir: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let vm_dir = entry.path();
            if let Some(pid) = our_pid(&vm_dir) {
                let _ = Command::new("kill")
                    .args(["-s", "KILL", &pid.to_string()])
                    .status();
                let deadline = Instant::now() + Duration::from_secs(10);
                while our_pid(&vm_dir) == Some(pid) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
}

/// The live QEMU of `vm_dir`, if any (pid file + `/proc/<pid>/cmdline` naming the dir).
fn our_pid(vm_dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(vm_dir.join("qemu.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    alive_in(pid, vm_dir).then_some(pid)
}

fn alive_in(pid: u32, vm_dir: &Path) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let needle = format!("{}/", vm_dir.display());
    String::from_utf8_lossy(&cmdline).contains(&needle)
}

fn driver(dir: &Path, accel: &str) -> QemuDriver {
    QemuDriver::new(QemuConfig {
        instances_dir: dir.to_path_buf(),
        accel: accel.into(),
    })
    .unwrap()
}

fn spec(uuid: &str, base: &Path, hostname: Option<&str>) -> VmSpec {
    VmSpec {
        uuid: uuid.into(),
        name: "qemu-driver-test".into(),
        vcpus: 1,
        memory_mb: 128,
        root_gb: 1,
        base_image: base.to_path_buf(),
        base_format: "qcow2".into(),
        image_properties: Default::default(),
        config_drive: hostname.map(|h| ConfigDrive {
            meta_data: serde_json::json!({
                "uuid": uuid, "name": h, "hostname": h, "launch_index": 0,
                "availability_zone": "nova", "public_keys": {}
            }),
            user_data: Some(b"#!/bin/sh\necho FERROSTACK-GUEST: hello-from-qemu-driver\n".to_vec()),
            network_data: serde_json::Value::Null,
        }),
        nics: Vec::new(),
        boot_volume: None,
        volumes: Vec::new(),
    }
}

async fn console(d: &QemuDriver, uuid: &str) -> String {
    String::from_utf8_lossy(&d.console_output(uuid).await.unwrap()).into_owned()
}

/// Polls the console until `done` holds; panics with the console text after `timeout`.
async fn wait_console(
    d: &QemuDriver,
    uuid: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let started = Instant::now();
    loop {
        let text = console(d, uuid).await;
        if done(&text) {
            eprintln!("{uuid}: {what} after {:?}", started.elapsed());
            return text;
        }
        assert!(
            started.elapsed() < timeout,
            "{uuid}: no {what} within {timeout:?}\n--- console ---\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits for the `n`th boot to finish (`ready` printed `n` times).
async fn wait_ready(d: &QemuDriver, uuid: &str, n: usize) -> String {
    wait_console(d, uuid, &format!("boot #{n} ready"), BOOT_TIMEOUT, |t| {
        t.matches(marker::BOOTED).count() >= n && t.matches(marker::READY).count() >= n
    })
    .await
}

fn qemu_img_json(args: &[&str], file: &Path) -> serde_json::Value {
    let out = Command::new("qemu-img")
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The console text of the last boot (from the last boot marker on).
fn last_boot(text: &str) -> &str {
    text.rfind(marker::BOOTED).map_or(text, |i| &text[i..])
}

/// The block devices QEMU has attached (QMP `query-block`): device name and image file,
/// sorted by name.
async fn block_files(vm_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut q = Qmp::connect(&vm_dir.join("qmp.sock"), Duration::from_secs(10))
        .await
        .unwrap();
    let blocks = q.execute("query-block", None).await.unwrap();
    let mut out: Vec<(String, PathBuf)> = blocks
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| {
            let file = b["inserted"]["file"].as_str()?;
            Some((b["device"].as_str()?.to_string(), PathBuf::from(file)))
        })
        .collect();
    out.sort();
    out
}

async fn info_pid(d: &QemuDriver, uuid: &str) -> u32 {
    d.info(uuid)
        .await
        .unwrap()
        .pid
        .expect("a running VM has a pid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_vm_through_its_whole_life() {
    let base = image();
    let tmp = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup {
        dir: tmp.path().canonicalize().unwrap(),
    };
    let uuid = "6f0c4a52-1d7e-4c1b-9e55-0d6a4c3b2a10";
    let d = driver(tmp.path(), "tcg");
    let vm_dir = d.instances_dir().join(uuid);
    let s = spec(uuid, &base, Some("qemu-drv-test"));

    // Spawn with a config drive: the guest reads hostname and user-data from it.
    assert_eq!(d.spawn(&s).await.unwrap(), PowerState::Running);
    for f in [
        "disk.qcow2",
        "config.img",
        "spec.json",
        "qemu.pid",
        "qmp.sock",
        "serial.sock",
    ] {
        assert!(vm_dir.join(f).exists(), "{f} missing");
    }
    let disk_info = qemu_img_json(&["info", "-U", "--output=json"], &vm_dir.join("disk.qcow2"));
    assert_eq!(disk_info["backing-filename"], base.display().to_string());
    assert_eq!(disk_info["virtual-size"], GIB, "overlay grown to root_gb");
    let text = wait_ready(&d, uuid, 1).await;
    assert!(text.contains(marker::METADATA_CONFIG_DRIVE), "{text}");
    assert!(
        text.contains("FERROSTACK-GUEST: hostname qemu-drv-test"),
        "{text}"
    );
    assert!(
        text.contains("FERROSTACK-GUEST: hello-from-qemu-driver"),
        "{text}"
    );

    // Idempotent spawn keeps the same process; info reads QMP.
    let pid = info_pid(&d, uuid).await;
    assert!(alive_in(pid, &vm_dir));
    assert_eq!(d.spawn(&s).await.unwrap(), PowerState::Running);
    let info = d.info(uuid).await.unwrap();
    assert_eq!(
        (info.power_state, info.memory_mb, info.vcpus, info.pid),
        (PowerState::Running, 128, 1, Some(pid))
    );
    assert_eq!(d.list().await.unwrap(), vec![uuid.to_string()]);

    // Pause / unpause.
    assert_eq!(d.pause(uuid).await.unwrap(), PowerState::Paused);
    assert_eq!(d.info(uuid).await.unwrap().power_state, PowerState::Paused);
    assert!(matches!(
        d.reboot(uuid, false).await,
        Err(VirtError::InvalidState(_))
    ));
    assert_eq!(d.unpause(uuid).await.unwrap(), PowerState::Running);
    assert_eq!(d.info(uuid).await.unwrap().power_state, PowerState::Running);

    // Suspend: memory to a file, no process. Resume: a new process, the guest goes on.
    wait_console(&d, uuid, "login prompt", BOOT_TIMEOUT, |t| {
        t.contains("login:")
    })
    .await;
    assert_eq!(d.suspend(uuid).await.unwrap(), PowerState::Suspended);
    assert!(!alive_in(pid, &vm_dir), "qemu still runs after suspend");
    assert!(vm_dir.join("suspend.state").exists());
    let info = d.info(uuid).await.unwrap();
    assert_eq!((info.power_state, info.pid), (PowerState::Suspended, None));
    assert!(matches!(
        d.pause(uuid).await,
        Err(VirtError::InvalidState(_))
    ));
    let booted_before = console(&d, uuid).await.matches(marker::BOOTED).count();
    assert_eq!(d.resume(&s).await.unwrap(), PowerState::Running);
    assert!(
        !vm_dir.join("suspend.state").exists(),
        "state file kept after resume"
    );
    let pid = info_pid(&d, uuid).await;
    assert_eq!(d.info(uuid).await.unwrap().power_state, PowerState::Running);
    // The restored getty echoes what is typed on the serial socket: the guest runs on.
    let mut serial = std::os::unix::net::UnixStream::connect(vm_dir.join("serial.sock")).unwrap();
    serial.write_all(b"resumed-guest-echo\n").unwrap();
    let text = wait_console(&d, uuid, "echo after resume", BOOT_TIMEOUT, |t| {
        t.contains("resumed-guest-echo")
    })
    .await;
    drop(serial);
    assert_eq!(
        text.matches(marker::BOOTED).count(),
        booted_before,
        "resume is not a reboot"
    );

    // Snapshot of the running VM: a standalone qcow2 that checks clean and boots.
    let snap = tmp.path().join("snap.qcow2");
    d.snapshot(uuid, &snap).await.unwrap();
    assert_eq!(d.info(uuid).await.unwrap().power_state, PowerState::Running);
    let check = Command::new("qemu-img")
        .args(["check", "-q"])
        .arg(&snap)
        .status()
        .unwrap();
    assert!(check.success(), "qemu-img check of the snapshot");
    let snap_info = qemu_img_json(&["info", "--output=json"], &snap);
    assert_eq!(snap_info["format"], "qcow2");
    assert!(
        snap_info.get("backing-filename").is_none(),
        "snapshot is flattened"
    );
    let snap_uuid = "0d2f6a1e-5b4c-4e3a-8f7d-9c1b2a3d4e5f";
    assert_eq!(
        d.spawn(&spec(snap_uuid, &snap, None)).await.unwrap(),
        PowerState::Running
    );
    wait_console(&d, snap_uuid, "snapshot boot", BOOT_TIMEOUT, |t| {
        t.contains(marker::BOOTED)
    })
    .await;
    let snap_pid = info_pid(&d, snap_uuid).await;
    d.destroy(snap_uuid).await.unwrap();
    assert!(!alive_in(snap_pid, &d.instances_dir().join(snap_uuid)));

    // The agent dies (the driver goes away): a new driver re-attaches, same process.
    drop(d);
    let d = driver(tmp.path(), "tcg");
    assert_eq!(d.recover().await.unwrap(), vec![uuid.to_string()]);
    assert!(alive_in(pid, &vm_dir), "recover killed the VM");
    let info = d.info(uuid).await.unwrap();
    assert_eq!(
        (info.power_state, info.pid),
        (PowerState::Running, Some(pid))
    );

    // An agent that died mid-suspend (memory saved, QEMU left in postmigrate): recover
    // finishes the suspend, and resume brings the VM back.
    let mut q = Qmp::connect(&vm_dir.join("qmp.sock"), Duration::from_secs(10))
        .await
        .unwrap();
    let uri = format!(
        "exec:cat > {dir}/suspend.state.part && mv {dir}/suspend.state.part {dir}/suspend.state",
        dir = vm_dir.display()
    );
    q.execute("migrate", Some(serde_json::json!({ "uri": uri })))
        .await
        .unwrap();
    let started = Instant::now();
    while !vm_dir.join("suspend.state").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "manual save never completed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(q);
    drop(d);
    let d = driver(tmp.path(), "tcg");
    assert!(alive_in(pid, &vm_dir));
    assert_eq!(d.recover().await.unwrap(), vec![uuid.to_string()]);
    assert!(
        !alive_in(pid, &vm_dir),
        "recover left the saved VM's process running"
    );
    assert_eq!(
        d.info(uuid).await.unwrap().power_state,
        PowerState::Suspended
    );
    assert_eq!(d.resume(&s).await.unwrap(), PowerState::Running);
    let pid = info_pid(&d, uuid).await;
    assert_eq!(
        console(&d, uuid).await.matches(marker::BOOTED).count(),
        booted_before,
        "resume is not a reboot"
    );

    // Hard reboot: a reset inside the same process.
    assert_eq!(d.reboot(uuid, true).await.unwrap(), PowerState::Running);
    wait_ready(&d, uuid, booted_before + 1).await;
    assert_eq!(info_pid(&d, uuid).await, pid);

    // Graceful power-off: the guest sees the power button, QEMU exits, the disk stays.
    assert_eq!(
        d.power_off(uuid, POWEROFF_TIMEOUT).await.unwrap(),
        PowerState::Shutdown
    );
    assert!(!alive_in(pid, &vm_dir));
    let text = console(&d, uuid).await;
    assert!(text.contains(marker::POWER_BUTTON), "{text}");
    assert!(text.contains("reboot: Power down"), "not graceful:\n{text}");
    assert!(vm_dir.join("disk.qcow2").exists());
    let info = d.info(uuid).await.unwrap();
    assert_eq!((info.power_state, info.pid), (PowerState::Shutdown, None));
    assert_eq!(
        d.power_off(uuid, POWEROFF_TIMEOUT).await.unwrap(),
        PowerState::Shutdown
    );

    // Power on boots again from the same overlay (the hostname persisted on it).
    assert_eq!(d.power_on(&s).await.unwrap(), PowerState::Running);
    let text = wait_ready(&d, uuid, booted_before + 2).await;
    assert!(
        text.matches("FERROSTACK-GUEST: hostname qemu-drv-test")
            .count()
            >= 3,
        "{text}"
    );

    // Soft reboot: power button, QEMU exits, a new QEMU boots the same disk.
    let pid = info_pid(&d, uuid).await;
    let buttons = console(&d, uuid)
        .await
        .matches(marker::POWER_BUTTON)
        .count();
    assert_eq!(d.reboot(uuid, false).await.unwrap(), PowerState::Running);
    assert!(!alive_in(pid, &vm_dir));
    let text = wait_ready(&d, uuid, booted_before + 3).await;
    assert_eq!(
        text.matches(marker::POWER_BUTTON).count(),
        buttons + 1,
        "{text}"
    );

    // Resize to more memory, two vcpus and a bigger disk.
    let mut bigger = s.clone();
    bigger.memory_mb = 192;
    bigger.vcpus = 2;
    bigger.root_gb = 2;
    assert_eq!(d.resize(&bigger).await.unwrap(), PowerState::Running);
    let info = d.info(uuid).await.unwrap();
    assert_eq!(
        (info.power_state, info.memory_mb, info.vcpus),
        (PowerState::Running, 192, 2)
    );
    let disk_info = qemu_img_json(&["info", "-U", "--output=json"], &vm_dir.join("disk.qcow2"));
    assert_eq!(disk_info["virtual-size"], 2 * GIB);
    wait_console(&d, uuid, "boot after resize", BOOT_TIMEOUT, |t| {
        t.matches(marker::BOOTED).count() > booted_before + 3
    })
    .await;

    // Rescue: the guest boots again from a fresh overlay of the rescue image (the first
    // disk, the image's own size), with the instance's disk (grown to 2 GiB) second.
    let booted = console(&d, uuid).await.matches(marker::BOOTED).count();
    assert_eq!(
        d.rescue(&bigger, &base, "qcow2").await.unwrap(),
        PowerState::Running
    );
    let rescue_info = qemu_img_json(
        &["info", "-U", "--output=json"],
        &vm_dir.join("rescue.qcow2"),
    );
    assert_eq!(rescue_info["backing-filename"], base.display().to_string());
    let base_blocks = qemu_img_json(&["info", "-U", "--output=json"], &base)["virtual-size"]
        .as_u64()
        .unwrap()
        / 512;
    assert_eq!(
        rescue_info["virtual-size"].as_u64().unwrap() / 512,
        base_blocks
    );
    assert_eq!(
        block_files(&vm_dir).await,
        [
            ("config".to_string(), vm_dir.join("config.img")),
            ("rescue".to_string(), vm_dir.join("rescue.qcow2")),
            ("root".to_string(), vm_dir.join("disk.qcow2")),
        ]
    );
    let text = wait_ready(&d, uuid, booted + 1).await;
    let rescue_boot = last_boot(&text);
    for disk in [
        format!("[vda] {base_blocks} 512-byte logical blocks"),
        "[vdb] 4194304 512-byte logical blocks".to_string(),
        "[vdc] 4096 512-byte logical blocks".to_string(),
    ] {
        assert!(rescue_boot.contains(&disk), "{disk}:\n{rescue_boot}");
    }
    let pid = info_pid(&d, uuid).await;
    // Replays change nothing: rescue and spawn of the running rescued VM, and a restarted
    // agent re-attaches to it.
    assert_eq!(
        d.rescue(&bigger, &base, "qcow2").await.unwrap(),
        PowerState::Running
    );
    assert_eq!(d.spawn(&bigger).await.unwrap(), PowerState::Running);
    drop(d);
    let d = driver(tmp.path(), "tcg");
    assert_eq!(d.recover().await.unwrap(), vec![uuid.to_string()]);
    assert_eq!(info_pid(&d, uuid).await, pid);
    assert!(vm_dir.join("rescue.qcow2").exists());

    // Unrescue: the rescue disk goes, the guest boots its own disk again.
    assert_eq!(d.unrescue(&bigger).await.unwrap(), PowerState::Running);
    assert!(!alive_in(pid, &vm_dir));
    assert!(!vm_dir.join("rescue.qcow2").exists());
    assert_eq!(
        block_files(&vm_dir).await,
        [
            ("config".to_string(), vm_dir.join("config.img")),
            ("root".to_string(), vm_dir.join("disk.qcow2")),
        ]
    );
    let text = wait_ready(&d, uuid, booted + 2).await;
    let own_boot = last_boot(&text);
    assert!(
        own_boot.contains("[vda] 4194304 512-byte logical blocks"),
        "not the instance's own disk first:\n{own_boot}"
    );
    assert!(
        own_boot.contains("user-data skipped (already ran for this instance)"),
        "{own_boot}"
    );
    assert!(!own_boot.contains("[vdc]"), "{own_boot}");
    assert_eq!(d.unrescue(&bigger).await.unwrap(), PowerState::Running);

    // Destroy: no process, no files; again is fine.
    let pid = info_pid(&d, uuid).await;
    d.destroy(uuid).await.unwrap();
    assert!(!alive_in(pid, &vm_dir));
    assert!(!vm_dir.exists());
    d.destroy(uuid).await.unwrap();
    assert!(matches!(d.info(uuid).await, Err(VirtError::NotFound(_))));
    assert!(d.list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_accel_probe_picks_tcg_here_and_the_host_is_described() {
    let tmp = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup {
        dir: tmp.path().canonicalize().unwrap(),
    };
    // The probe program itself works (under TCG), so a KVM failure is KVM's.
    assert!(compute_virt_qemu::accel::probe(Accel::Tcg, tmp.path()).await);
    let d = driver(tmp.path(), "auto");
    assert_eq!(d.accel().await, Accel::Tcg, "KVM hangs on this machine");
    assert_eq!(d.accel().await, Accel::Tcg, "cached");
    assert_eq!(driver(tmp.path(), "kvm").accel().await, Accel::Kvm);

    let host = d.host_info().await.unwrap();
    assert_eq!(host.hypervisor_type, "QEMU");
    assert!(host.hypervisor_version >= 7_000_000, "{host:?}");
    assert!(
        host.vcpus >= 1 && host.memory_mb > 0 && host.disk_gb > 0,
        "{host:?}"
    );
    let cpu: serde_json::Value = serde_json::from_str(&host.cpu_info).unwrap();
    assert_eq!(cpu["model"], "qemu64");
    // Nothing leaked by the probe.
    assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none());
}

#[tokio::test]
async fn missing_and_malformed_vms_are_errors_not_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup {
        dir: tmp.path().canonicalize().unwrap(),
    };
    let d = driver(tmp.path(), "tcg");
    let nope = "11111111-2222-3333-4444-555555555555";
    assert!(matches!(d.info(nope).await, Err(VirtError::NotFound(_))));
    assert!(matches!(
        d.console_output(nope).await,
        Err(VirtError::NotFound(_))
    ));
    assert!(matches!(d.pause(nope).await, Err(VirtError::NotFound(_))));
    assert!(matches!(
        d.power_off(nope, Duration::ZERO).await,
        Err(VirtError::NotFound(_))
    ));
    d.destroy(nope).await.unwrap();
    for bad in ["../etc", "a/b", "", "x,y"] {
        assert!(
            matches!(d.info(bad).await, Err(VirtError::InvalidState(_))),
            "{bad:?}"
        );
    }
    assert!(QemuDriver::new(QemuConfig {
        instances_dir: tmp.path().into(),
        accel: "xen".into()
    })
    .is_err());
    // A spawn whose base image does not exist fails before any QEMU starts.
    let err = d
        .spawn(&spec(nope, &tmp.path().join("missing.qcow2"), None))
        .await
        .unwrap_err();
    assert!(matches!(err, VirtError::Failed(_)), "{err:?}");
    assert!(our_pid(&tmp.path().join(nope)).is_none());
    assert_eq!(
        d.info(nope).await.unwrap().power_state,
        PowerState::Shutdown
    );
    d.destroy(nope).await.unwrap();
    assert!(d.recover().await.unwrap().is_empty());
}

/// The volumes QEMU has open (block nodes named `v...`, as the driver names them): node,
/// image file and virtual size, sorted by node.
async fn volume_nodes(vm_dir: &Path) -> Vec<(String, PathBuf, u64)> {
    let mut q = Qmp::connect(&vm_dir.join("qmp.sock"), Duration::from_secs(10))
        .await
        .unwrap();
    let blocks = q.execute("query-block", None).await.unwrap();
    let mut out: Vec<(String, PathBuf, u64)> = blocks
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| {
            let inserted = &b["inserted"];
            let node = inserted["node-name"].as_str()?;
            node.starts_with('v').then(|| {
                (
                    node.to_string(),
                    PathBuf::from(inserted["file"].as_str().unwrap_or("")),
                    inserted["image"]["virtual-size"].as_u64().unwrap_or(0),
                )
            })
        })
        .collect();
    out.sort();
    out
}

/// A `qemu-nbd` serving one file, killed (by its pid: our child) when dropped.
struct NbdServer {
    child: std::process::Child,
    port: u16,
}

impl NbdServer {
    fn start(file: &Path, export: &str) -> NbdServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("qemu-nbd")
            .args(["-f", "raw", "-t", "--shared=4", "-b", "127.0.0.1"])
            .args(["-p", &port.to_string(), "-x", export])
            .arg(file)
            .spawn()
            .unwrap();
        let server = NbdServer { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "qemu-nbd");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for NbdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn file_volume(id: &str, path: &Path, format: &str) -> VmVolume {
    VmVolume {
        volume_id: id.into(),
        target: VolumeTarget::File {
            path: path.to_path_buf(),
            format: format.into(),
        },
        read_only: false,
    }
}

fn saved_volume_ids(vm_dir: &Path) -> Vec<String> {
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vm_dir.join("spec.json")).unwrap()).unwrap();
    saved["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["volume"]["volume_id"].as_str().unwrap().to_string())
        .collect()
}

/// Volumes on a real guest: hot-plug (the guest kernel sees a new virtio disk), idempotent
/// attach and detach, extend, attach while stopped, persistence across power-off/on and
/// suspend/resume, hot-unplug with the guest's cooperation; then a VM booting from a raw
/// volume. Volume files are never the driver's: destroy leaves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_hot_plug_persist_and_boot_from_volume() {
    const MIB: u64 = 1024 * 1024;
    let base = image();
    let tmp = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup {
        dir: tmp.path().canonicalize().unwrap(),
    };
    let vols = tempfile::tempdir().unwrap();
    let uuid = "7b2e9c10-4f3a-4d5b-8c6d-1e2f3a4b5c6d";
    let d = driver(tmp.path(), "tcg");
    let vm_dir = d.instances_dir().join(uuid);
    let s = spec(uuid, &base, None);
    assert_eq!(d.spawn(&s).await.unwrap(), PowerState::Running);
    wait_ready(&d, uuid, 1).await;

    // A raw volume hot-plugged into the running guest: vdb (no config drive here).
    let a_id = "3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b";
    let a_node = "v3f1e2d4c5b6a49788a9b".to_string();
    let a_path = vols.path().join("a.raw");
    std::fs::File::create(&a_path)
        .unwrap()
        .set_len(64 * MIB)
        .unwrap();
    let a = file_volume(a_id, &a_path, "raw");
    d.attach_volume(uuid, &a).await.unwrap();
    wait_console(&d, uuid, "hot-plugged vdb", BOOT_TIMEOUT, |t| {
        last_boot(t).contains("[vdb] 131072 512-byte logical blocks")
    })
    .await;
    assert_eq!(
        volume_nodes(&vm_dir).await,
        [(a_node.clone(), a_path.clone(), 64 * MIB)]
    );
    // Attaching again changes nothing.
    d.attach_volume(uuid, &a).await.unwrap();
    assert_eq!(volume_nodes(&vm_dir).await.len(), 1);
    assert_eq!(saved_volume_ids(&vm_dir), [a_id]);
    let mut q = Qmp::connect(&vm_dir.join("qmp.sock"), Duration::from_secs(10))
        .await
        .unwrap();
    let serial = q
        .execute(
            "qom-get",
            Some(serde_json::json!({
                "path": "/machine/peripheral/d3f1e2d4c5b6a49788a9b", "property": "serial"
            })),
        )
        .await
        .unwrap();
    assert_eq!(serial, "3f1e2d4c-5b6a-4978-8");
    drop(q);

    // An NBD export (qemu-nbd here, as the volume service's qemu-storage-daemon would
    // serve it) plugs and unplugs the same way.
    let c_path = vols.path().join("c.raw");
    std::fs::File::create(&c_path)
        .unwrap()
        .set_len(16 * MIB)
        .unwrap();
    let nbd = NbdServer::start(&c_path, "vol-c");
    let c = VmVolume {
        volume_id: "0c0c0c0c-1d1d-4e4e-8f8f-2a2a2a2a2a2a".into(),
        target: VolumeTarget::Nbd {
            host: "127.0.0.1".into(),
            port: nbd.port,
            export: "vol-c".into(),
            format: "raw".into(),
        },
        read_only: true,
    };
    d.attach_volume(uuid, &c).await.unwrap();
    wait_console(&d, uuid, "hot-plugged nbd vdc", BOOT_TIMEOUT, |t| {
        last_boot(t).contains("[vdc] 32768 512-byte logical blocks")
    })
    .await;
    let nodes = volume_nodes(&vm_dir).await;
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert_eq!(nodes[0].0, "v0c0c0c0c1d1d4e4e8f8f");
    assert!(
        nodes[0]
            .1
            .display()
            .to_string()
            .starts_with("nbd://127.0.0.1:"),
        "{nodes:?}"
    );
    d.detach_volume(uuid, &c.volume_id).await.unwrap();
    assert_eq!(
        volume_nodes(&vm_dir).await,
        [(a_node.clone(), a_path.clone(), 64 * MIB)]
    );
    drop(nbd);

    // Extend: QEMU and the guest see the new size.
    d.extend_volume(uuid, a_id, 128 * MIB).await.unwrap();
    assert_eq!(
        volume_nodes(&vm_dir).await,
        [(a_node.clone(), a_path.clone(), 128 * MIB)]
    );
    wait_console(&d, uuid, "vdb resized", BOOT_TIMEOUT, |t| {
        t.contains("[vdb] new size: 262144 512-byte logical blocks")
    })
    .await;
    assert!(matches!(
        d.extend_volume(uuid, "not-attached", MIB).await,
        Err(VirtError::InvalidState(_))
    ));

    // Stopped: a qcow2 volume is only recorded; power-on boots with both, in attach order,
    // though the spec passed names none.
    assert_eq!(
        d.power_off(uuid, POWEROFF_TIMEOUT).await.unwrap(),
        PowerState::Shutdown
    );
    let b_id = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
    let b_node = "v9a8b7c6d5e4f4a3b9c2d".to_string();
    let b_path = vols.path().join("b.qcow2");
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&b_path)
        .arg("32M")
        .status()
        .unwrap();
    assert!(made.success());
    d.attach_volume(uuid, &file_volume(b_id, &b_path, "qcow2"))
        .await
        .unwrap();
    assert_eq!(saved_volume_ids(&vm_dir), [a_id, b_id]);
    assert_eq!(d.power_on(&s).await.unwrap(), PowerState::Running);
    let text = wait_ready(&d, uuid, 2).await;
    let boot = last_boot(&text);
    for disk in [
        "[vdb] 262144 512-byte logical blocks",
        "[vdc] 65536 512-byte logical blocks",
    ] {
        assert!(boot.contains(disk), "{disk}:\n{boot}");
    }
    assert_eq!(
        volume_nodes(&vm_dir).await,
        [
            (a_node.clone(), a_path.clone(), 128 * MIB),
            (b_node.clone(), b_path.clone(), 32 * MIB)
        ]
    );

    // Hot-unplug: the guest releases the device, QEMU drops it; again is fine.
    d.detach_volume(uuid, a_id).await.unwrap();
    assert_eq!(
        volume_nodes(&vm_dir).await,
        [(b_node.clone(), b_path.clone(), 32 * MIB)]
    );
    assert_eq!(saved_volume_ids(&vm_dir), [b_id]);
    d.detach_volume(uuid, a_id).await.unwrap();
    assert!(a_path.exists());

    // Suspend and resume: the volume left in its own slot comes back where it was (the
    // saved memory would not load otherwise).
    assert_eq!(d.suspend(uuid).await.unwrap(), PowerState::Suspended);
    assert!(matches!(
        d.attach_volume(uuid, &a).await,
        Err(VirtError::InvalidState(_))
    ));
    assert_eq!(d.resume(&s).await.unwrap(), PowerState::Running);
    assert_eq!(
        volume_nodes(&vm_dir).await,
        [(b_node.clone(), b_path.clone(), 32 * MIB)]
    );

    // A hard reboot (a reset of the same process) keeps it too.
    assert_eq!(d.reboot(uuid, true).await.unwrap(), PowerState::Running);
    assert_eq!(
        volume_nodes(&vm_dir).await,
        [(b_node.clone(), b_path.clone(), 32 * MIB)]
    );

    // Destroy leaves the volumes' files alone.
    d.destroy(uuid).await.unwrap();
    assert!(!vm_dir.exists());
    assert!(a_path.exists() && b_path.exists());

    // Boot from volume: a raw copy of the image is the root disk; no overlay is made.
    let root_id = "c0ffee00-1234-4abc-9def-0123456789ab";
    let root_path = vols.path().join("root.raw");
    let made = Command::new("qemu-img")
        .args(["convert", "-q", "-O", "raw"])
        .arg(&base)
        .arg(&root_path)
        .status()
        .unwrap();
    assert!(made.success());
    let bfv = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a";
    let mut s2 = spec(bfv, &tmp.path().join("no-such-base.qcow2"), Some("bfv"));
    s2.boot_volume = Some(file_volume(root_id, &root_path, "raw"));
    // A data volume given at spawn (vdc after the config drive): user-data reads what was
    // written to its file.
    let data_path = vols.path().join("data.raw");
    let mut data = b"FERROSTACK-VOLUME-DATA-OK".to_vec();
    data.resize(MIB as usize, 0);
    std::fs::write(&data_path, &data).unwrap();
    s2.volumes = vec![file_volume("d1", &data_path, "raw")];
    if let Some(drive) = &mut s2.config_drive {
        drive.user_data = Some(b"#!/bin/sh\necho \"vol-data: $(head -c 25 /dev/vdc)\"\n".to_vec());
    }
    assert_eq!(d.spawn(&s2).await.unwrap(), PowerState::Running);
    let bfv_dir = d.instances_dir().join(bfv);
    assert!(!bfv_dir.join("disk.qcow2").exists());
    wait_console(&d, bfv, "boot from volume", BOOT_TIMEOUT, |t| {
        t.contains(marker::BOOTED)
    })
    .await;
    wait_console(&d, bfv, "volume data read", BOOT_TIMEOUT, |t| {
        t.contains("vol-data: FERROSTACK-VOLUME-DATA-OK")
    })
    .await;
    let root_size = std::fs::metadata(&root_path).unwrap().len();
    assert_eq!(
        volume_nodes(&bfv_dir).await,
        [
            (
                "vc0ffee0012344abc9def".to_string(),
                root_path.clone(),
                root_size
            ),
            ("vd1".to_string(), data_path.clone(), MIB),
        ]
    );
    assert!(matches!(
        d.snapshot(bfv, &tmp.path().join("snap.qcow2")).await,
        Err(VirtError::InvalidState(_))
    ));
    assert!(matches!(
        d.detach_volume(bfv, root_id).await,
        Err(VirtError::InvalidState(_))
    ));
    d.destroy(bfv).await.unwrap();
    assert!(root_path.exists() && data_path.exists());
}
