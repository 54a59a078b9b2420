//! Server actions (`POST /servers/{id}/action`): each checks the lock and the state (409
//! with Nova's "Cannot '<action>' instance <uuid> while it is in vm_state <state>"
//! message), sets the task state, records an instance action, and hands the work to the
//! conductor. They return once the action is accepted (Nova's 202), except the console
//! output, which answers at once.
//!
//! The signatures here are the contract the API codes against; resize, rescue and the
//! image-based actions (createImage, shelve, unshelve, rebuild) live in the submodules.

mod image;
mod rescue;
mod resize;

use std::collections::BTreeMap;

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate, NewWorkflow};
use compute_model::rpc::{AgentRequest, ConsoleReply};
use compute_model::{Instance, TaskState, VmState};
use serde::Serialize;

use crate::server::{action_record, check_lock, check_state, invalid_state, request_id};
use crate::workflows::power::{PowerOp, PowerRun};
use crate::workflows::{agent_call, host_of, Caller, QUERY_TIMEOUT};
use crate::{Compute, Context};

/// A `rebuild` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rebuild {
    pub image_ref: String,
    pub name: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub description: Option<Option<String>>,
    pub key_name: Option<Option<String>>,
    pub user_data: Option<Option<String>>,
}

/// States that allow a hard reboot (Nova's `ALLOW_HARD_REBOOT`).
const HARD_REBOOT_VM: &[VmState] = &[
    VmState::Active,
    VmState::Stopped,
    VmState::Paused,
    VmState::Suspended,
    VmState::Error,
];

/// What an action starts: its name, request id, task state and workflow kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Begin<'a> {
    pub action: &'a str,
    pub rid: &'a str,
    pub task: TaskState,
    pub kind: &'a str,
}

impl Compute {
    /// Moves `i` into `b.task` (guarded by the generation just read), recording the action
    /// and a pending workflow with `state` in the same transaction, then asks the conductor
    /// to run it. `edit` adds to the update (quota, flavor, migration...).
    pub(crate) async fn action_begin<S: Serialize>(
        &self,
        ctx: &Context,
        i: &Instance,
        b: Begin<'_>,
        state: &S,
        edit: impl FnOnce(&mut InstanceUpdate),
    ) -> Result<()> {
        let Begin {
            action,
            rid,
            task,
            kind,
        } = b;
        let data =
            serde_json::to_value(state).map_err(|e| Error::internal("encode workflow state", e))?;
        let wf = NewWorkflow::new(kind, &i.uuid, data);
        let mut record = action_record(ctx, i, action);
        record.request_id = rid.to_string();
        let mut u = InstanceUpdate {
            expect: Expect {
                vm_states: vec![i.vm_state],
                ..Expect::generation(i.generation)
            },
            change: InstanceChange {
                task_state: Some(Some(task)),
                ..InstanceChange::default()
            },
            action: Some(record),
            workflow: Some(wf.clone()),
            ..InstanceUpdate::default()
        };
        edit(&mut u);
        match self.store.instance_update(&i.uuid, &u).await {
            Ok(_) => {}
            Err(Error::Conflict(_)) => {
                // Lost a race: say what it is now, as Nova would have.
                let cur = self.visible(ctx, &i.uuid, false).await?;
                let attr = if cur.task_state.is_some() {
                    "task_state"
                } else {
                    "vm_state"
                };
                return Err(invalid_state(action, &cur, attr));
            }
            Err(Error::NotFound { .. }) => return Err(Error::not_found("server", &i.uuid)),
            Err(e) => return Err(e),
        }
        self.workflow_kick(&wf.id).await;
        Ok(())
    }

    /// Properties of the server's image, best effort (empty when it cannot be read).
    pub(crate) async fn image_properties(
        &self,
        ctx: &Context,
        i: &Instance,
    ) -> BTreeMap<String, String> {
        if i.image_ref.is_empty() {
            return BTreeMap::new();
        }
        match self.images.get(ctx, &i.image_ref).await {
            Ok(img) => img.properties,
            Err(e) => {
                tracing::debug!(instance = %i.uuid, image = %i.image_ref, error = %e, "image properties unavailable");
                BTreeMap::new()
            }
        }
    }

    async fn power_action(
        &self,
        ctx: &Context,
        uuid: &str,
        op: PowerOp,
        vm: &[VmState],
        task: &[Option<TaskState>],
    ) -> Result<()> {
        let i = self.visible(ctx, uuid, false).await?;
        check_lock(ctx, &i)?;
        check_state(op.action(), &i, vm, Some(task))?;
        if i.host.is_none() {
            return Err(invalid_state(op.action(), &i, "vm_state"));
        }
        let image_properties = match op {
            PowerOp::Start | PowerOp::Resume => self.image_properties(ctx, &i).await,
            _ => BTreeMap::new(),
        };
        let state = PowerRun {
            project_id: i.project_id.clone(),
            caller: Caller::from(ctx),
            request_id: request_id(ctx),
            op,
            prev_vm: i.vm_state,
            image_properties,
            shutdown_timeout_secs: self.cfg.shutdown_timeout_secs,
            power_state: None,
        };
        self.action_begin(
            ctx,
            &i,
            Begin {
                action: op.action(),
                rid: &state.request_id,
                task: op.task(),
                kind: "power",
            },
            &state,
            |_| {},
        )
        .await
    }

    pub async fn server_stop(&self, ctx: &Context, uuid: &str) -> Result<()> {
        self.power_action(
            ctx,
            uuid,
            PowerOp::Stop,
            &[VmState::Active, VmState::Error],
            &[None],
        )
        .await
    }

