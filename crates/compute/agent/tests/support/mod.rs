//! Test doubles for the agent's ports and driver, and helpers to drive it over the bus.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common_bus::{Bus, InProcBus, RpcHandler, Value};
use common_error::{Error, Result};
use compute_agent::{AgentConfig, AgentHandle, ImageSource, Inventory, NodeReporter};
use compute_model::rpc::{
    agent_topic, AgentRequest, ConductorReport, InstanceSpec, CONDUCTOR_TOPIC,
};
use compute_virt::{FakeDriver, HostInfo, PowerState, VirtDriver, VmInfo, VmSpec};
use tokio::sync::{mpsc, Barrier, Notify};

pub const HOST: &str = "host1";
pub const IMAGE: &str = "11111111-2222-3333-4444-555555555555";
pub const RESCUE_IMAGE: &str = "99999999-8888-7777-6666-555555555555";
/// Long enough never to matter in a test; reports and replies arrive much sooner.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Images whose data is a qcow2 header; ids starting with `missing` are not found.
#[derive(Default)]
pub struct FakeImages {
    pub downloads: AtomicUsize,
    pub uploads: Mutex<BTreeMap<String, Vec<u8>>>,
}

#[async_trait::async_trait]
impl ImageSource for FakeImages {
    async fn download(&self, image_id: &str, dest: &Path) -> Result<String> {
        if image_id.starts_with("missing") {
            return Err(Error::not_found("image", image_id));
        }
        self.downloads.fetch_add(1, Ordering::SeqCst);
        // Take a while, so that concurrent spawns really wait for one download.
        tokio::time::sleep(Duration::from_millis(100)).await;
        tokio::fs::write(dest, b"QFI\xfb fake qcow2 image")
            .await
            .map_err(|e| Error::internal("write image", e))?;
        Ok("qcow2".into())
    }

    async fn upload(&self, image_id: &str, src: &Path) -> Result<()> {
        let data = tokio::fs::read(src)
            .await
            .map_err(|e| Error::internal("read snapshot", e))?;
        self.uploads.lock().unwrap().insert(image_id.into(), data);
        Ok(())
    }
}

/// One `ensure_node`: node uuid, name, inventory.
pub type NodeReport = (String, String, BTreeMap<String, Inventory>);

/// Records every `ensure_node`.
#[derive(Default)]
pub struct FakeNodes {
    pub calls: Mutex<Vec<NodeReport>>,
}

#[async_trait::async_trait]
impl NodeReporter for FakeNodes {
    async fn ensure_node(
        &self,
        uuid: &str,
        name: &str,
        inv: &BTreeMap<String, Inventory>,
    ) -> Result<()> {
        self.calls
            .lock()
            .unwrap()
            .push((uuid.into(), name.into(), inv.clone()));
        Ok(())
    }
}

/// The fake driver, instrumented: counts `list` calls (one per power-sync round or
/// `power_states`/`sync` request), tracks reboots in flight per VM, and makes hard reboots
/// meet at a barrier of two (so two of them finish only if they run at the same time).
pub struct TestDriver {
    pub inner: FakeDriver,
    pub lists: AtomicUsize,
    pub listed: Notify,
    in_flight: Mutex<HashMap<String, usize>>,
    pub max_in_flight_per_vm: AtomicUsize,
    pub hard_reboot_meet: Barrier,
    /// Every spec `spawn` got.
    pub spawned: Mutex<Vec<VmSpec>>,
}

/// The host's network agent: records what it is asked to plug; fails when told.
#[derive(Default)]
pub struct FakePlug {
    pub plugged: Mutex<Vec<Vec<String>>>,
    pub fail: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl compute_agent::NetworkPlug for FakePlug {
    async fn plug(&self, port_ids: &[String], _timeout: Duration) -> Result<()> {
        self.plugged.lock().unwrap().push(port_ids.to_vec());
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::Unavailable("ports not wired in time".into()));
        }
        Ok(())
    }
}

impl TestDriver {
    pub fn new(inner: FakeDriver) -> Self {
        TestDriver {
            inner,
            lists: AtomicUsize::new(0),
            listed: Notify::new(),
            in_flight: Mutex::new(HashMap::new()),
            max_in_flight_per_vm: AtomicUsize::new(0),
            hard_reboot_meet: Barrier::new(2),
            spawned: Mutex::new(Vec::new()),
        }
    }

