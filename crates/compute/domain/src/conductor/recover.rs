//! What the conductor does at start with what a previous run left behind.
//!
//! 1. Every workflow left `running` is recovered (resumed or undone, as its kind says),
//!    and the conductor waits for those runs.
//! 2. Servers still busy (a task state, or BUILDING) with no unfinished workflow are
//!    reconciled: a build becomes ERROR; a delete starts again; anything else takes the
//!    vm_state its VM's power state stands for (ERROR when the VM cannot be found).
//! 3. Every compute agent gets `Sync { keep }` with the servers that should be on its
//!    host, so VMs of undone builds (or of anything the database forgot) are destroyed.
//! 4. Pending workflows (persisted, never started) and restarted deletes are started.

use std::collections::BTreeSet;
use std::time::Duration;

use common_error::Result;
use compute_db::{status, Expect, InstanceChange, InstanceQuery, InstanceUpdate, NewWorkflow};
use compute_model::rpc::AgentRequest;
use compute_model::{Fault, Instance, PowerState, TaskState, VmState};

use super::Runner;
use crate::workflows::{self, build, delete, schedule, Caller, QUERY_TIMEOUT};
use crate::Compute;

/// How long a `Sync` waits for an agent whose service looks down.
const DOWN_SYNC_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn recover(c: &Compute, runner: &Runner) -> Result<()> {
    let unfinished = c.store.workflow_unfinished().await?;
    let (pending, interrupted): (Vec<_>, Vec<_>) = unfinished
        .into_iter()
        .partition(|w| w.status == status::PENDING);
    if !interrupted.is_empty() {
        tracing::info!(
            count = interrupted.len(),
            "recovering interrupted workflows"
        );
    }
    for wf in interrupted {
        runner.spawn(wf, true);
    }
    runner.idle().await;

    let mut restart = Vec::new();
    let with_workflow: BTreeSet<String> = c
        .store
        .workflow_unfinished()
        .await?
        .into_iter()
        .map(|w| w.instance_uuid)
        .collect();
    let busy = c
        .store
        .instance_list(&InstanceQuery {
            busy: true,
            ..InstanceQuery::default()
        })
        .await?;
    for i in busy.iter().filter(|i| !with_workflow.contains(&i.uuid)) {
        match reconcile(c, i).await {
            Ok(Some(id)) => restart.push(id),
            Ok(None) => {}
            Err(e) => tracing::warn!(instance = %i.uuid, error = %e, "reconcile server"),
        }
    }

    sync_hosts(c).await?;

    for id in pending.into_iter().map(|w| w.id).chain(restart) {
        if let Err(e) = runner.take(&id).await {
            tracing::warn!(workflow = %id, error = %e, "start pending workflow");
        }
    }
    Ok(())
}

/// Settles a busy server that has no workflow; returns a delete workflow to start.
async fn reconcile(c: &Compute, i: &Instance) -> Result<Option<String>> {
    tracing::info!(instance = %i.uuid, vm_state = i.vm_state.as_str(), task = ?i.task_state.map(TaskState::as_str),
        "server left busy without a workflow");
    let expect = Expect {
        generation: Some(i.generation),
        ..Expect::default()
    };
    if i.task_state == Some(TaskState::Deleting) {
        let caller = Caller {
            user_id: i.user_id.clone(),
            project_id: i.project_id.clone(),
            request_id: format!("req-{}", uuid::Uuid::new_v4()),
            ..Caller::default()
        };
        let state = delete::DeleteState {
            project_id: i.project_id.clone(),
            request_id: caller.request_id.clone(),
            caller,
        };
        let data = serde_json::to_value(&state)
            .map_err(|e| common_error::Error::internal("encode delete", e))?;
        let wf = NewWorkflow::new("delete", &i.uuid, data);
        c.store.workflow_create(&wf).await?;
        return Ok(Some(wf.id));
    }
    let fault = |m: &str| Fault {
        code: 500,
        message: m.into(),
        details: String::new(),
        created: compute_db::now_text(),
    };
    let mut u = InstanceUpdate {
        expect,
        ..InstanceUpdate::default()
    };
    if i.vm_state == VmState::Building {
        c.placement.release(&i.uuid).await?;
        u.change = InstanceChange {
            vm_state: Some(VmState::Error),
            task_state: Some(None),
            power_state: Some(PowerState::NoState),
            host: Some(None),
            node: Some(None),
            ..InstanceChange::default()
        };
        u.fault = Some(fault(build::INTERRUPTED));
    } else {
        let power = workflows::known_power(c, i).await;
        u.change = InstanceChange {
            task_state: Some(None),
            ..InstanceChange::default()
        };
        match power {
            Some(p) => {
                u.change.power_state = Some(p);
                u.change.vm_state = workflows::vm_state_for(p);
            }
            None if i.host.is_none() => {}
            None => {
                u.change.vm_state = Some(VmState::Error);
                u.change.power_state = Some(PowerState::NoState);
                u.fault = Some(fault("The server's operation was interrupted by a restart and its VM could not be found"));
            }
        }
    }
    c.store.instance_update(&i.uuid, &u).await?;
    Ok(None)
}

/// Tells every compute agent which VMs to keep; the rest are destroyed.
async fn sync_hosts(c: &Compute) -> Result<()> {
    let services = c.store.service_list().await?;
    let mut tasks = tokio::task::JoinSet::new();
    for s in services.into_iter().filter(|s| s.binary == "nova-compute") {
        let keep: Vec<String> = c
            .store
            .instance_list(&InstanceQuery {
                host: Some(s.host.clone()),
                ..InstanceQuery::default()
            })
            .await?
            .into_iter()
            .map(|i| i.uuid)
            .collect();
        let timeout = if schedule::service_up(&s, c.cfg.service_down_secs) {
            QUERY_TIMEOUT
        } else {
            DOWN_SYNC_TIMEOUT
        };
        let c = c.clone();
        tasks.spawn(async move {
            let req = AgentRequest::Sync { keep };
            match workflows::agent_call(&c, &s.host, &req, timeout).await {
                Ok(reply) => tracing::info!(host = %s.host, %reply, "agent synced"),
                Err(e) => tracing::warn!(host = %s.host, error = %e, "agent sync failed"),
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}
