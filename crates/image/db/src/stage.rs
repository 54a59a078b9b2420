//! Data staged for the interoperable import (`glance-direct`).

use common_db::db_err;
use common_error::Result;
use image_model::{Staged, Status};

use crate::image::{transition, DataFields};
use crate::{col, now_text, Store};

impl Store {
    /// Records staged data for an image in `uploading`; false when the image is no longer in
    /// that status (deleted meanwhile), in which case nothing is written.
    pub async fn stage_put(&self, st: &Staged) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let live: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM image WHERE id = $1 AND deleted = 0 AND status = 'uploading'",
        )
        .bind(&st.image_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err("read image"))?;
        if live.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO image_stage (image_id, blob, size, checksum, os_hash_value, detected_format, \
             virtual_size, unsafe_reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&st.image_id)
        .bind(&st.blob)
        .bind(st.size)
        .bind(&st.checksum)
        .bind(&st.os_hash_value)
        .bind(&st.detected_format)
        .bind(st.virtual_size)
        .bind(st.unsafe_reason.clone())
        .bind(now_text())
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert image stage"))?;
        tx.commit().await.map_err(db_err("commit image stage"))?;
        Ok(true)
    }

    /// The staged data of an image.
    pub async fn stage_get(&self, image_id: &str) -> Result<Option<Staged>> {
        let row = sqlx::query(
            "SELECT image_id, blob, size, checksum, os_hash_value, detected_format, virtual_size, \
             unsafe_reason FROM image_stage WHERE image_id = $1",
        )
        .bind(image_id)
        .fetch_optional(self.db().reader())
        .await
        .map_err(db_err("read image stage"))?;
        row.map(|r| {
            Ok(Staged {
                image_id: col(&r, "image_id")?,
                blob: col(&r, "blob")?,
                size: col(&r, "size")?,
                checksum: col(&r, "checksum")?,
                os_hash_value: col(&r, "os_hash_value")?,
                detected_format: col(&r, "detected_format")?,
                virtual_size: col(&r, "virtual_size")?,
                unsafe_reason: col(&r, "unsafe_reason")?,
            })
        })
        .transpose()
    }

    /// Moves an image from `from` to `to` with `data` and drops its stage row, in one
    /// transaction. False (and nothing changed) when the image is not in `from`.
    pub async fn stage_finish(
        &self,
        image_id: &str,
        from: Status,
        to: Status,
        data: &DataFields,
    ) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        if !transition(&mut tx, image_id, &[from], to, Some(data)).await? {
            return Ok(false);
        }
        sqlx::query("DELETE FROM image_stage WHERE image_id = $1")
            .bind(image_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete image stage"))?;
        tx.commit().await.map_err(db_err("commit image import"))?;
        Ok(true)
    }
}
