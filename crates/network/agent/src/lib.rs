//! The network agent (Neutron's L2, DHCP, L3 and metadata agents in one): one per host,
//! in-process in all-in-one. It fetches the host's [`HostPlan`] from the network service and
//! has a [`Dataplane`] converge the host to it on every change and every resync period, then
//! reports which instance ports are wired. The compute agent calls [`Agent::wait_wired`]
//! before starting QEMU on a port's tap.
//!
//! Holds no database and touches no host: the plan comes through [`PlanSource`], the host is
//! driven through [`Dataplane`] (`network-dataplane-linux` in production), and the metadata
//! service is reached through [`MetadataSink`]. Depends only on the network model.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common_error::{Error, Result};
use tokio::sync::{watch, Mutex, Notify};
use tokio::task::JoinHandle;

pub use network_model::dataplane::HostPlan;

/// The network service as the agent sees it.
#[async_trait::async_trait]
pub trait PlanSource: Send + Sync + 'static {
    /// The whole desired data plane of `host`.
    async fn plan(&self, host: &str) -> Result<HostPlan>;

    /// The instance ports of `host` that are wired (tap on its bridge, filtering and DHCP
    /// entry live), sorted; every other port bound to the host is not. The service sets
    /// their status (`ACTIVE` / `DOWN`).
    async fn report(&self, host: &str, wired_port_ids: Vec<String>) -> Result<()>;

    /// A counter the service bumps whenever something that may change a plan changed.
    fn changes(&self) -> watch::Receiver<u64>;
}

/// What one [`Dataplane::apply`] achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Instance ports (`HostPlan::ports`) fully wired by this apply, sorted.
    pub wired_ports: Vec<String>,
    /// What did not converge, one phrase each (`port <id>: <why>`); retried on the next
    /// apply.
    pub failures: Vec<String>,
}

/// The part of the agent that touches the host.
///
/// Vocabulary: the data plane *owns* every device, namespace, firewall object and process
/// whose name it derives from a plan (`network_model::names`) with its configured prefix.
/// `apply` converges the host to the plan: it creates what is missing, changes what differs
/// and removes what it owns that the plan no longer names. It is idempotent (a second apply
/// of the same plan changes nothing) and never recreates a tap that exists, because QEMU
/// holds taps open. A failure of one object does not stop the others; it is listed in
/// [`Applied::failures`] and its ports are not wired.
#[async_trait::async_trait]
pub trait Dataplane: Send + Sync + 'static {
    async fn apply(&self, plan: &HostPlan) -> Result<Applied>;

    /// Removes everything the data plane owns on this host (devices, namespaces, firewall
    /// tables, DHCP processes, metadata listeners).
    async fn cleanup_all(&self) -> Result<()>;
}

/// The metadata service. For each network with a DHCP server the data plane binds a TCP
/// listener on 169.254.169.254:80 inside the network's DHCP namespace and hands it over; the
/// sink serves the guests of `network_id` on it (a guest is known by network and source
/// address) until the returned handle is aborted, which the data plane does when the network
/// goes. `serve` is called from within the agent's tokio runtime.
pub trait MetadataSink: Send + Sync + 'static {
    fn serve(
        &self,
        network_id: String,
        listener: std::net::TcpListener,
    ) -> tokio::task::AbortHandle;
}

/// How the agent runs (from `[network]` and `[compute] host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// This host's name, as ports carry it in `binding:host_id`.
    pub host: String,
    /// Time between full resynchronisations when nothing changes (`[network] resync_secs`).
    pub resync: Duration,
    /// Time before the next attempt after a failed plan fetch or an incomplete apply.
    pub retry: Duration,
}

impl AgentConfig {
    pub fn new(host: impl Into<String>, resync: Duration) -> Self {
        AgentConfig {
            host: host.into(),
            resync,
            retry: Duration::from_secs(1),
        }
    }
}

/// The last apply's outcome, watched by [`Agent::wait_wired`].
#[derive(Debug, Clone, Default)]
struct Status {
    wired: BTreeSet<String>,
    failures: Vec<String>,
}

struct Inner {
    cfg: AgentConfig,
    source: Arc<dyn PlanSource>,
    dataplane: Arc<dyn Dataplane>,
    status: watch::Sender<Status>,
    kick: Notify,
    /// Serialises applies (the loop and [`Agent::sync`]); holds the last reported set.
    sync: Mutex<Option<Vec<String>>>,
}

