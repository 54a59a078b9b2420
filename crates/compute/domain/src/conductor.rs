//! The conductor (Nova's `nova-conductor` plus the compute manager's start-up and
//! power-state sync): serves [`CONDUCTOR_TOPIC`] — agents' heartbeats and power-state
//! changes, and `run_workflow` casts that start the workflows the API persisted — and at
//! start recovers what a previous run left: unfinished workflows are resumed or undone,
//! servers left with a task and no workflow are reconciled with their agent, and every
//! agent is told which VMs should exist on its host (`Sync`), so stray VMs of interrupted
//! builds are destroyed. It holds the tasks of the workflows it runs.

mod power_sync;
mod recover;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common_bus::{RpcHandler, ServerHandle, Value};
use common_error::{Error, Result};
use compute_model::rpc::{ConductorReport, CONDUCTOR_TOPIC};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::workflows::{self, RUN_WORKFLOW};
use crate::Compute;

/// How long [`ConductorHandle::stop`] lets running workflows finish before aborting them
/// (an aborted run is recovered at the next start).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The workflows this conductor runs.
#[derive(Clone)]
pub(crate) struct Runner {
    compute: Compute,
    tasks: Arc<Mutex<HashMap<String, AbortHandle>>>,
    count: Arc<watch::Sender<usize>>,
    ready: Arc<watch::Sender<bool>>,
}

/// Counts a running workflow; dropping it (also when the task is aborted) uncounts it.
struct Running {
    id: String,
    tasks: Arc<Mutex<HashMap<String, AbortHandle>>>,
    count: Arc<watch::Sender<usize>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut t) = self.tasks.lock() {
            t.remove(&self.id);
        }
        self.count.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Runner {
    fn new(compute: Compute) -> Self {
        Runner {
            compute,
            tasks: Arc::new(Mutex::new(HashMap::new())),
            count: Arc::new(watch::channel(0).0),
            ready: Arc::new(watch::channel(false).0),
        }
    }

    /// Runs a claimed workflow (or recovers an interrupted one) on its own task.
    pub(crate) fn spawn(&self, wf: compute_db::Workflow, recovering: bool) {
        self.count.send_modify(|n| *n += 1);
        let guard = Running {
            id: wf.id.clone(),
            tasks: self.tasks.clone(),
            count: self.count.clone(),
        };
        let compute = self.compute.clone();
        let id = wf.id.clone();
        let run = async move {
            let _guard = guard;
            match workflows::drive(&compute, &wf, recovering).await {
                Ok(outcome) => {
                    tracing::info!(workflow = %wf.id, kind = %wf.kind, instance = %wf.instance_uuid, ?outcome, "workflow ended")
                }
                Err(e) => {
                    tracing::error!(workflow = %wf.id, kind = %wf.kind, instance = %wf.instance_uuid, error = %e, "workflow stopped")
                }
            }
        };
        // Registered under the lock, so the task's guard cannot remove it first.
        match self.tasks.lock() {
            Ok(mut t) => {
                let task = tokio::spawn(run);
                t.insert(id, task.abort_handle());
            }
            Err(_) => {
                tokio::spawn(run);
            }
        }
    }

    /// Until no workflow runs.
    pub(crate) async fn idle(&self) {
        let mut rx = self.count.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    fn abort_all(&self) {
        if let Ok(t) = self.tasks.lock() {
            for h in t.values() {
                h.abort();
            }
        }
    }

    /// Takes a pending workflow and runs it; nothing when it is gone or already taken.
    async fn take(&self, id: &str) -> Result<()> {
        if !self.compute.store.workflow_claim(id).await? {
            return Ok(());
        }
        match self.compute.store.workflow_get(id).await? {
            Some(wf) => self.spawn(wf, false),
            None => tracing::warn!(workflow = id, "claimed workflow vanished"),
        }
        Ok(())
    }
}

struct ConductorRpc {
    runner: Runner,
}

#[async_trait::async_trait]
impl RpcHandler for ConductorRpc {
    async fn handle(&self, method: &str, args: Value) -> Result<Value> {
        let c = &self.runner.compute;
        if method == RUN_WORKFLOW {
            let id = args
                .get("id")
                .and_then(|v| v.as_str())
                .ok_or_else(|| Error::bad_request("run_workflow needs an id"))?
                .to_string();
            // Workflows start only once recovery is over.
            let mut ready = self.runner.ready.subscribe();
            let _ = ready.wait_for(|r| *r).await;
            self.runner.take(&id).await?;
            return Ok(Value::Null);
        }
        let report = ConductorReport::from_wire(method, args)
            .map_err(|e| Error::bad_request(format!("unknown conductor request {method}: {e}")))?;
        match report {
            ConductorReport::Heartbeat { service } => {
                c.store.service_heartbeat(&service).await?;
            }
            ConductorReport::PowerStateChanged { uuid, power_state } => {
                power_sync::apply(c, &uuid, power_state).await?;
            }
        }
        Ok(Value::Null)
    }
}

/// The running conductor. Dropping it stops serving; workflows already running go on.
pub struct ConductorHandle {
    server: Option<ServerHandle>,
    runner: Runner,
}

impl ConductorHandle {
    /// How many workflows run now.
    pub fn running(&self) -> usize {
        *self.runner.count.borrow()
    }

    /// Waits until no workflow runs.
    pub async fn wait_idle(&self) {
        self.runner.idle().await;
    }

    /// Stops serving, lets running workflows finish for a short while, then aborts the
    /// rest (they are recovered at the next start).
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        if tokio::time::timeout(STOP_GRACE, self.runner.idle())
            .await
            .is_err()
        {
            self.runner.abort_all();
            self.runner.idle().await;
        }
    }

    /// Stops serving and aborts every running workflow at once, as a crash would.
    pub async fn abort(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        self.runner.abort_all();
        self.runner.idle().await;
    }
}

impl Compute {
    /// Starts the conductor: serves [`CONDUCTOR_TOPIC`], recovers what a previous run left
    /// (see the module doc), then starts pending workflows. Returns once recovery is done
    /// (workflows it resumed may still run).
    pub async fn conductor_start(&self) -> Result<ConductorHandle> {
        let runner = Runner::new(self.clone());
        let handler = Arc::new(ConductorRpc {
            runner: runner.clone(),
        });
        let server = self.bus.serve(CONDUCTOR_TOPIC, handler).await?;
        let handle = ConductorHandle {
            server: Some(server),
            runner: runner.clone(),
        };
        recover::recover(self, &runner).await?;
        runner.ready.send_replace(true);
        Ok(handle)
    }

    /// Asks the conductor to start a persisted (pending) workflow. When no conductor
    /// listens the request waits on the bus, and a conductor start picks pending
    /// workflows up anyway.
    pub(crate) async fn workflow_kick(&self, id: &str) {
        if let Err(e) = self
            .bus
            .cast(
                CONDUCTOR_TOPIC,
                RUN_WORKFLOW,
                serde_json::json!({ "id": id }),
            )
            .await
        {
            tracing::warn!(workflow = id, error = %e, "could not ask the conductor to run a workflow");
        }
    }
}

#[cfg(test)]
mod tests;
