//! The image service's rules: the image life cycle (queued → saving → active, uploading →
//! importing → active, deactivated, deleted), who sees which image, members, tags and custom
//! properties, per-project quotas, and moving data in and out of the image store while it
//! streams (hashes, format inspection, quota checks on the fly).
//!
//! Uses its own model and store, the `image-store` driver trait and its config section; never
//! HTTP types and never another service's store. Policy is checked by the API layer.

pub mod data;
pub mod image;
pub mod inspect;
pub mod member;

use std::sync::Arc;

use common_config::ImageConfig;
use common_error::{Error, Result};
use image_db::Store;
use image_store::{ImageStore, StoreError};

pub use data::{DataError, Download};
pub use image::{Change, Field, NewImage};
pub use image_db::new_id;

/// Most custom properties an image may have (Glance's `image_property_quota`).
pub const MAX_PROPERTIES: usize = 128;
/// Most tags an image may have (Glance's `image_tag_quota`).
pub const MAX_TAGS: usize = 128;
/// Most members an image may have (Glance's `image_member_quota`).
pub const MAX_MEMBERS: i64 = 128;

/// Who is asking, as the image service sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Caller {
    pub user_id: String,
    /// The token's project (Glance's `context.owner`).
    pub project_id: Option<String>,
    /// Glance's `is_admin`: the caller has the admin role.
    pub is_admin: bool,
}

/// The image service's domain layer. Cheap to clone.
#[derive(Clone)]
pub struct Images {
    pub(crate) store: Store,
    pub(crate) data: Arc<dyn ImageStore>,
    pub(crate) cfg: Arc<ImageConfig>,
    /// Serialises blob commits and releases, so that a blob is never deleted between another
    /// upload finding it present and recording its reference.
    pub(crate) blob_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Images {
    /// The service over a migrated store and an image store.
    pub fn new(store: Store, data: Arc<dyn ImageStore>, cfg: ImageConfig) -> Images {
        Images {
            store,
            data,
            cfg: Arc::new(cfg),
            blob_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    pub fn config(&self) -> &ImageConfig {
        &self.cfg
    }

    /// Repairs what a crash may have left, before serving: partial uploads are removed,
    /// images caught mid-upload go back to `queued` (or `uploading` when their staged data
    /// survives), and blobs no image references are deleted.
    pub async fn recover(&self) -> Result<()> {
        let partials = self
            .data
            .remove_stale_partials()
            .await
            .map_err(store_err("remove partial uploads"))?;
        if partials > 0 {
            tracing::info!(
                partials,
                "removed partial image uploads left by a previous run"
            );
        }
        for (id, status) in self.store.images_in_flight().await? {
            let staged = self.store.stage_get(&id).await?.is_some();
            let back = match status {
                // Staging finished before the crash: the data waits for its import.
                image_model::Status::Uploading if staged => continue,
                image_model::Status::Importing if staged => image_model::Status::Uploading,
                _ => image_model::Status::Queued,
            };
            let data = image_db::DataFields::default();
            let reset = if back == image_model::Status::Queued {
                Some(&data)
            } else {
                None
            };
            if self
                .store
                .image_transition(&id, &[status], back, reset)
                .await?
            {
                tracing::warn!(image_id = %id, from = status.as_str(), to = back.as_str(), "image upload interrupted by a restart");
            }
        }
        let referenced: std::collections::HashSet<String> =
            self.store.blob_keys().await?.into_iter().collect();
        let _g = self.blob_lock.lock().await;
        for key in self
            .data
            .keys()
            .await
            .map_err(store_err("list image data"))?
        {
            if !referenced.contains(&key) && self.store.blob_refs(&key).await? == 0 {
                tracing::warn!(blob = %key, "deleting image data no image references");
                self.data
                    .delete(&key)
                    .await
                    .map_err(store_err("delete image data"))?;
            }
        }
        Ok(())
    }

    /// Deletes the blobs of `keys` that nothing references any more.
    pub(crate) async fn release(&self, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let _g = self.blob_lock.lock().await;
        for k in keys {
            if self.store.blob_refs(k).await? == 0 {
                self.data
                    .delete(k)
                    .await
                    .map_err(store_err("delete image data"))?;
            }
        }
        Ok(())
    }
}

/// Converts a driver error at the boundary, with a phrase naming what was being done.
pub(crate) fn store_err(what: &'static str) -> impl Fn(StoreError) -> Error {
    move |e| match e {
        StoreError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
            Error::QuotaExceeded(format!("Image storage media is full: {e}"))
        }
        other => Error::internal(what, other),
    }
}

/// The limit message Glance's unified limits produce.
pub(crate) fn over_limit(resource: &str, limit: u64, usage: i64, delta: u64) -> Error {
    Error::QuotaExceeded(format!(
        "Resource {resource} is over limit of {limit} due to current usage {usage} and delta {delta}"
    ))
}

#[cfg(test)]
mod tests;
