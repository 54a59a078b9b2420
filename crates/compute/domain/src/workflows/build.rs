//! Build (Nova's `schedule_and_build_instances` + `build_and_run_instance`): schedule and
//! claim, allocate the ports on the chosen host (the network service creates or binds one
//! per requested NIC), spawn on the host's agent (which has the network agent wire the
//! ports before QEMU opens their taps), mark ACTIVE. A failure undoes the spawn (destroy),
//! the ports (deleted, or unbound when the user gave them) and the claim (release) and
//! leaves the server ERROR with a fault; a restart in the middle does the same with "Build
//! interrupted by a restart of the control plane". The steps' bodies are shared with
//! unshelve.

use std::collections::BTreeMap;

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate};
use compute_model::rpc::AgentRequest;
use compute_model::{Fault, PowerState, TaskState, VmState};
use serde::{Deserialize, Serialize};

use super::engine::{Cx, Interrupt, Workflow};
use super::{
    agent_call, agent_power, end_failed, event_end, event_start, fault_of, instance, instance_spec,
    schedule, Caller, AGENT_TIMEOUT, SPAWN_TIMEOUT,
};
use crate::network::{self, Requested};

/// The instance-action event of a build.
pub(crate) const EVENT: &str = "compute__do_build_and_run_instance";

/// The fault of a build a restart interrupted.
pub(crate) const INTERRUPTED: &str = "Build interrupted by a restart of the control plane";

/// State of a build (and of an unshelve).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct BuildState {
    /// The instance's project (failpoint scope).
    pub project_id: String,
    pub caller: Caller,
    pub request_id: String,
    pub image_id: String,
    #[serde(default)]
    pub image_properties: BTreeMap<String, String>,
    /// An admin's `az:host`.
    #[serde(default)]
    pub force_host: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub power_state: Option<PowerState>,
    /// The NICs and security groups the create asked for (checked by the API call).
    #[serde(default)]
    pub network: Requested,
}

/// Schedules and claims while the instance is `vm`/`task`; records the host and moves to
/// `next`.
pub(crate) async fn place(
    cx: &Cx,
    st: &mut BuildState,
    vm: VmState,
    task: TaskState,
    next: TaskState,
    event: &str,
) -> Result<()> {
    let c = &cx.compute;
    let i = instance(c, &cx.instance_uuid).await?;
    if i.vm_state != vm || i.task_state != Some(task) {
        return Err(Error::Conflict(format!(
            "Instance {} is no longer {} ({} {:?})",
            i.uuid,
            task.as_str(),
            i.vm_state.as_str(),
            i.task_state.map(TaskState::as_str)
        )));
    }
    event_start(c, &i.uuid, &st.request_id, event, None).await;
    let placed = schedule::schedule_and_claim(
        c,
        &i,
        &i.flavor.resources(),
        &st.image_properties,
        st.force_host.as_deref(),
    )
    .await?;
    st.host = Some(placed.host.clone());
    st.node = Some(placed.node.clone());
    let u = InstanceUpdate {
        expect: Expect {
            vm_states: vec![vm],
            ..Expect::task(task)
        },
        change: InstanceChange {
            host: Some(Some(placed.host)),
            node: Some(Some(placed.node)),
            availability_zone: Some(Some(placed.availability_zone)),
            task_state: Some(Some(next)),
            ..InstanceChange::default()
        },
        ..InstanceUpdate::default()
    };
    c.store.instance_update(&i.uuid, &u).await?;
    Ok(())
}

/// Releases whatever placement holds for the instance.
pub(crate) async fn unplace(cx: &Cx) -> Result<()> {
    cx.compute.placement.release(&cx.instance_uuid).await
}

/// Creates or binds the instance's ports on the chosen host.
pub(crate) async fn allocate_network(cx: &Cx, st: &BuildState) -> Result<()> {
    let c = &cx.compute;
    let i = instance(c, &cx.instance_uuid).await?;
    let host =
        st.host.clone().or_else(|| i.host.clone()).ok_or_else(|| {
            Error::Internal(format!("instance {} has no host for its ports", i.uuid))
        })?;
    network::allocate(c, &st.caller.ctx(), &i, &host, &st.network)
        .await
        .map(|_| ())
}

/// Frees every port of the instance (the user's own are unbound, not deleted).
pub(crate) async fn deallocate_network(cx: &Cx, st: &BuildState) -> Result<()> {
    network::deallocate(&cx.compute, &cx.instance_uuid, &st.network.user_ports()).await
}

