//! Delete (Nova's `terminate_instance`): destroy the VM on its host, free its ports (the
//! ones compute created are deleted, the user's own unbound), release the allocation,
//! leave the server group, soft-delete the row (which gives the quota back).
//! Every step is replayable, so a restart resumes the run; an unreachable agent parks it
//! until the next start instead of marking the server deleted with a VM still running.

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate};
use compute_model::rpc::AgentRequest;
use compute_model::{TaskState, VmState};
use serde::{Deserialize, Serialize};

use super::engine::{Cx, Interrupt, Workflow};
use super::{agent_call, end_failed, event_end, event_start, fault_of, Caller, AGENT_TIMEOUT};

pub(crate) const EVENT: &str = "compute_terminate_instance";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct DeleteState {
    pub project_id: String,
    pub caller: Caller,
    pub request_id: String,
}

/// The delete workflow.
pub(crate) struct Delete;

#[async_trait::async_trait]
impl Workflow for Delete {
    type State = DeleteState;
    const KIND: &'static str = "delete";
    const STEPS: &'static [&'static str] = &[
        "destroy",
        "deallocate_network",
        "release",
        "leave_group",
        "soft_delete",
    ];
    const ON_INTERRUPT: Interrupt = Interrupt::Resume;

    async fn run(&self, cx: &Cx, step: &str, st: &mut DeleteState) -> Result<()> {
        let c = &cx.compute;
        let uuid = &cx.instance_uuid;
        // The row as it is now (a build may have placed it since the delete began).
        let Some(i) = c.store.instance_get(uuid, true).await? else {
            return Ok(());
        };
        let gone = i.vm_state == VmState::Deleted;
        match step {
            "destroy" => {
                if gone {
                    return Ok(());
                }
                event_start(c, uuid, &st.request_id, EVENT, i.host.as_deref()).await;
                if let Some(host) = &i.host {
                    agent_call(
                        c,
                        host,
                        &AgentRequest::Destroy { uuid: uuid.clone() },
                        AGENT_TIMEOUT,
                    )
                    .await?;
                }
                Ok(())
            }
            "deallocate_network" => crate::network::deallocate(c, uuid, &[]).await,
            "release" => c.placement.release(uuid).await,
            "leave_group" => match &i.server_group {
                Some(g) => match c.store.server_group_remove_member(g, uuid).await {
                    Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                },
                None => Ok(()),
            },
            _ => {
                if gone {
                    return Ok(());
                }
                // The action's outcome first: the row is read-only once deleted.
                let done = InstanceUpdate {
                    event: Some((st.request_id.clone(), event_end(EVENT, true))),
                    action_finish: Some((st.request_id.clone(), None)),
                    ..InstanceUpdate::default()
                };
                if let Err(e) = c.store.instance_update(uuid, &done).await {
                    tracing::info!(instance = %uuid, error = %e, "record delete outcome");
                }
                match c.store.instance_soft_delete(uuid, &Expect::default()).await {
                    Ok(()) | Err(Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        }
    }

    async fn undo(&self, _cx: &Cx, _step: &str, _st: &mut DeleteState) -> Result<()> {
        Ok(())
    }

    async fn failed(&self, cx: &Cx, st: &mut DeleteState, err: &Error) {
        let change = InstanceChange {
            vm_state: Some(VmState::Error),
            ..InstanceChange::default()
        };
        end_failed(
            &cx.compute,
            &cx.instance_uuid,
            Expect::task(TaskState::Deleting),
            change,
            Some(fault_of(err)),
            &st.request_id,
            EVENT,
        )
        .await;
    }

    async fn interrupted(&self, _cx: &Cx, _st: &mut DeleteState) {}

    fn retry_later(&self, err: &Error) -> bool {
        matches!(err, Error::Unavailable(_))
    }
}