    /// Waits until `list` has been called `n` more times.
    pub async fn wait_lists(&self, n: usize) {
        let target = self.lists.load(Ordering::SeqCst) + n;
        tokio::time::timeout(PATIENCE, async {
            while self.lists.load(Ordering::SeqCst) < target {
                let notified = self.listed.notified();
                if self.lists.load(Ordering::SeqCst) >= target {
                    break;
                }
                notified.await;
            }
        })
        .await
        .expect("the power sync keeps running");
    }
}

#[async_trait::async_trait]
impl VirtDriver for TestDriver {
    fn kind(&self) -> &'static str {
        "fake"
    }
    async fn host_info(&self) -> compute_virt::Result<HostInfo> {
        self.inner.host_info().await
    }
    async fn recover(&self) -> compute_virt::Result<Vec<String>> {
        self.inner.recover().await
    }
    async fn list(&self) -> compute_virt::Result<Vec<String>> {
        let r = self.inner.list().await;
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.listed.notify_waiters();
        r
    }
    async fn spawn(&self, spec: &VmSpec) -> compute_virt::Result<PowerState> {
        assert!(
            spec.base_image.exists(),
            "the base image is cached before spawn"
        );
        assert_eq!(spec.base_format, "qcow2");
        self.spawned.lock().unwrap().push(spec.clone());
        self.inner.spawn(spec).await
    }
    async fn destroy(&self, uuid: &str) -> compute_virt::Result<()> {
        self.inner.destroy(uuid).await
    }
    async fn power_off(&self, uuid: &str, timeout: Duration) -> compute_virt::Result<PowerState> {
        self.inner.power_off(uuid, timeout).await
    }
    async fn power_on(&self, spec: &VmSpec) -> compute_virt::Result<PowerState> {
        self.inner.power_on(spec).await
    }
    async fn reboot(&self, uuid: &str, hard: bool) -> compute_virt::Result<PowerState> {
        {
            let mut f = self.in_flight.lock().unwrap();
            let n = f.entry(uuid.into()).or_default();
            *n += 1;
            self.max_in_flight_per_vm.fetch_max(*n, Ordering::SeqCst);
        }
        if hard {
            self.hard_reboot_meet.wait().await;
        }
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        *self.in_flight.lock().unwrap().get_mut(uuid).unwrap() -= 1;
        self.inner.reboot(uuid, hard).await
    }
    async fn pause(&self, uuid: &str) -> compute_virt::Result<PowerState> {
        self.inner.pause(uuid).await
    }
    async fn unpause(&self, uuid: &str) -> compute_virt::Result<PowerState> {
        self.inner.unpause(uuid).await
    }
    async fn suspend(&self, uuid: &str) -> compute_virt::Result<PowerState> {
        self.inner.suspend(uuid).await
    }
    async fn resume(&self, spec: &VmSpec) -> compute_virt::Result<PowerState> {
        self.inner.resume(spec).await
    }
    async fn info(&self, uuid: &str) -> compute_virt::Result<VmInfo> {
        self.inner.info(uuid).await
    }
    async fn console_output(&self, uuid: &str) -> compute_virt::Result<Vec<u8>> {
        self.inner.console_output(uuid).await
    }
    async fn snapshot(&self, uuid: &str, dest: &Path) -> compute_virt::Result<()> {
        self.inner.snapshot(uuid, dest).await
    }
    async fn resize(&self, spec: &VmSpec) -> compute_virt::Result<PowerState> {
        self.inner.resize(spec).await
    }
    async fn rescue(
        &self,
        spec: &VmSpec,
        rescue_image: &Path,
        rescue_format: &str,
    ) -> compute_virt::Result<PowerState> {
        assert!(rescue_image.exists(), "the rescue image is cached first");
        assert_eq!(rescue_format, "qcow2");
        self.inner.rescue(spec, rescue_image, rescue_format).await
    }
    async fn unrescue(&self, spec: &VmSpec) -> compute_virt::Result<PowerState> {
        self.inner.unrescue(spec).await
    }

    async fn attach_volume(
        &self,
        uuid: &str,
        volume: &compute_virt::VmVolume,
    ) -> compute_virt::Result<()> {
        self.inner.attach_volume(uuid, volume).await
    }

    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> compute_virt::Result<()> {
        self.inner.detach_volume(uuid, volume_id).await
    }

    async fn extend_volume(
        &self,
        uuid: &str,
        volume_id: &str,
        new_size_bytes: u64,
    ) -> compute_virt::Result<()> {
        self.inner.extend_volume(uuid, volume_id, new_size_bytes).await
    }
}

