//! Instance actions (`os-instance-actions`) and their events.

use common_db::{db_err, DbRow, Tx};
use common_error::Result;
use compute_model::{InstanceAction, InstanceActionEvent};

use crate::{col, now_text, Store};

const ACTION: &str = "SELECT instance_uuid, request_id, action, project_id, user_id, start_time, \
    updated_at, message FROM compute_instance_action";
const EVENT: &str =
    "SELECT event, start_time, finish_time, result, host FROM compute_instance_action_event";

fn action_row(r: &DbRow) -> Result<InstanceAction> {
    Ok(InstanceAction {
        instance_uuid: col(r, "instance_uuid")?,
        request_id: col(r, "request_id")?,
        action: col(r, "action")?,
        project_id: col(r, "project_id")?,
        user_id: col(r, "user_id")?,
        start_time: col(r, "start_time")?,
        updated_at: col(r, "updated_at")?,
        message: col(r, "message")?,
    })
}

fn event_row(r: &DbRow) -> Result<InstanceActionEvent> {
    Ok(InstanceActionEvent {
        event: col(r, "event")?,
        start_time: col(r, "start_time")?,
        finish_time: col(r, "finish_time")?,
        result: col(r, "result")?,
        host: col(r, "host")?,
    })
}

/// Inserts an action; a second one with the same (instance, request id) is ignored.
pub(crate) async fn insert_action(tx: &mut Tx<'static>, a: &InstanceAction) -> Result<()> {
    sqlx::query(
        "INSERT INTO compute_instance_action (instance_uuid, request_id, action, project_id, user_id, \
         start_time, updated_at, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (instance_uuid, request_id) DO NOTHING",
    )
    .bind(&a.instance_uuid)
    .bind(&a.request_id)
    .bind(&a.action)
    .bind(&a.project_id)
    .bind(&a.user_id)
    .bind(&a.start_time)
    .bind(&a.updated_at)
    .bind(&a.message)
    .execute(&mut **tx)
    .await
    .map_err(db_err("insert instance action"))?;
    Ok(())
}

/// Inserts an event, or records its finish/result/host when it exists.
pub(crate) async fn upsert_event(
    tx: &mut Tx<'static>,
    uuid: &str,
    request_id: &str,
    e: &InstanceActionEvent,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO compute_instance_action_event (instance_uuid, request_id, event, start_time, \
         finish_time, result, host) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (instance_uuid, request_id, event) DO UPDATE SET \
         finish_time = excluded.finish_time, result = excluded.result, \
         host = COALESCE(excluded.host, compute_instance_action_event.host)",
    )
    .bind(uuid)
    .bind(request_id)
    .bind(&e.event)
    .bind(&e.start_time)
    .bind(&e.finish_time)
    .bind(&e.result)
    .bind(&e.host)
    .execute(&mut **tx)
    .await
    .map_err(db_err("write instance action event"))?;
    sqlx::query(
        "UPDATE compute_instance_action SET updated_at = $1 WHERE instance_uuid = $2 AND request_id = $3",
    )
    .bind(now_text())
    .bind(uuid)
    .bind(request_id)
    .execute(&mut **tx)
    .await
    .map_err(db_err("touch instance action"))?;
    Ok(())
}

/// Records an action's outcome (`message` is `Some("Error")` when it failed).
pub(crate) async fn finish_action(
    tx: &mut Tx<'static>,
    uuid: &str,
    request_id: &str,
    message: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE compute_instance_action SET updated_at = $1, message = COALESCE($2, message) \
         WHERE instance_uuid = $3 AND request_id = $4",
    )
    .bind(now_text())
    .bind(message)
    .bind(uuid)
    .bind(request_id)
    .execute(&mut **tx)
    .await
    .map_err(db_err("finish instance action"))?;
    Ok(())
}

impl Store {
    /// Records an action (ignored when the same request already recorded one).
    pub async fn instance_action_add(&self, a: &InstanceAction) -> Result<()> {
        let mut tx = self.db().begin().await?;
        insert_action(&mut tx, a).await?;
        tx.commit().await.map_err(db_err("commit instance action"))
    }

    /// Records (or finishes) an event of an action, and with `outcome` the action's message.
    pub async fn instance_action_event(
        &self,
        uuid: &str,
        request_id: &str,
        e: &InstanceActionEvent,
        outcome: Option<Option<&str>>,
    ) -> Result<()> {
        let mut tx = self.db().begin().await?;
        upsert_event(&mut tx, uuid, request_id, e).await?;
        if let Some(msg) = outcome {
            finish_action(&mut tx, uuid, request_id, msg).await?;
        }
        tx.commit()
            .await
            .map_err(db_err("commit instance action event"))
    }

    /// An instance's actions, newest first.
    pub async fn instance_action_list(&self, uuid: &str) -> Result<Vec<InstanceAction>> {
        let rows = sqlx::query(&format!(
            "{ACTION} WHERE instance_uuid = $1 ORDER BY start_time DESC, request_id DESC"
        ))
        .bind(uuid)
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("read instance actions"))?;
        rows.iter().map(action_row).collect()
    }

    /// One action with its events (oldest first).
    pub async fn instance_action_get(
        &self,
        uuid: &str,
        request_id: &str,
    ) -> Result<Option<(InstanceAction, Vec<InstanceActionEvent>)>> {
        let row = sqlx::query(&format!(
            "{ACTION} WHERE instance_uuid = $1 AND request_id = $2"
        ))
        .bind(uuid)
        .bind(request_id)
        .fetch_optional(self.db().reader())
        .await
        .map_err(db_err("read instance action"))?;
        let Some(row) = row else { return Ok(None) };
        let events = sqlx::query(&format!(
            "{EVENT} WHERE instance_uuid = $1 AND request_id = $2 ORDER BY start_time, event"
        ))
        .bind(uuid)
        .bind(request_id)
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("read instance action events"))?;
        Ok(Some((
            action_row(&row)?,
            events.iter().map(event_row).collect::<Result<_>>()?,
        )))
    }
}
