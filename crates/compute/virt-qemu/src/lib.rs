//! The `qemu` virt driver: QEMU processes driven over QMP, no libvirt. Depends only on the
//! virt trait and the model.
//!
//! One `qemu-system-x86_64 -daemonize` per VM, so VMs outlive the agent; everything about a
//! VM lives in `<instances_dir>/<uuid>/` (see [`cmdline::VmPaths`]): the qcow2 overlay, the
//! console log, the QMP and serial sockets, the pid file, the config drive, `spec.json`,
//! while suspended the saved memory, and while rescued the rescue disk (see [`rescue`]).
//! Volumes are never the driver's files: a volume-backed VM has no `disk.qcow2`, and
//! attached volumes are recorded in `spec.json` only (see [`volume`]). A
//! process is only ever signalled after its pid file *and* `/proc/<pid>/cmdline` (which
//! names the VM's directory) agree. Operations on one VM
//! are serialised by a per-VM lock (QMP serves one client at a time). Blocking work runs as
//! `tokio::process` children; waits poll `/proc` with async sleeps.

pub mod accel;
pub mod cmdline;
pub mod disk;
mod host;
pub mod process;
pub mod qmp;
mod rescue;
mod vm;
mod volume;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use compute_virt::{HostInfo, PowerState, VirtDriver, VirtError, VmInfo, VmSpec};
use serde_json::Value;
use tokio::sync::{OnceCell, OwnedMutexGuard};

pub use cmdline::{Accel, VmPaths};
use disk::SavedSpec;
use vm::{exists, qmp, qmp_err, remove_file, Found};

/// How long a soft reboot waits for the guest to power off before resetting it.
const SOFT_REBOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a resize waits for the guest to power off before stopping it hard.
const RESIZE_POWEROFF_TIMEOUT: Duration = Duration::from_secs(60);

/// Driver settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuConfig {
    /// Where the per-VM directories live (created if missing).
    pub instances_dir: PathBuf,
    /// `auto` (probe KVM once, else TCG), `kvm` or `tcg`.
    pub accel: String,
}

/// The QEMU driver. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct QemuDriver {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    /// `None` for `auto`.
    forced: Option<Accel>,
    accel: OnceCell<Accel>,
    version: OnceCell<String>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Rejects uuids that could escape the instances directory or confuse QEMU's option parser.
fn check_uuid(uuid: &str) -> Result<(), VirtError> {
    let ok = !uuid.is_empty()
        && uuid.len() <= 64
        && uuid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(VirtError::InvalidState(format!(
            "invalid instance uuid {uuid:?}"
        )))
    }
}

/// Refuses a spec naming volumes QEMU cannot open (in `spec.json` every boot would fail).
fn check_volumes(spec: &VmSpec) -> Result<(), VirtError> {
    for v in spec.boot_volume.iter().chain(&spec.volumes) {
        vm::block_volume(v, None)?;
    }
    Ok(())
}

fn invalid(uuid: &str, what: &str, power: PowerState) -> VirtError {
    VirtError::InvalidState(format!(
        "cannot {what} instance {uuid} in power state {power:?}"
    ))
}

