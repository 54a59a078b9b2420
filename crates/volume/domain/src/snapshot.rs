//! Snapshots: a point-in-time copy of a volume (`creating` → `available`), counted in the
//! project's snapshot and gigabytes quotas.

use std::collections::BTreeMap;

use common_error::{Error, Result};
use volume_db::{new_id, now_text};
use volume_model::{Snapshot, SnapshotStatus, VolumeStatus};

use crate::{driver_err, Caller, Volumes};

impl Volumes {
    /// Snapshot `id` as `caller` sees it.
    pub async fn snapshot_get(&self, caller: &Caller, id: &str) -> Result<Snapshot> {
        match self.store.snapshot(id).await? {
            Some(s) if caller.sees(&s.project_id) => Ok(s),
            _ => Err(Error::not_found("snapshot", id)),
        }
    }

    /// The snapshots `caller` sees.
    pub async fn snapshots(&self, caller: &Caller, all_projects: bool) -> Result<Vec<Snapshot>> {
        if caller.is_admin && all_projects {
            self.store.snapshots(None).await
        } else {
            self.store
                .snapshots(Some(caller.project_id.as_deref().unwrap_or("")))
                .await
        }
    }

    /// Snapshots volume `volume_id` (`available`, or `in-use` with `force`).
    pub async fn snapshot_create(
        &self,
        caller: &Caller,
        volume_id: &str,
        name: Option<String>,
        description: Option<String>,
        metadata: BTreeMap<String, String>,
        force: bool,
    ) -> Result<Snapshot> {
        let v = self.get(caller, volume_id).await?;
        let ok = v.status == VolumeStatus::Available || (force && v.status == VolumeStatus::InUse);
        if !ok {
            let msg = if v.status == VolumeStatus::InUse {
                format!(
                    "Invalid volume: Volume {volume_id} status must be available, but current \
                     status is: in-use. (Use --force to snapshot an attached volume.)"
                )
            } else {
                format!(
                    "Invalid volume: Volume {volume_id} status must be available, but current \
                     status is: {}.",
                    v.status.as_str()
                )
            };
            return Err(Error::bad_request(msg));
        }
        let s = Snapshot {
            id: new_id(),
            volume_id: volume_id.to_string(),
            project_id: v.project_id.clone(),
            user_id: caller.user_id.clone(),
            name,
            description,
            size: v.size,
            status: SnapshotStatus::Creating,
            metadata,
            created_at: now_text(),
            updated_at: None,
        };
        let mut tx = self.store.begin().await?;
        let used = tx.usage(&v.project_id).await?;
        self.check_quota(&v.project_id, used, 0, 1, v.size).await?;
        tx.snapshot_insert(&s).await?;
        tx.commit().await?;
        let me = self.clone();
        let (sid, vid) = (s.id.clone(), volume_id.to_string());
        tokio::spawn(async move { me.finish_snapshot(&sid, &vid).await });
        Ok(s)
    }

    async fn finish_snapshot(&self, id: &str, volume_id: &str) {
        let to = match self.driver.create_snapshot(id, volume_id).await {
            Ok(()) => SnapshotStatus::Available,
            Err(e) => {
                tracing::error!(snapshot = %id, error = %driver_err("snapshot", e), "snapshot failed");
                SnapshotStatus::Error
            }
        };
        let done = async {
            let mut tx = self.store.begin().await?;
            tx.snapshot_set_status(id, to).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = done {
            tracing::error!(snapshot = %id, error = %e, "record the snapshot's status");
        }
    }

    /// Deletes a snapshot (`available` or `error`).
    pub async fn snapshot_delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let s = self.snapshot_get(caller, id).await?;
        if !matches!(
            s.status,
            SnapshotStatus::Available | SnapshotStatus::Error | SnapshotStatus::ErrorDeleting
        ) {
            return Err(Error::bad_request(format!(
                "Invalid snapshot: Snapshot status must be available or error and must not be \
                 part of a group, but current status is: {}.",
                s.status.as_str()
            )));
        }
        let mut tx = self.store.begin().await?;
        tx.snapshot_set_status(id, SnapshotStatus::Deleting).await?;
        tx.commit().await?;
        let me = self.clone();
        let id = id.to_string();
        tokio::spawn(async move { me.finish_snapshot_delete(&id).await });
        Ok(())
    }

    async fn finish_snapshot_delete(&self, id: &str) {
        let result = async {
            self.driver
                .delete_snapshot(id)
                .await
                .map_err(|e| driver_err("delete a snapshot", e))?;
            let mut tx = self.store.begin().await?;
            tx.snapshot_delete(id).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::error!(snapshot = %id, error = %e, "snapshot deletion failed");
            let mut tx = match self.store.begin().await {
                Ok(tx) => tx,
                Err(_) => return,
            };
            let _ = tx
                .snapshot_set_status(id, SnapshotStatus::ErrorDeleting)
                .await;
            let _ = tx.commit().await;
        }
    }

    /// Start-up: snapshots caught `creating` or `deleting` are finished; snapshot data no
    /// row owns is removed.
    pub(crate) async fn recover_snapshots(&self) -> Result<()> {
        let snaps = self.store.snapshots(None).await?;
        for s in &snaps {
            match s.status {
                SnapshotStatus::Creating => self.finish_snapshot(&s.id, &s.volume_id).await,
                SnapshotStatus::Deleting => self.finish_snapshot_delete(&s.id).await,
                _ => {}
            }
        }
        for id in self
            .driver
            .list_snapshots()
            .await
            .map_err(|e| driver_err("list snapshots", e))?
        {
            if !snaps.iter().any(|s| s.id == id) {
                self.driver
                    .delete_snapshot(&id)
                    .await
                    .map_err(|e| driver_err("delete stray snapshot data", e))?;
            }
        }
        Ok(())
    }
}
