//! The virt driver plug point (Nova's `virt/driver.py`) and the `fake` driver.
//!
//! Vocabulary: a *VM* is the hypervisor's side of one instance, named by the instance uuid;
//! its *files* (overlay disk, console log, config drive, saved state, control sockets) live
//! in a directory of the driver's own. Every operation is idempotent where the meaning
//! allows (spawn of a running VM, destroy of a gone one, power_off of a stopped one all
//! succeed), because the conductor replays steps after a crash. A driver never touches the
//! database and knows nothing of the API; the compute agent serialises operations per VM.
//!
//! `fake` keeps VMs in memory with realistic state transitions and starts no process: it is
//! for scale benchmarks and multi-host scheduling tests, and is never the default.

mod fake;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use compute_model::PowerState;
pub use fake::FakeDriver;

/// Errors a driver returns; the agent turns them into instance faults.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VirtError {
    /// No VM by that uuid on this host.
    #[error("instance {0} not found on this host")]
    NotFound(String),
    /// The VM is not in a state that allows the operation.
    #[error("{0}")]
    InvalidState(String),
    /// The hypervisor or a host tool failed; the message says what was being done.
    #[error("{0}")]
    Failed(String),
}

pub type Result<T, E = VirtError> = std::result::Result<T, E>;

/// The host's capacity as the driver sees it (reported to placement as inventory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    pub hypervisor_type: String,
    /// Nova-style integer version (QEMU 7.2.0 → 7002000).
    pub hypervisor_version: i64,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
    /// JSON text describing the CPU (arch, model, topology), as Nova's `cpu_info`.
    pub cpu_info: String,
}

/// Config drive contents (`openstack/latest/meta_data.json`, `network_data.json` and
/// `user_data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDrive {
    pub meta_data: serde_json::Value,
    /// Decoded user data bytes.
    pub user_data: Option<Vec<u8>>,
    /// `network_data.json`; `null` leaves the file out.
    pub network_data: serde_json::Value,
}

/// A NIC of a VM: a virtio-net device on the host tap device of a port, which the network
/// agent has created (and wired) before the VM starts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VmNic {
    pub port_id: String,
    /// The tap device the hypervisor opens.
    pub tap: String,
    pub mac: String,
}

/// Where a volume's bytes are, as the hypervisor opens them (from the volume service's
/// connection info).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum VolumeTarget {
    /// A file on this host (`raw` or `qcow2`).
    File { path: PathBuf, format: String },
    /// An NBD export (`nbd://host:port/export`) holding `format` data.
    Nbd {
        host: String,
        port: u16,
        export: String,
        format: String,
    },
}

/// A volume attached to a VM: a virtio-blk device whose serial is the volume id (truncated to
/// the 20 bytes virtio-blk keeps, as Nova does), so the guest finds it under
/// `/dev/disk/by-id/virtio-<serial>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VmVolume {
    pub volume_id: String,
    pub target: VolumeTarget,
    pub read_only: bool,
}

/// What the driver needs to build or boot a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    pub uuid: String,
    pub name: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    /// GiB; the overlay is grown to this when larger than the image's virtual size.
    pub root_gb: i64,
    /// The cached base image on local disk (never written to).
    pub base_image: PathBuf,
    /// `qcow2` or `raw`.
    pub base_format: String,
    pub image_properties: BTreeMap<String, String>,
    pub config_drive: Option<ConfigDrive>,
    /// The NICs in the guest's order (none: no network device at all).
    pub nics: Vec<VmNic>,
    /// Boot from volume: the root disk is this volume (no overlay is made and `base_image`
    /// is not read).
    pub boot_volume: Option<VmVolume>,
    /// Volumes attached after the root disk, in the guest's order (`vdb`, `vdc`, ...).
    pub volumes: Vec<VmVolume>,
}

/// A VM's current shape as the hypervisor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInfo {
    pub power_state: PowerState,
    /// RAM the hypervisor gives the guest (QMP `query-memory-size-summary` for QEMU).
    pub memory_mb: i64,
    pub vcpus: i64,
    /// The hypervisor process, when one runs.
    pub pid: Option<u32>,
}

