//! The block storage service's rules (Cinder's volume API and manager in one): the volume
//! status machine, quotas, snapshots, the v3 attachment flow, who sees what, and recovery after
//! a crash.
//!
//! Every operation that touches storage records its intent (a transitional status) and commits
//! before the driver runs, in a background task that records the outcome; after a crash,
//! [`Volumes::recover`] finds rows caught mid-way and redoes or rolls back the operation
//! (driver calls are idempotent), and removes data or exports no row explains. Uses its own
//! model, store and config section; never HTTP types and never another service's store (the
//! image service comes in through [`ImageSource`]). Policy is checked by the API layer; this
//! layer enforces ownership: a project sees its own volumes, anything else is `NotFound`.

mod attachment;
mod snapshot;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common_config::VolumeConfig;
use common_error::{Error, Result};
use volume_db::{new_id, now_text, Store};
use volume_model::driver::{DriverError, VolumeDriver};
use volume_model::{AttachStatus, Volume, VolumeStatus};

pub use volume_db::Usage;

/// Who is asking, as the volume service sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Caller {
    pub user_id: String,
    /// The token's project; new volumes belong to it.
    pub project_id: Option<String>,
    /// Cinder's `context.is_admin`: sees and acts on everything.
    pub is_admin: bool,
}

impl Caller {
    fn sees(&self, project_id: &str) -> bool {
        self.is_admin || self.project_id.as_deref() == Some(project_id)
    }
}

/// An image as the volume service needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageMeta {
    pub id: String,
    pub name: String,
    pub status: String,
    pub disk_format: String,
    pub container_format: String,
    pub size: i64,
    pub min_disk: i64,
    pub min_ram: i64,
    pub properties: BTreeMap<String, String>,
}

/// A new image made from a volume.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageUpload {
    pub name: String,
    pub disk_format: String,
    pub container_format: String,
}

/// The image service, as the volume service uses it.
#[async_trait::async_trait]
pub trait ImageSource: Send + Sync + 'static {
    /// Image `id` as `caller` sees it.
    async fn image(&self, caller: &Caller, id: &str) -> Result<ImageMeta>;
    /// Writes the image's bytes to `dest`.
    async fn download(&self, caller: &Caller, id: &str, dest: &Path) -> Result<()>;
    /// A new image of `caller`'s project holding the file; its id.
    async fn upload(&self, caller: &Caller, req: ImageUpload, file: &Path) -> Result<String>;
}

/// A volume to create (Cinder's `POST /volumes` body).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeCreate {
    /// GiB; with a snapshot or source volume, 0 means theirs.
    pub size: i64,
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub volume_type: Option<String>,
    pub availability_zone: Option<String>,
    pub image_id: Option<String>,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub multiattach: bool,
}

/// The volume service's domain layer. Cheap to clone.
#[derive(Clone)]
pub struct Volumes {
    pub(crate) store: Store,
    pub(crate) cfg: Arc<VolumeConfig>,
    pub(crate) driver: Arc<dyn VolumeDriver>,
    pub(crate) images: Arc<dyn ImageSource>,
}

/// A driver failure as the domain reports it.
pub(crate) fn driver_err(what: &str, e: DriverError) -> Error {
    match e {
        DriverError::NotFound(m) => Error::internal(what, format!("{m} not found on the backend")),
        DriverError::Invalid(m) => Error::BadRequest(m),
        DriverError::Failed(m) => Error::internal(what, m),
    }
}

/// Statuses a volume may be deleted from (Cinder's `volume.delete` without force).
const DELETABLE: &[VolumeStatus] = &[
    VolumeStatus::Available,
    VolumeStatus::Error,
    VolumeStatus::ErrorRestoring,
    VolumeStatus::ErrorExtending,
];

const DELETE_REFUSED: &str = "Invalid volume: Volume status must be available or error or \
    error_restoring or error_extending or error_managing and must not be migrating, attached, \
    belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots \
    after volume transfer.";