/// Spawns the VM from `image_id` on the chosen host.
pub(crate) async fn boot(cx: &Cx, st: &mut BuildState) -> Result<()> {
    let c = &cx.compute;
    let i = instance(c, &cx.instance_uuid).await?;
    let host =
        st.host.clone().or_else(|| i.host.clone()).ok_or_else(|| {
            Error::Internal(format!("instance {} has no host to spawn on", i.uuid))
        })?;
    let spec = instance_spec(c, &i, &i.flavor, &st.image_id, &st.image_properties).await?;
    st.power_state =
        Some(agent_power(c, &host, &AgentRequest::Spawn { spec }, SPAWN_TIMEOUT).await?);
    Ok(())
}

/// Destroys the VM (and its files) on the chosen host, if one was chosen.
pub(crate) async fn unboot(cx: &Cx, st: &BuildState) -> Result<()> {
    let Some(host) = &st.host else { return Ok(()) };
    agent_call(
        &cx.compute,
        host,
        &AgentRequest::Destroy {
            uuid: cx.instance_uuid.clone(),
        },
        AGENT_TIMEOUT,
    )
    .await
    .map(|_| ())
}

/// The build workflow.
pub(crate) struct Build;

impl Build {
    async fn fail(&self, cx: &Cx, st: &BuildState, fault: Fault) {
        let expect = Expect {
            vm_states: vec![VmState::Building],
            task_states: Some(vec![Some(TaskState::Scheduling), Some(TaskState::Spawning)]),
            ..Expect::default()
        };
        let change = InstanceChange {
            vm_state: Some(VmState::Error),
            power_state: Some(PowerState::NoState),
            host: Some(None),
            node: Some(None),
            ..InstanceChange::default()
        };
        end_failed(
            &cx.compute,
            &cx.instance_uuid,
            expect,
            change,
            Some(fault),
            &st.request_id,
            EVENT,
        )
        .await;
    }
}

#[async_trait::async_trait]
impl Workflow for Build {
    type State = BuildState;
    const KIND: &'static str = "build";
    const STEPS: &'static [&'static str] =
        &["schedule_and_claim", "allocate_network", "spawn", "finish"];
    const ON_INTERRUPT: Interrupt = Interrupt::Undo;

    async fn run(&self, cx: &Cx, step: &str, st: &mut BuildState) -> Result<()> {
        match step {
            "schedule_and_claim" => {
                place(
                    cx,
                    st,
                    VmState::Building,
                    TaskState::Scheduling,
                    TaskState::Spawning,
                    EVENT,
                )
                .await
            }
            "allocate_network" => allocate_network(cx, st).await,
            "spawn" => boot(cx, st).await,
            _ => {
                let u = InstanceUpdate {
                    expect: Expect {
                        vm_states: vec![VmState::Building],
                        ..Expect::task(TaskState::Spawning)
                    },
                    change: InstanceChange {
                        vm_state: Some(VmState::Active),
                        task_state: Some(None),
                        power_state: Some(st.power_state.unwrap_or(PowerState::Running)),
                        launched_at: Some(Some(compute_db::now_text())),
                        ..InstanceChange::default()
                    },
                    event: Some((st.request_id.clone(), event_end(EVENT, true))),
                    action_finish: Some((st.request_id.clone(), None)),
                    workflow_commit: Some(cx.commit::<Self>(st)?),
                    ..InstanceUpdate::default()
                };
                cx.compute
                    .store
                    .instance_update(&cx.instance_uuid, &u)
                    .await
                    .map(|_| ())
            }
        }
    }

    async fn undo(&self, cx: &Cx, step: &str, st: &mut BuildState) -> Result<()> {
        match step {
            "schedule_and_claim" => unplace(cx).await,
            "allocate_network" => deallocate_network(cx, st).await,
            "spawn" => unboot(cx, st).await,
            _ => Ok(()),
        }
    }

    async fn failed(&self, cx: &Cx, st: &mut BuildState, err: &Error) {
        self.fail(cx, st, fault_of(err)).await;
    }

    async fn interrupted(&self, cx: &Cx, st: &mut BuildState) {
        let fault = Fault {
            code: 500,
            message: INTERRUPTED.into(),
            details: String::new(),
            created: compute_db::now_text(),
        };
        self.fail(cx, st, fault).await;
    }
}
