//! The agent's operations: each [`AgentRequest`] checked, serialised per instance, run on
//! the driver, and answered with the reply type `compute_model::rpc` names. The power state
//! each operation leaves is remembered so the power sync reports only changes the agent did
//! not cause.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use common_bus::{RpcHandler, Value};
use common_error::{Context, Error, Result};
use compute_model::rpc::{
    AgentRequest, ConsoleReply, InstanceSpec, PowerReply, StatesReply, SyncReply,
};
use compute_model::PowerState;
use compute_virt::{ConfigDrive, VirtDriver, VirtError, VmNic, VmSpec};

use crate::image_cache::{check_name, ImageCache, TempFile};
use crate::locks::KeyedLocks;
use crate::ports::{ImageSource, NetworkPlug};
use crate::AgentConfig;

/// How long a boot waits for the network agent to wire the instance's ports (Nova's
/// `vif_plugging_timeout`).
pub(crate) const PLUG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The agent's state shared by the RPC handler and the loops.
pub(crate) struct Agent {
    pub cfg: AgentConfig,
    pub driver: Arc<dyn VirtDriver>,
    pub images: Arc<dyn ImageSource>,
    /// This host's network agent (`None`: instances with NICs cannot boot here).
    pub network: Option<Arc<dyn NetworkPlug>>,
    pub cache: ImageCache,
    /// One lock per instance: operations on a VM run one at a time.
    pub instances: KeyedLocks,
    /// The power state each VM was left in by the agent's last operation (or found in at
    /// start).
    pub known: Mutex<HashMap<String, PowerState>>,
}

/// Serves `compute.<host>`: decodes requests and hands them to the agent.
pub(crate) struct Handler(pub Arc<Agent>);

#[async_trait::async_trait]
impl RpcHandler for Handler {
    async fn handle(&self, method: &str, args: Value) -> Result<Value> {
        let request = AgentRequest::from_wire(method, args).map_err(|e| {
            Error::bad_request(format!("bad compute agent request {method:?}: {e}"))
        })?;
        self.0.dispatch(request).await
    }
}

/// A driver error as the bus carries it back to the conductor.
pub(crate) fn virt_error(what: &str, err: VirtError) -> Error {
    match err {
        VirtError::NotFound(uuid) => Error::not_found("instance", uuid),
        VirtError::InvalidState(msg) => Error::conflict(msg),
        VirtError::Failed(msg) => Error::internal(what, msg),
    }
}

fn reply<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).context("encode the agent reply")
}

fn power(state: PowerState) -> Result<Value> {
    reply(&PowerReply { power_state: state })
}

impl Agent {
    pub(crate) async fn dispatch(&self, request: AgentRequest) -> Result<Value> {
        use AgentRequest as R;
        match request {
            R::Spawn { spec } => {
                let _g = self.lock(&spec.uuid).await?;
                let vm = self.vm_spec(&spec).await?;
                let r = self.driver.spawn(&vm).await;
                power(self.settle(&spec.uuid, "spawn the instance", r).await?)
            }
            R::PowerOn { spec } => {
                let _g = self.lock(&spec.uuid).await?;
                let vm = self.vm_spec(&spec).await?;
                let r = self.driver.power_on(&vm).await;
                power(self.settle(&spec.uuid, "power on the instance", r).await?)
            }
            R::Resume { spec } => {
                let _g = self.lock(&spec.uuid).await?;
                let vm = self.vm_spec(&spec).await?;
                let r = self.driver.resume(&vm).await;
                power(self.settle(&spec.uuid, "resume the instance", r).await?)
            }
            R::Resize { spec } => {
                let _g = self.lock(&spec.uuid).await?;
                let vm = self.vm_spec(&spec).await?;
                let r = self.driver.resize(&vm).await;
                power(self.settle(&spec.uuid, "resize the instance", r).await?)
            }
            R::Rescue {
                spec,
                rescue_image_id,
            } => {
                let _g = self.lock(&spec.uuid).await?;
                let vm = self.vm_spec(&spec).await?;
                // The rescue image comes through the cache like a spawn's base image.
                let image = self.cache.ensure(&rescue_image_id).await?;
                let r = self.driver.rescue(&vm, &image.path, &image.format).await;
                power(self.settle(&spec.uuid, "rescue the instance", r).await?)
            }
            R::Unrescue { spec } => {
                let _g = self.lock(&spec.uuid).await?;
                let vm = self.vm_spec(&spec).await?;
                let r = self.driver.unrescue(&vm).await;
                power(self.settle(&spec.uuid, "unrescue the instance", r).await?)
            }
            R::PowerOff { uuid, timeout_secs } => {
                let _g = self.lock(&uuid).await?;
                // The host's limit caps what a request asks for (and keeps a huge value
                // from overflowing the driver's deadline).
                let timeout =
                    std::time::Duration::from_secs(timeout_secs).min(self.cfg.shutdown_timeout);
                let r = self.driver.power_off(&uuid, timeout).await;
                power(self.settle(&uuid, "power off the instance", r).await?)
            }
            R::Reboot { uuid, hard } => {
                let _g = self.lock(&uuid).await?;
                let r = self.driver.reboot(&uuid, hard).await;
                power(self.settle(&uuid, "reboot the instance", r).await?)
            }
            R::Pause { uuid } => {
                let _g = self.lock(&uuid).await?;
                let r = self.driver.pause(&uuid).await;
                power(self.settle(&uuid, "pause the instance", r).await?)
            }
            R::Unpause { uuid } => {
                let _g = self.lock(&uuid).await?;
                let r = self.driver.unpause(&uuid).await;
                power(self.settle(&uuid, "unpause the instance", r).await?)
            }
            R::Suspend { uuid } => {
                let _g = self.lock(&uuid).await?;
                let r = self.driver.suspend(&uuid).await;
                power(self.settle(&uuid, "suspend the instance", r).await?)
            }
            R::Destroy { uuid } => {
                let _g = self.lock(&uuid).await?;
                self.destroy(&uuid).await?;
                Ok(serde_json::json!({}))
            }
            R::ConsoleOutput { uuid, length } => {
                // Read-only: it does not wait for an operation in progress (a slow boot).
                check_name("instance uuid", &uuid)?;
                let bytes = self
                    .driver
                    .console_output(&uuid)
                    .await
                    .map_err(|e| virt_error("read the console log", e))?;
                reply(&ConsoleReply {
                    output: tail_lines(&String::from_utf8_lossy(&bytes), length),
                })
            }
            R::Snapshot { uuid, image_id } => {
                let _g = self.lock(&uuid).await?;
                self.snapshot(&uuid, &image_id).await?;
                Ok(serde_json::json!({}))
            }
            R::PowerStates {} => reply(&StatesReply {
                states: self.power_states().await?,
            }),
            R::Sync { keep } => reply(&SyncReply {
                destroyed: self.sync(&keep).await?,
            }),
        }
    }

