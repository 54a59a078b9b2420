//! The reconcile loop against an in-memory plan source and a fake data plane.

use std::sync::Mutex as StdMutex;

use network_model::dataplane::PortPlan;

use super::*;

#[derive(Default)]
struct FakeSource {
    plan: StdMutex<HostPlan>,
    reports: StdMutex<Vec<Vec<String>>>,
    changes: Option<watch::Sender<u64>>,
}

impl FakeSource {
    fn new() -> Arc<Self> {
        Arc::new(FakeSource {
            changes: Some(watch::Sender::new(0)),
            ..Default::default()
        })
    }

    fn set_ports(&self, ids: &[&str]) {
        self.plan.lock().unwrap().ports = ids.iter().map(|id| port(id)).collect();
        if let Some(tx) = &self.changes {
            tx.send_modify(|n| *n += 1);
        }
    }
}

fn port(id: &str) -> PortPlan {
    PortPlan {
        id: id.into(),
        network_id: "net".into(),
        mac_address: "fa:16:3e:00:00:01".into(),
        fixed_ips: vec![],
        admin_state_up: true,
        device_id: "vm".into(),
        security: None,
        qos: None,
    }
}

#[async_trait::async_trait]
impl PlanSource for FakeSource {
    async fn plan(&self, host: &str) -> Result<HostPlan> {
        let mut plan = self.plan.lock().unwrap().clone();
        plan.host = host.into();
        Ok(plan)
    }

    async fn report(&self, _host: &str, wired: Vec<String>) -> Result<()> {
        self.reports.lock().unwrap().push(wired);
        Ok(())
    }

    fn changes(&self) -> watch::Receiver<u64> {
        match &self.changes {
            Some(tx) => tx.subscribe(),
            None => watch::Sender::new(0).subscribe(),
        }
    }
}

/// Wires every port except those listed as broken; counts applies.
#[derive(Default)]
struct FakeDataplane {
    broken: StdMutex<BTreeSet<String>>,
    applies: StdMutex<Vec<HostPlan>>,
}

#[async_trait::async_trait]
impl Dataplane for FakeDataplane {
    async fn apply(&self, plan: &HostPlan) -> Result<Applied> {
        self.applies.lock().unwrap().push(plan.clone());
        let broken = self.broken.lock().unwrap().clone();
        let mut applied = Applied::default();
        for p in &plan.ports {
            if broken.contains(&p.id) {
                applied.failures.push(format!("port {}: broken", p.id));
            } else {
                applied.wired_ports.push(p.id.clone());
            }
        }
        Ok(applied)
    }

    async fn cleanup_all(&self) -> Result<()> {
        Ok(())
    }
}

fn agent(source: &Arc<FakeSource>, dp: &Arc<FakeDataplane>) -> Agent {
    let mut cfg = AgentConfig::new("host1", Duration::from_secs(3600));
    cfg.retry = Duration::from_millis(20);
    Agent::new(cfg, source.clone(), dp.clone())
}

#[tokio::test]
async fn sync_applies_and_reports_only_changes() {
    let source = FakeSource::new();
    let dp = Arc::new(FakeDataplane::default());
    let agent = agent(&source, &dp);
    source.set_ports(&["b", "a"]);
    let applied = agent.sync().await.unwrap();
    assert_eq!(applied.wired_ports, vec!["a", "b"]);
    agent.sync().await.unwrap();
    assert_eq!(dp.applies.lock().unwrap().len(), 2);
    assert_eq!(dp.applies.lock().unwrap()[0].host, "host1");
    // The plan is normalized before it is applied; the same set is reported once.
    assert_eq!(*source.reports.lock().unwrap(), vec![vec!["a", "b"]]);
    assert_eq!(agent.wired().len(), 2);
}

#[tokio::test]
async fn loop_follows_changes_and_wait_wired_sees_new_ports() {
    let source = FakeSource::new();
    let dp = Arc::new(FakeDataplane::default());
    let agent = agent(&source, &dp);
    let (stop_tx, stop) = watch::channel(false);
    let task = agent.spawn(stop);
    source.set_ports(&["p1"]);
    agent
        .wait_wired(&["p1".into()], Duration::from_secs(10))
        .await
        .unwrap();
    source.set_ports(&["p1", "p2"]);
    agent
        .wait_wired(&["p2".into()], Duration::from_secs(10))
        .await
        .unwrap();
    stop_tx.send(true).unwrap();
    task.await.unwrap();
    let reports = source.reports.lock().unwrap().clone();
    assert_eq!(
        reports.last().unwrap(),
        &vec!["p1".to_string(), "p2".into()]
    );
}

#[tokio::test]
async fn wait_wired_times_out_with_the_failure() {
    let source = FakeSource::new();
    let dp = Arc::new(FakeDataplane::default());
    dp.broken.lock().unwrap().insert("bad".into());
    let agent = agent(&source, &dp);
    let (_stop_tx, stop) = watch::channel(false);
    let _task = agent.spawn(stop);
    source.set_ports(&["bad", "good"]);
    let err = agent
        .wait_wired(&["bad".into(), "good".into()], Duration::from_millis(300))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ports bad not wired"), "{msg}");
    assert!(msg.contains("port bad: broken"), "{msg}");
    // A failing apply is retried quickly; once fixed the port is wired.
    dp.broken.lock().unwrap().clear();
    agent
        .wait_wired(&["bad".into()], Duration::from_secs(10))
        .await
        .unwrap();
}

#[tokio::test]
async fn wait_wired_kicks_an_apply_without_a_change_signal() {
    // A source whose change counter never moves: wait_wired still triggers the apply.
    let source = Arc::new(FakeSource::default());
    let dp = Arc::new(FakeDataplane::default());
    let agent = agent(&source, &dp);
    let (_stop_tx, stop) = watch::channel(false);
    let _task = agent.spawn(stop);
    tokio::time::sleep(Duration::from_millis(50)).await;
    source.set_ports(&["late"]);
    agent
        .wait_wired(&["late".into()], Duration::from_secs(10))
        .await
        .unwrap();
}
