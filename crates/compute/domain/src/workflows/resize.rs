//! Resize and revert-resize on the same host: claim the target flavor's resources in place
//! of the current allocation, have the agent apply the new shape (keeping a stopped server
//! stopped), then VERIFY_RESIZE (resize) or back to ACTIVE/SHUTOFF (revert). A failure
//! claims the old resources again and has the agent apply the old shape.
//!
//! The quota of an upsize is taken when the resize is accepted (with `new_flavor` set, so a
//! delete in between gives back the larger flavor); a failed resize or a revert gives it
//! back, a confirm gives back what a downsize frees.

use std::collections::BTreeMap;

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate, QuotaChange};
use compute_model::rpc::AgentRequest;
use compute_model::{Flavor, PowerState, TaskState, VmState};
use serde::{Deserialize, Serialize};

use super::engine::{Cx, Interrupt, Workflow};
use super::{
    agent_power, event_end, event_start, fault_of, instance, instance_spec, known_power, Caller,
    AGENT_TIMEOUT, SPAWN_TIMEOUT,
};
use crate::ports::Allocations;

pub(crate) const RESIZE_EVENT: &str = "compute_resize_instance";
pub(crate) const REVERT_EVENT: &str = "compute_revert_resize";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ResizeState {
    pub project_id: String,
    pub caller: Caller,
    pub request_id: String,
    pub migration_uuid: String,
    /// The shape the VM has before this run.
    pub from: Flavor,
    /// The shape this run applies.
    pub to: Flavor,
    pub host: String,
    pub node: String,
    /// A revert (back to `to`, the original flavor) rather than a resize.
    pub revert: bool,
    /// The server was stopped: keep it stopped after applying the shape.
    pub stopped: bool,
    pub prev_vm: VmState,
    #[serde(default)]
    pub image_properties: BTreeMap<String, String>,
    #[serde(default)]
    pub power_state: Option<PowerState>,
}

/// Quota a resize from `old` to `new` takes when accepted (positive parts only).
pub(crate) fn upsize(old: &Flavor, new: &Flavor) -> BTreeMap<String, i64> {
    [("cores", new.vcpus - old.vcpus), ("ram", new.ram - old.ram)]
        .into_iter()
        .map(|(k, d)| (k.to_string(), d.max(0)))
        .collect()
}

/// Quota a confirmed resize from `old` to `new` gives back (negative parts only).
pub(crate) fn downsize(old: &Flavor, new: &Flavor) -> BTreeMap<String, i64> {
    [("cores", new.vcpus - old.vcpus), ("ram", new.ram - old.ram)]
        .into_iter()
        .map(|(k, d)| (k.to_string(), d.min(0)))
        .collect()
}

fn give_back(d: BTreeMap<String, i64>) -> QuotaChange {
    QuotaChange {
        deltas: d.into_iter().map(|(k, v)| (k, -v)).collect(),
        limits: BTreeMap::new(),
    }
}

impl ResizeState {
    fn task(&self) -> TaskState {
        if self.revert {
            TaskState::ResizeReverting
        } else {
            TaskState::ResizePrep
        }
    }

    fn event(&self) -> &'static str {
        if self.revert {
            REVERT_EVENT
        } else {
            RESIZE_EVENT
        }
    }
}

/// The resize workflow (also revert).
pub(crate) struct Resize;

impl Resize {
    async fn claim(&self, cx: &Cx, st: &ResizeState, flavor: &Flavor) -> Result<()> {
        let c = &cx.compute;
        let i = instance(c, &cx.instance_uuid).await?;
        let alloc: Allocations = [(st.node.clone(), flavor.resources())]
            .into_iter()
            .collect();
        match c
            .placement
            .claim(&i.uuid, &i.project_id, &i.user_id, &alloc)
            .await
        {
            Err(Error::Conflict(_)) => Err(Error::NoValidHost(
                "No valid host was found. No valid host found for resize".into(),
            )),
            other => other,
        }
    }

    async fn shape(&self, cx: &Cx, st: &mut ResizeState, flavor: &Flavor) -> Result<()> {
        let c = &cx.compute;
        let i = instance(c, &cx.instance_uuid).await?;
        let spec = instance_spec(c, &i, flavor, &i.image_ref, &st.image_properties).await?;
        let mut p = agent_power(c, &st.host, &AgentRequest::Resize { spec }, SPAWN_TIMEOUT).await?;
        if st.stopped {
            let off = AgentRequest::PowerOff {
                uuid: i.uuid.clone(),
                timeout_secs: c.cfg.shutdown_timeout_secs,
            };
            p = agent_power(c, &st.host, &off, AGENT_TIMEOUT).await?;
        }
        st.power_state = Some(p);
        Ok(())
    }

