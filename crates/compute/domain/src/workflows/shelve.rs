//! Shelve (always offloaded, Nova's default `shelved_offload_time = 0`): power off,
//! snapshot the disk to `<name>-shelved`, destroy the VM, release the allocation →
//! SHELVED_OFFLOADED. Unshelve: schedule, claim and spawn from that image (the build's
//! steps) → ACTIVE, then delete the image. The ports stay allocated (and bound to the old
//! host) while the server is shelved; unshelve binds them to the new host before the spawn.

use std::collections::BTreeMap;

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate};
use compute_model::rpc::AgentRequest;
use compute_model::{PowerState, TaskState, VmState};
use serde::{Deserialize, Serialize};

use super::build::{boot, place, unboot, unplace, BuildState};
use super::engine::{Cx, Interrupt, Workflow};
use super::{
    agent_call, agent_power, end_failed, event_end, event_start, fault_of, host_of, instance,
    instance_spec, known_power, Caller, AGENT_TIMEOUT, SNAPSHOT_TIMEOUT,
};

pub(crate) const SHELVE_EVENT: &str = "compute_shelve_instance";
pub(crate) const UNSHELVE_EVENT: &str = "compute_unshelve_instance";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ShelveState {
    pub project_id: String,
    pub caller: Caller,
    pub request_id: String,
    pub prev_vm: VmState,
    /// Name and properties of the snapshot image.
    pub image_name: String,
    pub image_meta: BTreeMap<String, String>,
    /// Properties of the image the server runs (to boot it again on undo).
    #[serde(default)]
    pub image_properties: BTreeMap<String, String>,
    /// The snapshot, once created (unshelve boots from it).
    #[serde(default)]
    pub image_id: Option<String>,
}

/// The shelve workflow.
pub(crate) struct Shelve;

