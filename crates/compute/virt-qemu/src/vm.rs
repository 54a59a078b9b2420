//! The primitives the driver's operations are made of: reading a VM's state, starting QEMU,
//! stopping it (gracefully, with `quit`, or with SIGKILL) and saving its memory to a file.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use compute_virt::{PowerState, VirtError, VmVolume};
use serde_json::{json, Value};
use tokio::process::Command;

use crate::cmdline::{shell_quote, target_format, BlockVolume, Nic, QemuArgs, VmPaths};
use crate::disk::SavedSpec;
use crate::process::{kill_and_wait, verified_pid, wait_gone};
use crate::qmp::{Qmp, QmpError};
use crate::QemuDriver;

/// How long one QMP read may take.
pub const QMP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `qemu-system-x86_64 -daemonize` may take to hand over to its daemon.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long QEMU may take to exit after `quit`.
const QUIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long saving memory to a file may take.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long loading a saved state may take.
const INCOMING_TIMEOUT: Duration = Duration::from_secs(300);
/// The migration speed limit for saving to a file (QEMU's default is 32 MiB/s).
const SAVE_BANDWIDTH: u64 = 8 * 1024 * 1024 * 1024;

/// What a running VM is doing, from `query-status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub pid: u32,
    /// QEMU's run state (`running`, `paused`, `postmigrate`, `inmigrate`, ...).
    pub status: String,
}

/// A VM's state as found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub power: PowerState,
    pub live: Option<Live>,
}

/// Maps a QEMU run state to a power state.
pub fn power_of(status: &str) -> PowerState {
    match status {
        "running" => PowerState::Running,
        "internal-error" | "guest-panicked" | "shutdown" => PowerState::Crashed,
        "paused" | "prelaunch" | "inmigrate" | "postmigrate" | "finish-migrate" | "save-vm"
        | "restore-vm" | "suspended" | "debug" | "io-error" | "watchdog" | "colo" => {
            PowerState::Paused
        }
        _ => PowerState::NoState,
    }
}

pub fn qmp_err(what: &str) -> impl Fn(QmpError) -> VirtError + '_ {
    move |e| VirtError::Failed(format!("{what}: {e}"))
}

pub async fn qmp(paths: &VmPaths) -> Result<Qmp, VirtError> {
    Qmp::connect(&paths.qmp(), QMP_TIMEOUT)
        .await
        .map_err(qmp_err("connect to qemu"))
}

pub async fn exists(p: &Path) -> bool {
    tokio::fs::try_exists(p).await.unwrap_or(false)
}

pub async fn remove_file(p: &Path) -> Result<(), VirtError> {
    match tokio::fs::remove_file(p).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(VirtError::Failed(format!("remove {}: {e}", p.display()))),
    }
}

/// The VM's state: a live QEMU answers `query-status`; otherwise a complete saved state
/// means suspended, and anything else is shut down. A QEMU left in `postmigrate` with a
/// complete saved state is a suspend that did not get to `quit` and counts as suspended.
pub async fn find(paths: &VmPaths) -> Result<Found, VirtError> {
    let suspended = exists(&paths.saved_state()).await;
    let Some(pid) = verified_pid(&paths.pidfile(), &paths.dir).await else {
        let power = if suspended {
            PowerState::Suspended
        } else {
            PowerState::Shutdown
        };
        return Ok(Found { power, live: None });
    };
    let mut q = match qmp(paths).await {
        Ok(q) => q,
        // It may have exited between the two looks.
        Err(_) if verified_pid(&paths.pidfile(), &paths.dir).await.is_none() => {
            return Box::pin(find(paths)).await
        }
        Err(e) => return Err(e),
    };
    let reply = q
        .execute("query-status", None)
        .await
        .map_err(qmp_err("query-status"))?;
    let status = reply
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let power = if suspended && status == "postmigrate" {
        PowerState::Suspended
    } else {
        power_of(&status)
    };
    Ok(Found {
        power,
        live: Some(Live { pid, status }),
    })
}

/// Asks QEMU to quit, then SIGKILLs it if it is still there after [`QUIT_TIMEOUT`].
pub async fn quit_or_kill(paths: &VmPaths, pid: u32) -> Result<(), VirtError> {
    if let Ok(mut q) = qmp(paths).await {
        if let Err(e) = q.quit().await {
            tracing::warn!(dir = %paths.dir.display(), "qmp quit: {e}");
        }
    }
    if wait_gone(pid, &paths.dir, QUIT_TIMEOUT).await {
        return Ok(());
    }
    kill_and_wait(pid, &paths.dir).await
}

/// Presses the ACPI power button and waits up to `timeout` for QEMU to exit; true if it did.
pub async fn powerdown(paths: &VmPaths, pid: u32, timeout: Duration) -> Result<bool, VirtError> {
    if timeout.is_zero() {
        return Ok(false);
    }
    let mut q = qmp(paths).await?;
    q.execute("system_powerdown", None)
        .await
        .map_err(qmp_err("system_powerdown"))?;
    drop(q);
    Ok(wait_gone(pid, &paths.dir, timeout).await)
}