impl QemuDriver {
    pub fn new(cfg: QemuConfig) -> Result<Self, VirtError> {
        let forced = match cfg.accel.as_str() {
            "auto" => None,
            "kvm" => Some(Accel::Kvm),
            "tcg" => Some(Accel::Tcg),
            other => {
                return Err(VirtError::Failed(format!(
                    "accel must be auto, kvm or tcg, not {other:?}"
                )))
            }
        };
        std::fs::create_dir_all(&cfg.instances_dir).map_err(|e| {
            VirtError::Failed(format!("create {}: {e}", cfg.instances_dir.display()))
        })?;
        let dir = std::fs::canonicalize(&cfg.instances_dir).map_err(|e| {
            VirtError::Failed(format!("resolve {}: {e}", cfg.instances_dir.display()))
        })?;
        if dir.to_str().is_none() {
            return Err(VirtError::Failed(format!(
                "instances dir {} is not UTF-8",
                dir.display()
            )));
        }
        Ok(QemuDriver {
            inner: Arc::new(Inner {
                dir,
                forced,
                accel: OnceCell::new(),
                version: OnceCell::new(),
                locks: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The accelerator VMs start with (`auto` probes once per driver).
    pub async fn accel(&self) -> Accel {
        if let Some(a) = self.inner.forced {
            return a;
        }
        *self
            .inner
            .accel
            .get_or_init(|| async {
                let a = accel::detect(&self.inner.dir).await;
                tracing::info!(accel = a.as_str(), "accelerator chosen");
                a
            })
            .await
    }

    /// The (absolute) instances directory.
    pub fn instances_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The files of VM `uuid` (the serial socket is the interactive console).
    pub fn paths(&self, uuid: &str) -> Result<VmPaths, VirtError> {
        check_uuid(uuid)?;
        Ok(VmPaths::new(&self.inner.dir, uuid))
    }

    async fn lock(&self, uuid: &str) -> Result<OwnedMutexGuard<()>, VirtError> {
        let m = {
            let mut locks = self
                .inner
                .locks
                .lock()
                .map_err(|_| VirtError::Failed("qemu driver lock table poisoned".into()))?;
            locks.entry(uuid.to_string()).or_default().clone()
        };
        Ok(m.lock_owned().await)
    }

    /// Forgets the lock of a destroyed VM when nobody else waits on it.
    fn unlock_forget(&self, uuid: &str, guard: OwnedMutexGuard<()>) {
        if let Ok(mut locks) = self.inner.locks.lock() {
            // The map's Arc plus the guard's: no waiters.
            if locks.get(uuid).is_some_and(|m| Arc::strong_count(m) == 2) {
                locks.remove(uuid);
            }
        }
        drop(guard);
    }

    /// Paths and lock of an existing VM (NotFound without its directory).
    async fn existing(&self, uuid: &str) -> Result<(VmPaths, OwnedMutexGuard<()>), VirtError> {
        let paths = self.paths(uuid)?;
        let guard = self.lock(uuid).await?;
        if !exists(&paths.dir).await {
            return Err(VirtError::NotFound(uuid.to_string()));
        }
        Ok((paths, guard))
    }

    async fn boot_saved(&self, paths: &VmPaths) -> Result<PowerState, VirtError> {
        let saved = disk::read_spec(paths).await?;
        self.boot(paths, &saved, false).await?;
        Ok(PowerState::Running)
    }

    /// Writes `spec.json` from `spec` and builds the config drive when asked and missing
    /// (`rebuild`: even when present).
    async fn prepare(
        &self,
        paths: &VmPaths,
        spec: &VmSpec,
        rebuild: bool,
    ) -> Result<(), VirtError> {
        check_volumes(spec)?;
        if let Some(drive) = &spec.config_drive {
            if rebuild || !exists(&paths.config_drive()).await {
                disk::build_config_drive(paths, drive).await?;
            }
        }
        let old = disk::read_spec(paths).await.ok();
        disk::write_spec(paths, &SavedSpec::merged(spec, old)).await
    }

    /// True when the VM's root disk is a volume (by `spec` or by what was saved).
    async fn volume_backed(&self, paths: &VmPaths, spec: Option<&VmSpec>) -> bool {
        spec.is_some_and(|s| s.boot_volume.is_some())
            || disk::read_spec(paths)
                .await
                .is_ok_and(|s| s.boot_volume.is_some())
    }

    /// Fails when the VM's own root disk is gone (a volume-backed VM has none).
    async fn check_root_disk(
        &self,
        paths: &VmPaths,
        spec: &VmSpec,
        what: &str,
    ) -> Result<(), VirtError> {
        if self.volume_backed(paths, Some(spec)).await || exists(&paths.disk()).await {
            return Ok(());
        }
        Err(VirtError::Failed(format!(
            "{what} {}: the root disk is missing",
            spec.uuid
        )))
    }

    /// Removes leftovers of interrupted work in a VM directory whose QEMU is not running.
    async fn clean_partials(&self, paths: &VmPaths) {
        let partials = ["disk.qcow2", "rescue.qcow2", "config.img", "spec.json"];
        for f in partials.map(|p| format!("{p}.tmp")) {
            let _ = remove_file(&paths.dir.join(f)).await;
        }
        let _ = remove_file(&paths.saved_state_partial()).await;
        let _ = tokio::fs::remove_dir_all(paths.dir.join("config.d")).await;
    }
}

#[async_trait::async_trait]
impl VirtDriver for QemuDriver {
    fn kind(&self) -> &'static str {
        "qemu"
    }

    async fn host_info(&self) -> Result<HostInfo, VirtError> {
        host::host_info(self).await
    }

    async fn recover(&self) -> Result<Vec<String>, VirtError> {
        let uuids = self.list().await?;
        for uuid in &uuids {
            let paths = self.paths(uuid)?;
            let _guard = self.lock(uuid).await?;
            match vm::find(&paths).await {
                Ok(Found {
                    power: PowerState::Suspended,
                    live: Some(live),
                }) => {
                    // A suspend that saved the memory but did not get to quit.
                    tracing::info!(%uuid, pid = live.pid, "finishing an interrupted suspend");
                    if let Err(e) = vm::quit_or_kill(&paths, live.pid).await {
                        tracing::warn!(%uuid, "finishing the suspend: {e}");
                    }
                }
                Ok(Found {
                    live: Some(live), ..
                }) if exists(&paths.saved_state()).await => {
                    // A resume whose agent died: the process came from the saved state.
                    tracing::info!(%uuid, pid = live.pid, "finishing an interrupted resume");
                    if let Err(e) = vm::finish_restore(&paths, live.pid).await {
                        tracing::warn!(%uuid, "finishing the resume: {e}");
                    }
                }
                Ok(Found {
                    live: Some(live), ..
                }) => {
                    tracing::info!(%uuid, pid = live.pid, status = %live.status, "re-attached to qemu");
                }
                Ok(Found { power, live: None }) => {
                    tracing::info!(%uuid, ?power, "vm not running");
                    self.clean_partials(&paths).await;
                }
                Err(e) => tracing::warn!(%uuid, "cannot re-attach: {e}"),
            }
        }
        Ok(uuids)
    }

    async fn list(&self) -> Result<Vec<String>, VirtError> {
        let mut rd = tokio::fs::read_dir(&self.inner.dir)
            .await
            .map_err(|e| VirtError::Failed(format!("read {}: {e}", self.inner.dir.display())))?;
        let mut out = Vec::new();
        while let Some(entry) = rd
            .next_entry()
            .await
            .map_err(|e| VirtError::Failed(format!("read instances dir: {e}")))?
        {
            let is_dir = entry.file_type().await.map(|t| t.is_dir()).unwrap_or(false);
            if let Some(name) = entry.file_name().to_str() {
                // The agent keeps its own things beside the VMs (`_base/` image cache,
                // dot-files): never VMs.
                let agents = name.starts_with('_') || name.starts_with('.');
                if is_dir && !agents && check_uuid(name).is_ok() {
                    out.push(name.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    async fn spawn(&self, spec: &VmSpec) -> Result<PowerState, VirtError> {
        let paths = self.paths(&spec.uuid)?;
        let _guard = self.lock(&spec.uuid).await?;
        if exists(&paths.dir).await {
            match vm::find(&paths).await? {
                Found {
                    power: PowerState::Suspended,
                    ..
                } => return Err(invalid(&spec.uuid, "spawn", PowerState::Suspended)),
                Found {
                    live: Some(_),
                    power,
                } => return Ok(power),
                Found { live: None, .. } => {
                    // A spawn boots the instance's own disk: a stopped VM is not rescued.
                    remove_file(&paths.rescue_disk()).await?;
                    self.clean_partials(&paths).await
                }
            }
        }
        check_volumes(spec)?;
        tokio::fs::create_dir_all(&paths.dir)
            .await
            .map_err(|e| VirtError::Failed(format!("create {}: {e}", paths.dir.display())))?;
        if spec.boot_volume.is_none() {
            disk::ensure_overlay(&paths, spec).await?;
        }
        self.prepare(&paths, spec, true).await?;
        self.boot_saved(&paths).await
    }

    async fn destroy(&self, uuid: &str) -> Result<(), VirtError> {
        let paths = self.paths(uuid)?;
        let guard = self.lock(uuid).await?;
        if let Some(pid) = process::verified_pid(&paths.pidfile(), &paths.dir).await {
            process::kill_and_wait(pid, &paths.dir).await?;
        }
        match tokio::fs::remove_dir_all(&paths.dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(VirtError::Failed(format!(
                    "remove {}: {e}",
                    paths.dir.display()
                )))
            }
        }
        self.unlock_forget(uuid, guard);
        Ok(())
    }

    async fn power_off(&self, uuid: &str, timeout: Duration) -> Result<PowerState, VirtError> {
        let (paths, _guard) = self.existing(uuid).await?;
        if let Found {
            live: Some(live), ..
        } = vm::find(&paths).await?
        {
            vm::stop(&paths, &live, timeout).await?;
        }
        // Powering off a suspended VM discards its saved memory.
        remove_file(&paths.saved_state()).await?;
        remove_file(&paths.saved_state_partial()).await?;
        Ok(PowerState::Shutdown)
    }

    async fn power_on(&self, spec: &VmSpec) -> Result<PowerState, VirtError> {
        let (paths, _guard) = self.existing(&spec.uuid).await?;
        match vm::find(&paths).await? {
            Found {
                power: PowerState::Running,
                ..
            } => return Ok(PowerState::Running),
            Found {
                live: None,
                power: PowerState::Shutdown,
            } => {}
            Found { power, .. } => return Err(invalid(&spec.uuid, "power on", power)),
        }
        self.check_root_disk(&paths, spec, "power on").await?;
        self.clean_partials(&paths).await;
        self.prepare(&paths, spec, false).await?;
        self.boot_saved(&paths).await
    }

    async fn reboot(&self, uuid: &str, hard: bool) -> Result<PowerState, VirtError> {
        let (paths, _guard) = self.existing(uuid).await?;
        let found = vm::find(&paths).await?;
        if !hard {
            let Found {
                power: PowerState::Running,
                live: Some(live),
            } = found
            else {
                return Err(invalid(uuid, "soft reboot", found.power));
            };
            if vm::powerdown(&paths, live.pid, SOFT_REBOOT_TIMEOUT).await? {
                return self.boot_saved(&paths).await;
            }
            tracing::info!(%uuid, "guest ignored the power button; resetting");
            let mut q = qmp(&paths).await?;
            q.execute("system_reset", None)
                .await
                .map_err(qmp_err("system_reset"))?;
            return Ok(PowerState::Running);
        }
        match found {
            Found {
                power: PowerState::Running,
                live: Some(_),
            } => {
                let mut q = qmp(&paths).await?;
                q.execute("system_reset", None)
                    .await
                    .map_err(qmp_err("system_reset"))?;
                Ok(PowerState::Running)
            }
            Found { live, .. } => {
                // Paused, crashed, suspended or off: start over from the disk.
                if let Some(live) = live {
                    vm::quit_or_kill(&paths, live.pid).await?;
                }
                remove_file(&paths.saved_state()).await?;
                self.clean_partials(&paths).await;
                self.boot_saved(&paths).await
            }
        }
    }

    async fn pause(&self, uuid: &str) -> Result<PowerState, VirtError> {
        let (paths, _guard) = self.existing(uuid).await?;
        match vm::find(&paths).await?.power {
            PowerState::Paused => Ok(PowerState::Paused),
            PowerState::Running => {
                let mut q = qmp(&paths).await?;
                q.execute("stop", None).await.map_err(qmp_err("stop"))?;
                Ok(PowerState::Paused)
            }
            other => Err(invalid(uuid, "pause", other)),
        }
    }

    async fn unpause(&self, uuid: &str) -> Result<PowerState, VirtError> {
        let (paths, _guard) = self.existing(uuid).await?;
        let found = vm::find(&paths).await?;
        match (&found.power, &found.live) {
            (PowerState::Running, _) => Ok(PowerState::Running),
            (PowerState::Paused, Some(live)) if live.status == "paused" => {
                let mut q = qmp(&paths).await?;
                q.execute("cont", None).await.map_err(qmp_err("cont"))?;
                Ok(PowerState::Running)
            }
            _ => Err(invalid(uuid, "unpause", found.power)),
        }
    }

    async fn suspend(&self, uuid: &str) -> Result<PowerState, VirtError> {
        let (paths, _guard) = self.existing(uuid).await?;
        match vm::find(&paths).await? {
            Found {
                power: PowerState::Suspended,
                live,
            } => {
                if let Some(live) = live {
                    vm::quit_or_kill(&paths, live.pid).await?;
                }
                Ok(PowerState::Suspended)
            }
            Found {
                power: PowerState::Running | PowerState::Paused,
                live: Some(live),
            } if matches!(live.status.as_str(), "running" | "paused") => {
                vm::save(&paths, &live).await?;
                Ok(PowerState::Suspended)
            }
            Found { power, .. } => Err(invalid(uuid, "suspend", power)),
        }
    }

    async fn resume(&self, spec: &VmSpec) -> Result<PowerState, VirtError> {
        let (paths, _guard) = self.existing(&spec.uuid).await?;
        match vm::find(&paths).await? {
            Found {
                power: PowerState::Running,
                ..
            } => Ok(PowerState::Running),
            Found {
                power: PowerState::Suspended,
                live,
            } => {
                if let Some(live) = live {
                    vm::quit_or_kill(&paths, live.pid).await?;
                }
                // The saved memory fixes the shape: boot with what was saved, not `spec`.
                let saved = disk::read_spec(&paths).await?;
                self.restore(&paths, &saved).await?;
                Ok(PowerState::Running)
            }
            Found { power, .. } => Err(invalid(&spec.uuid, "resume", power)),
        }
    }

    async fn info(&self, uuid: &str) -> Result<VmInfo, VirtError> {
        let (paths, _guard) = self.existing(uuid).await?;
        let found = vm::find(&paths).await?;
        let saved = disk::read_spec(&paths).await.ok();
        let (memory_mb, vcpus) = saved.map(|s| (s.memory_mb, s.vcpus)).unwrap_or((0, 0));
        let Some(live) = found.live.filter(|_| found.power != PowerState::Suspended) else {
            return Ok(VmInfo {
                power_state: found.power,
                memory_mb,
                vcpus,
                pid: None,
            });
        };
        let mut q = qmp(&paths).await?;
        let mem = q
            .execute("query-memory-size-summary", None)
            .await
            .map_err(qmp_err("query-memory-size-summary"))?;
        let bytes = mem.get("base-memory").and_then(Value::as_u64).unwrap_or(0)
            + mem
                .get("plugged-memory")
                .and_then(Value::as_u64)
                .unwrap_or(0);
        let cpus = q
            .execute("query-cpus-fast", None)
            .await
            .map_err(qmp_err("query-cpus-fast"))?;
        Ok(VmInfo {
            power_state: found.power,
            memory_mb: i64::try_from(bytes / (1024 * 1024)).unwrap_or(i64::MAX),
            vcpus: cpus
                .as_array()
                .map(|a| i64::try_from(a.len()).unwrap_or(i64::MAX))
                .unwrap_or(vcpus),
            pid: Some(live.pid),
        })
    }

    async fn console_output(&self, uuid: &str) -> Result<Vec<u8>, VirtError> {
        let paths = self.paths(uuid)?;
        if !exists(&paths.dir).await {
            return Err(VirtError::NotFound(uuid.to_string()));
        }
        match tokio::fs::read(paths.console()).await {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(VirtError::Failed(format!("read console log: {e}"))),
        }
    }

    async fn snapshot(&self, uuid: &str, dest: &Path) -> Result<(), VirtError> {
        let (paths, _guard) = self.existing(uuid).await?;
        if self.volume_backed(&paths, None).await {
            return Err(VirtError::InvalidState(format!(
                "instance {uuid} boots from a volume: snapshot the volume instead"
            )));
        }
        if !exists(&paths.disk()).await {
            return Err(VirtError::Failed(format!("snapshot {uuid}: no root disk")));
        }
        let found = vm::find(&paths).await?;
        let running = found.live.as_ref().is_some_and(|l| l.status == "running");
        if !running {
            return disk::convert_snapshot(&paths.disk(), dest).await;
        }
        // Pausing flushes the guest's writes to the overlay and keeps it still while copying.
        let mut q = qmp(&paths).await?;
        q.execute("stop", None)
            .await
            .map_err(qmp_err("stop for snapshot"))?;
        let result = disk::convert_snapshot(&paths.disk(), dest).await;
        let cont = q
            .execute("cont", None)
            .await
            .map_err(qmp_err("cont after snapshot"));
        result.and(cont.map(|_| ()))
    }

    async fn resize(&self, spec: &VmSpec) -> Result<PowerState, VirtError> {
        let (paths, _guard) = self.existing(&spec.uuid).await?;
        match vm::find(&paths).await? {
            Found {
                power: PowerState::Suspended,
                ..
            } => return Err(invalid(&spec.uuid, "resize", PowerState::Suspended)),
            Found {
                live: Some(live), ..
            } => vm::stop(&paths, &live, RESIZE_POWEROFF_TIMEOUT).await?,
            Found { live: None, .. } => {}
        }
        if !self.volume_backed(&paths, Some(spec)).await {
            disk::grow(&paths.disk(), spec.root_gb).await?;
        }
        self.prepare(&paths, spec, false).await?;
        self.boot_saved(&paths).await
    }

    async fn rescue(
        &self,
        spec: &VmSpec,
        rescue_image: &Path,
        rescue_format: &str,
    ) -> Result<PowerState, VirtError> {
        self.rescue_vm(spec, rescue_image, rescue_format).await
    }

    async fn unrescue(&self, spec: &VmSpec) -> Result<PowerState, VirtError> {
        self.unrescue_vm(spec).await
    }

    async fn attach_volume(
        &self,
        uuid: &str,
        volume: &compute_virt::VmVolume,
    ) -> Result<(), VirtError> {
        self.attach(uuid, volume).await
    }

    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<(), VirtError> {
        self.detach(uuid, volume_id).await
    }

    async fn extend_volume(
        &self,
        uuid: &str,
        volume_id: &str,
        new_size_bytes: u64,
    ) -> Result<(), VirtError> {
        self.extend(uuid, volume_id, new_size_bytes).await
    }
}
