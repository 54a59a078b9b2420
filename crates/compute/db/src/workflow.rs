//! The conductor's persistent workflows: one `compute_workflow` row per run (`pending` →
//! `running` → `done`/`failed`) holding the workflow's JSON state, and one
//! `compute_workflow_step` row per step, recorded `started` *before* the step runs and
//! marked `done` (or `undone` when unwound) after, so a restart knows exactly which steps
//! may have happened.

use common_db::{db_err, DbRow, Tx};
use common_error::{Error, Result};
use serde_json::Value;

use crate::{col, now_text, Store};

/// Workflow statuses.
pub mod status {
    /// Created, not yet taken by a conductor.
    pub const PENDING: &str = "pending";
    /// Taken by a conductor (or interrupted, when no conductor runs it any more).
    pub const RUNNING: &str = "running";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
}

/// Step statuses.
pub mod step_status {
    /// Recorded before the step ran: it may or may not have happened.
    pub const STARTED: &str = "started";
    pub const DONE: &str = "done";
    /// Unwound (its undo ran).
    pub const UNDONE: &str = "undone";
}

/// A workflow to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWorkflow {
    pub id: String,
    pub kind: String,
    pub instance_uuid: String,
    pub data: Value,
}

impl NewWorkflow {
    /// A workflow with a fresh id.
    pub fn new(kind: &str, instance_uuid: &str, data: Value) -> Self {
        NewWorkflow {
            id: uuid::Uuid::new_v4().to_string(),
            kind: kind.to_string(),
            instance_uuid: instance_uuid.to_string(),
            data,
        }
    }
}

/// The last step of a workflow committed with the instance change it makes: the step is
/// recorded `done` and the workflow `done` in the same transaction, so a restart can never
/// find that change made but the workflow unfinished.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowCommit {
    pub id: String,
    pub idx: i64,
    pub name: String,
    pub data: Value,
}

/// A workflow run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub id: String,
    pub kind: String,
    pub instance_uuid: String,
    pub status: String,
    /// The workflow's state as of its last recorded step.
    pub data: Value,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// One recorded step.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowStep {
    pub idx: i64,
    pub name: String,
    pub status: String,
    pub updated_at: String,
}

const WORKFLOW: &str =
    "SELECT id, kind, instance_uuid, status, data, error, created_at, updated_at FROM compute_workflow";

fn parse(s: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| Error::internal("decode workflow data", e))
}

fn text(v: &Value) -> String {
    v.to_string()
}

fn workflow_row(r: &DbRow) -> Result<Workflow> {
    Ok(Workflow {
        id: col(r, "id")?,
        kind: col(r, "kind")?,
        instance_uuid: col(r, "instance_uuid")?,
        status: col(r, "status")?,
        data: parse(&col::<String>(r, "data")?)?,
        error: col(r, "error")?,
        created_at: col(r, "created_at")?,
        updated_at: col(r, "updated_at")?,
    })
}

/// Inserts a `pending` workflow inside a caller's transaction.
pub(crate) async fn insert_workflow(tx: &mut Tx<'static>, w: &NewWorkflow) -> Result<()> {
    let now = now_text();
    sqlx::query(
        "INSERT INTO compute_workflow (id, kind, instance_uuid, status, data, error, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, NULL, $6, $6)",
    )
    .bind(&w.id)
    .bind(&w.kind)
    .bind(&w.instance_uuid)
    .bind(status::PENDING)
    .bind(text(&w.data))
    .bind(&now)
    .execute(&mut **tx)
    .await
    .map_err(db_err("insert workflow"))?;
    Ok(())
}

/// Records a [`WorkflowCommit`] inside a caller's transaction.
pub(crate) async fn commit_workflow(tx: &mut Tx<'static>, c: &WorkflowCommit) -> Result<()> {
    let now = now_text();
    sqlx::query(
        "INSERT INTO compute_workflow_step (workflow_id, idx, name, status, data, updated_at) \
         VALUES ($1, $2, $3, $4, '{}', $5) ON CONFLICT (workflow_id, idx) DO UPDATE SET \
         status = excluded.status, updated_at = excluded.updated_at",
    )
    .bind(&c.id)
    .bind(c.idx)
    .bind(&c.name)
    .bind(step_status::DONE)
    .bind(&now)
    .execute(&mut **tx)
    .await
    .map_err(db_err("record workflow step"))?;
    sqlx::query("UPDATE compute_workflow SET status = $1, data = $2, error = NULL, updated_at = $3 WHERE id = $4")
        .bind(status::DONE)
        .bind(text(&c.data))
        .bind(&now)
        .bind(&c.id)
        .execute(&mut **tx)
        .await
        .map_err(db_err("finish workflow"))?;
    Ok(())
}

async fn set_data(tx: &mut Tx<'static>, id: &str, data: &Value) -> Result<()> {
    sqlx::query("UPDATE compute_workflow SET data = $1, updated_at = $2 WHERE id = $3")
        .bind(text(data))
        .bind(now_text())
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_err("update workflow data"))?;
    Ok(())
}

impl Store {
    /// Creates a `pending` workflow.
    pub async fn workflow_create(&self, w: &NewWorkflow) -> Result<()> {
        let mut tx = self.db().begin().await?;
        insert_workflow(&mut tx, w).await?;
        tx.commit().await.map_err(db_err("commit workflow"))
    }