/// Stops a live VM for good: graceful first when it runs and `timeout` allows, then hard.
pub async fn stop(paths: &VmPaths, live: &Live, timeout: Duration) -> Result<(), VirtError> {
    if live.status == "running" {
        match powerdown(paths, live.pid, timeout).await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => tracing::warn!(dir = %paths.dir.display(), "graceful power-off: {e}"),
        }
    }
    quit_or_kill(paths, live.pid).await
}

/// Saves a live VM's memory to `suspend.state` (which appears only once complete) and quits
/// it. The URI writes a partial file and renames it only when `cat` succeeded.
pub async fn save(paths: &VmPaths, live: &Live) -> Result<(), VirtError> {
    let part = paths.saved_state_partial();
    let done = paths.saved_state();
    remove_file(&part).await?;
    let mut q = qmp(paths).await?;
    q.execute(
        "migrate-set-parameters",
        Some(json!({"max-bandwidth": SAVE_BANDWIDTH})),
    )
    .await
    .map_err(qmp_err("migrate-set-parameters"))?;
    let uri = format!(
        "exec:cat > {p} && mv {p} {d}",
        p = shell_quote(&part),
        d = shell_quote(&done)
    );
    q.execute("migrate", Some(json!({ "uri": uri })))
        .await
        .map_err(qmp_err("migrate to file"))?;
    let deadline = tokio::time::Instant::now() + MIGRATE_TIMEOUT;
    loop {
        let info = q
            .execute("query-migrate", None)
            .await
            .map_err(qmp_err("query-migrate"))?;
        match info.get("status").and_then(Value::as_str).unwrap_or("") {
            "completed" => break,
            s @ ("failed" | "cancelled") => {
                let why = info.get("error-desc").and_then(Value::as_str).unwrap_or("");
                return Err(VirtError::Failed(format!(
                    "save memory: migration {s}: {why}"
                )));
            }
            _ if tokio::time::Instant::now() >= deadline => {
                let _ = q.execute("migrate_cancel", None).await;
                return Err(VirtError::Failed(format!(
                    "save memory: not done within {MIGRATE_TIMEOUT:?}"
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    // `cat` may still be flushing when QEMU reports completion: wait for the rename.
    let deadline = tokio::time::Instant::now() + QUIT_TIMEOUT;
    while !exists(&done).await {
        if tokio::time::Instant::now() >= deadline {
            return Err(VirtError::Failed(
                "save memory: the state file was not completed".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(q);
    quit_or_kill(paths, live.pid).await
}

/// The QEMU side of a volume; refuses formats other than `raw` and `qcow2` and ids QEMU
/// names cannot be made of.
pub(crate) fn block_volume(v: &VmVolume, slot: Option<u8>) -> Result<BlockVolume, VirtError> {
    let format = target_format(&v.target);
    if !matches!(format, "raw" | "qcow2") {
        return Err(VirtError::InvalidState(format!(
            "volume {}: unsupported format {format:?} (raw or qcow2)",
            v.volume_id
        )));
    }
    BlockVolume::new(v, slot)
        .ok_or_else(|| VirtError::InvalidState(format!("invalid volume id {:?}", v.volume_id)))
}

/// The command line's NICs for a saved spec: one virtio-net per port, in order.
pub(crate) fn nics(saved: &SavedSpec) -> Vec<Nic> {
    saved
        .nics
        .iter()
        .enumerate()
        .map(|(n, nic)| Nic {
            id: format!("n{n}"),
            ifname: nic.tap.clone(),
            mac: nic.mac.clone(),
        })
        .collect()
}

impl QemuDriver {
    /// Starts QEMU for `saved` (daemonized), restoring `suspend.state` when `incoming`, and
    /// returns its pid once QMP answers. The config drive is attached when `config.img` exists;
    /// the VM boots rescued (from `rescue.qcow2`, the root disk second) when that exists.
    /// The root disk is the boot volume when the VM has one; the recorded volumes follow
    /// every other device, each in its own PCI slot.
    pub(crate) async fn boot(
        &self,
        paths: &VmPaths,
        saved: &SavedSpec,
        incoming: bool,
    ) -> Result<u32, VirtError> {
        for stale in [paths.qmp(), paths.serial(), paths.pidfile()] {
            remove_file(&stale).await?;
        }
        let args = QemuArgs {
            uuid: saved.uuid.clone(),
            paths: paths.clone(),
            memory_mb: saved.memory_mb,
            vcpus: saved.vcpus,
            accel: self.accel().await,
            config_drive: exists(&paths.config_drive()).await,
            rescue: exists(&paths.rescue_disk()).await,
            nics: nics(saved),
            incoming: incoming.then(|| paths.saved_state()),
            boot_volume: saved
                .boot_volume
                .as_ref()
                .map(|v| block_volume(v, None))
                .transpose()?,
            volumes: saved
                .volumes
                .iter()
                .map(|v| block_volume(&v.volume, Some(v.slot)))
                .collect::<Result<_, _>>()?,
        };
        let log_path = paths.qemu_log();
        let log = tokio::fs::File::create(&log_path)
            .await
            .map_err(|e| VirtError::Failed(format!("create {}: {e}", log_path.display())))?
            .into_std()
            .await;
        let log2 = log
            .try_clone()
            .map_err(|e| VirtError::Failed(format!("qemu log: {e}")))?;
        let mut child = Command::new("qemu-system-x86_64")
            .args(args.to_args())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| VirtError::Failed(format!("start qemu-system-x86_64: {e}")))?;
        let status = match tokio::time::timeout(START_TIMEOUT, child.wait()).await {
            Ok(s) => s.map_err(|e| VirtError::Failed(format!("start qemu: {e}")))?,
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(VirtError::Failed(format!(
                    "start qemu: not daemonized within {START_TIMEOUT:?}"
                )));
            }
        };
        let output = tokio::fs::read_to_string(&log_path)
            .await
            .unwrap_or_default();
        if !status.success() {
            return Err(VirtError::Failed(format!(
                "start qemu: {status}: {}",
                output.trim()
            )));
        }
        let pid = verified_pid(&paths.pidfile(), &paths.dir)
            .await
            .ok_or_else(|| {
                VirtError::Failed(format!(
                    "start qemu: no live process in the pid file {}",
                    output.trim()
                ))
            })?;
        qmp(paths).await?;
        tracing::info!(uuid = %saved.uuid, pid, incoming, "qemu started");
        Ok(pid)
    }

    /// Boots a suspended VM from `suspend.state`, continues it if it came back paused, and
    /// deletes the state file once it runs.
    pub(crate) async fn restore(
        &self,
        paths: &VmPaths,
        saved: &SavedSpec,
    ) -> Result<(), VirtError> {
        let pid = self.boot(paths, saved, true).await?;
        finish_restore(paths, pid).await
    }
}

/// Waits for a QEMU started with `-incoming` to load its state (bounded), `cont`s it when it
/// came back paused, and deletes `suspend.state`. Also finishes a restore whose agent died.
pub async fn finish_restore(paths: &VmPaths, pid: u32) -> Result<(), VirtError> {
    let mut q = qmp(paths).await?;
    let deadline = tokio::time::Instant::now() + INCOMING_TIMEOUT;
    let status = loop {
        let reply = match q.execute("query-status", None).await {
            Ok(r) => r,
            Err(e) => {
                let log = tokio::fs::read_to_string(paths.qemu_log())
                    .await
                    .unwrap_or_default();
                return Err(VirtError::Failed(format!("restore: {e} {}", log.trim())));
            }
        };
        let status = reply.get("status").and_then(Value::as_str).unwrap_or("");
        if status != "inmigrate" {
            break status.to_string();
        }
        if tokio::time::Instant::now() >= deadline {
            drop(q);
            let _ = quit_or_kill(paths, pid).await;
            return Err(VirtError::Failed(format!(
                "restore: state not loaded within {INCOMING_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if status != "running" {
        q.execute("cont", None)
            .await
            .map_err(qmp_err("cont after restore"))?;
    }
    remove_file(&paths.saved_state()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_nics_become_numbered_tap_netdevs() {
        let saved = SavedSpec {
            uuid: "u".into(),
            name: "vm".into(),
            vcpus: 1,
            memory_mb: 64,
            root_gb: 1,
            base_image: "/b".into(),
            base_format: "qcow2".into(),
            image_properties: Default::default(),
            nics: ["a", "b"]
                .iter()
                .map(|p| compute_virt::VmNic {
                    port_id: (*p).into(),
                    tap: format!("tap{p}"),
                    mac: format!("fa:16:3e:00:00:0{}", if *p == "a" { 1 } else { 2 }),
                })
                .collect(),
            boot_volume: None,
            volumes: vec![],
        };
        let n = nics(&saved);
        assert_eq!(
            n,
            vec![
                Nic {
                    id: "n0".into(),
                    ifname: "tapa".into(),
                    mac: "fa:16:3e:00:00:01".into()
                },
                Nic {
                    id: "n1".into(),
                    ifname: "tapb".into(),
                    mac: "fa:16:3e:00:00:02".into()
                },
            ]
        );
        // A spec.json written before NICs existed still reads (no NIC).
        let old = r#"{"uuid":"u","name":"vm","vcpus":1,"memory_mb":64,"root_gb":1,
            "base_image":"/b","base_format":"qcow2"}"#;
        let s: SavedSpec = serde_json::from_str(old).unwrap();
        assert!(nics(&s).is_empty());
    }

    #[test]
    fn run_states_map_to_power_states() {
        assert_eq!(power_of("running"), PowerState::Running);
        assert_eq!(power_of("paused"), PowerState::Paused);
        assert_eq!(power_of("postmigrate"), PowerState::Paused);
        assert_eq!(power_of("inmigrate"), PowerState::Paused);
        assert_eq!(power_of("guest-panicked"), PowerState::Crashed);
        assert_eq!(power_of("internal-error"), PowerState::Crashed);
        assert_eq!(power_of("whatever"), PowerState::NoState);
    }
}
