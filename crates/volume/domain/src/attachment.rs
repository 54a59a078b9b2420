//! The v3 attachment flow (what Nova drives): create (reserve) → update with a connector
//! (export; the connection info) → complete (`in-use`) → delete (unexport; `available` when
//! no attachment remains).

use common_error::{Error, Result};
use volume_db::{new_id, now_text};
use volume_model::driver::Connector;
use volume_model::{AttachStatus, Attachment, VolumeStatus};

use crate::{driver_err, Caller, Volumes};

impl Volumes {
    /// Attachment `id` of a volume `caller` sees.
    pub async fn attachment_get(&self, caller: &Caller, id: &str) -> Result<Attachment> {
        let a = self
            .store
            .attachment(id)
            .await?
            .filter(|a| a.attach_status != AttachStatus::Deleted)
            .ok_or_else(|| Error::not_found("attachment", id))?;
        self.get(caller, &a.volume_id)
            .await
            .map_err(|_| Error::not_found("attachment", id))?;
        Ok(a)
    }

    /// The attachments of the volumes `caller` sees.
    pub async fn attachments(
        &self,
        caller: &Caller,
        all_projects: bool,
    ) -> Result<Vec<Attachment>> {
        let vols = self.list(caller, all_projects).await?;
        Ok(vols.into_iter().flat_map(|v| v.attachments).collect())
    }

    /// Reserves the volume for `instance_uuid` (and exports it at once when a connector is
    /// given). A volume that is not `available` (or, multiattach, `in-use`) is refused.
    pub async fn attachment_create(
        &self,
        caller: &Caller,
        volume_id: &str,
        instance_uuid: Option<&str>,
        connector: Option<Connector>,
        mode: Option<&str>,
    ) -> Result<Attachment> {
        let v = self.get(caller, volume_id).await?;
        let from: &[VolumeStatus] = if v.multiattach {
            &[
                VolumeStatus::Available,
                VolumeStatus::Reserved,
                VolumeStatus::InUse,
            ]
        } else {
            &[VolumeStatus::Available]
        };
        let mut tx = self.store.begin().await?;
        if !tx
            .volume_set_status(volume_id, from, VolumeStatus::Reserved)
            .await?
        {
            return Err(Error::bad_request(format!(
                "Invalid volume: Volume {volume_id} status must be available or downloading to \
                 reserve, but the current status is {}.",
                v.status.as_str()
            )));
        }
        let a = Attachment {
            id: new_id(),
            volume_id: volume_id.to_string(),
            instance_uuid: instance_uuid.map(str::to_string),
            attached_host: None,
            mountpoint: None,
            attach_status: AttachStatus::Reserved,
            attach_mode: mode.unwrap_or("rw").to_string(),
            connection_info: None,
            attached_at: None,
            detached_at: None,
        };
        tx.attachment_put(&a).await?;
        tx.commit().await?;
        match connector {
            Some(c) => self.attachment_update(caller, &a.id, c).await,
            None => Ok(a),
        }
    }

    /// Exports the volume to `connector`'s host; the attachment with its connection info.
    pub async fn attachment_update(
        &self,
        caller: &Caller,
        attachment_id: &str,
        connector: Connector,
    ) -> Result<Attachment> {
        let mut a = self.attachment_get(caller, attachment_id).await?;
        let info = self
            .driver
            .export(&a.volume_id, &a.id, &connector)
            .await
            .map_err(|e| driver_err("export a volume", e))?;
        a.connection_info = Some(info);
        a.attached_host = Some(connector.host.clone());
        a.attach_status = AttachStatus::Attaching;
        let mut tx = self.store.begin().await?;
        tx.attachment_put(&a).await?;
        tx.volume_set_status(
            &a.volume_id,
            &[VolumeStatus::Reserved],
            VolumeStatus::Attaching,
        )
        .await?;
        tx.commit().await?;
        Ok(a)
    }

    /// The hypervisor attached it: the volume is `in-use`.
    pub async fn attachment_complete(&self, caller: &Caller, attachment_id: &str) -> Result<()> {
        let mut a = self.attachment_get(caller, attachment_id).await?;
        a.attach_status = AttachStatus::Attached;
        a.attached_at = Some(now_text());
        let mut tx = self.store.begin().await?;
        tx.attachment_put(&a).await?;
        if let Some(mut v) = tx.volume(&a.volume_id).await? {
            v.status = VolumeStatus::InUse;
            v.attach_status = AttachStatus::Attached;
            tx.volume_update(&v).await?;
        }
        tx.commit().await
    }

    /// Detach done (or a reservation rolled back): unexports and forgets the attachment; the
    /// volume is `available` again when none remains.
    pub async fn attachment_delete(&self, caller: &Caller, attachment_id: &str) -> Result<()> {
        let a = self.attachment_get(caller, attachment_id).await?;
        self.driver
            .unexport(&a.volume_id, &a.id)
            .await
            .map_err(|e| driver_err("unexport a volume", e))?;
        let mut tx = self.store.begin().await?;
        tx.attachment_delete(&a.id).await?;
        let left = tx.attachments_of(&a.volume_id).await?;
        if let Some(mut v) = tx.volume(&a.volume_id).await? {
            if left.is_empty() {
                v.status = VolumeStatus::Available;
                v.attach_status = AttachStatus::Detached;
            }
            tx.volume_update(&v).await?;
        }
        tx.commit().await
    }

    /// Start-up: an export without its attachment is removed; a volume whose attachments are
    /// all gone is `available`; a reservation never completed stays for its owner (Nova's
    /// workflow finishes or deletes it).
    pub(crate) async fn recover_attachments(&self) -> Result<()> {
        let live = self.store.attachments().await?;
        for (volume_id, attachment_id) in self
            .driver
            .list_exports()
            .await
            .map_err(|e| driver_err("list exports", e))?
        {
            if !live
                .iter()
                .any(|a| a.id == attachment_id && a.volume_id == volume_id)
            {
                tracing::warn!(volume = %volume_id, attachment = %attachment_id, "removing a stray export");
                self.driver
                    .unexport(&volume_id, &attachment_id)
                    .await
                    .map_err(|e| driver_err("unexport a volume", e))?;
            }
        }
        for v in self.store.volumes(None).await? {
            let busy = matches!(
                v.status,
                VolumeStatus::Reserved
                    | VolumeStatus::Attaching
                    | VolumeStatus::Detaching
                    | VolumeStatus::InUse
            );
            if busy && v.attachments.is_empty() {
                self.set_status(
                    &v.id,
                    &[
                        VolumeStatus::Reserved,
                        VolumeStatus::Attaching,
                        VolumeStatus::Detaching,
                        VolumeStatus::InUse,
                    ],
                    VolumeStatus::Available,
                )
                .await?;
            }
        }
        Ok(())
    }
}
