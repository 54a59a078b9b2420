//! Rebuild (Nova's `rebuild_instance`) on the same host: destroy the VM and its disk,
//! spawn it again from the new image (a stopped server is stopped again afterwards). The
//! old disk is gone once the first step ran, so a failure leaves the server ERROR.

use std::collections::BTreeMap;

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate};
use compute_model::rpc::AgentRequest;
use compute_model::{PowerState, TaskState, VmState};
use serde::{Deserialize, Serialize};

use super::engine::{Cx, Interrupt, Workflow};
use super::{
    agent_call, agent_power, end_failed, event_end, event_start, fault_of, host_of, instance,
    instance_spec, Caller, AGENT_TIMEOUT, SPAWN_TIMEOUT,
};

pub(crate) const EVENT: &str = "compute_rebuild_instance";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct RebuildState {
    pub project_id: String,
    pub caller: Caller,
    pub request_id: String,
    pub image_id: String,
    #[serde(default)]
    pub image_properties: BTreeMap<String, String>,
    /// The server was stopped: stop it again after the rebuild.
    pub stopped: bool,
    #[serde(default)]
    pub power_state: Option<PowerState>,
}

/// The rebuild workflow.
pub(crate) struct Rebuild;

impl Rebuild {
    async fn end(&self, cx: &Cx, st: &RebuildState, err: &Error) {
        let change = InstanceChange {
            vm_state: Some(VmState::Error),
            power_state: Some(PowerState::NoState),
            ..InstanceChange::default()
        };
        end_failed(
            &cx.compute,
            &cx.instance_uuid,
            Expect::task(TaskState::Rebuilding),
            change,
            Some(fault_of(err)),
            &st.request_id,
            EVENT,
        )
        .await;
    }
}

#[async_trait::async_trait]
impl Workflow for Rebuild {
    type State = RebuildState;
    const KIND: &'static str = "rebuild";
    const STEPS: &'static [&'static str] = &["destroy", "spawn", "finish"];
    const ON_INTERRUPT: Interrupt = Interrupt::Undo;

    async fn run(&self, cx: &Cx, step: &str, st: &mut RebuildState) -> Result<()> {
        let c = &cx.compute;
        let i = instance(c, &cx.instance_uuid).await?;
        match step {
            "destroy" => {
                let host = host_of(&i)?;
                event_start(c, &i.uuid, &st.request_id, EVENT, Some(&host)).await;
                agent_call(
                    c,
                    &host,
                    &AgentRequest::Destroy {
                        uuid: i.uuid.clone(),
                    },
                    AGENT_TIMEOUT,
                )
                .await?;
                Ok(())
            }
            "spawn" => {
                let host = host_of(&i)?;
                let spec =
                    instance_spec(c, &i, &i.flavor, &st.image_id, &st.image_properties).await?;
                let mut p =
                    agent_power(c, &host, &AgentRequest::Spawn { spec }, SPAWN_TIMEOUT).await?;
                if st.stopped {
                    let off = AgentRequest::PowerOff {
                        uuid: i.uuid.clone(),
                        timeout_secs: c.cfg.shutdown_timeout_secs,
                    };
                    p = agent_power(c, &host, &off, AGENT_TIMEOUT).await?;
                }
                st.power_state = Some(p);
                Ok(())
            }
            _ => {
                let u = InstanceUpdate {
                    expect: Expect::task(TaskState::Rebuilding),
                    change: InstanceChange {
                        vm_state: Some(if st.stopped {
                            VmState::Stopped
                        } else {
                            VmState::Active
                        }),
                        task_state: Some(None),
                        power_state: st.power_state,
                        launched_at: Some(Some(compute_db::now_text())),
                        ..InstanceChange::default()
                    },
                    event: Some((st.request_id.clone(), event_end(EVENT, true))),
                    action_finish: Some((st.request_id.clone(), None)),
                    workflow_commit: Some(cx.commit::<Self>(st)?),
                    ..InstanceUpdate::default()
                };
                c.store.instance_update(&i.uuid, &u).await.map(|_| ())
            }
        }
    }

    async fn undo(&self, _cx: &Cx, _step: &str, _st: &mut RebuildState) -> Result<()> {
        Ok(())
    }

    async fn failed(&self, cx: &Cx, st: &mut RebuildState, err: &Error) {
        self.end(cx, st, err).await;
    }

    async fn interrupted(&self, cx: &Cx, st: &mut RebuildState) {
        self.end(
            cx,
            st,
            &Error::Internal("rebuild interrupted by a restart of the control plane".into()),
        )
        .await;
    }
}