#[async_trait::async_trait]
impl Workflow for Shelve {
    type State = ShelveState;
    const KIND: &'static str = "shelve";
    const STEPS: &'static [&'static str] = &[
        "power_off",
        "snapshot_create",
        "snapshot_upload",
        "destroy",
        "release",
        "finish",
    ];
    const ON_INTERRUPT: Interrupt = Interrupt::Undo;

    async fn run(&self, cx: &Cx, step: &str, st: &mut ShelveState) -> Result<()> {
        let c = &cx.compute;
        let i = instance(c, &cx.instance_uuid).await?;
        let uuid = i.uuid.clone();
        match step {
            "power_off" => {
                let host = host_of(&i)?;
                event_start(c, &uuid, &st.request_id, SHELVE_EVENT, Some(&host)).await;
                if matches!(st.prev_vm, VmState::Active | VmState::Paused) {
                    let off = AgentRequest::PowerOff {
                        uuid,
                        timeout_secs: c.cfg.shutdown_timeout_secs,
                    };
                    agent_power(c, &host, &off, AGENT_TIMEOUT).await?;
                }
                Ok(())
            }
            "snapshot_create" => {
                let id = c
                    .images
                    .create(&st.caller.ctx(), &st.image_name, "qcow2", &st.image_meta)
                    .await?;
                st.image_id = Some(id);
                Ok(())
            }
            "snapshot_upload" => {
                let host = host_of(&i)?;
                let image_id = st.image_id.clone().unwrap_or_default();
                agent_call(
                    c,
                    &host,
                    &AgentRequest::Snapshot { uuid, image_id },
                    SNAPSHOT_TIMEOUT,
                )
                .await?;
                Ok(())
            }
            "destroy" => {
                let host = host_of(&i)?;
                agent_call(c, &host, &AgentRequest::Destroy { uuid }, AGENT_TIMEOUT).await?;
                Ok(())
            }
            "release" => c.placement.release(&uuid).await,
            _ => {
                let u = InstanceUpdate {
                    expect: Expect::task(TaskState::Shelving),
                    change: InstanceChange {
                        vm_state: Some(VmState::ShelvedOffloaded),
                        task_state: Some(None),
                        power_state: Some(PowerState::NoState),
                        host: Some(None),
                        node: Some(None),
                        ..InstanceChange::default()
                    },
                    event: Some((st.request_id.clone(), event_end(SHELVE_EVENT, true))),
                    action_finish: Some((st.request_id.clone(), None)),
                    workflow_commit: Some(cx.commit::<Self>(st)?),
                    ..InstanceUpdate::default()
                };
                c.store.instance_update(&uuid, &u).await.map(|_| ())
            }
        }
    }

    async fn undo(&self, cx: &Cx, step: &str, st: &mut ShelveState) -> Result<()> {
        let c = &cx.compute;
        match step {
            "power_off" if st.prev_vm == VmState::Active => {
                let i = instance(c, &cx.instance_uuid).await?;
                let host = host_of(&i)?;
                let spec =
                    instance_spec(c, &i, &i.flavor, &i.image_ref, &st.image_properties).await?;
                agent_power(c, &host, &AgentRequest::PowerOn { spec }, AGENT_TIMEOUT)
                    .await
                    .map(|_| ())
            }
            "snapshot_create" => match &st.image_id {
                Some(id) => c.images.delete(&st.caller.ctx(), id).await,
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    async fn failed(&self, cx: &Cx, st: &mut ShelveState, err: &Error) {
        let c = &cx.compute;
        let Ok(i) = instance(c, &cx.instance_uuid).await else {
            return;
        };
        let known = known_power(c, &i).await;
        let change = InstanceChange {
            vm_state: Some(if known.is_some() {
                st.prev_vm
            } else {
                VmState::Error
            }),
            power_state: Some(known.unwrap_or(PowerState::NoState)),
            ..InstanceChange::default()
        };
        end_failed(
            c,
            &i.uuid,
            Expect::task(TaskState::Shelving),
            change,
            Some(fault_of(err)),
            &st.request_id,
            SHELVE_EVENT,
        )
        .await;
    }

    async fn interrupted(&self, cx: &Cx, st: &mut ShelveState) {
        let e = Error::Internal("shelve interrupted by a restart of the control plane".into());
        self.failed(cx, st, &e).await;
    }
}

/// The unshelve workflow (state: a build's, `image_id` the shelved snapshot).
pub(crate) struct Unshelve;

impl Unshelve {
    async fn end(&self, cx: &Cx, st: &BuildState, err: &Error) {
        let expect = Expect {
            vm_states: vec![VmState::ShelvedOffloaded],
            task_states: Some(vec![Some(TaskState::Unshelving), Some(TaskState::Spawning)]),
            ..Expect::default()
        };
        let change = InstanceChange {
            host: Some(None),
            node: Some(None),
            power_state: Some(PowerState::NoState),
            ..InstanceChange::default()
        };
        end_failed(
            &cx.compute,
            &cx.instance_uuid,
            expect,
            change,
            Some(fault_of(err)),
            &st.request_id,
            UNSHELVE_EVENT,
        )
        .await;
    }
}

#[async_trait::async_trait]
impl Workflow for Unshelve {
    type State = BuildState;
    const KIND: &'static str = "unshelve";
    const STEPS: &'static [&'static str] = &["schedule_and_claim", "spawn", "finish"];
    const ON_INTERRUPT: Interrupt = Interrupt::Undo;

    async fn run(&self, cx: &Cx, step: &str, st: &mut BuildState) -> Result<()> {
        match step {
            "schedule_and_claim" => {
                place(
                    cx,
                    st,
                    VmState::ShelvedOffloaded,
                    TaskState::Unshelving,
                    TaskState::Spawning,
                    UNSHELVE_EVENT,
                )
                .await
            }
            "spawn" => {
                // The ports stay with a shelved server; they follow it to its new host.
                let c = &cx.compute;
                let i = instance(c, &cx.instance_uuid).await?;
                if let Some(host) = st.host.clone().or_else(|| i.host.clone()) {
                    crate::network::rebind(c, &i, &host).await?;
                }
                boot(cx, st).await
            }
            _ => {
                let c = &cx.compute;
                let u = InstanceUpdate {
                    expect: Expect {
                        vm_states: vec![VmState::ShelvedOffloaded],
                        ..Expect::task(TaskState::Spawning)
                    },
                    change: InstanceChange {
                        vm_state: Some(VmState::Active),
                        task_state: Some(None),
                        power_state: Some(st.power_state.unwrap_or(PowerState::Running)),
                        ..InstanceChange::default()
                    },
                    event: Some((st.request_id.clone(), event_end(UNSHELVE_EVENT, true))),
                    action_finish: Some((st.request_id.clone(), None)),
                    workflow_commit: Some(cx.commit::<Self>(st)?),
                    ..InstanceUpdate::default()
                };
                c.store.instance_update(&cx.instance_uuid, &u).await?;
                if let Err(e) = c.images.delete(&st.caller.ctx(), &st.image_id).await {
                    tracing::warn!(instance = %cx.instance_uuid, image = %st.image_id, error = %e, "delete shelved image");
                }
                Ok(())
            }
        }
    }

    async fn undo(&self, cx: &Cx, step: &str, st: &mut BuildState) -> Result<()> {
        match step {
            "schedule_and_claim" => unplace(cx).await,
            "spawn" => unboot(cx, st).await,
            _ => Ok(()),
        }
    }

    async fn failed(&self, cx: &Cx, st: &mut BuildState, err: &Error) {
        self.end(cx, st, err).await;
    }

    async fn interrupted(&self, cx: &Cx, st: &mut BuildState) {
        self.end(
            cx,
            st,
            &Error::Internal("unshelve interrupted by a restart of the control plane".into()),
        )
        .await;
    }
}