/// The network agent of one host. Cheap to clone.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

impl Agent {
    pub fn new(
        cfg: AgentConfig,
        source: Arc<dyn PlanSource>,
        dataplane: Arc<dyn Dataplane>,
    ) -> Self {
        Agent {
            inner: Arc::new(Inner {
                cfg,
                source,
                dataplane,
                status: watch::Sender::new(Status::default()),
                kick: Notify::new(),
                sync: Mutex::new(None),
            }),
        }
    }

    /// The reconcile loop: an apply at once, then on every change of the source, on every
    /// [`Agent::wait_wired`], every `resync` (every `retry` while something fails), until
    /// `stop` turns true or its sender is dropped.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        let inner = &self.inner;
        let mut changes = inner.source.changes();
        let mut changes_open = true;
        loop {
            if *stop.borrow() {
                break;
            }
            let wait = match self.sync().await {
                Ok(applied) if applied.failures.is_empty() => inner.cfg.resync,
                Ok(_) => inner.cfg.retry,
                Err(err) => {
                    tracing::warn!(error = %err, "network agent sync failed");
                    inner.cfg.retry
                }
            };
            tokio::select! {
                r = stop.changed() => if r.is_err() { break },
                r = changes.changed(), if changes_open => changes_open = r.is_ok(),
                _ = inner.kick.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// [`Agent::run`] on a task of its own.
    pub fn spawn(&self, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let agent = self.clone();
        tokio::spawn(async move { agent.run(stop).await })
    }

    /// One pass: fetches the plan, applies it, records and reports the wired ports.
    pub async fn sync(&self) -> Result<Applied> {
        let inner = &self.inner;
        let mut reported = inner.sync.lock().await;
        let mut plan = inner.source.plan(&inner.cfg.host).await?;
        plan.normalize();
        let applied = inner.dataplane.apply(&plan).await?;
        for failure in &applied.failures {
            tracing::warn!(host = %inner.cfg.host, %failure, "data plane did not converge");
        }
        inner.status.send_modify(|s| {
            s.wired = applied.wired_ports.iter().cloned().collect();
            s.failures = applied.failures.clone();
        });
        if reported.as_ref() != Some(&applied.wired_ports) {
            inner
                .source
                .report(&inner.cfg.host, applied.wired_ports.clone())
                .await?;
            *reported = Some(applied.wired_ports.clone());
        }
        Ok(applied)
    }

    /// Waits until every port of `port_ids` is wired on this host (asking the loop for an
    /// apply at once); `Unavailable` naming the missing ports and the last failures when
    /// `timeout` passes first.
    pub async fn wait_wired(&self, port_ids: &[String], timeout: Duration) -> Result<()> {
        let mut rx = self.inner.status.subscribe();
        let want: BTreeSet<&str> = port_ids.iter().map(String::as_str).collect();
        let all_wired = |s: &Status| want.iter().all(|p| s.wired.contains(*p));
        if all_wired(&rx.borrow()) {
            return Ok(());
        }
        self.inner.kick.notify_one();
        let waited = tokio::time::timeout(timeout, rx.wait_for(all_wired)).await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(Error::Unavailable("network agent stopped".into())),
            Err(_) => {
                let status = self.inner.status.borrow();
                let missing: Vec<&str> = want
                    .iter()
                    .copied()
                    .filter(|p| !status.wired.contains(*p))
                    .collect();
                Err(Error::Unavailable(format!(
                    "ports {} not wired on host {} within {} s (last failures: {})",
                    missing.join(", "),
                    self.inner.cfg.host,
                    timeout.as_secs(),
                    if status.failures.is_empty() {
                        "none".to_string()
                    } else {
                        status.failures.join("; ")
                    }
                )))
            }
        }
    }

    /// The instance ports the last apply wired.
    pub fn wired(&self) -> BTreeSet<String> {
        self.inner.status.borrow().wired.clone()
    }

    /// Removes everything the data plane owns (for `ferrostack` teardown).
    pub async fn cleanup_all(&self) -> Result<()> {
        let _sync = self.inner.sync.lock().await;
        self.inner.dataplane.cleanup_all().await
    }
}

#[cfg(test)]
mod tests;
