//! Image data: upload (`PUT /file`), staging and the `glance-direct` import, download.
//!
//! An upload runs in a task of its own, so that a client that goes away mid-stream (which
//! drops the request handler) still has its partial data removed and the image put back to
//! `queued`. Hashes (md5 for `checksum`, sha512 for `os_hash_value`), the format inspection
//! and the quota checks all happen while the bytes stream through; nothing is buffered whole.
//! The two hashes are most of an upload's CPU, so each runs on a blocking thread of its own,
//! alongside the disk writes, instead of one after the other on the request's task.

use std::fmt::Display;
use std::sync::Arc;

use bytes::Bytes;
use common_error::{Error, Result};
use futures_util::{Stream, StreamExt, TryStreamExt};
use image_db::DataFields;
use image_model::{Image, Staged, Status, HASH_ALGO};

use crate::image::not_found;
use crate::inspect::{require_formats, verdict, Inspection, Inspector};
use crate::{over_limit, store_err, Caller, Images};

/// Why an upload, stage or import failed.
#[derive(Debug)]
pub enum DataError {
    /// The usual errors (400, 403, 404, 409, 413, ...).
    Error(Error),
    /// The data is not what `disk_format` claims, or fails the safety checks (Glance: 415).
    InvalidImageData(String),
    /// The image was deleted while its data streamed in (Glance: 410).
    Gone(String),
}

impl From<Error> for DataError {
    fn from(e: Error) -> Self {
        DataError::Error(e)
    }
}

/// An image's data on its way out.
pub struct Download {
    pub stream: image_store::ByteStream,
    /// The image's full size.
    pub size: u64,
    pub checksum: Option<String>,
}

/// Where received data goes once complete.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Straight to `active` (`PUT /file`).
    Upload,
    /// To the stage, waiting for `POST /import` (`PUT /stage`).
    Stage,
}

impl Target {
    fn busy(self) -> Status {
        match self {
            Target::Upload => Status::Saving,
            Target::Stage => Status::Uploading,
        }
    }
}

/// Bytes gathered before they go to the hash threads: fewer, larger hand-overs.
const HASH_BATCH: usize = 1024 * 1024;
/// Batches queued for each hash thread; bounds the memory an upload holds.
const HASH_QUEUE: usize = 4;

/// A hash computed on a blocking thread, fed batches of chunks through a bounded queue.
struct HashLane {
    tx: tokio::sync::mpsc::Sender<Arc<Vec<Bytes>>>,
    done: tokio::task::JoinHandle<String>,
}

impl HashLane {
    fn spawn<D: md5::Digest + Send + 'static>() -> HashLane {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Arc<Vec<Bytes>>>(HASH_QUEUE);
        let done = tokio::task::spawn_blocking(move || {
            let mut h = D::new();
            while let Some(batch) = rx.blocking_recv() {
                for c in batch.iter() {
                    h.update(c);
                }
            }
            hex::encode(h.finalize())
        });
        HashLane { tx, done }
    }

    async fn feed(&self, batch: &Arc<Vec<Bytes>>) -> Result<()> {
        self.tx
            .send(batch.clone())
            .await
            .map_err(|_| Error::internal("hash image data", "the hash thread ended early"))
    }

    async fn finish(self) -> Result<String> {
        drop(self.tx);
        self.done
            .await
            .map_err(|e| Error::internal("hash image data", e))
    }
}

/// md5 and sha512 of a stream, each on a thread of its own.
struct Hashes {
    md5: HashLane,
    sha512: HashLane,
    batch: Vec<Bytes>,
    batch_len: usize,
}

impl Hashes {
    fn new() -> Hashes {
        Hashes {
            md5: HashLane::spawn::<md5::Md5>(),
            sha512: HashLane::spawn::<sha2::Sha512>(),
            batch: Vec::new(),
            batch_len: 0,
        }
    }

    /// Adds a chunk (a reference-counted view, not a copy).
    async fn update(&mut self, chunk: &Bytes) -> Result<()> {
        self.batch_len += chunk.len();
        self.batch.push(chunk.clone());
        if self.batch_len >= HASH_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = Arc::new(std::mem::take(&mut self.batch));
        self.batch_len = 0;
        self.md5.feed(&batch).await?;
        self.sha512.feed(&batch).await
    }

    /// `(md5, sha512)` in hex.
    async fn finish(mut self) -> Result<(String, String)> {
        self.flush().await?;
        let md5 = self.md5.finish().await?;
        Ok((md5, self.sha512.finish().await?))
    }
}

/// What a completed stream produced.
struct Received {
    partial: Box<dyn image_store::PartialBlob>,
    size: i64,
    md5: String,
    sha512: String,
    inspection: Inspection,
}

