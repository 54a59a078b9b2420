//! Images: create, read, list, update by change lists, delete, deactivate and reactivate,
//! tags; and who may see which image.

use std::collections::BTreeMap;

use common_error::{Error, Result};
use image_db::now_text;
use image_model::{Image, ListQuery, Status, Visibility};

use crate::{over_limit, Caller, Images, MAX_PROPERTIES, MAX_TAGS};

/// A new image as the API parsed it (types and enums already checked).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewImage {
    pub id: Option<String>,
    pub name: Option<String>,
    pub visibility: Option<Visibility>,
    pub protected: bool,
    pub os_hidden: bool,
    /// `Some(None)`: explicitly null.
    pub owner: Option<Option<String>>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    pub tags: Vec<String>,
    pub properties: BTreeMap<String, String>,
}

/// A base attribute with its new value.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Name(Option<String>),
    Visibility(Visibility),
    Protected(bool),
    OsHidden(bool),
    Owner(Option<String>),
    DiskFormat(Option<String>),
    ContainerFormat(Option<String>),
    MinDisk(i64),
    MinRam(i64),
    Tags(Vec<String>),
}

/// One step of an image update (a JSON-patch operation, parsed).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `add` or `replace` of a base attribute.
    Set(Field),
    /// `remove` of a base attribute (always refused).
    RemoveBase(String),
    /// `add` of a custom property (creates or overwrites).
    AddProperty(String, String),
    /// `replace` of a custom property (must exist).
    ReplaceProperty(String, String),
    /// `remove` of a custom property (must exist).
    RemoveProperty(String),
}

fn dedup(mut tags: Vec<String>) -> Vec<String> {
    tags.sort();
    tags.dedup();
    tags
}

fn check_counts(props: usize, tags: usize) -> Result<()> {
    if props > MAX_PROPERTIES {
        return Err(Error::QuotaExceeded(format!(
            "The limit has been exceeded on the number of allowed image properties. Attempted: {props}, Maximum: {MAX_PROPERTIES}"
        )));
    }
    if tags > MAX_TAGS {
        return Err(Error::QuotaExceeded(format!(
            "The limit has been exceeded on the number of allowed image tags. Attempted: {tags}, Maximum: {MAX_TAGS}"
        )));
    }
    Ok(())
}

fn check_min(name: &str, v: i64) -> Result<()> {
    if v < 0 {
        return Err(Error::bad_request(format!(
            "Invalid value '{v}' for parameter '{name}': Cannot be a negative value."
        )));
    }
    Ok(())
}

/// Glance's "not found" for images.
pub fn not_found(id: &str) -> Error {
    Error::not_found("image", id)
}

impl Images {
    /// Creates a queued image owned by the caller's project (or `new.owner`, which the API's
    /// policy check allowed).
    pub async fn image_create(&self, caller: &Caller, new: NewImage) -> Result<Image> {
        let owner = match new.owner {
            Some(o) => o,
            None => caller.project_id.clone(),
        };
        check_min("min_disk", new.min_disk)?;
        check_min("min_ram", new.min_ram)?;
        let tags = dedup(new.tags);
        check_counts(new.properties.len(), tags.len())?;
        if let Some(o) = &owner {
            let limit = self.cfg.image_count_total;
            if limit > 0 {
                let usage = self.store.usage(o).await?;
                if usage.count + 1 > i64::try_from(limit).unwrap_or(i64::MAX) {
                    return Err(over_limit("image_count_total", limit, usage.count, 1));
                }
            }
        }
        let now = now_text();
        let img = Image {
            id: new.id.unwrap_or_else(crate::new_id),
            name: new.name,
            status: Status::Queued,
            visibility: new.visibility.unwrap_or(Visibility::Shared),
            protected: new.protected,
            os_hidden: new.os_hidden,
            owner,
            disk_format: new.disk_format,
            container_format: new.container_format,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            min_disk: new.min_disk,
            min_ram: new.min_ram,
            created_at: now.clone(),
            updated_at: now,
            tags,
            properties: new.properties,
            blob: None,
            generation: 0,
        };
        self.store.image_create(&img).await?;
        Ok(img)
    }

    /// Whether the caller may see `img` at all (Glance's `is_image_visible`).
    pub async fn image_visible(&self, caller: &Caller, img: &Image) -> Result<bool> {
        if caller.is_admin || img.owner.is_none() {
            return Ok(true);
        }
        if matches!(img.visibility, Visibility::Public | Visibility::Community) {
            return Ok(true);
        }
        let Some(p) = &caller.project_id else {
            return Ok(false);
        };
        if img.owner.as_deref() == Some(p) {
            return Ok(true);
        }
        if img.visibility == Visibility::Shared {
            return Ok(!self.store.member_list(&img.id, Some(p)).await?.is_empty());
        }
        Ok(false)
    }

