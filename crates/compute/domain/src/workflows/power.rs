//! Power actions (stop, start, reboot, pause, unpause, suspend, resume): one agent call,
//! then the new vm_state and power state. A failure goes back to the previous vm_state
//! with a fault, or to ERROR when the VM's state cannot be known; a restart in the middle
//! settles on what the agent reports.

use std::collections::BTreeMap;

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate};
use compute_model::rpc::AgentRequest;
use compute_model::{PowerState, TaskState, VmState};
use serde::{Deserialize, Serialize};

use super::engine::{Cx, Interrupt, Workflow};
use super::{
    agent_power, end_failed, event_end, event_start, fault_of, host_of, instance, instance_spec,
    known_power, vm_state_for, Caller, AGENT_TIMEOUT,
};

/// Which power action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PowerOp {
    Stop,
    Start,
    Reboot,
    RebootHard,
    Pause,
    Unpause,
    Suspend,
    Resume,
}

impl PowerOp {
    /// The task state while it runs.
    pub(crate) fn task(self) -> TaskState {
        match self {
            PowerOp::Stop => TaskState::PoweringOff,
            PowerOp::Start => TaskState::PoweringOn,
            PowerOp::Reboot => TaskState::Rebooting,
            PowerOp::RebootHard => TaskState::RebootingHard,
            PowerOp::Pause => TaskState::Pausing,
            PowerOp::Unpause => TaskState::Unpausing,
            PowerOp::Suspend => TaskState::Suspending,
            PowerOp::Resume => TaskState::Resuming,
        }
    }

    /// The vm_state it ends in.
    pub(crate) fn target(self) -> VmState {
        match self {
            PowerOp::Stop => VmState::Stopped,
            PowerOp::Pause => VmState::Paused,
            PowerOp::Suspend => VmState::Suspended,
            _ => VmState::Active,
        }
    }

    /// Nova's instance-action name.
    pub(crate) fn action(self) -> &'static str {
        match self {
            PowerOp::Stop => "stop",
            PowerOp::Start => "start",
            PowerOp::Reboot | PowerOp::RebootHard => "reboot",
            PowerOp::Pause => "pause",
            PowerOp::Unpause => "unpause",
            PowerOp::Suspend => "suspend",
            PowerOp::Resume => "resume",
        }
    }

    /// Nova's event name.
    pub(crate) fn event(self) -> &'static str {
        match self {
            PowerOp::Stop => "compute_stop_instance",
            PowerOp::Start => "compute_start_instance",
            PowerOp::Reboot | PowerOp::RebootHard => "compute_reboot_instance",
            PowerOp::Pause => "compute_pause_instance",
            PowerOp::Unpause => "compute_unpause_instance",
            PowerOp::Suspend => "compute_suspend_instance",
            PowerOp::Resume => "compute_resume_instance",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PowerRun {
    pub project_id: String,
    pub caller: Caller,
    pub request_id: String,
    pub op: PowerOp,
    /// The vm_state before the action (where a failure returns).
    pub prev_vm: VmState,
    /// Properties of the instance's image (start and resume boot the VM again).
    #[serde(default)]
    pub image_properties: BTreeMap<String, String>,
    #[serde(default)]
    pub shutdown_timeout_secs: u64,
    #[serde(default)]
    pub power_state: Option<PowerState>,
}

/// The power-action workflow.
pub(crate) struct Power;

impl Power {
    /// Ends a failed or interrupted action: the previous vm_state (or what the agent
    /// reports, when interrupted), ERROR when the VM's state is unknown.
    async fn settle(&self, cx: &Cx, st: &PowerRun, err: Option<&Error>) {
        let c = &cx.compute;
        let Ok(i) = instance(c, &cx.instance_uuid).await else {
            return;
        };
        let power = known_power(c, &i).await;
        let vm = match (power, err) {
            (None, _) => VmState::Error,
            (Some(_), Some(_)) => st.prev_vm,
            (Some(p), None) => vm_state_for(p).unwrap_or(st.prev_vm),
        };
        let change = InstanceChange {
            vm_state: Some(vm),
            power_state: Some(power.unwrap_or(PowerState::NoState)),
            ..InstanceChange::default()
        };
        let fault = match err {
            Some(e) => Some(fault_of(e)),
            None if vm == VmState::Error => Some(fault_of(&Error::Internal(
                "interrupted by a restart of the control plane; the VM's state is unknown".into(),
            ))),
            None => None,
        };
        end_failed(
            c,
            &i.uuid,
            Expect::task(st.op.task()),
            change,
            fault,
            &st.request_id,
            st.op.event(),
        )
        .await;
    }
}

#[async_trait::async_trait]
impl Workflow for Power {
    type State = PowerRun;
    const KIND: &'static str = "power";
    const STEPS: &'static [&'static str] = &["agent", "finish"];
    const ON_INTERRUPT: Interrupt = Interrupt::Undo;

    async fn run(&self, cx: &Cx, step: &str, st: &mut PowerRun) -> Result<()> {
        let c = &cx.compute;
        let i = instance(c, &cx.instance_uuid).await?;
        if step == "agent" {
            let host = host_of(&i)?;
            event_start(c, &i.uuid, &st.request_id, st.op.event(), Some(&host)).await;
            let uuid = i.uuid.clone();
            let props = &st.image_properties;
            let req = match st.op {
                PowerOp::Stop => AgentRequest::PowerOff {
                    uuid,
                    timeout_secs: st.shutdown_timeout_secs,
                },
                PowerOp::Start => AgentRequest::PowerOn {
                    spec: instance_spec(c, &i, &i.flavor, &i.image_ref, props).await?,
                },
                PowerOp::Reboot => AgentRequest::Reboot { uuid, hard: false },
                PowerOp::RebootHard => AgentRequest::Reboot { uuid, hard: true },
                PowerOp::Pause => AgentRequest::Pause { uuid },
                PowerOp::Unpause => AgentRequest::Unpause { uuid },
                PowerOp::Suspend => AgentRequest::Suspend { uuid },
                PowerOp::Resume => AgentRequest::Resume {
                    spec: instance_spec(c, &i, &i.flavor, &i.image_ref, props).await?,
                },
            };
            let timeout = AGENT_TIMEOUT + std::time::Duration::from_secs(st.shutdown_timeout_secs);
            st.power_state = Some(agent_power(c, &host, &req, timeout).await?);
            return Ok(());
        }
        let u = InstanceUpdate {
            expect: Expect::task(st.op.task()),
            change: InstanceChange {
                vm_state: Some(st.op.target()),
                task_state: Some(None),
                power_state: st.power_state,
                ..InstanceChange::default()
            },
            event: Some((st.request_id.clone(), event_end(st.op.event(), true))),
            action_finish: Some((st.request_id.clone(), None)),
            workflow_commit: Some(cx.commit::<Self>(st)?),
            ..InstanceUpdate::default()
        };
        c.store.instance_update(&i.uuid, &u).await.map(|_| ())
    }

    async fn undo(&self, _cx: &Cx, _step: &str, _st: &mut PowerRun) -> Result<()> {
        Ok(())
    }

    async fn failed(&self, cx: &Cx, st: &mut PowerRun, err: &Error) {
        self.settle(cx, st, Some(err)).await;
    }

    async fn interrupted(&self, cx: &Cx, st: &mut PowerRun) {
        self.settle(cx, st, None).await;
    }
}
