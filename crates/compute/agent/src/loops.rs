//! The agent's periodic work: the heartbeat (which also keeps placement's view of the node
//! current) and the power-state sync.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use common_bus::Bus;
use compute_model::rpc::{ConductorReport, CONDUCTOR_TOPIC};
use compute_model::PowerState;
use compute_virt::VirtError;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::node;
use crate::ops::Agent;
use crate::ports::{Inventory, NodeReporter};

/// Ticks every `period` (the first after one period) until the stop signal.
pub(crate) struct Ticker {
    interval: tokio::time::Interval,
    stop: watch::Receiver<bool>,
}

impl Ticker {
    pub(crate) fn new(period: Duration, stop: watch::Receiver<bool>) -> Self {
        let period = period.max(Duration::from_millis(10));
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ticker { interval, stop }
    }

    /// Waits for the next tick; `false` once the agent is stopping (or its handle is gone).
    pub(crate) async fn next(&mut self) -> bool {
        if *self.stop.borrow() {
            return false;
        }
        tokio::select! {
            _ = self.stop.changed() => false,
            _ = self.interval.tick() => true,
        }
    }
}

/// Heartbeats, and reports the node to placement whenever its inventory differs from what
/// placement last accepted (at start, after a failed report, after the host changed).
pub(crate) struct Heartbeat {
    pub agent: Arc<Agent>,
    pub nodes: Arc<dyn NodeReporter>,
    pub bus: Arc<dyn Bus>,
    pub node_uuid: String,
    pub service_uuid: String,
    pub reported: Option<BTreeMap<String, Inventory>>,
}

impl Heartbeat {
    pub(crate) async fn beat(&mut self) {
        let host = match self.agent.driver.host_info().await {
            Ok(host) => host,
            Err(err) => {
                tracing::error!(error = %err, "cannot read host info; no heartbeat sent");
                return;
            }
        };
        let cfg = &self.agent.cfg;
        let inv = node::inventory(cfg, &host);
        if self.reported.as_ref() != Some(&inv) {
            match self
                .nodes
                .ensure_node(&self.node_uuid, &cfg.host, &inv)
                .await
            {
                Ok(()) => self.reported = Some(inv),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot report the compute node to placement")
                }
            }
        }
        let report = ConductorReport::Heartbeat {
            service: Box::new(node::service(
                cfg,
                &self.service_uuid,
                &self.node_uuid,
                &host,
            )),
        };
        if cast(&*self.bus, &report).await {
            tracing::debug!(host = %cfg.host, "heartbeat sent");
        }
    }
}

/// Casts a report; `false` (logged) when the bus did not take it.
async fn cast(bus: &dyn Bus, report: &ConductorReport) -> bool {
    let sent = match report.to_wire() {
        Ok((method, args)) => bus.cast(CONDUCTOR_TOPIC, &method, args).await,
        Err(err) => Err(common_error::Error::internal(
            "encode a conductor report",
            err,
        )),
    };
    match sent {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(error = %err, "cannot report to the conductor");
            false
        }
    }
}

/// Reads every VM's power state and reports those that differ from what the agent's last
/// operation left (a guest that shut itself down, a QEMU that died). VMs busy with an
/// operation are skipped this round; the operation records their state itself.
pub(crate) async fn power_sync(agent: &Agent, bus: &dyn Bus) {
    let uuids = match agent.driver.list().await {
        Ok(uuids) => uuids,
        Err(err) => {
            tracing::warn!(error = %err, "power sync cannot list instances");
            return;
        }
    };
    for uuid in uuids {
        let Some(_guard) = agent.instances.try_lock(&uuid) else {
            continue;
        };
        let now = match agent.driver.info(&uuid).await {
            Ok(info) => info.power_state,
            Err(VirtError::NotFound(_)) => continue,
            Err(err) => {
                tracing::warn!(uuid, error = %err, "power sync cannot read an instance");
                continue;
            }
        };
        let before = agent
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&uuid)
            .copied();
        if let Some(before) = before.filter(|b| *b != now) {
            tracing::info!(
                uuid,
                ?before,
                ?now,
                "instance changed power state on its own"
            );
            let report = ConductorReport::PowerStateChanged {
                uuid: uuid.clone(),
                power_state: now,
            };
            if !cast(bus, &report).await {
                // Not recorded: the next round reports it again.
                continue;
            }
        }
        // Reported, unchanged, or first sight (created outside the agent): the new baseline.
        agent.remember(&uuid, Some(now));
    }
}

/// The states of the VMs found at start, as the baseline of the power sync.
pub(crate) async fn baseline(agent: &Agent, uuids: &[String]) {
    for uuid in uuids {
        let state: Option<PowerState> = agent.driver.info(uuid).await.ok().map(|i| i.power_state);
        agent.remember(uuid, state);
    }
}