    async fn end(&self, cx: &Cx, st: &ResizeState, err: &Error) {
        let c = &cx.compute;
        let Ok(i) = instance(c, &cx.instance_uuid).await else {
            return;
        };
        let known = known_power(c, &i).await;
        let mut change = InstanceChange {
            vm_state: Some(if known.is_some() {
                st.prev_vm
            } else {
                VmState::Error
            }),
            power_state: Some(known.unwrap_or(PowerState::NoState)),
            ..InstanceChange::default()
        };
        let mut u = InstanceUpdate {
            expect: Expect::task(st.task()),
            fault: Some(fault_of(err)),
            event: Some((st.request_id.clone(), event_end(st.event(), false))),
            action_finish: Some((st.request_id.clone(), Some("Error".into()))),
            ..InstanceUpdate::default()
        };
        if st.revert {
            // Still VERIFY_RESIZE: confirm or revert again.
            u.migration_status = Some((st.migration_uuid.clone(), "finished".into()));
        } else {
            change.new_flavor = Some(None);
            u.quota = Some(give_back(upsize(&st.from, &st.to)));
            u.migration_status = Some((st.migration_uuid.clone(), "error".into()));
        }
        change.task_state = Some(None);
        u.change = change;
        if let Err(e) = c.store.instance_update(&i.uuid, &u).await {
            tracing::info!(instance = %i.uuid, error = %e, "instance changed before its failed resize was recorded");
        }
    }
}

#[async_trait::async_trait]
impl Workflow for Resize {
    type State = ResizeState;
    const KIND: &'static str = "resize";
    const STEPS: &'static [&'static str] = &["claim", "agent_resize", "finish"];
    const ON_INTERRUPT: Interrupt = Interrupt::Undo;

    async fn run(&self, cx: &Cx, step: &str, st: &mut ResizeState) -> Result<()> {
        let c = &cx.compute;
        match step {
            "claim" => {
                event_start(
                    c,
                    &cx.instance_uuid,
                    &st.request_id,
                    st.event(),
                    Some(&st.host),
                )
                .await;
                let to = st.to.clone();
                self.claim(cx, st, &to).await
            }
            "agent_resize" => {
                let to = st.to.clone();
                self.shape(cx, st, &to).await
            }
            _ => {
                let power = st.power_state;
                let mut change = InstanceChange {
                    task_state: Some(None),
                    power_state: power,
                    ..InstanceChange::default()
                };
                let mut u = InstanceUpdate {
                    expect: Expect::task(st.task()),
                    event: Some((st.request_id.clone(), event_end(st.event(), true))),
                    action_finish: Some((st.request_id.clone(), None)),
                    workflow_commit: Some(cx.commit::<Self>(st)?),
                    ..InstanceUpdate::default()
                };
                if st.revert {
                    change.vm_state = Some(if st.stopped {
                        VmState::Stopped
                    } else {
                        VmState::Active
                    });
                    change.new_flavor = Some(None);
                    u.quota = Some(give_back(upsize(&st.to, &st.from)));
                    u.migration_status = Some((st.migration_uuid.clone(), "reverted".into()));
                } else {
                    change.vm_state = Some(VmState::Resized);
                    u.migration_status = Some((st.migration_uuid.clone(), "finished".into()));
                }
                u.change = change;
                c.store
                    .instance_update(&cx.instance_uuid, &u)
                    .await
                    .map(|_| ())
            }
        }
    }

    async fn undo(&self, cx: &Cx, step: &str, st: &mut ResizeState) -> Result<()> {
        let from = st.from.clone();
        match step {
            "claim" => self.claim(cx, st, &from).await,
            "agent_resize" => self.shape(cx, st, &from).await,
            _ => Ok(()),
        }
    }

    async fn failed(&self, cx: &Cx, st: &mut ResizeState, err: &Error) {
        self.end(cx, st, err).await;
    }

    async fn interrupted(&self, cx: &Cx, st: &mut ResizeState) {
        self.end(
            cx,
            st,
            &Error::Internal("resize interrupted by a restart of the control plane".into()),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(vcpus: i64, ram: i64) -> Flavor {
        Flavor {
            id: "x".into(),
            name: "x".into(),
            vcpus,
            ram,
            disk: 1,
            ephemeral: 0,
            swap: 0,
            rxtx_factor: 1.0,
            is_public: true,
            disabled: false,
            description: None,
            extra_specs: BTreeMap::new(),
        }
    }

    #[test]
    fn quota_moves_split_into_up_and_down() {
        let up = upsize(&f(1, 512), &f(2, 256));
        assert_eq!((up["cores"], up["ram"]), (1, 0));
        let down = downsize(&f(1, 512), &f(2, 256));
        assert_eq!((down["cores"], down["ram"]), (0, -256));
    }
}
