//! The block storage service in this process: its `file` backend and the image service as
//! the volume service's image source. (Compute does not attach volumes yet: issue 6.)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common_config::Config;
use common_error::Result;
use image_domain::{Caller as ImageCaller, Images, NewImage};
use volume_domain::{Caller, ImageMeta, ImageSource, ImageUpload, Volumes};

use crate::compute::LocalImages;

/// Where the volume files live: `[volume] volume_dir`, else `<data_dir>/volumes`.
pub fn volume_dir(cfg: &Config) -> PathBuf {
    if cfg.volume.volume_dir.is_empty() {
        cfg.data_dir.join("volumes")
    } else {
        PathBuf::from(&cfg.volume.volume_dir)
    }
}

/// Where filesystem backups live: `[volume] backup_dir`, else `<data_dir>/backups`.
pub fn backup_dir(cfg: &Config) -> PathBuf {
    if cfg.volume.backup_dir.is_empty() {
        cfg.data_dir.join("backups")
    } else {
        PathBuf::from(&cfg.volume.backup_dir)
    }
}

/// `first:last` as a port range.
fn port_range(text: &str) -> anyhow::Result<(u16, u16)> {
    let (a, b) = text
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("[volume] nbd_port_range {text:?} is not first:last"))?;
    let (a, b): (u16, u16) = (a.trim().parse()?, b.trim().parse()?);
    if a == 0 || a > b {
        anyhow::bail!("[volume] nbd_port_range {text:?} is empty");
    }
    Ok((a, b))
}

/// The volume service over `db`, with this host's `file` backend; recovers what a previous
/// run left mid-operation.
pub async fn start(cfg: &Config, db: &common_db::Db, images: Images) -> anyhow::Result<Volumes> {
    if cfg.volume.driver != "file" {
        anyhow::bail!(
            "[volume] driver {:?} is not known (known: file)",
            cfg.volume.driver
        );
    }
    let driver = volume_driver_file::FileDriver::new(volume_driver_file::FileDriverConfig {
        volume_dir: volume_dir(cfg),
        backup_dir: backup_dir(cfg),
        capacity_gb: cfg.volume.capacity_gb,
        export: cfg.volume.export.clone(),
        nbd_host: cfg.volume.nbd_host.clone(),
        nbd_ports: port_range(&cfg.volume.nbd_port_range)?,
    })?;
    let store = volume_db::Store::new(db.clone());
    store.migrate().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let volumes = Volumes::new(
        store,
        cfg.volume.clone(),
        Arc::new(driver),
        Arc::new(VolumeImages(LocalImages(images))),
    );
    volumes
        .recover()
        .await
        .map_err(|e| anyhow::anyhow!("recover volumes: {e}"))?;
    Ok(volumes)
}

/// The image service in this process, as the volume service's image source.
struct VolumeImages(LocalImages);

fn image_caller(c: &Caller) -> ImageCaller {
    ImageCaller {
        user_id: c.user_id.clone(),
        project_id: c.project_id.clone(),
        is_admin: c.is_admin,
    }
}

#[async_trait::async_trait]
impl ImageSource for VolumeImages {
    async fn image(&self, caller: &Caller, id: &str) -> Result<ImageMeta> {
        let img = (self.0).0.image_get(&image_caller(caller), id).await?;
        Ok(ImageMeta {
            id: img.id,
            name: img.name.unwrap_or_default(),
            status: img.status.as_str().to_string(),
            disk_format: img.disk_format.unwrap_or_default(),
            container_format: img.container_format.unwrap_or_default(),
            size: img.size.unwrap_or(0),
            min_disk: img.min_disk,
            min_ram: img.min_ram,
            properties: img.properties,
        })
    }

    async fn download(&self, caller: &Caller, id: &str, dest: &Path) -> Result<()> {
        // Visible to the caller first; then read with the service's rights.
        (self.0).0.image_get(&image_caller(caller), id).await?;
        self.0.download_to(id, dest).await.map(|_| ())
    }

    async fn upload(&self, caller: &Caller, req: ImageUpload, file: &Path) -> Result<String> {
        let img = (self.0)
            .0
            .image_create(
                &image_caller(caller),
                NewImage {
                    name: Some(req.name),
                    disk_format: Some(req.disk_format),
                    container_format: Some(req.container_format),
                    ..NewImage::default()
                },
            )
            .await?;
        self.0.upload_from(&img.id, file).await?;
        Ok(img.id)
    }
}
