//! Images seeded at start-up (`ferrostack up --seed-image NAME=PATH`, e.g. the tiny guest image
//! as `tiny`): each file becomes a public qcow2/bare image owned by the admin project, unless
//! that project already has an image of that name. The data streams from the file through the
//! image domain layer (hashes, format inspection, quotas) exactly as an API upload does.
//!
//! A seed that fails is logged and skipped; it never stops the server.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bytes::Bytes;
use image_domain::{Caller, DataError, Images, NewImage};
use image_model::{ListQuery, Status, Visibility};
use tokio::io::AsyncReadExt as _;

/// How much of the file is read per chunk.
const CHUNK: usize = 1 << 20;

/// Parses a `NAME=PATH` flag value.
pub fn parse_seed(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.trim().is_empty() && !path.is_empty() => {
            Ok((name.trim().to_string(), PathBuf::from(path)))
        }
        _ => Err(format!("expected NAME=PATH, got {s:?}")),
    }
}

/// A file's bytes as an upload body, read in 1 MiB chunks.
pub(crate) fn file_body(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::try_unfold(file, |mut f| async move {
        let mut buf = vec![0u8; CHUNK];
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), f)))
    })
}

/// What seeding one image did.
enum Seeded {
    Created { id: String, size: u64 },
    Present { id: String },
}

/// Seeds every `(name, path)` as `caller` (the bootstrap admin in the admin project).
pub async fn seed_images(images: &Images, caller: &Caller, seeds: &[(String, PathBuf)]) {
    for (name, path) in seeds {
        match seed_one(images, caller, name, path).await {
            Ok(Seeded::Created { id, size }) => {
                tracing::info!(image = %name, image_id = %id, size, path = %path.display(), "seeded public image")
            }
            Ok(Seeded::Present { id }) => {
                tracing::info!(image = %name, image_id = %id, "seed image already present")
            }
            Err(e) => {
                tracing::error!(image = %name, path = %path.display(), error = format!("{e:#}"), "could not seed image")
            }
        }
    }
}

async fn seed_one(
    images: &Images,
    caller: &Caller,
    name: &str,
    path: &Path,
) -> anyhow::Result<Seeded> {
    let owner = caller
        .project_id
        .clone()
        .context("the seeding caller has no project")?;
    let q = ListQuery {
        columns_in: vec![
            ("name".into(), vec![name.into()]),
            ("owner".into(), vec![owner]),
        ],
        visibility_all: true,
        limit: 100,
        ..ListQuery::default()
    };
    let existing = images
        .image_list(caller, q)
        .await
        .map_err(|e| anyhow::anyhow!("list images: {e}"))?;
    if let Some(img) = existing.iter().find(|i| i.status != Status::Queued) {
        return Ok(Seeded::Present { id: img.id.clone() });
    }
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("open {}", path.display()))?;
    let size = file
        .metadata()
        .await
        .with_context(|| format!("stat {}", path.display()))?
        .len();
    // An image left queued (a seed interrupted by a crash) gets its data now.
    let (img, created) = match existing.into_iter().next() {
        Some(img) => (img, false),
        None => {
            let img = images
                .image_create(
                    caller,
                    NewImage {
                        name: Some(name.into()),
                        visibility: Some(Visibility::Public),
                        disk_format: Some("qcow2".into()),
                        container_format: Some("bare".into()),
                        ..NewImage::default()
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("create image: {e}"))?;
            (img, true)
        }
    };
    let id = img.id.clone();
    let kept = img.clone();
    if let Err(e) = images.image_upload(img, Some(size), file_body(file)).await {
        // No empty `queued` image is left behind by a seed that cannot succeed.
        if created {
            if let Err(d) = images.image_delete(&kept).await {
                tracing::warn!(image_id = %id, error = %d, "could not delete the failed seed image");
            }
        }
        let why = match e {
            DataError::Error(e) => e.to_string(),
            DataError::InvalidImageData(m) => format!("not a usable qcow2 image: {m}"),
            DataError::Gone(m) => m,
        };
        anyhow::bail!("upload {}: {why}", path.display());
    }
    Ok(Seeded::Created { id, size })
}

#[cfg(test)]
mod tests {
    use super::parse_seed;

    #[test]
    fn parses_name_equals_path() {
        assert_eq!(
            parse_seed("tiny=/a/b=c.qcow2"),
            Ok(("tiny".into(), "/a/b=c.qcow2".into()))
        );
        assert!(parse_seed("tiny").is_err());
        assert!(parse_seed("=/a").is_err());
        assert!(parse_seed("tiny=").is_err());
    }
}