    pub async fn server_start(&self, ctx: &Context, uuid: &str) -> Result<()> {
        self.power_action(ctx, uuid, PowerOp::Start, &[VmState::Stopped], &[None])
            .await
    }

    pub async fn server_reboot(&self, ctx: &Context, uuid: &str, hard: bool) -> Result<()> {
        if hard {
            let tasks = [
                None,
                Some(TaskState::Rebooting),
                Some(TaskState::RebootingHard),
            ];
            self.power_action(ctx, uuid, PowerOp::RebootHard, HARD_REBOOT_VM, &tasks)
                .await
        } else {
            self.power_action(ctx, uuid, PowerOp::Reboot, &[VmState::Active], &[None])
                .await
        }
    }

    pub async fn server_pause(&self, ctx: &Context, uuid: &str) -> Result<()> {
        self.power_action(ctx, uuid, PowerOp::Pause, &[VmState::Active], &[None])
            .await
    }

    pub async fn server_unpause(&self, ctx: &Context, uuid: &str) -> Result<()> {
        self.power_action(ctx, uuid, PowerOp::Unpause, &[VmState::Paused], &[None])
            .await
    }

    pub async fn server_suspend(&self, ctx: &Context, uuid: &str) -> Result<()> {
        self.power_action(ctx, uuid, PowerOp::Suspend, &[VmState::Active], &[None])
            .await
    }

    pub async fn server_resume(&self, ctx: &Context, uuid: &str) -> Result<()> {
        self.power_action(ctx, uuid, PowerOp::Resume, &[VmState::Suspended], &[None])
            .await
    }

    async fn lock_set(
        &self,
        ctx: &Context,
        uuid: &str,
        locked: bool,
        reason: Option<String>,
    ) -> Result<()> {
        let i = self.visible(ctx, uuid, false).await?;
        let action = action_record(ctx, &i, if locked { "lock" } else { "unlock" });
        let u = InstanceUpdate {
            change: InstanceChange {
                locked: Some(locked),
                locked_reason: Some(if locked { reason } else { None }),
                ..InstanceChange::default()
            },
            action: Some(action),
            ..InstanceUpdate::default()
        };
        self.store.instance_update(uuid, &u).await.map(|_| ())
    }

    pub async fn server_lock(
        &self,
        ctx: &Context,
        uuid: &str,
        reason: Option<String>,
    ) -> Result<()> {
        self.lock_set(ctx, uuid, true, reason).await
    }

    pub async fn server_unlock(&self, ctx: &Context, uuid: &str) -> Result<()> {
        self.lock_set(ctx, uuid, false, None).await
    }

    pub async fn server_rebuild(&self, ctx: &Context, uuid: &str, r: Rebuild) -> Result<()> {
        image::rebuild(self, ctx, uuid, r).await
    }

    /// Resizes to `flavor_ref`; the server ends VERIFY_RESIZE.
    pub async fn server_resize(&self, ctx: &Context, uuid: &str, flavor_ref: &str) -> Result<()> {
        resize::resize(self, ctx, uuid, flavor_ref).await
    }

    pub async fn server_confirm_resize(&self, ctx: &Context, uuid: &str) -> Result<()> {
        resize::confirm(self, ctx, uuid).await
    }

    pub async fn server_revert_resize(&self, ctx: &Context, uuid: &str) -> Result<()> {
        resize::revert(self, ctx, uuid).await
    }

    /// Snapshots the root disk to a new image; returns the image id at once (the image
    /// becomes active when the upload finishes).
    pub async fn server_create_image(
        &self,
        ctx: &Context,
        uuid: &str,
        name: &str,
        metadata: BTreeMap<String, String>,
    ) -> Result<String> {
        image::create_image(self, ctx, uuid, name, metadata).await
    }

    /// Boots the server from a fresh disk of `rescue_image_ref` (default: its own image) with
    /// its own disk attached second; it ends RESCUE. Returns the rescue admin password:
    /// `admin_pass`, or a generated one.
    pub async fn server_rescue(
        &self,
        ctx: &Context,
        uuid: &str,
        rescue_image_ref: Option<String>,
        admin_pass: Option<String>,
    ) -> Result<String> {
        rescue::rescue(self, ctx, uuid, rescue_image_ref, admin_pass).await
    }

    /// Boots a rescued server from its own disk again; it ends ACTIVE.
    pub async fn server_unrescue(&self, ctx: &Context, uuid: &str) -> Result<()> {
        rescue::unrescue(self, ctx, uuid).await
    }

    pub async fn server_shelve(&self, ctx: &Context, uuid: &str) -> Result<()> {
        image::shelve(self, ctx, uuid).await
    }

    pub async fn server_unshelve(&self, ctx: &Context, uuid: &str) -> Result<()> {
        image::unshelve(self, ctx, uuid).await
    }

    /// The serial console log (the last `length` lines when given).
    pub async fn server_console_output(
        &self,
        ctx: &Context,
        uuid: &str,
        length: Option<i64>,
    ) -> Result<String> {
        let i = self.visible(ctx, uuid, false).await?;
        let host = host_of(&i)?;
        let req = AgentRequest::ConsoleOutput {
            uuid: i.uuid.clone(),
            length,
        };
        let v = match agent_call(self, &host, &req, QUERY_TIMEOUT).await {
            Ok(v) => v,
            Err(Error::NotFound { .. }) => {
                return Err(Error::Conflict(format!("Instance {} is not ready", i.uuid)))
            }
            Err(e) => return Err(e),
        };
        let r: ConsoleReply =
            serde_json::from_value(v).map_err(|e| Error::internal("decode console output", e))?;
        Ok(r.output)
    }
}

#[cfg(test)]
mod rescue_tests;
#[cfg(test)]
mod tests;
