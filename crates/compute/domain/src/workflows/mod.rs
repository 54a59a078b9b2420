//! The conductor's persistent workflows (Nova's `conductor/tasks` and the compute
//! manager's operations as the conductor drives them): one file per operation, all run by
//! the engine in [`engine`], each step recorded before it runs and undone in reverse when a
//! later one fails or a restart interrupted the run.
//!
//! Also the helpers the workflows share: the caller they act for, agent calls, the
//! instance spec an agent boots from, faults and instance-action events.

pub(crate) mod build;
pub(crate) mod delete;
pub(crate) mod engine;
pub mod failpoint;
pub(crate) mod power;
pub(crate) mod rebuild;
pub(crate) mod rescue;
pub(crate) mod resize;
pub(crate) mod schedule;
pub(crate) mod shelve;
pub(crate) mod snapshot;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
pub(crate) mod testkit_net;

use std::collections::BTreeMap;
use std::time::Duration;

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate};
use compute_model::rpc::{agent_topic, AgentRequest, InstanceSpec, PowerReply};
use compute_model::{Fault, Flavor, Instance, InstanceActionEvent, PowerState, VmState};
use serde::{Deserialize, Serialize};

use crate::{Compute, Context};
use engine::{Cx, Outcome, Workflow};
pub use failpoint::Point;

/// Bus method the conductor serves to start a pending workflow (args `{"id"}`).
pub const RUN_WORKFLOW: &str = "run_workflow";