impl Volumes {
    pub fn new(
        store: Store,
        cfg: VolumeConfig,
        driver: Arc<dyn VolumeDriver>,
        images: Arc<dyn ImageSource>,
    ) -> Volumes {
        Volumes {
            store,
            cfg: Arc::new(cfg),
            driver,
            images,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &VolumeConfig {
        &self.cfg
    }

    /// Volume `id` as `caller` sees it.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Volume> {
        match self.store.volume(id).await? {
            Some(v) if caller.sees(&v.project_id) => Ok(v),
            _ => Err(Error::not_found("volume", id)),
        }
    }

    /// The volumes `caller` sees (an admin with `all_projects` sees every project's).
    pub async fn list(&self, caller: &Caller, all_projects: bool) -> Result<Vec<Volume>> {
        if caller.is_admin && all_projects {
            self.store.volumes(None).await
        } else {
            self.store
                .volumes(Some(caller.project_id.as_deref().unwrap_or("")))
                .await
        }
    }

    /// The effective quota of `resource` for `project_id` (-1: unlimited).
    pub async fn quota(&self, project_id: &str, resource: &str) -> Result<i64> {
        if let Some(v) = self.store.quotas(project_id).await?.get(resource) {
            return Ok(*v);
        }
        Ok(self.default_quota(resource))
    }

    /// The configured default of `resource`.
    pub fn default_quota(&self, resource: &str) -> i64 {
        let c = &self.cfg;
        match resource {
            "volumes" => c.quota_volumes,
            "snapshots" => c.quota_snapshots,
            "gigabytes" => c.quota_gigabytes,
            "backups" => c.quota_backups,
            "backup_gigabytes" => c.quota_backup_gigabytes,
            "per_volume_gigabytes" => c.quota_per_volume_gigabytes,
            _ => -1,
        }
    }

    /// Checks that `project_id` may add `volumes` volumes, `snapshots` snapshots and
    /// `gigabytes` GiB on top of `used` (Cinder's 413 texts).
    pub(crate) async fn check_quota(
        &self,
        project_id: &str,
        used: Usage,
        volumes: i64,
        snapshots: i64,
        gigabytes: i64,
    ) -> Result<()> {
        let per_volume = self.quota(project_id, "per_volume_gigabytes").await?;
        if volumes > 0 && per_volume >= 0 && gigabytes > per_volume {
            return Err(Error::QuotaExceeded(format!(
                "VolumeSizeExceedsLimit: Requested volume size {gigabytes}G is larger than \
                 maximum allowed limit {per_volume}G."
            )));
        }
        let gb = self.quota(project_id, "gigabytes").await?;
        if gb >= 0 && used.gigabytes + gigabytes > gb {
            return Err(Error::QuotaExceeded(format!(
                "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed \
                 gigabytes quota. Requested {gigabytes}G, quota is {gb}G and {}G has been \
                 consumed.",
                used.gigabytes
            )));
        }
        let n = self.quota(project_id, "volumes").await?;
        if volumes > 0 && n >= 0 && used.volumes + volumes > n {
            return Err(Error::QuotaExceeded(format!(
                "VolumeLimitExceeded: Maximum number of volumes allowed ({n}) exceeded for quota \
                 'volumes'."
            )));
        }
        let s = self.quota(project_id, "snapshots").await?;
        if snapshots > 0 && s >= 0 && used.snapshots + snapshots > s {
            return Err(Error::QuotaExceeded(format!(
                "SnapshotLimitExceeded: Maximum number of snapshots allowed ({s}) exceeded"
            )));
        }
        Ok(())
    }

    /// Creates a volume (`creating`); the data is made in the background, then the volume is
    /// `available` (or `error`).
    pub async fn create(&self, caller: &Caller, req: VolumeCreate) -> Result<Volume> {
        let project = caller.project_id.clone().unwrap_or_default();
        let sources = [&req.image_id, &req.snapshot_id, &req.source_volid]
            .iter()
            .filter(|s| s.is_some())
            .count();
        if sources > 1 {
            return Err(Error::bad_request(
                "Invalid input received: Cannot create volume from more than one of imageRef, \
                 snapshot_id and source_volid.",
            ));
        }
        let mut size = req.size;
        let mut image_metadata = BTreeMap::new();
        let mut bootable = false;
        if let Some(sid) = &req.snapshot_id {
            let s = self.snapshot_get(caller, sid).await.map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found("snapshot", sid.clone()),
                e => e,
            })?;
            if s.status != volume_model::SnapshotStatus::Available {
                return Err(Error::bad_request(format!(
                    "Invalid snapshot: Originating snapshot status must be one of 'available' \
                     values, but current status is: {}.",
                    s.status.as_str()
                )));
            }
            size = if size == 0 { s.size } else { size };
            if size < s.size {
                return Err(Error::bad_request(format!(
                    "Invalid input received: Volume size '{size}'GB cannot be smaller than the \
                     snapshot size {}GB. They must be >= original snapshot size.",
                    s.size
                )));
            }
        }
        if let Some(src) = &req.source_volid {
            let v = self.get(caller, src).await?;
            size = if size == 0 { v.size } else { size };
            if size < v.size {
                return Err(Error::bad_request(format!(
                    "Invalid input received: Volume size '{size}'GB cannot be smaller than \
                     original volume size {}GB. They must be >= original volume size.",
                    v.size
                )));
            }
            bootable = v.bootable;
        }
        if let Some(img) = &req.image_id {
            let meta = self.images.image(caller, img).await.map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found("image", img.clone()),
                e => e,
            })?;
            if meta.status != "active" {
                return Err(Error::bad_request(format!(
                    "Invalid image identifier or unable to access requested image. Image {img} \
                     is not active."
                )));
            }
            let min_gb = meta.min_disk.max((meta.size + (1 << 30) - 1) >> 30);
            if size < min_gb {
                return Err(Error::bad_request(format!(
                    "Invalid input received: Image minDisk size {min_gb} is larger than the \
                     volume size {size}."
                )));
            }
            image_metadata.insert("image_id".to_string(), meta.id.clone());
            image_metadata.insert("image_name".to_string(), meta.name.clone());
            image_metadata.insert("disk_format".to_string(), meta.disk_format.clone());
            image_metadata.insert(
                "container_format".to_string(),
                meta.container_format.clone(),
            );
            bootable = true;
        }
        if size < 1 {
            return Err(Error::bad_request(format!(
                "Invalid input received: Volume size '{size}' must be an integer and greater \
                 than 0"
            )));
        }
        let v = Volume {
            id: new_id(),
            project_id: project.clone(),
            user_id: caller.user_id.clone(),
            name: req.name.clone(),
            description: req.description.clone(),
            size,
            status: VolumeStatus::Creating,
            attach_status: AttachStatus::Detached,
            availability_zone: req
                .availability_zone
                .clone()
                .unwrap_or_else(|| self.cfg.availability_zone.clone()),
            volume_type_id: req
                .volume_type
                .clone()
                .unwrap_or_else(|| self.cfg.default_volume_type.clone()),
            bootable,
            multiattach: req.multiattach,
            read_only: false,
            snapshot_id: req.snapshot_id.clone(),
            source_volid: req.source_volid.clone(),
            image_id: req.image_id.clone(),
            metadata: req.metadata.clone(),
            image_metadata,
            host: format!("{}@file#file", self.cfg.availability_zone),
            created_at: now_text(),
            updated_at: None,
            attachments: Vec::new(),
        };
        let mut tx = self.store.begin().await?;
        let used = tx.usage(&project).await?;
        self.check_quota(&project, used, 1, 0, size).await?;
        tx.volume_insert(&v).await?;
        tx.commit().await?;
        let me = self.clone();
        let (vol, who) = (v.clone(), caller.clone());
        tokio::spawn(async move { me.finish_create(&who, &vol).await });
        Ok(v)
    }

    /// Makes the data of a `creating` volume and records the outcome.
    async fn finish_create(&self, caller: &Caller, v: &Volume) {
        let made = self.make_data(caller, v).await;
        let to = match &made {
            Ok(()) => VolumeStatus::Available,
            Err(e) => {
                tracing::error!(volume = %v.id, error = %e, "volume creation failed");
                VolumeStatus::Error
            }
        };
        if let Err(e) = self.set_status(&v.id, &[VolumeStatus::Creating], to).await {
            tracing::error!(volume = %v.id, error = %e, "record the volume's status");
        }
    }

    async fn make_data(&self, caller: &Caller, v: &Volume) -> Result<()> {
        let d = &self.driver;
        if let Some(sid) = &v.snapshot_id {
            return d
                .create_from_snapshot(&v.id, v.size, sid)
                .await
                .map_err(|e| driver_err("create a volume from a snapshot", e));
        }
        if let Some(src) = &v.source_volid {
            return d
                .clone_volume(&v.id, v.size, src)
                .await
                .map_err(|e| driver_err("clone a volume", e));
        }
        if let Some(img) = &v.image_id {
            let dir = std::env::temp_dir().join(format!("ferrostack-volume-image-{}", v.id));
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| Error::internal("make an image download dir", e))?;
            let file = dir.join("image");
            let result = async {
                self.images.download(caller, img, &file).await?;
                let format = v
                    .image_metadata
                    .get("disk_format")
                    .cloned()
                    .unwrap_or_else(|| "raw".into());
                d.create_from_image(&v.id, v.size, &file, &format)
                    .await
                    .map_err(|e| driver_err("create a volume from an image", e))
            }
            .await;
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return result;
        }
        d.create(&v.id, v.size)
            .await
            .map_err(|e| driver_err("create a volume", e))
    }

    /// Moves volume `id` from one of `from` to `to`; `false` when it was in none of them.
    pub(crate) async fn set_status(
        &self,
        id: &str,
        from: &[VolumeStatus],
        to: VolumeStatus,
    ) -> Result<bool> {
        let mut tx = self.store.begin().await?;
        let moved = tx.volume_set_status(id, from, to).await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// Changes name, description and metadata (`None` leaves each as it is).
    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        name: Option<Option<String>>,
        description: Option<Option<String>>,
        metadata: Option<BTreeMap<String, String>>,
    ) -> Result<Volume> {
        let mut v = self.get(caller, id).await?;
        if let Some(n) = name {
            v.name = n;
        }
        if let Some(d) = description {
            v.description = d;
        }
        if let Some(m) = metadata {
            v.metadata = m;
        }
        let mut tx = self.store.begin().await?;
        tx.volume_update(&v).await?;
        tx.commit().await?;
        self.get(caller, id).await
    }

    /// Deletes a volume (`deleting`, then gone). `force` (admins) skips the status check;
    /// `cascade` deletes its snapshots too.
    pub async fn delete(
        &self,
        caller: &Caller,
        id: &str,
        cascade: bool,
        force: bool,
    ) -> Result<()> {
        let v = self.get(caller, id).await?;
        let mut tx = self.store.begin().await?;
        let snaps = tx.snapshot_count_of(id).await?;
        let attached = !tx.attachments_of(id).await?.is_empty();
        let ok_status = DELETABLE.contains(&v.status) || v.status == VolumeStatus::Deleting;
        if !force && (!ok_status || attached || (snaps > 0 && !cascade)) {
            return Err(Error::bad_request(DELETE_REFUSED));
        }
        let from: Vec<VolumeStatus> = if force {
            VolumeStatus::ALL.to_vec()
        } else {
            let mut f = DELETABLE.to_vec();
            f.push(VolumeStatus::Deleting);
            f
        };
        if !tx
            .volume_set_status(id, &from, VolumeStatus::Deleting)
            .await?
        {
            return Err(Error::bad_request(DELETE_REFUSED));
        }
        tx.commit().await?;
        let me = self.clone();
        let id = id.to_string();
        tokio::spawn(async move { me.finish_delete(&id).await });
        Ok(())
    }

    /// Removes a `deleting` volume's data, snapshots and exports, then its row.
    async fn finish_delete(&self, id: &str) {
        let result = async {
            for s in self.store.snapshots(None).await? {
                if s.volume_id == id {
                    self.driver
                        .delete_snapshot(&s.id)
                        .await
                        .map_err(|e| driver_err("delete a snapshot", e))?;
                    let mut tx = self.store.begin().await?;
                    tx.snapshot_delete(&s.id).await?;
                    tx.commit().await?;
                }
            }
            self.driver
                .delete(id)
                .await
                .map_err(|e| driver_err("delete a volume", e))?;
            let mut tx = self.store.begin().await?;
            tx.volume_delete(id).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::error!(volume = %id, error = %e, "volume deletion failed");
            let _ = self
                .set_status(id, &[VolumeStatus::Deleting], VolumeStatus::ErrorDeleting)
                .await;
        }
    }

    /// Grows an available volume to `new_size` GiB (`extending`, then `available`).
    pub async fn extend(&self, caller: &Caller, id: &str, new_size: i64) -> Result<()> {
        let v = self.get(caller, id).await?;
        if v.status != VolumeStatus::Available {
            return Err(Error::bad_request(format!(
                "Invalid volume: Volume {id} status must be 'available' or 'in-use' to extend, \
                 currently {}.",
                v.status.as_str()
            )));
        }
        if new_size <= v.size {
            return Err(Error::bad_request(format!(
                "New size for extend must be greater than current size. (current: {}, \
                 extended: {new_size}).",
                v.size
            )));
        }
        let mut tx = self.store.begin().await?;
        let used = tx.usage(&v.project_id).await?;
        self.check_quota(&v.project_id, used, 0, 0, new_size - v.size)
            .await?;
        if !tx
            .volume_set_status(id, &[VolumeStatus::Available], VolumeStatus::Extending)
            .await?
        {
            return Err(Error::bad_request(format!(
                "Invalid volume: Volume {id} status must be 'available' or 'in-use' to extend."
            )));
        }
        tx.commit().await?;
        let me = self.clone();
        let id = id.to_string();
        tokio::spawn(async move { me.finish_extend(&id, new_size).await });
        Ok(())
    }

    async fn finish_extend(&self, id: &str, new_size: i64) {
        let result = async {
            self.driver
                .extend(id, new_size)
                .await
                .map_err(|e| driver_err("extend a volume", e))?;
            let mut tx = self.store.begin().await?;
            if let Some(mut v) = tx.volume(id).await? {
                v.size = new_size;
                v.status = VolumeStatus::Available;
                tx.volume_update(&v).await?;
            }
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::error!(volume = %id, error = %e, "volume extension failed");
            let _ = self
                .set_status(id, &[VolumeStatus::Extending], VolumeStatus::ErrorExtending)
                .await;
        }
    }

    /// Sets a volume's status (and optionally attach status) as an admin says
    /// (`os-reset_status`); no driver call.
    pub async fn reset_status(
        &self,
        caller: &Caller,
        id: &str,
        status: Option<VolumeStatus>,
        attach_status: Option<AttachStatus>,
    ) -> Result<()> {
        let mut v = self.get(caller, id).await?;
        if let Some(s) = status {
            v.status = s;
        }
        if let Some(a) = attach_status {
            v.attach_status = a;
        }
        let mut tx = self.store.begin().await?;
        tx.volume_update(&v).await?;
        tx.commit().await
    }

    /// Sets the `bootable` and `read_only` flags (`None` leaves each as it is).
    pub async fn set_flags(
        &self,
        caller: &Caller,
        id: &str,
        bootable: Option<bool>,
        read_only: Option<bool>,
    ) -> Result<()> {
        let mut v = self.get(caller, id).await?;
        if let Some(b) = bootable {
            v.bootable = b;
        }
        if let Some(r) = read_only {
            v.read_only = r;
        }
        let mut tx = self.store.begin().await?;
        tx.volume_update(&v).await?;
        tx.commit().await
    }

    /// What `project_id` uses.
    pub async fn usage(&self, project_id: &str) -> Result<Usage> {
        let mut tx = self.store.begin().await?;
        let u = tx.usage(project_id).await?;
        tx.commit().await?;
        Ok(u)
    }

    /// Sets quota overrides of `project_id` (`None` removes one).
    pub async fn quota_update(
        &self,
        project_id: &str,
        limits: &BTreeMap<String, Option<i64>>,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        for (resource, limit) in limits {
            tx.quota_set(project_id, resource, *limit).await?;
        }
        tx.commit().await
    }

    /// Start-up: finishes or rolls back what a crash interrupted, and removes data and
    /// exports no row explains.
    pub async fn recover(&self) -> Result<()> {
        for v in self.store.volumes(None).await? {
            let who = Caller {
                user_id: v.user_id.clone(),
                project_id: Some(v.project_id.clone()),
                is_admin: false,
            };
            match v.status {
                VolumeStatus::Creating => self.finish_create(&who, &v).await,
                VolumeStatus::Deleting => self.finish_delete(&v.id).await,
                VolumeStatus::Extending => {
                    // Whether the driver grew it or not, the size on record stands.
                    let _ = self
                        .set_status(&v.id, &[VolumeStatus::Extending], VolumeStatus::Available)
                        .await;
                }
                _ => {}
            }
        }
        self.recover_attachments().await?;
        self.recover_snapshots().await?;
        let known: Vec<String> = self
            .store
            .volumes(None)
            .await?
            .into_iter()
            .map(|v| v.id)
            .collect();
        for id in self
            .driver
            .list_volumes()
            .await
            .map_err(|e| driver_err("list volumes", e))?
        {
            if !known.contains(&id) {
                tracing::warn!(volume = %id, "removing volume data no volume owns");
                self.driver
                    .delete(&id)
                    .await
                    .map_err(|e| driver_err("delete stray volume data", e))?;
            }
        }
        Ok(())
    }
}