    /// An image the caller may see; 404 otherwise.
    pub async fn image_get(&self, caller: &Caller, id: &str) -> Result<Image> {
        let img = self
            .store
            .image_get(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if !self.image_visible(caller, &img).await? {
            return Err(not_found(id));
        }
        Ok(img)
    }

    /// One page of the images the caller may see. `q`'s caller fields are set here.
    pub async fn image_list(&self, caller: &Caller, mut q: ListQuery) -> Result<Vec<Image>> {
        q.is_admin = caller.is_admin;
        q.project_id = caller.project_id.clone();
        let marker = match &q.marker {
            Some(m) => match self.image_get(caller, m).await {
                Ok(img) => Some(img),
                Err(Error::NotFound { .. }) => {
                    return Err(Error::bad_request(format!("No image found with ID {m}")));
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        self.store.image_list(&q, marker.as_ref()).await
    }

    /// Applies `changes` in order and saves them at once (a lost race is a 409).
    pub async fn image_update(
        &self,
        caller: &Caller,
        mut img: Image,
        changes: Vec<Change>,
    ) -> Result<Image> {
        if changes.is_empty() {
            return Ok(img);
        }
        for c in changes {
            match c {
                Change::Set(f) => self.set_field(caller, &mut img, f)?,
                Change::RemoveBase(name) => {
                    return Err(Error::forbidden(format!(
                        "Property {name} may not be removed."
                    )));
                }
                Change::AddProperty(k, v) => {
                    img.properties.insert(k, v);
                }
                Change::ReplaceProperty(k, v) => match img.properties.get_mut(&k) {
                    Some(slot) => *slot = v,
                    None => return Err(Error::conflict(format!("Property {k} does not exist."))),
                },
                Change::RemoveProperty(k) => {
                    if img.properties.remove(&k).is_none() {
                        return Err(Error::conflict(format!("Property {k} does not exist.")));
                    }
                }
            }
        }
        check_counts(img.properties.len(), img.tags.len())?;
        img.updated_at = now_text();
        img.generation = self.store.image_update(&img).await?;
        Ok(img)
    }

    fn set_field(&self, caller: &Caller, img: &mut Image, f: Field) -> Result<()> {
        let queued = matches!(img.status, Status::Queued | Status::Importing);
        match f {
            Field::Name(v) => img.name = v,
            Field::Visibility(v) => img.visibility = v,
            Field::Protected(v) => img.protected = v,
            Field::OsHidden(v) => img.os_hidden = v,
            Field::Owner(v) => {
                if !caller.is_admin {
                    return Err(Error::forbidden("Owner can't be updated by non admin."));
                }
                img.owner = v;
            }
            Field::DiskFormat(v) => {
                if !queued && v != img.disk_format {
                    return Err(Error::forbidden(
                        "Attribute disk_format can be only replaced for a queued image.",
                    ));
                }
                img.disk_format = v;
            }
            Field::ContainerFormat(v) => {
                if !queued && v != img.container_format {
                    return Err(Error::forbidden(
                        "Attribute container_format can be only replaced for a queued image.",
                    ));
                }
                img.container_format = v;
            }
            Field::MinDisk(v) => {
                check_min("min_disk", v)?;
                img.min_disk = v;
            }
            Field::MinRam(v) => {
                check_min("min_ram", v)?;
                img.min_ram = v;
            }
            Field::Tags(t) => img.tags = dedup(t),
        }
        Ok(())
    }

    /// Deletes an image (refused while protected) and releases its data.
    pub async fn image_delete(&self, img: &Image) -> Result<()> {
        if img.protected {
            return Err(Error::forbidden(format!(
                "Image {} is protected and cannot be deleted.",
                img.id
            )));
        }
        let blobs = self
            .store
            .image_delete(&img.id)
            .await?
            .ok_or_else(|| not_found(&img.id))?;
        self.release(&blobs).await
    }

    /// `active` → `deactivated` (a no-op when already deactivated).
    pub async fn image_deactivate(&self, img: &Image) -> Result<()> {
        match img.status {
            Status::Deactivated => Ok(()),
            Status::Active => self.flip(img, Status::Active, Status::Deactivated).await,
            s => Err(Error::forbidden(format!(
                "Not allowed to deactivate image in status '{}'",
                s.as_str()
            ))),
        }
    }

    /// `deactivated` → `active` (a no-op when already active).
    pub async fn image_reactivate(&self, img: &Image) -> Result<()> {
        match img.status {
            Status::Active => Ok(()),
            Status::Deactivated => self.flip(img, Status::Deactivated, Status::Active).await,
            s => Err(Error::forbidden(format!(
                "Not allowed to reactivate image in status '{}'",
                s.as_str()
            ))),
        }
    }

    async fn flip(&self, img: &Image, from: Status, to: Status) -> Result<()> {
        if self
            .store
            .image_transition(&img.id, &[from], to, None)
            .await?
        {
            return Ok(());
        }
        let now = self
            .store
            .image_get(&img.id)
            .await?
            .ok_or_else(|| not_found(&img.id))?;
        if now.status == to {
            return Ok(());
        }
        Err(Error::forbidden(format!(
            "Not allowed to change image in status '{}'",
            now.status.as_str()
        )))
    }

    /// Adds a tag (idempotent).
    pub async fn tag_add(&self, img: Image, tag: &str) -> Result<()> {
        if img.tags.iter().any(|t| t == tag) {
            return Ok(());
        }
        let mut tags = img.tags.clone();
        tags.push(tag.to_string());
        self.image_update(
            &Caller {
                is_admin: true,
                ..Default::default()
            },
            img,
            vec![Change::Set(Field::Tags(tags))],
        )
        .await
        .map(|_| ())
    }

    /// Removes a tag; 404 when the image does not have it.
    pub async fn tag_delete(&self, img: Image, tag: &str) -> Result<()> {
        if !img.tags.iter().any(|t| t == tag) {
            return Err(Error::not_found("tag", tag));
        }
        let tags = img.tags.iter().filter(|t| *t != tag).cloned().collect();
        self.image_update(
            &Caller {
                is_admin: true,
                ..Default::default()
            },
            img,
            vec![Change::Set(Field::Tags(tags))],
        )
        .await
        .map(|_| ())
    }

    /// What a project holds.
    pub async fn usage(&self, project_id: &str) -> Result<image_model::Usage> {
        self.store.usage(project_id).await
    }
}