    /// Waits for the instance's lock, after checking the uuid can name its files.
    async fn lock(&self, uuid: &str) -> Result<crate::locks::KeyGuard> {
        check_name("instance uuid", uuid)?;
        Ok(self.instances.lock(uuid).await)
    }

    /// Records the state an operation left the VM in and turns its error into ours. After a
    /// failure the VM's current state is recorded: the caller hears of the failure itself.
    async fn settle(
        &self,
        uuid: &str,
        what: &str,
        result: compute_virt::Result<PowerState>,
    ) -> Result<PowerState> {
        match result {
            Ok(state) => {
                self.remember(uuid, Some(state));
                Ok(state)
            }
            Err(err) => {
                let now = self.driver.info(uuid).await.ok().map(|i| i.power_state);
                self.remember(uuid, now);
                Err(virt_error(what, err))
            }
        }
    }

    pub(crate) fn remember(&self, uuid: &str, state: Option<PowerState>) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        match state {
            Some(s) => known.insert(uuid.to_string(), s),
            None => known.remove(uuid),
        };
    }

    /// Has the network agent wire the instance's ports (their taps exist once it returns).
    async fn plug(&self, spec: &InstanceSpec) -> Result<()> {
        if spec.nics.is_empty() {
            return Ok(());
        }
        let Some(network) = &self.network else {
            return Err(Error::bad_request(format!(
                "instance {} has network interfaces but this compute host has no network agent",
                spec.uuid
            )));
        };
        let ports: Vec<String> = spec.nics.iter().map(|n| n.port_id.clone()).collect();
        network.plug(&ports, PLUG_TIMEOUT).await.inspect_err(|e| {
            tracing::warn!(uuid = %spec.uuid, error = %e, "the instance's ports are not wired");
        })
    }

    /// The driver's spec of an instance: the cached base image, the config drive with the
    /// decoded user data when asked for, and the NICs (their ports wired first).
    async fn vm_spec(&self, spec: &InstanceSpec) -> Result<VmSpec> {
        if spec.vcpus < 1 || spec.memory_mb < 1 || spec.root_gb < 0 {
            return Err(Error::bad_request(format!(
                "instance {} asks for {} vcpus, {} MiB, {} GiB",
                spec.uuid, spec.vcpus, spec.memory_mb, spec.root_gb
            )));
        }
        if spec.image_id.is_empty() {
            return Err(Error::NotImplemented(
                "booting from a volume is not supported by this compute host".into(),
            ));
        }
        let user_data = match &spec.user_data {
            Some(text) => Some(decode_user_data(text)?),
            None => None,
        };
        for nic in &spec.nics {
            check_name("tap device", &nic.tap)?;
            let mac_ok =
                nic.mac.len() == 17 && nic.mac.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
            if nic.tap.len() > 15 || !mac_ok {
                return Err(Error::bad_request(format!(
                    "instance {} has a bad NIC (tap {:?}, mac {:?})",
                    spec.uuid, nic.tap, nic.mac
                )));
            }
        }
        let image = self.cache.ensure(&spec.image_id).await?;
        self.plug(spec).await?;
        Ok(VmSpec {
            uuid: spec.uuid.clone(),
            name: spec.name.clone(),
            vcpus: spec.vcpus,
            memory_mb: spec.memory_mb,
            root_gb: spec.root_gb,
            base_image: image.path,
            base_format: image.format,
            image_properties: spec.image_properties.clone(),
            config_drive: spec.config_drive.then(|| ConfigDrive {
                meta_data: spec.meta_data.clone(),
                user_data,
                network_data: spec.network_data.clone(),
            }),
            nics: spec
                .nics
                .iter()
                .map(|n| VmNic {
                    port_id: n.port_id.clone(),
                    tap: n.tap.clone(),
                    mac: n.mac.clone(),
                })
                .collect(),
            boot_volume: None,
            volumes: Vec::new(),
        })
    }

    /// Destroys a VM (hard stop, files removed); the caller holds its lock.
    async fn destroy(&self, uuid: &str) -> Result<()> {
        self.driver
            .destroy(uuid)
            .await
            .map_err(|e| virt_error("destroy the instance", e))?;
        self.remember(uuid, None);
        Ok(())
    }

    async fn snapshot(&self, uuid: &str, image_id: &str) -> Result<()> {
        check_name("image id", image_id)?;
        let temp = TempFile(
            self.cfg
                .instances_dir
                .join(format!(".snapshot-{}.qcow2", uuid::Uuid::new_v4().simple())),
        );
        self.driver
            .snapshot(uuid, &temp.0)
            .await
            .map_err(|e| virt_error("snapshot the instance disk", e))?;
        self.images.upload(image_id, &temp.0).await?;
        tracing::info!(uuid, image_id, "snapshot uploaded");
        Ok(())
    }

    async fn power_states(&self) -> Result<BTreeMap<String, PowerState>> {
        let uuids = self
            .driver
            .list()
            .await
            .map_err(|e| virt_error("list instances", e))?;
        let mut states = BTreeMap::new();
        for uuid in uuids {
            match self.driver.info(&uuid).await {
                Ok(info) => {
                    states.insert(uuid, info.power_state);
                }
                // Destroyed meanwhile.
                Err(VirtError::NotFound(_)) => {}
                Err(e) => return Err(virt_error("read an instance's power state", e)),
            }
        }
        Ok(states)
    }

    /// Destroys every VM on the host that is not in `keep`; returns what it destroyed.
    async fn sync(&self, keep: &[String]) -> Result<Vec<String>> {
        let uuids = self
            .driver
            .list()
            .await
            .map_err(|e| virt_error("list instances", e))?;
        let mut destroyed = Vec::new();
        for uuid in uuids.into_iter().filter(|u| !keep.contains(u)) {
            let _g = self.instances.lock(&uuid).await;
            self.destroy(&uuid).await?;
            tracing::warn!(
                uuid,
                "destroyed an instance the control plane does not know"
            );
            destroyed.push(uuid);
        }
        Ok(destroyed)
    }
}

