//! The filesystem store: `<dir>/blobs/<key[..2]>/<key>` for blobs, `<dir>/tmp/<uuid>.part`
//! for partials. A partial becomes a blob by `fsync` + `rename`, which is atomic on one
//! filesystem, so a reader never sees a half-written blob.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::stream;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

use crate::{ByteStream, ImageStore, PartialBlob, StoreError};

/// Bytes per chunk when reading a blob: each chunk is one hop to a blocking thread.
const READ_CHUNK: usize = 1024 * 1024;
/// Write buffer of a partial: fewer, larger writes than the network's small chunks.
const WRITE_BUFFER: usize = 1024 * 1024;

/// Image data in a directory.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<FsStore, StoreError> {
        let root = root.into();
        std::fs::create_dir_all(root.join("blobs")).map_err(StoreError::io("create store dir"))?;
        std::fs::create_dir_all(root.join("tmp"))
            .map_err(StoreError::io("create store tmp dir"))?;
        Ok(FsStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let ok = key.len() >= 4
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(StoreError::InvalidKey(key.to_string()));
        }
        Ok(self.root.join("blobs").join(&key[..2]).join(key))
    }
}

/// A partial on disk; removes its file when dropped uncommitted.
struct FsPartial {
    store: FsStore,
    path: PathBuf,
    file: Option<BufWriter<tokio::fs::File>>,
    len: u64,
}

impl Drop for FsPartial {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Uncommitted: the data must not survive. The file handle closes on drop.
            if let Err(e) = std::fs::remove_file(&self.path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.path.display(), error = %e, "could not remove partial upload");
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl PartialBlob for FsPartial {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| StoreError::NotFound(self.path.display().to_string()))?;
        f.write_all(chunk)
            .await
            .map_err(StoreError::io("write image data"))?;
        self.len += chunk.len() as u64;
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    async fn commit(mut self: Box<Self>, key: &str) -> Result<(), StoreError> {
        let dest = self.store.blob_path(key)?;
        let Some(mut f) = self.file.take() else {
            return Err(StoreError::NotFound(self.path.display().to_string()));
        };
        // From here on `file` is None, so Drop will not remove anything: clean up by hand.
        let res = async {
            f.flush()
                .await
                .map_err(StoreError::io("flush image data"))?;
            f.get_mut()
                .sync_all()
                .await
                .map_err(StoreError::io("sync image data"))?;
            drop(f);
            if let Some(parent) = dest.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(StoreError::io("create blob dir"))?;
            }
            if tokio::fs::try_exists(&dest)
                .await
                .map_err(StoreError::io("stat blob"))?
            {
                return Ok(false);
            }
            tokio::fs::rename(&self.path, &dest)
                .await
                .map_err(StoreError::io("rename blob into place"))?;
            Ok(true)
        }
        .await;
        if !matches!(res, Ok(true)) {
            let _ = tokio::fs::remove_file(&self.path).await;
        }
        res.map(|_| ())
    }

    async fn abort(mut self: Box<Self>) {
        self.file.take();
        if let Err(e) = tokio::fs::remove_file(&self.path).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "could not remove partial upload");
            }
        }
    }
}

