//! The volume driver plug point (Cinder's `volume/driver.py`): the only code that touches the
//! volume host's storage. The domain layer records every operation's intent (a status such as
//! `creating` or `deleting`) before it calls the driver, so after a crash it calls the same
//! method again; every method is therefore idempotent: creating what exists with the same
//! size succeeds, deleting what is gone succeeds, exporting what is exported returns the same
//! connection.
//!
//! Names: volumes, snapshots and backups are named by their uuids; the driver keeps its own
//! layout under its directories. Sizes are GiB.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors a driver returns; the domain turns them into `error` states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverError {
    /// No volume, snapshot or backup by that id on this backend.
    NotFound(String),
    /// The backend cannot do this now (no space, a size smaller than the data, ...); the
    /// message may be shown to the user.
    Invalid(String),
    /// A host tool failed; the message says what was being done (for the log).
    Failed(String),
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriverError::NotFound(what) => write!(f, "{what} not found on the backend"),
            DriverError::Invalid(m) | DriverError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DriverError {}

pub type DriverResult<T> = std::result::Result<T, DriverError>;

/// Who wants to reach a volume (Cinder's `connector`): the compute host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connector {
    /// The compute host's name.
    pub host: String,
    /// Whether the compute host is this volume host (then the file itself can be handed over).
    pub local: bool,
}

/// How a hypervisor reaches an exported volume (Cinder's `connection_info`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "driver_volume_type", content = "data", rename_all = "lowercase")]
pub enum Connection {
    /// The volume's file on this host (`local` in Cinder's terms): QEMU opens it directly.
    Local {
        device_path: PathBuf,
        /// `raw` or `qcow2`.
        format: String,
    },
    /// An NBD export (`qemu-storage-daemon`): `nbd://host:port/export`.
    Nbd {
        host: String,
        port: u16,
        export: String,
        format: String,
    },
}

/// A backup written to the backup target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupResult {
    /// Bytes the backup added to the target (an incremental one stores only changed chunks).
    pub stored_bytes: u64,
    /// Whether the backup depends on a parent.
    pub incremental: bool,
}

/// Space on the backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub total_gb: i64,
    pub free_gb: i64,
}

/// One volume backend.
#[async_trait::async_trait]
pub trait VolumeDriver: Send + Sync + 'static {
    /// `file`.
    fn name(&self) -> &'static str;

    async fn capacity(&self) -> DriverResult<Capacity>;

    /// Ids of every volume with data on this backend (for recovery: a volume row in
    /// `creating` with data is redone; data without a row is removed).
    async fn list_volumes(&self) -> DriverResult<Vec<String>>;

    /// Ids of every snapshot with data on this backend.
    async fn list_snapshots(&self) -> DriverResult<Vec<String>>;

    /// `(volume_id, attachment_id)` of every live export (for recovery: an export whose
    /// attachment is gone is removed).
    async fn list_exports(&self) -> DriverResult<Vec<(String, String)>>;

    /// A blank volume of `size_gb` (reads as zeros).
    async fn create(&self, id: &str, size_gb: i64) -> DriverResult<()>;

    /// A volume holding the image at `image` (in `format`, `raw` or `qcow2`), grown to
    /// `size_gb`; `Invalid` when the image's virtual size exceeds it.
    async fn create_from_image(
        &self,
        id: &str,
        size_gb: i64,
        image: &Path,
        format: &str,
    ) -> DriverResult<()>;

    /// A volume with the snapshot's bytes, grown to `size_gb`.
    async fn create_from_snapshot(
        &self,
        id: &str,
        size_gb: i64,
        snapshot_id: &str,
    ) -> DriverResult<()>;

    /// A volume with `source_id`'s bytes (the source may be attached), grown to `size_gb`.
    async fn clone_volume(&self, id: &str, size_gb: i64, source_id: &str) -> DriverResult<()>;

    /// Removes the volume's data (and every export of it). Succeeds when nothing is there.
    async fn delete(&self, id: &str) -> DriverResult<()>;

    /// Grows the volume to `new_size_gb` (never shrinks: `Invalid`). An attached volume grows
    /// too; telling the guest is the hypervisor's part.
    async fn extend(&self, id: &str, new_size_gb: i64) -> DriverResult<()>;

    /// A point-in-time copy of the volume (which may be attached: crash-consistent).
    async fn create_snapshot(&self, snapshot_id: &str, volume_id: &str) -> DriverResult<()>;

    async fn delete_snapshot(&self, snapshot_id: &str) -> DriverResult<()>;

    /// Writes the volume's bytes to `dest` as `format` (`raw` or `qcow2`), for upload to the
    /// image service.
    async fn copy_to_image(&self, id: &str, dest: &Path, format: &str) -> DriverResult<()>;

    /// Makes the volume reachable by `connector` for attachment `attachment_id`.
    async fn export(
        &self,
        id: &str,
        attachment_id: &str,
        connector: &Connector,
    ) -> DriverResult<Connection>;

    /// Removes the export of attachment `attachment_id`. Succeeds when there is none.
    async fn unexport(&self, id: &str, attachment_id: &str) -> DriverResult<()>;

    /// Writes backup `backup_id` of the volume to the backup target: all of it, or, with
    /// `parent`, only what changed since that backup.
    async fn backup(
        &self,
        volume_id: &str,
        backup_id: &str,
        parent: Option<&str>,
    ) -> DriverResult<BackupResult>;

    /// Writes backup `backup_id` (with its parents) over volume `volume_id`, which must be at
    /// least the backup's size.
    async fn restore(&self, backup_id: &str, volume_id: &str) -> DriverResult<()>;

    /// Removes the backup from the target (data a child backup still needs stays).
    async fn delete_backup(&self, backup_id: &str) -> DriverResult<()>;
}
