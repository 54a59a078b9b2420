//! Where image bytes live: the [`ImageStore`] trait and its filesystem implementation.
//!
//! Vocabulary: a **blob** is the immutable data of one or more images, named by a **key**
//! chosen by the caller (the domain layer uses the data's sha512, so identical uploads share
//! one blob). A **partial** is a blob being written: it is invisible until
//! [`PartialBlob::commit`] makes it a blob under its key, and it disappears if it is aborted
//! or dropped (a failed upload, a client gone mid-stream). Reference counting is the
//! caller's business: the store only creates, reads and deletes blobs by key.
//!
//! This crate knows nothing of images, databases or HTTP; the object store can implement the
//! same trait later.

mod fs;

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

pub use fs::FsStore;

/// What went wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No blob has this key.
    #[error("blob {0} not found")]
    NotFound(String),
    /// The key is not one this store accepts (path characters, empty).
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
    /// The medium failed (disk full, permissions, ...).
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
        move |source| StoreError::Io { context, source }
    }
}

/// A stream of a blob's bytes, in chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, StoreError>> + Send>>;

/// A blob being written. Dropping it without [`commit`](PartialBlob::commit) discards it.
#[async_trait::async_trait]
pub trait PartialBlob: Send {
    /// Appends bytes.
    async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError>;
    /// Bytes written so far.
    fn len(&self) -> u64;
    /// Whether nothing was written yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Makes the data durable and visible as blob `key`. When a blob with that key exists
    /// already (same content), the partial is discarded and the existing blob kept.
    async fn commit(self: Box<Self>, key: &str) -> Result<(), StoreError>;
    /// Discards the data now (dropping does the same, synchronously).
    async fn abort(self: Box<Self>);
}

/// A place for image data.
#[async_trait::async_trait]
pub trait ImageStore: Send + Sync + 'static {
    /// Starts a new partial blob.
    async fn create_partial(&self) -> Result<Box<dyn PartialBlob>, StoreError>;
    /// Reads `len` bytes (all remaining when `None`) of blob `key` from `offset`.
    async fn read(
        &self,
        key: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<ByteStream, StoreError>;
    /// Whether blob `key` exists.
    async fn exists(&self, key: &str) -> Result<bool, StoreError>;
    /// Deletes blob `key`; deleting a missing blob is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Every blob key (for reconciliation against the database at start-up).
    async fn keys(&self) -> Result<Vec<String>, StoreError>;
    /// Removes partials left by a crash; call before serving. Returns how many.
    async fn remove_stale_partials(&self) -> Result<usize, StoreError>;
}
