//! createImage (Nova's `snapshot_instance`): the image was created (queued) when the
//! action was accepted; the agent writes the root disk into it. A failure deletes the
//! image and clears the task; the vm_state does not change.

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate};
use compute_model::rpc::AgentRequest;
use compute_model::TaskState;
use serde::{Deserialize, Serialize};

use super::engine::{Cx, Interrupt, Workflow};
use super::{
    agent_call, end_failed, event_end, event_start, fault_of, host_of, instance, Caller,
    SNAPSHOT_TIMEOUT,
};

pub(crate) const EVENT: &str = "compute_snapshot_instance";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SnapshotState {
    pub project_id: String,
    pub caller: Caller,
    pub request_id: String,
    pub image_id: String,
}

/// The snapshot workflow.
pub(crate) struct Snapshot;

impl Snapshot {
    async fn end(&self, cx: &Cx, st: &SnapshotState, err: &Error) {
        end_failed(
            &cx.compute,
            &cx.instance_uuid,
            Expect::task(TaskState::ImageSnapshot),
            InstanceChange::default(),
            Some(fault_of(err)),
            &st.request_id,
            EVENT,
        )
        .await;
    }
}

#[async_trait::async_trait]
impl Workflow for Snapshot {
    type State = SnapshotState;
    const KIND: &'static str = "snapshot";
    const STEPS: &'static [&'static str] = &["upload", "finish"];
    const ON_INTERRUPT: Interrupt = Interrupt::Undo;

    async fn run(&self, cx: &Cx, step: &str, st: &mut SnapshotState) -> Result<()> {
        let c = &cx.compute;
        let i = instance(c, &cx.instance_uuid).await?;
        if step == "upload" {
            let host = host_of(&i)?;
            event_start(c, &i.uuid, &st.request_id, EVENT, Some(&host)).await;
            let req = AgentRequest::Snapshot {
                uuid: i.uuid.clone(),
                image_id: st.image_id.clone(),
            };
            agent_call(c, &host, &req, SNAPSHOT_TIMEOUT).await?;
            return Ok(());
        }
        let u = InstanceUpdate {
            expect: Expect::task(TaskState::ImageSnapshot),
            change: InstanceChange {
                task_state: Some(None),
                ..InstanceChange::default()
            },
            event: Some((st.request_id.clone(), event_end(EVENT, true))),
            action_finish: Some((st.request_id.clone(), None)),
            workflow_commit: Some(cx.commit::<Self>(st)?),
            ..InstanceUpdate::default()
        };
        c.store.instance_update(&i.uuid, &u).await.map(|_| ())
    }

    async fn undo(&self, cx: &Cx, step: &str, st: &mut SnapshotState) -> Result<()> {
        if step == "upload" {
            cx.compute
                .images
                .delete(&st.caller.ctx(), &st.image_id)
                .await?;
        }
        Ok(())
    }

    async fn failed(&self, cx: &Cx, st: &mut SnapshotState, err: &Error) {
        self.end(cx, st, err).await;
    }

    async fn interrupted(&self, cx: &Cx, st: &mut SnapshotState) {
        self.end(
            cx,
            st,
            &Error::Internal("snapshot interrupted by a restart of the control plane".into()),
        )
        .await;
    }
}