/// One hypervisor backend.
#[async_trait::async_trait]
pub trait VirtDriver: Send + Sync + 'static {
    /// `qemu` or `fake`.
    fn kind(&self) -> &'static str;

    async fn host_info(&self) -> Result<HostInfo>;

    /// Re-attaches to VMs left by a previous run of the agent (running processes are kept,
    /// not killed) and returns the uuids of every VM that has files on this host.
    async fn recover(&self) -> Result<Vec<String>>;

    /// Every VM uuid with files on this host.
    async fn list(&self) -> Result<Vec<String>>;

    /// Creates the VM's disk (an overlay on `base_image`) unless it exists, and boots it.
    async fn spawn(&self, spec: &VmSpec) -> Result<PowerState>;

    /// Stops the VM hard and removes all its files. Succeeds when there is nothing.
    async fn destroy(&self, uuid: &str) -> Result<()>;

    /// Graceful power-off, then a hard stop when `timeout` passes. The disk stays.
    async fn power_off(&self, uuid: &str, timeout: Duration) -> Result<PowerState>;

    /// Boots a stopped VM from its existing disk.
    async fn power_on(&self, spec: &VmSpec) -> Result<PowerState>;

    async fn reboot(&self, uuid: &str, hard: bool) -> Result<PowerState>;

    async fn pause(&self, uuid: &str) -> Result<PowerState>;

    async fn unpause(&self, uuid: &str) -> Result<PowerState>;

    /// Saves the running VM's memory to disk and stops its process.
    async fn suspend(&self, uuid: &str) -> Result<PowerState>;

    /// Restores a suspended VM.
    async fn resume(&self, spec: &VmSpec) -> Result<PowerState>;

    async fn info(&self, uuid: &str) -> Result<VmInfo>;

    /// The serial console log so far.
    async fn console_output(&self, uuid: &str) -> Result<Vec<u8>>;

    /// Writes a flattened qcow2 copy of the VM's root disk to `dest` (the VM may run).
    async fn snapshot(&self, uuid: &str, dest: &Path) -> Result<()>;

    /// Applies `spec`'s vcpus, memory and root size to an existing VM: stops it if needed,
    /// grows the disk, and boots it with the new shape.
    async fn resize(&self, spec: &VmSpec) -> Result<PowerState>;

    /// Rescue (Nova's `rescue`): stops the VM, then boots it from a fresh overlay of
    /// `rescue_image` (`qcow2` or `raw`, never written to) as the first disk, with the
    /// instance's own disk attached second and untouched, so a guest can repair it. The VM
    /// stays rescued (its power-on, reboot and restart boot the rescue disk) until
    /// [`VirtDriver::unrescue`]. Rescuing a rescued VM that runs changes nothing. A suspended
    /// VM cannot be rescued.
    async fn rescue(
        &self,
        spec: &VmSpec,
        rescue_image: &Path,
        rescue_format: &str,
    ) -> Result<PowerState>;

    /// Unrescue: stops the rescue VM, drops the rescue overlay and boots the VM normally from
    /// its own disk. A VM that is not rescued is only booted if it is stopped.
    async fn unrescue(&self, spec: &VmSpec) -> Result<PowerState>;

    /// Hot-plugs `volume` into the running VM (and records it, so later boots of the VM
    /// include it). Attaching an attached volume succeeds and changes nothing. A VM that is
    /// not running only records it.
    async fn attach_volume(&self, uuid: &str, volume: &VmVolume) -> Result<()>;

    /// Hot-unplugs the volume from the running VM, waits until the guest released it, and
    /// forgets it. Succeeds when the volume is not attached.
    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<()>;

    /// Tells a running guest that an attached volume grew (QMP `block_resize`).
    async fn extend_volume(&self, uuid: &str, volume_id: &str, new_size_bytes: u64)
        -> Result<()>;
}
