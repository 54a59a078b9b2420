//! Image members: the owner offers a shared image to other projects; each consumer project
//! accepts or rejects it.

use common_error::{Error, Result};
use image_model::{Image, Member, MemberStatus, Visibility};

use crate::{Caller, Images, MAX_MEMBERS};

impl Images {
    /// Whether the caller sees every member of `img` (owner or admin) or only its own entry.
    fn member_filter<'a>(&self, caller: &'a Caller, img: &Image) -> Option<&'a str> {
        if caller.is_admin || (caller.project_id.is_some() && caller.project_id == img.owner) {
            None
        } else {
            Some(caller.project_id.as_deref().unwrap_or(""))
        }
    }

    /// Offers `img` to `member_id` (pending).
    pub async fn member_create(&self, img: &Image, member_id: &str) -> Result<Member> {
        if img.visibility != Visibility::Shared {
            return Err(Error::forbidden(format!(
                "Not allowed to create members for image {}.",
                img.id
            )));
        }
        let n = self.store.member_count(&img.id).await?;
        if n + 1 > MAX_MEMBERS {
            return Err(Error::QuotaExceeded(format!(
                "Image member limit exceeded for image {}: The limit has been exceeded on the number of allowed image members for this image. Attempted: {}, Maximum: {MAX_MEMBERS}:",
                img.id,
                n + 1
            )));
        }
        self.store.member_create(&img.id, member_id).await
    }

    /// The members the caller may see.
    pub async fn member_list(&self, caller: &Caller, img: &Image) -> Result<Vec<Member>> {
        if img.visibility != Visibility::Shared {
            return Err(Error::forbidden(format!(
                "Not allowed to list members for image {}: Only shared images have members.",
                img.id
            )));
        }
        self.store
            .member_list(&img.id, self.member_filter(caller, img))
            .await
    }

    /// One member; 404 when absent, hidden, or the image is not shared.
    pub async fn member_get(
        &self,
        caller: &Caller,
        img: &Image,
        member_id: &str,
    ) -> Result<Member> {
        if img.visibility != Visibility::Shared {
            return Err(Error::not_found("image member", member_id));
        }
        if let Some(only) = self.member_filter(caller, img) {
            if only != member_id {
                return Err(Error::not_found("image member", member_id));
            }
        }
        self.store
            .member_list(&img.id, Some(member_id))
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("image member", member_id))
    }

    /// Sets a member's answer (the API's policy lets only the member or an admin here).
    pub async fn member_update(
        &self,
        caller: &Caller,
        img: &Image,
        member_id: &str,
        status: MemberStatus,
    ) -> Result<Member> {
        if img.visibility != Visibility::Shared {
            return Err(Error::forbidden(format!(
                "Not allowed to update members for image {}.",
                img.id
            )));
        }
        self.member_get(caller, img, member_id).await?;
        self.store
            .member_set_status(&img.id, member_id, status)
            .await?
            .ok_or_else(|| Error::not_found("image member", member_id))
    }

    /// Withdraws the offer.
    pub async fn member_delete(&self, caller: &Caller, img: &Image, member_id: &str) -> Result<()> {
        if img.visibility != Visibility::Shared {
            return Err(Error::forbidden(format!(
                "Not allowed to delete members for image {}.",
                img.id
            )));
        }
        self.member_get(caller, img, member_id).await?;
        if !self.store.member_delete(&img.id, member_id).await? {
            return Err(Error::not_found("image member", member_id));
        }
        Ok(())
    }
}