    pub async fn workflow_get(&self, id: &str) -> Result<Option<Workflow>> {
        let row = sqlx::query(&format!("{WORKFLOW} WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.db().reader())
            .await
            .map_err(db_err("read workflow"))?;
        row.as_ref().map(workflow_row).transpose()
    }

    /// Takes a `pending` workflow for running; false when someone else took it first (or it
    /// is not pending).
    pub async fn workflow_claim(&self, id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query("UPDATE compute_workflow SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
            .bind(status::RUNNING)
            .bind(now_text())
            .bind(id)
            .bind(status::PENDING)
            .execute(&mut *tx)
            .await
            .map_err(db_err("claim workflow"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit workflow claim"))?;
        Ok(n == 1)
    }

    /// Records step `idx` as `status` (inserting it the first time) and the workflow's
    /// state, in one transaction.
    pub async fn workflow_step(
        &self,
        id: &str,
        idx: i64,
        name: &str,
        status: &str,
        data: &Value,
    ) -> Result<()> {
        let now = now_text();
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO compute_workflow_step (workflow_id, idx, name, status, data, updated_at) \
             VALUES ($1, $2, $3, $4, '{}', $5) ON CONFLICT (workflow_id, idx) DO UPDATE SET \
             status = excluded.status, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(idx)
        .bind(name)
        .bind(status)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(db_err("record workflow step"))?;
        set_data(&mut tx, id, data).await?;
        tx.commit().await.map_err(db_err("commit workflow step"))
    }

    /// A workflow's recorded steps in order.
    pub async fn workflow_steps(&self, id: &str) -> Result<Vec<WorkflowStep>> {
        let rows = sqlx::query(
            "SELECT idx, name, status, updated_at FROM compute_workflow_step WHERE workflow_id = $1 ORDER BY idx",
        )
        .bind(id)
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("read workflow steps"))?;
        rows.iter()
            .map(|r| {
                Ok(WorkflowStep {
                    idx: col(r, "idx")?,
                    name: col(r, "name")?,
                    status: col(r, "status")?,
                    updated_at: col(r, "updated_at")?,
                })
            })
            .collect()
    }

    /// Ends a workflow as `done` or `failed` with its final state.
    pub async fn workflow_finish(
        &self,
        id: &str,
        status: &str,
        data: &Value,
        error: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query("UPDATE compute_workflow SET status = $1, data = $2, error = $3, updated_at = $4 WHERE id = $5")
            .bind(status)
            .bind(text(data))
            .bind(error)
            .bind(now_text())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("finish workflow"))?;
        tx.commit().await.map_err(db_err("commit workflow finish"))
    }

    /// Workflows not finished (`pending` or `running`), oldest first.
    pub async fn workflow_unfinished(&self) -> Result<Vec<Workflow>> {
        let rows = sqlx::query(&format!(
            "{WORKFLOW} WHERE status IN ($1, $2) ORDER BY created_at, id"
        ))
        .bind(status::PENDING)
        .bind(status::RUNNING)
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("read unfinished workflows"))?;
        rows.iter().map(workflow_row).collect()
    }

    /// An instance's workflows, oldest first.
    pub async fn workflow_list_for_instance(&self, instance_uuid: &str) -> Result<Vec<Workflow>> {
        let rows = sqlx::query(&format!(
            "{WORKFLOW} WHERE instance_uuid = $1 ORDER BY created_at, id"
        ))
        .bind(instance_uuid)
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("read instance workflows"))?;
        rows.iter().map(workflow_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn steps_and_status_are_recorded() {
        let (s, _dir) = crate::test_store().await;
        let w = NewWorkflow::new("build", "i-1", serde_json::json!({"a": 1}));
        s.workflow_create(&w).await.unwrap();
        assert_eq!(s.workflow_unfinished().await.unwrap().len(), 1);
        assert!(s.workflow_claim(&w.id).await.unwrap());
        assert!(
            !s.workflow_claim(&w.id).await.unwrap(),
            "a running workflow is not taken twice"
        );
        s.workflow_step(
            &w.id,
            0,
            "claim",
            step_status::STARTED,
            &serde_json::json!({"a": 2}),
        )
        .await
        .unwrap();
        s.workflow_step(
            &w.id,
            0,
            "claim",
            step_status::DONE,
            &serde_json::json!({"a": 3}),
        )
        .await
        .unwrap();
        let steps = s.workflow_steps(&w.id).await.unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].status, step_status::DONE);
        let got = s.workflow_get(&w.id).await.unwrap().unwrap();
        assert_eq!(got.status, status::RUNNING);
        assert_eq!(got.data, serde_json::json!({"a": 3}));
        s.workflow_finish(&w.id, status::FAILED, &got.data, Some("boom"))
            .await
            .unwrap();
        assert!(s.workflow_unfinished().await.unwrap().is_empty());
        let got = s.workflow_get(&w.id).await.unwrap().unwrap();
        assert_eq!(
            (got.status.as_str(), got.error.as_deref()),
            (status::FAILED, Some("boom"))
        );
        assert_eq!(s.workflow_list_for_instance("i-1").await.unwrap().len(), 1);
    }
}
