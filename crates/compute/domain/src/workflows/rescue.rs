//! Rescue and unrescue (Nova's `rescue_instance` / `unrescue_instance`): one agent call,
//! then RESCUED (rescue) or ACTIVE (unrescue).
//!
//! A rescue that fails or is interrupted is undone: the agent unrescues the VM (and powers
//! it off again when the server was stopped), and the server goes back to its previous
//! vm_state with a fault; when that undo fails too, the server goes to ERROR, as Nova's
//! failed rescue does. A failed unrescue leaves the server RESCUED with a fault (unrescue may
//! be asked again: the agent's unrescue is idempotent), or ERROR when the VM's state cannot
//! be known.

use std::collections::BTreeMap;

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate};
use compute_model::rpc::AgentRequest;
use compute_model::{Instance, PowerState, TaskState, VmState};
use serde::{Deserialize, Serialize};

use super::engine::{Cx, Interrupt, Workflow};
use super::{
    agent_power, end_failed, event_end, event_start, fault_of, host_of, instance, instance_spec,
    known_power, Caller, AGENT_TIMEOUT, SPAWN_TIMEOUT,
};
use crate::Compute;

/// Rescue or unrescue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RescueOp {
    Rescue,
    Unrescue,
}

impl RescueOp {
    pub(crate) fn task(self) -> TaskState {
        match self {
            RescueOp::Rescue => TaskState::Rescuing,
            RescueOp::Unrescue => TaskState::Unrescuing,
        }
    }

    /// Nova's instance-action name.
    pub(crate) fn action(self) -> &'static str {
        match self {
            RescueOp::Rescue => "rescue",
            RescueOp::Unrescue => "unrescue",
        }
    }

    fn event(self) -> &'static str {
        match self {
            RescueOp::Rescue => "compute_rescue_instance",
            RescueOp::Unrescue => "compute_unrescue_instance",
        }
    }

    fn target(self) -> VmState {
        match self {
            RescueOp::Rescue => VmState::Rescued,
            RescueOp::Unrescue => VmState::Active,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RescueState {
    pub project_id: String,
    pub caller: Caller,
    pub request_id: String,
    pub op: RescueOp,
    /// The image the rescue disk is made from (unrescue: unused).
    #[serde(default)]
    pub rescue_image_id: String,
    /// The vm_state before the action (where a failure returns).
    pub prev_vm: VmState,
    /// Properties of the instance's own image (the VM's shape).
    #[serde(default)]
    pub image_properties: BTreeMap<String, String>,
    #[serde(default)]
    pub power_state: Option<PowerState>,
    /// The undo of a rescue put the VM back as it was.
    #[serde(default)]
    pub undone: bool,
}

/// The rescue workflow (also unrescue).
pub(crate) struct Rescue;

impl Rescue {
    /// Back to the instance's own disk after a failed rescue, stopped again when it was.
    async fn unrescue(&self, c: &Compute, i: &Instance, st: &RescueState) -> Result<()> {
        let host = host_of(i)?;
        let spec = instance_spec(c, i, &i.flavor, &i.image_ref, &st.image_properties).await?;
        agent_power(c, &host, &AgentRequest::Unrescue { spec }, SPAWN_TIMEOUT).await?;
        if st.prev_vm == VmState::Stopped {
            let off = AgentRequest::PowerOff {
                uuid: i.uuid.clone(),
                timeout_secs: c.cfg.shutdown_timeout_secs,
            };
            let timeout =
                AGENT_TIMEOUT + std::time::Duration::from_secs(c.cfg.shutdown_timeout_secs);
            agent_power(c, &host, &off, timeout).await?;
        }
        Ok(())
    }

    /// Ends a failed or interrupted run (see the module doc).
    async fn end(&self, cx: &Cx, st: &RescueState, err: &Error) {
        let c = &cx.compute;
        let Ok(i) = instance(c, &cx.instance_uuid).await else {
            return;
        };
        let power = known_power(c, &i).await;
        let vm = match (st.op, power) {
            (_, None) => VmState::Error,
            (RescueOp::Rescue, Some(_)) if !st.undone => VmState::Error,
            (_, Some(_)) => st.prev_vm,
        };
        let change = InstanceChange {
            vm_state: Some(vm),
            power_state: Some(power.unwrap_or(PowerState::NoState)),
            ..InstanceChange::default()
        };
        end_failed(
            c,
            &i.uuid,
            Expect::task(st.op.task()),
            change,
            Some(fault_of(err)),
            &st.request_id,
            st.op.event(),
        )
        .await;
    }
}

#[async_trait::async_trait]
impl Workflow for Rescue {
    type State = RescueState;
    const KIND: &'static str = "rescue";
    const STEPS: &'static [&'static str] = &["agent", "finish"];
    const ON_INTERRUPT: Interrupt = Interrupt::Undo;

    async fn run(&self, cx: &Cx, step: &str, st: &mut RescueState) -> Result<()> {
        let c = &cx.compute;
        let i = instance(c, &cx.instance_uuid).await?;
        if step == "agent" {
            let host = host_of(&i)?;
            event_start(c, &i.uuid, &st.request_id, st.op.event(), Some(&host)).await;
            let spec = instance_spec(c, &i, &i.flavor, &i.image_ref, &st.image_properties).await?;
            let req = match st.op {
                RescueOp::Rescue => AgentRequest::Rescue {
                    spec,
                    rescue_image_id: st.rescue_image_id.clone(),
                },
                RescueOp::Unrescue => AgentRequest::Unrescue { spec },
            };
            // A rescue may fetch its image first and waits for the guest to power off.
            let timeout =
                SPAWN_TIMEOUT + std::time::Duration::from_secs(c.cfg.shutdown_timeout_secs);
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

    async fn undo(&self, cx: &Cx, step: &str, st: &mut RescueState) -> Result<()> {
        if step != "agent" || st.op != RescueOp::Rescue {
            return Ok(());
        }
        let c = &cx.compute;
        let i = instance(c, &cx.instance_uuid).await?;
        self.unrescue(c, &i, st).await?;
        st.undone = true;
        Ok(())
    }

    async fn failed(&self, cx: &Cx, st: &mut RescueState, err: &Error) {
        self.end(cx, st, err).await;
    }

    async fn interrupted(&self, cx: &Cx, st: &mut RescueState) {
        let what = format!(
            "{} interrupted by a restart of the control plane",
            st.op.action()
        );
        self.end(cx, st, &Error::Internal(what)).await;
    }
}