/// Forwards every report cast to the conductor topic.
struct Conductor(mpsc::UnboundedSender<ConductorReport>);

#[async_trait::async_trait]
impl RpcHandler for Conductor {
    async fn handle(&self, method: &str, args: Value) -> Result<Value> {
        let report = ConductorReport::from_wire(method, args)
            .map_err(|e| Error::bad_request(e.to_string()))?;
        let _ = self.0.send(report);
        Ok(Value::Null)
    }
}

/// One agent on an in-process bus, with its doubles and a conductor that collects reports.
pub struct World {
    pub dir: tempfile::TempDir,
    pub bus: Arc<dyn Bus>,
    pub driver: Arc<TestDriver>,
    pub fake: FakeDriver,
    pub images: Arc<FakeImages>,
    pub nodes: Arc<FakeNodes>,
    pub reports: mpsc::UnboundedReceiver<ConductorReport>,
    _conductor: common_bus::ServerHandle,
}

impl World {
    pub async fn new() -> Self {
        let bus: Arc<dyn Bus> = Arc::new(InProcBus::new());
        let (tx, reports) = mpsc::unbounded_channel();
        let conductor = bus
            .serve(CONDUCTOR_TOPIC, Arc::new(Conductor(tx)))
            .await
            .unwrap();
        let fake = FakeDriver::new(8, 16384, 200);
        World {
            dir: tempfile::tempdir().unwrap(),
            bus,
            driver: Arc::new(TestDriver::new(fake.clone())),
            fake,
            images: Arc::new(FakeImages::default()),
            nodes: Arc::new(FakeNodes::default()),
            reports,
            _conductor: conductor,
        }
    }

    /// Heartbeats and power syncs rare unless a test shortens them.
    pub fn config(&self) -> AgentConfig {
        AgentConfig {
            heartbeat: Duration::from_secs(3600),
            power_sync: Duration::from_secs(3600),
            ..AgentConfig::new(HOST, self.dir.path())
        }
    }

    pub async fn start(&self, cfg: AgentConfig) -> AgentHandle {
        compute_agent::start(
            cfg,
            self.driver.clone(),
            self.images.clone(),
            self.nodes.clone(),
            self.bus.clone(),
        )
        .await
        .unwrap()
    }

    /// An agent with this host's network agent `plug`.
    pub async fn start_networked(&self, cfg: AgentConfig, plug: Arc<FakePlug>) -> AgentHandle {
        compute_agent::start_with_network(
            cfg,
            self.driver.clone(),
            self.images.clone(),
            self.nodes.clone(),
            Some(plug),
            self.bus.clone(),
        )
        .await
        .unwrap()
    }

    pub async fn call(&self, request: AgentRequest) -> Result<Value> {
        let (method, args) = request.to_wire().unwrap();
        self.call_raw(&method, args).await
    }

    pub async fn call_raw(&self, method: &str, args: Value) -> Result<Value> {
        self.bus
            .call(&agent_topic(HOST), method, args, PATIENCE)
            .await
    }

    /// The next report matching `pick`, skipping others.
    pub async fn next_report<T>(
        &mut self,
        mut pick: impl FnMut(ConductorReport) -> Option<T>,
    ) -> T {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let report = self.reports.recv().await.expect("conductor is serving");
                if let Some(t) = pick(report) {
                    return t;
                }
            }
        })
        .await
        .expect("the report arrives")
    }
}

pub fn spec(uuid: &str) -> InstanceSpec {
    InstanceSpec {
        uuid: uuid.into(),
        name: format!("vm-{uuid}"),
        hostname: format!("vm-{uuid}"),
        project_id: "p1".into(),
        vcpus: 1,
        memory_mb: 256,
        root_gb: 1,
        image_id: IMAGE.into(),
        image_properties: BTreeMap::new(),
        meta_data: serde_json::json!({"uuid": uuid}),
        user_data: Some("IyEvYmluL3NoCmVjaG8gaGkK".into()),
        config_drive: true,
        nics: Vec::new(),
        network_data: Value::Null,
    }
}

pub fn power_state(reply: Value) -> PowerState {
    serde_json::from_value::<compute_model::rpc::PowerReply>(reply)
        .unwrap()
        .power_state
}
