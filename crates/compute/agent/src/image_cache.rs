//! The base-image cache: `<instances_dir>/_base/<image_id>` holds an image's bytes as the
//! image service gave them, `<image_id>.format` its declared disk format. An image is
//! downloaded once to a temp file, checked, and renamed into place; concurrent requests for
//! one image wait for the one download. Base images are never written after that (each
//! instance's disk is an overlay the driver makes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common_error::{Context, Error, Result};

use crate::locks::KeyedLocks;
use crate::ports::ImageSource;

/// The directory under `instances_dir` that holds cached base images.
pub const BASE_DIR: &str = "_base";

const TEMP_PREFIX: &str = ".tmp-";
const QCOW2_MAGIC: &[u8; 4] = b"QFI\xfb";

/// A cached image ready for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedImage {
    pub path: PathBuf,
    /// `qcow2` or `raw`.
    pub format: String,
}

pub(crate) struct ImageCache {
    dir: PathBuf,
    source: Arc<dyn ImageSource>,
    locks: KeyedLocks,
}

impl ImageCache {
    /// The cache under `instances_dir`; creates the directory and removes temp files a
    /// previous run left behind.
    pub(crate) async fn open(instances_dir: &Path, source: Arc<dyn ImageSource>) -> Result<Self> {
        let dir = instances_dir.join(BASE_DIR);
        tokio::fs::create_dir_all(&dir)
            .await
            .context("create the image cache directory")?;
        let mut entries = tokio::fs::read_dir(&dir)
            .await
            .context("read the image cache directory")?;
        while let Some(entry) = entries
            .next_entry()
            .await
            .context("read the image cache directory")?
        {
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                remove_quietly(&entry.path()).await;
            }
        }
        Ok(ImageCache {
            dir,
            source,
            locks: KeyedLocks::default(),
        })
    }

    /// The cached copy of `image_id`, downloading it first when it is not cached.
    pub(crate) async fn ensure(&self, image_id: &str) -> Result<CachedImage> {
        check_image_id(image_id)?;
        let _one_download = self.locks.lock(image_id).await;
        let path = self.dir.join(image_id);
        let format_path = self.dir.join(format!("{image_id}.format"));
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            if let Ok(format) = tokio::fs::read_to_string(&format_path).await {
                return Ok(CachedImage {
                    path,
                    format: format.trim().to_string(),
                });
            }
        }
        let temp = TempFile(self.dir.join(format!(
            "{TEMP_PREFIX}{image_id}-{}",
            uuid::Uuid::new_v4().simple()
        )));
        let declared = self.source.download(image_id, &temp.0).await?;
        let format = check_format(image_id, &declared, &temp.0).await?;
        let temp_format = TempFile(temp.0.with_extension("format"));
        tokio::fs::write(&temp_format.0, format.as_bytes())
            .await
            .context("write the cached image's format")?;
        tokio::fs::rename(&temp_format.0, &format_path)
            .await
            .context("rename the cached image's format into place")?;
        tokio::fs::rename(&temp.0, &path)
            .await
            .context("rename the downloaded image into the cache")?;
        tracing::info!(image_id, format, "image cached");
        Ok(CachedImage { path, format })
    }
}

/// Image ids name files: only letters, digits, `-` and `_` (Glance ids are UUIDs).
pub(crate) fn check_image_id(image_id: &str) -> Result<()> {
    check_name("image id", image_id)
}

/// Rejects a name that could leave its directory or collide with the agent's own files.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::bad_request(format!("invalid {what}: {name:?}")))
    }
}