/// How long the conductor waits for an agent: a spawn may fetch an image first.
pub(crate) const SPAWN_TIMEOUT: Duration = Duration::from_secs(300);
pub(crate) const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(600);
pub(crate) const AGENT_TIMEOUT: Duration = Duration::from_secs(120);
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The caller a workflow acts for (a serialisable [`Context`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Caller {
    pub user_id: String,
    pub project_id: String,
    pub roles: Vec<String>,
    pub is_admin: bool,
    pub request_id: String,
}

impl From<&Context> for Caller {
    fn from(c: &Context) -> Self {
        Caller {
            user_id: c.user_id.clone(),
            project_id: c.project_id.clone(),
            roles: c.roles.clone(),
            is_admin: c.is_admin,
            request_id: c.request_id.clone(),
        }
    }
}

impl Caller {
    pub(crate) fn ctx(&self) -> Context {
        Context {
            user_id: self.user_id.clone(),
            project_id: self.project_id.clone(),
            roles: self.roles.clone(),
            is_admin: self.is_admin,
            request_id: self.request_id.clone(),
        }
    }
}

/// Runs a claimed workflow from its start, or (`recovering`) recovers an interrupted run.
pub(crate) async fn drive(
    c: &Compute,
    wf: &compute_db::Workflow,
    recovering: bool,
) -> Result<Outcome> {
    let scope = wf
        .data
        .get("project_id")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let cx = Cx {
        compute: c.clone(),
        workflow_id: wf.id.clone(),
        instance_uuid: wf.instance_uuid.clone(),
        scope,
    };
    async fn go<W: Workflow>(
        w: W,
        cx: &Cx,
        data: serde_json::Value,
        recovering: bool,
    ) -> Result<Outcome> {
        if recovering {
            engine::recover(&w, cx, data).await
        } else {
            engine::start(&w, cx, data).await
        }
    }
    let data = wf.data.clone();
    match wf.kind.as_str() {
        build::Build::KIND => go(build::Build, &cx, data, recovering).await,
        delete::Delete::KIND => go(delete::Delete, &cx, data, recovering).await,
        power::Power::KIND => go(power::Power, &cx, data, recovering).await,
        snapshot::Snapshot::KIND => go(snapshot::Snapshot, &cx, data, recovering).await,
        resize::Resize::KIND => go(resize::Resize, &cx, data, recovering).await,
        rebuild::Rebuild::KIND => go(rebuild::Rebuild, &cx, data, recovering).await,
        rescue::Rescue::KIND => go(rescue::Rescue, &cx, data, recovering).await,
        shelve::Shelve::KIND => go(shelve::Shelve, &cx, data, recovering).await,
        shelve::Unshelve::KIND => go(shelve::Unshelve, &cx, data, recovering).await,
        other => Err(Error::Internal(format!("unknown workflow kind {other}"))),
    }
}

/// Calls the agent on `host`; the reply as JSON.
pub(crate) async fn agent_call(
    c: &Compute,
    host: &str,
    req: &AgentRequest,
    timeout: Duration,
) -> Result<serde_json::Value> {
    let (method, args) = req
        .to_wire()
        .map_err(|e| Error::internal("encode agent request", e))?;
    c.bus.call(&agent_topic(host), &method, args, timeout).await
}

/// Calls an agent operation that answers with the VM's power state.
pub(crate) async fn agent_power(
    c: &Compute,
    host: &str,
    req: &AgentRequest,
    timeout: Duration,
) -> Result<PowerState> {
    let v = agent_call(c, host, req, timeout).await?;
    let r: PowerReply =
        serde_json::from_value(v).map_err(|e| Error::internal("decode agent reply", e))?;
    Ok(r.power_state)
}

/// The power state the agent on `host` reports for `uuid`: `Ok(None)` when it has no VM
/// by that uuid; `Err` when the agent cannot be asked.
pub(crate) async fn agent_power_state(
    c: &Compute,
    host: &str,
    uuid: &str,
) -> Result<Option<PowerState>> {
    let v = agent_call(c, host, &AgentRequest::PowerStates {}, QUERY_TIMEOUT).await?;
    let r: compute_model::rpc::StatesReply =
        serde_json::from_value(v).map_err(|e| Error::internal("decode agent power states", e))?;
    Ok(r.states.get(uuid).copied())
}

/// The vm_state a VM in `power` stands for (Nova's power-state sync), when it says one.
pub(crate) fn vm_state_for(power: PowerState) -> Option<VmState> {
    match power {
        PowerState::Running => Some(VmState::Active),
        PowerState::Shutdown | PowerState::Crashed => Some(VmState::Stopped),
        PowerState::Paused => Some(VmState::Paused),
        PowerState::Suspended => Some(VmState::Suspended),
        PowerState::NoState => None,
    }
}

/// The host an operation on `i` needs; `Conflict` when it has none.
pub(crate) fn host_of(i: &Instance) -> Result<String> {
    i.host
        .clone()
        .ok_or_else(|| Error::Conflict(format!("Instance {} is not ready", i.uuid)))
}

/// What an agent boots `i` from, with `flavor`'s shape and `image_id`, and the NICs
/// recorded for it.
pub(crate) async fn instance_spec(
    c: &Compute,
    i: &Instance,
    flavor: &Flavor,
    image_id: &str,
    image_properties: &BTreeMap<String, String>,
) -> Result<InstanceSpec> {
    let nics = c.store.instance_vifs(&i.uuid).await?;
    Ok(InstanceSpec {
        uuid: i.uuid.clone(),
        name: i.name.clone(),
        hostname: i.hostname.clone(),
        project_id: i.project_id.clone(),
        vcpus: flavor.vcpus,
        memory_mb: flavor.ram,
        root_gb: flavor.disk,
        image_id: image_id.to_string(),
        image_properties: image_properties.clone(),
        meta_data: crate::metadata::meta_data(i),
        user_data: i.user_data.clone(),
        config_drive: true,
        network_data: crate::network::network_data(&nics),
        nics,
    })
}

/// The fault recorded for `err` (internal context goes to `details` only).
pub(crate) fn fault_of(err: &Error) -> Fault {
    let code = match err {
        Error::NoValidHost(_) => 500,
        e => i64::from(e.status()),
    };
    Fault {
        code,
        message: err.public_message(),
        details: err.to_string(),
        created: compute_db::now_text(),
    }
}

/// The instance (live), or `NotFound`.
pub(crate) async fn instance(c: &Compute, uuid: &str) -> Result<Instance> {
    c.store
        .instance_get(uuid, false)
        .await?
        .ok_or_else(|| Error::not_found("server", uuid))
}

/// Records the start of an instance-action event.
pub(crate) async fn event_start(
    c: &Compute,
    uuid: &str,
    request_id: &str,
    event: &str,
    host: Option<&str>,
) {
    let e = InstanceActionEvent {
        event: event.to_string(),
        start_time: compute_db::now_text(),
        finish_time: None,
        result: None,
        host: host.map(str::to_string),
    };
    if let Err(err) = c
        .store
        .instance_action_event(uuid, request_id, &e, None)
        .await
    {
        tracing::warn!(instance = uuid, event, error = %err, "record action event");
    }
}

/// An event's finish, to record with the instance's final state.
pub(crate) fn event_end(event: &str, ok: bool) -> InstanceActionEvent {
    let now = compute_db::now_text();
    InstanceActionEvent {
        event: event.to_string(),
        start_time: now.clone(),
        finish_time: Some(now),
        result: Some(if ok { "Success" } else { "Error" }.to_string()),
        host: None,
    }
}

/// Ends an operation that failed (or was interrupted) on `uuid`: while `expect` holds (the
/// instance still has the operation's task), sets `change` (task cleared), records `fault`
/// and the event's error. A lost race (another operation, a delete) is logged and left
/// alone.
pub(crate) async fn end_failed(
    c: &Compute,
    uuid: &str,
    expect: Expect,
    mut change: InstanceChange,
    fault: Option<Fault>,
    request_id: &str,
    event: &str,
) {
    change.task_state = Some(None);
    let u = InstanceUpdate {
        expect,
        change,
        fault,
        event: Some((request_id.to_string(), event_end(event, false))),
        action_finish: Some((request_id.to_string(), Some("Error".into()))),
        ..InstanceUpdate::default()
    };
    if let Err(e) = c.store.instance_update(uuid, &u).await {
        tracing::info!(instance = uuid, error = %e, "instance changed before its failure was recorded");
    }
}

/// After a failed operation: the VM's state as its agent says (`None` when unknown: no
/// host, no VM, or no answer).
pub(crate) async fn known_power(c: &Compute, i: &Instance) -> Option<PowerState> {
    let host = i.host.as_deref()?;
    match agent_power_state(c, host, &i.uuid).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(instance = %i.uuid, host, error = %e, "agent power state unknown");
            None
        }
    }
}