/// Base64 user data as clients send it (line breaks and other whitespace allowed).
fn decode_user_data(text: &str) -> Result<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| Error::bad_request(format!("user_data is not valid base64: {e}")))
}

/// The last `length` lines of `text` (all of it when `length` is absent or negative, as
/// Nova's `-1`).
pub(crate) fn tail_lines(text: &str, length: Option<i64>) -> String {
    let Some(n) = length.and_then(|n| usize::try_from(n).ok()) else {
        return text.to_string();
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    lines[lines.len().saturating_sub(n)..].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_tail_keeps_the_last_lines() {
        let log = "one\ntwo\nthree\n";
        let cases = [
            (None, "one\ntwo\nthree\n"),
            (Some(-1), "one\ntwo\nthree\n"),
            (Some(0), ""),
            (Some(1), "three\n"),
            (Some(2), "two\nthree\n"),
            (Some(10), "one\ntwo\nthree\n"),
        ];
        for (length, want) in cases {
            assert_eq!(tail_lines(log, length), want, "length {length:?}");
        }
        assert_eq!(tail_lines("a\nprompt$ ", Some(1)), "prompt$ ");
        assert_eq!(tail_lines("", Some(3)), "");
    }

    #[test]
    fn user_data_is_base64_with_optional_line_breaks() {
        assert_eq!(decode_user_data("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_user_data("aGVs\nbG8=\n").unwrap(), b"hello");
        assert!(matches!(
            decode_user_data("not base64!"),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn driver_errors_keep_their_meaning_on_the_bus() {
        let e = virt_error("x", VirtError::NotFound("u1".into()));
        assert_eq!(e, Error::not_found("instance", "u1"));
        let e = virt_error("x", VirtError::InvalidState("paused".into()));
        assert_eq!(e, Error::conflict("paused"));
        let e = virt_error("boot", VirtError::Failed("qemu died".into()));
        assert_eq!(e, Error::Internal("boot: qemu died".into()));
    }
}