/// The format the driver is told: what the image service declared, checked against the
/// bytes. A qcow2 file declared `raw` stays raw (the guest sees the qcow2 bytes; a raw
/// image is never probed, so it cannot name a backing file on the host).
async fn check_format(image_id: &str, declared: &str, path: &Path) -> Result<String> {
    let declared = declared.trim().to_ascii_lowercase();
    match declared.as_str() {
        "qcow2" => {
            use tokio::io::AsyncReadExt;
            let file = tokio::fs::File::open(path)
                .await
                .context("open the downloaded image")?;
            let mut head = Vec::with_capacity(4);
            file.take(4)
                .read_to_end(&mut head)
                .await
                .context("read the downloaded image")?;
            if head != QCOW2_MAGIC {
                return Err(Error::conflict(format!(
                    "image {image_id} is declared qcow2 but its data is not qcow2"
                )));
            }
            Ok(declared)
        }
        "raw" => Ok(declared),
        other => Err(Error::conflict(format!(
            "image {image_id} has disk_format {other:?}; this host boots qcow2 and raw images"
        ))),
    }
}

async fn remove_quietly(path: &Path) {
    if let Err(err) = tokio::fs::remove_file(path).await {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %err, "cannot remove temp file");
        }
    }
}

/// A temp path removed on drop unless it was renamed away (then removal finds nothing).
pub(crate) struct TempFile(pub PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_file(&self.0) {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.0.display(), error = %err, "cannot remove temp file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `data` declared as `format`; a download of `fail` errors after writing.
    struct OneImage {
        format: &'static str,
        data: &'static [u8],
    }

    #[async_trait::async_trait]
    impl ImageSource for OneImage {
        async fn download(&self, image_id: &str, dest: &Path) -> Result<String> {
            tokio::fs::write(dest, self.data).await.unwrap();
            if image_id == "fail" {
                return Err(Error::Unavailable("image service went away".into()));
            }
            Ok(self.format.into())
        }

        async fn upload(&self, _image_id: &str, _src: &Path) -> Result<()> {
            Ok(())
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(BASE_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    async fn cache(dir: &Path, format: &'static str, data: &'static [u8]) -> ImageCache {
        ImageCache::open(dir, Arc::new(OneImage { format, data }))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn declared_formats_are_checked_against_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), "qcow2", b"not qcow2 at all").await;
        assert!(matches!(c.ensure("img1").await, Err(Error::Conflict(_))));
        let c = cache(dir.path(), "qcow2", b"QF").await;
        assert!(matches!(c.ensure("img1").await, Err(Error::Conflict(_))));
        let c = cache(dir.path(), "vmdk", b"KDMV").await;
        assert!(matches!(c.ensure("img1").await, Err(Error::Conflict(_))));
        assert!(files(dir.path()).is_empty(), "nothing cached, no temp left");

        // Raw data that looks like qcow2 stays raw: it is never probed.
        let c = cache(dir.path(), "RAW", b"QFI\xfb with a backing file").await;
        let img = c.ensure("img1").await.unwrap();
        assert_eq!(img.format, "raw");
        assert_eq!(img.path, dir.path().join(BASE_DIR).join("img1"));
        let c = cache(dir.path(), "qcow2", b"QFI\xfb").await;
        assert_eq!(c.ensure("img1").await.unwrap().format, "raw", "cached once");
        assert_eq!(c.ensure("img2").await.unwrap().format, "qcow2");
        assert_eq!(
            files(dir.path()),
            ["img1", "img1.format", "img2", "img2.format"]
        );
    }

    #[tokio::test]
    async fn a_failed_download_leaves_nothing_and_old_temp_files_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), "raw", b"data").await;
        assert!(matches!(c.ensure("fail").await, Err(Error::Unavailable(_))));
        assert!(files(dir.path()).is_empty());

        std::fs::write(dir.path().join(BASE_DIR).join(".tmp-img9-abc"), b"x").unwrap();
        let _c = cache(dir.path(), "raw", b"data").await;
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn names_that_could_leave_the_directory_are_refused() {
        for bad in [
            "", ".", "..", "../x", "a/b", "a.format", ".tmp-x", "a b", "é",
        ] {
            assert!(check_image_id(bad).is_err(), "{bad:?}");
        }
        for good in ["11111111-2222-3333-4444-555555555555", "img_1", "A9"] {
            assert!(check_image_id(good).is_ok(), "{good:?}");
        }
    }
}