#[async_trait::async_trait]
impl ImageStore for FsStore {
    async fn create_partial(&self) -> Result<Box<dyn PartialBlob>, StoreError> {
        let path = self
            .root
            .join("tmp")
            .join(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(StoreError::io("create partial upload"))?;
        Ok(Box::new(FsPartial {
            store: self.clone(),
            path,
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            len: 0,
        }))
    }

    async fn read(
        &self,
        key: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<ByteStream, StoreError> {
        let path = self.blob_path(key)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(key.into()))
            }
            Err(e) => {
                return Err(StoreError::Io {
                    context: "open blob",
                    source: e,
                })
            }
        };
        if offset > 0 {
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(StoreError::io("seek blob"))?;
        }
        let remaining = len.unwrap_or(u64::MAX);
        // Plain reads on a blocking thread, straight into the chunk that goes out: no zeroing
        // and no copy through tokio's own file buffer.
        let file = file.into_std().await;
        let s = stream::try_unfold((file, remaining), |(file, remaining)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = remaining.min(READ_CHUNK as u64);
            let (file, buf) = tokio::task::spawn_blocking(move || {
                let mut buf = Vec::with_capacity(want as usize);
                (&file)
                    .take(want)
                    .read_to_end(&mut buf)
                    .map(|_| (file, buf))
            })
            .await
            .map_err(|e| StoreError::io("read blob")(std::io::Error::other(e)))?
            .map_err(StoreError::io("read blob"))?;
            if buf.is_empty() {
                return Ok(None);
            }
            let n = buf.len() as u64;
            Ok(Some((Bytes::from(buf), (file, remaining - n))))
        });
        Ok(Box::pin(s))
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        tokio::fs::try_exists(self.blob_path(key)?)
            .await
            .map_err(StoreError::io("stat blob"))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.blob_path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Io {
                context: "delete blob",
                source: e,
            }),
        }
    }

    async fn keys(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut dirs = tokio::fs::read_dir(self.root.join("blobs"))
            .await
            .map_err(StoreError::io("list blobs"))?;
        while let Some(d) = dirs
            .next_entry()
            .await
            .map_err(StoreError::io("list blobs"))?
        {
            if !d
                .file_type()
                .await
                .map_err(StoreError::io("list blobs"))?
                .is_dir()
            {
                continue;
            }
            let mut files = tokio::fs::read_dir(d.path())
                .await
                .map_err(StoreError::io("list blobs"))?;
            while let Some(f) = files
                .next_entry()
                .await
                .map_err(StoreError::io("list blobs"))?
            {
                if let Some(name) = f.file_name().to_str() {
                    out.push(name.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    async fn remove_stale_partials(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        let mut files = tokio::fs::read_dir(self.root.join("tmp"))
            .await
            .map_err(StoreError::io("list partials"))?;
        while let Some(f) = files
            .next_entry()
            .await
            .map_err(StoreError::io("list partials"))?
        {
            if tokio::fs::remove_file(f.path()).await.is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    async fn read_all(s: &FsStore, key: &str, off: u64, len: Option<u64>) -> Vec<u8> {
        let chunks: Vec<Bytes> = s
            .read(key, off, len)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        chunks.concat()
    }

    fn files_under(p: &Path) -> usize {
        let mut n = 0;
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                n += files_under(&e.path());
            } else {
                n += 1;
            }
        }
        n
    }

    #[tokio::test]
    async fn commit_makes_data_visible_and_ranges_read() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStore::open(dir.path()).unwrap();
        let mut p = s.create_partial().await.unwrap();
        p.write(b"hello ").await.unwrap();
        p.write(b"world").await.unwrap();
        assert_eq!(p.len(), 11);
        assert!(!s.exists("abcd1234").await.unwrap());
        p.commit("abcd1234").await.unwrap();
        assert_eq!(read_all(&s, "abcd1234", 0, None).await, b"hello world");
        assert_eq!(read_all(&s, "abcd1234", 6, Some(3)).await, b"wor");
        assert_eq!(s.keys().await.unwrap(), vec!["abcd1234".to_string()]);
        assert_eq!(files_under(&dir.path().join("tmp")), 0);
    }

    #[tokio::test]
    async fn dropped_and_aborted_partials_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStore::open(dir.path()).unwrap();
        let mut p = s.create_partial().await.unwrap();
        p.write(&[1u8; 4096]).await.unwrap();
        assert_eq!(files_under(dir.path()), 1);
        drop(p);
        assert_eq!(files_under(dir.path()), 0);
        let mut p = s.create_partial().await.unwrap();
        p.write(b"x").await.unwrap();
        p.abort().await;
        assert_eq!(files_under(dir.path()), 0);
    }

    #[tokio::test]
    async fn same_key_twice_keeps_one_blob() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStore::open(dir.path()).unwrap();
        for _ in 0..2 {
            let mut p = s.create_partial().await.unwrap();
            p.write(b"same").await.unwrap();
            p.commit("k0000001").await.unwrap();
        }
        assert_eq!(files_under(dir.path()), 1);
        s.delete("k0000001").await.unwrap();
        s.delete("k0000001").await.unwrap();
        assert_eq!(files_under(dir.path()), 0);
        assert!(matches!(
            s.read("k0000001", 0, None).await,
            Err(StoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn keys_with_path_characters_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStore::open(dir.path()).unwrap();
        assert!(matches!(
            s.delete("../../etc/passwd").await,
            Err(StoreError::InvalidKey(_))
        ));
        assert!(matches!(
            s.exists("a").await,
            Err(StoreError::InvalidKey(_))
        ));
    }

    #[tokio::test]
    async fn stale_partials_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStore::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("tmp").join("x.part"), b"junk").unwrap();
        assert_eq!(s.remove_stale_partials().await.unwrap(), 1);
        assert_eq!(files_under(dir.path()), 0);
    }
}