fn gone(id: &str) -> DataError {
    DataError::Gone(format!(
        "Image {id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded."
    ))
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Images {
    /// Stores `body` as the image's data: `queued` → `saving` → `active`.
    pub async fn image_upload<S, E>(
        &self,
        img: Image,
        size_hint: Option<u64>,
        body: S,
    ) -> Result<(), DataError>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        self.receive_into(img, size_hint, body, Target::Upload)
            .await
    }

    /// Stages `body` for a later `glance-direct` import: `queued` → `uploading`.
    pub async fn image_stage<S, E>(
        &self,
        img: Image,
        size_hint: Option<u64>,
        body: S,
    ) -> Result<(), DataError>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        self.receive_into(img, size_hint, body, Target::Stage).await
    }

    async fn receive_into<S, E>(
        &self,
        img: Image,
        size_hint: Option<u64>,
        body: S,
        target: Target,
    ) -> Result<(), DataError>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let busy = target.busy();
        img.status.check_transition(busy)?;
        if target == Target::Upload {
            require_formats(img.disk_format.as_deref(), img.container_format.as_deref())?;
        }
        let used = match &img.owner {
            Some(o) => self.store.usage(o).await?.bytes,
            None => 0,
        };
        if let Some(n) = size_hint {
            self.check_size(used, n)?;
        }
        if !self
            .store
            .image_transition(&img.id, &[Status::Queued], busy, None)
            .await?
        {
            let now = self
                .store
                .image_get(&img.id)
                .await?
                .ok_or_else(|| not_found(&img.id))?;
            now.status.check_transition(busy)?;
            return Err(
                Error::conflict("The image changed status during the request; try again.").into(),
            );
        }
        // From here on the image is ours (`busy`); the task below always settles it.
        let this = self.clone();
        let task = tokio::spawn(async move {
            let res = this
                .finish_receive(&img, used, size_hint, body, target)
                .await;
            if res.is_err() {
                let reset = DataFields::default();
                match this
                    .store
                    .image_transition(&img.id, &[busy], Status::Queued, Some(&reset))
                    .await
                {
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(image_id = %img.id, error = %e, "could not put image back to queued")
                    }
                }
            }
            res
        });
        task.await
            .map_err(|e| Error::internal("image upload task", e))?
    }

    async fn finish_receive<S, E>(
        &self,
        img: &Image,
        used: i64,
        size_hint: Option<u64>,
        body: S,
        target: Target,
    ) -> Result<(), DataError>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let r = self.receive(used, size_hint, body).await?;
        let virtual_size = match target {
            Target::Upload => {
                let disk = img.disk_format.as_deref().unwrap_or_default();
                let container = img.container_format.as_deref().unwrap_or_default();
                verdict(disk, container, &r.inspection, r.size)
                    .map_err(DataError::InvalidImageData)?
            }
            Target::Stage => r.inspection.virtual_size,
        };
        let key = r.sha512.clone();
        let _g = self.blob_lock.lock().await;
        r.partial
            .commit(&key)
            .await
            .map_err(store_err("store image data"))?;
        let recorded = match target {
            Target::Upload => {
                let data = DataFields {
                    size: Some(r.size),
                    virtual_size,
                    checksum: Some(r.md5.clone()),
                    os_hash_algo: Some(HASH_ALGO.into()),
                    os_hash_value: Some(r.sha512.clone()),
                    blob: Some(key.clone()),
                };
                self.store
                    .image_transition(&img.id, &[Status::Saving], Status::Active, Some(&data))
                    .await
            }
            Target::Stage => {
                let st = Staged {
                    image_id: img.id.clone(),
                    blob: key.clone(),
                    size: r.size,
                    checksum: r.md5.clone(),
                    os_hash_value: r.sha512.clone(),
                    detected_format: r.inspection.format.to_string(),
                    virtual_size,
                    unsafe_reason: r.inspection.unsafe_reason.clone(),
                };
                self.store.stage_put(&st).await
            }
        };
        match recorded {
            Ok(true) => Ok(()),
            other => {
                if self.store.blob_refs(&key).await.unwrap_or(1) == 0 {
                    if let Err(e) = self.data.delete(&key).await {
                        tracing::error!(blob = %key, error = %e, "could not delete unreferenced image data");
                    }
                }
                match other {
                    Err(e) => Err(e.into()),
                    _ => Err(gone(&img.id)),
                }
            }
        }
    }

    /// Streams `body` into a partial blob, hashing, inspecting and checking limits as it goes.
    async fn receive<S, E>(
        &self,
        used: i64,
        size_hint: Option<u64>,
        body: S,
    ) -> Result<Received, DataError>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let mut partial = self
            .data
            .create_partial()
            .await
            .map_err(store_err("start image data"))?;
        let mut hashes = Hashes::new();
        let mut inspector = Inspector::default();
        let mut total: u64 = 0;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                tracing::info!(error = %e, "image data stream ended early");
                Error::bad_request(format!("The image data could not be read: {e}"))
            })?;
            total += chunk.len() as u64;
            self.check_size(used, total)?;
            hashes.update(&chunk).await?;
            inspector.feed(&chunk);
            partial
                .write(&chunk)
                .await
                .map_err(store_err("write image data"))?;
        }
        if let Some(n) = size_hint {
            if total != n {
                return Err(Error::bad_request(format!(
                    "The image data ended after {total} of {n} bytes."
                ))
                .into());
            }
        }
        let (md5, sha512) = hashes.finish().await?;
        Ok(Received {
            partial,
            size: as_i64(total),
            md5,
            sha512,
            inspection: inspector.finish(total),
        })
    }

    /// 413 when `n` more bytes would break the size cap or the project's byte quota.
    fn check_size(&self, used: i64, n: u64) -> Result<()> {
        let cap = self.cfg.image_size_cap;
        if cap > 0 && n > cap {
            return Err(Error::QuotaExceeded(format!(
                "The incoming image is too large: The provided image is too large. Maximum: {cap} bytes."
            )));
        }
        let limit = self.cfg.image_size_total;
        if limit > 0 && used.saturating_add(as_i64(n)) > as_i64(limit) {
            return Err(over_limit("image_size_total", limit, used, n));
        }
        Ok(())
    }

    /// The staged data becomes the image's data: `uploading` → `importing` → `active`. Data
    /// failing the format checks is dropped and the image goes back to `queued`, as a failed
    /// Glance import task leaves it.
    pub async fn image_import(&self, img: &Image) -> Result<(), DataError> {
        if img.status == Status::Active {
            return Err(
                Error::conflict("Image with status active cannot be target for import").into(),
            );
        }
        if img.status != Status::Uploading {
            return Err(Error::conflict(
                "Image needs to be staged before 'glance-direct' method can be used",
            )
            .into());
        }
        if img.container_format.as_deref().is_none_or(str::is_empty) {
            return Err(Error::conflict("'container_format' needs to be set before import").into());
        }
        if img.disk_format.as_deref().is_none_or(str::is_empty) {
            return Err(Error::conflict("'disk_format' needs to be set before import").into());
        }
        let staged = self.store.stage_get(&img.id).await?.ok_or_else(|| {
            Error::conflict("Image needs to be staged before 'glance-direct' method can be used")
        })?;
        if !self
            .store
            .image_transition(&img.id, &[Status::Uploading], Status::Importing, None)
            .await?
        {
            return Err(Error::conflict(format!(
                "New operation on image '{}' is not permitted as prior operation is still in progress",
                img.id
            ))
            .into());
        }
        let ins = Inspection {
            format: match staged.detected_format.as_str() {
                "qcow2" => "qcow2",
                "vmdk" => "vmdk",
                "iso" => "iso",
                _ => "raw",
            },
            virtual_size: staged.virtual_size,
            unsafe_reason: staged.unsafe_reason.clone(),
        };
        let disk = img.disk_format.as_deref().unwrap_or_default();
        let container = img.container_format.as_deref().unwrap_or_default();
        let (to, data) = match verdict(disk, container, &ins, staged.size) {
            Ok(virtual_size) => (
                Status::Active,
                DataFields {
                    size: Some(staged.size),
                    virtual_size,
                    checksum: Some(staged.checksum.clone()),
                    os_hash_algo: Some(HASH_ALGO.into()),
                    os_hash_value: Some(staged.os_hash_value.clone()),
                    blob: Some(staged.blob.clone()),
                },
            ),
            Err(why) => {
                tracing::warn!(image_id = %img.id, reason = %why, "image import failed; back to queued");
                (Status::Queued, DataFields::default())
            }
        };
        let _g = self.blob_lock.lock().await;
        if !self
            .store
            .stage_finish(&img.id, Status::Importing, to, &data)
            .await?
        {
            return Err(gone(&img.id));
        }
        if to == Status::Queued && self.store.blob_refs(&staged.blob).await? == 0 {
            self.data
                .delete(&staged.blob)
                .await
                .map_err(store_err("delete image data"))?;
        }
        Ok(())
    }

    /// The data of `img` from `offset` (`len` bytes, or to the end); `None` when the image
    /// has no data (Glance answers 204).
    pub async fn image_download(
        &self,
        caller: &Caller,
        img: &Image,
        offset: u64,
        len: Option<u64>,
    ) -> Result<Option<Download>> {
        if img.status == Status::Deactivated && !caller.is_admin {
            return Err(Error::forbidden(
                "The requested image has been deactivated. Image data download is forbidden.",
            ));
        }
        let Some(key) = &img.blob else {
            return Ok(None);
        };
        let stream = match self.data.read(key, offset, len).await {
            Ok(s) => s,
            Err(image_store::StoreError::NotFound(_)) => {
                tracing::error!(image_id = %img.id, blob = %key, "image data is missing from the store");
                return Ok(None);
            }
            Err(e) => return Err(store_err("read image data")(e)),
        };
        let size = img.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
        Ok(Some(Download {
            stream,
            size,
            checksum: img.checksum.clone(),
        }))
    }
}

/// Turns a download into `io::Error` items, as HTTP bodies want them.
pub fn io_stream(d: image_store::ByteStream) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    d.map_err(std::io::Error::other)
}
