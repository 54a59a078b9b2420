//! The `fake` driver: VMs as entries in memory, no processes, no files. Explicitly
//! configured only (scale benchmarks, multi-host scheduling tests).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{HostInfo, PowerState, Result, VirtDriver, VirtError, VmInfo, VmSpec, VmVolume};

#[derive(Debug, Clone)]
struct FakeVm {
    spec: VmSpec,
    state: PowerState,
    console: String,
    /// The rescue image it boots from while rescued.
    rescue: Option<PathBuf>,
}

/// A driver that pretends. Cheap to clone; clones share the same VMs.
#[derive(Debug, Clone)]
pub struct FakeDriver {
    host: HostInfo,
    vms: Arc<Mutex<BTreeMap<String, FakeVm>>>,
}

impl FakeDriver {
    /// A fake host with the given capacity.
    pub fn new(vcpus: i64, memory_mb: i64, disk_gb: i64) -> Self {
        FakeDriver {
            host: HostInfo {
                hypervisor_type: "fake".into(),
                hypervisor_version: 1000,
                vcpus,
                memory_mb,
                disk_gb,
                cpu_info: r#"{"arch": "x86_64", "model": "fake", "vendor": "fake", "topology": {"cells": 1, "sockets": 1, "cores": 1, "threads": 1}, "features": []}"#.into(),
            },
            vms: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, FakeVm>) -> Result<T>) -> Result<T> {
        let mut vms = self
            .vms
            .lock()
            .map_err(|_| VirtError::Failed("fake driver state poisoned".into()))?;
        f(&mut vms)
    }

    fn transition(
        &self,
        uuid: &str,
        from: &[PowerState],
        to: PowerState,
        what: &str,
    ) -> Result<PowerState> {
        self.with(|vms| {
            let vm = vms
                .get_mut(uuid)
                .ok_or_else(|| VirtError::NotFound(uuid.to_string()))?;
            if vm.state == to {
                return Ok(to);
            }
            if !from.contains(&vm.state) {
                return Err(VirtError::InvalidState(format!(
                    "cannot {what} instance {uuid} in power state {:?}",
                    vm.state
                )));
            }
            vm.state = to;
            vm.console.push_str(&format!("fake: {what}\n"));
            Ok(to)
        })
    }
}

#[async_trait::async_trait]
impl VirtDriver for FakeDriver {
    fn kind(&self) -> &'static str {
        "fake"
    }

    async fn host_info(&self) -> Result<HostInfo> {
        Ok(self.host.clone())
    }

    async fn recover(&self) -> Result<Vec<String>> {
        self.list().await
    }

    async fn list(&self) -> Result<Vec<String>> {
        self.with(|vms| Ok(vms.keys().cloned().collect()))
    }

    async fn spawn(&self, spec: &VmSpec) -> Result<PowerState> {
        self.with(|vms| {
            let vm = vms.entry(spec.uuid.clone()).or_insert_with(|| FakeVm {
                spec: spec.clone(),
                state: PowerState::Shutdown,
                console: String::new(),
                rescue: None,
            });
            if vm.state != PowerState::Running {
                vm.state = PowerState::Running;
                vm.console
                    .push_str(&format!("fake: {} booted\n", spec.name));
            }
            Ok(PowerState::Running)
        })
    }

    async fn destroy(&self, uuid: &str) -> Result<()> {
        self.with(|vms| {
            vms.remove(uuid);
            Ok(())
        })
    }

    async fn power_off(&self, uuid: &str, _timeout: Duration) -> Result<PowerState> {
        self.transition(
            uuid,
            &[PowerState::Running, PowerState::Paused, PowerState::Crashed],
            PowerState::Shutdown,
            "power off",
        )
    }

    async fn power_on(&self, spec: &VmSpec) -> Result<PowerState> {
        self.transition(
            &spec.uuid,
            &[PowerState::Shutdown, PowerState::Crashed],
            PowerState::Running,
            "power on",
        )
    }

    async fn reboot(&self, uuid: &str, hard: bool) -> Result<PowerState> {
        let from: &[PowerState] = if hard {
            &[
                PowerState::Running,
                PowerState::Shutdown,
                PowerState::Crashed,
                PowerState::Paused,
            ]
        } else {
            &[PowerState::Running]
        };
        self.with(|vms| {
            let vm = vms
                .get_mut(uuid)
                .ok_or_else(|| VirtError::NotFound(uuid.to_string()))?;
            if !from.contains(&vm.state) {
                return Err(VirtError::InvalidState(format!(
                    "cannot reboot instance {uuid} in power state {:?}",
                    vm.state
                )));
            }
            vm.state = PowerState::Running;
            vm.console.push_str("fake: rebooted\n");
            Ok(PowerState::Running)
        })
    }

    async fn pause(&self, uuid: &str) -> Result<PowerState> {
        self.transition(uuid, &[PowerState::Running], PowerState::Paused, "pause")
    }

    async fn unpause(&self, uuid: &str) -> Result<PowerState> {
        self.transition(uuid, &[PowerState::Paused], PowerState::Running, "unpause")
    }

    async fn suspend(&self, uuid: &str) -> Result<PowerState> {
        self.transition(
            uuid,
            &[PowerState::Running, PowerState::Paused],
            PowerState::Suspended,
            "suspend",
        )
    }

    async fn resume(&self, spec: &VmSpec) -> Result<PowerState> {
        self.transition(
            &spec.uuid,
            &[PowerState::Suspended],
            PowerState::Running,
            "resume",
        )
    }

    async fn info(&self, uuid: &str) -> Result<VmInfo> {
        self.with(|vms| {
            let vm = vms
                .get(uuid)
                .ok_or_else(|| VirtError::NotFound(uuid.to_string()))?;
            Ok(VmInfo {
                power_state: vm.state,
                memory_mb: vm.spec.memory_mb,
                vcpus: vm.spec.vcpus,
                pid: None,
            })
        })
    }

    async fn console_output(&self, uuid: &str) -> Result<Vec<u8>> {
        self.with(|vms| {
            let vm = vms
                .get(uuid)
                .ok_or_else(|| VirtError::NotFound(uuid.to_string()))?;
            Ok(vm.console.clone().into_bytes())
        })
    }

    async fn snapshot(&self, uuid: &str, dest: &Path) -> Result<()> {
        self.info(uuid).await?;
        std::fs::write(dest, b"fake snapshot\n")
            .map_err(|e| VirtError::Failed(format!("write fake snapshot: {e}")))
    }

    async fn resize(&self, spec: &VmSpec) -> Result<PowerState> {
        self.with(|vms| {
            let vm = vms
                .get_mut(&spec.uuid)
                .ok_or_else(|| VirtError::NotFound(spec.uuid.clone()))?;
            vm.spec = spec.clone();
            vm.state = PowerState::Running;
            vm.console.push_str("fake: resized\n");
            Ok(PowerState::Running)
        })
    }

    async fn rescue(
        &self,
        spec: &VmSpec,
        rescue_image: &Path,
        _rescue_format: &str,
    ) -> Result<PowerState> {
        self.with(|vms| {
            let vm = vms
                .get_mut(&spec.uuid)
                .ok_or_else(|| VirtError::NotFound(spec.uuid.clone()))?;
            if vm.state == PowerState::Suspended {
                return Err(VirtError::InvalidState(format!(
                    "cannot rescue instance {} in power state Suspended",
                    spec.uuid
                )));
            }
            if vm.rescue.is_some() && vm.state == PowerState::Running {
                return Ok(PowerState::Running);
            }
            vm.rescue = Some(rescue_image.to_path_buf());
            vm.state = PowerState::Running;
            vm.console
                .push_str(&format!("fake: rescued from {}\n", rescue_image.display()));
            Ok(PowerState::Running)
        })
    }

    async fn unrescue(&self, spec: &VmSpec) -> Result<PowerState> {
        self.with(|vms| {
            let vm = vms
                .get_mut(&spec.uuid)
                .ok_or_else(|| VirtError::NotFound(spec.uuid.clone()))?;
            match (vm.rescue.take(), vm.state) {
                (None, PowerState::Running) => return Ok(PowerState::Running),
                (None, PowerState::Suspended | PowerState::Paused) => {
                    return Err(VirtError::InvalidState(format!(
                        "cannot unrescue instance {} in power state {:?}",
                        spec.uuid, vm.state
                    )))
                }
                _ => {}
            }
            vm.state = PowerState::Running;
            vm.console.push_str("fake: unrescued\n");
            Ok(PowerState::Running)
        })
    }

    async fn attach_volume(&self, uuid: &str, volume: &VmVolume) -> Result<()> {
        self.with(|vms| {
            let vm = vms
                .get_mut(uuid)
                .ok_or_else(|| VirtError::NotFound(uuid.to_string()))?;
            if !vm
                .spec
                .volumes
                .iter()
                .any(|v| v.volume_id == volume.volume_id)
            {
                vm.spec.volumes.push(volume.clone());
                vm.console
                    .push_str(&format!("fake: attached {}\n", volume.volume_id));
            }
            Ok(())
        })
    }

    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<()> {
        self.with(|vms| {
            if let Some(vm) = vms.get_mut(uuid) {
                vm.spec.volumes.retain(|v| v.volume_id != volume_id);
            }
            Ok(())
        })
    }

    async fn extend_volume(&self, uuid: &str, volume_id: &str, _new_size_bytes: u64) -> Result<()> {
        self.with(|vms| {
            let vm = vms
                .get(uuid)
                .ok_or_else(|| VirtError::NotFound(uuid.to_string()))?;
            if vm.spec.volumes.iter().any(|v| v.volume_id == volume_id) {
                Ok(())
            } else {
                Err(VirtError::NotFound(volume_id.to_string()))
            }
        })
    }
}

impl FakeDriver {
    /// Ids of the volumes attached to `uuid` (tests).
    pub fn volumes(&self, uuid: &str) -> Vec<String> {
        self.with(|vms| {
            Ok(vms
                .get(uuid)
                .map(|vm| vm.spec.volumes.iter().map(|v| v.volume_id.clone()).collect())
                .unwrap_or_default())
        })
        .unwrap_or_default()
    }

    /// The rescue image `uuid` boots from, while it is rescued (tests).
    pub fn rescue_image(&self, uuid: &str) -> Option<PathBuf> {
        self.with(|vms| Ok(vms.get(uuid).and_then(|vm| vm.rescue.clone())))
            .ok()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(uuid: &str) -> VmSpec {
        VmSpec {
            uuid: uuid.into(),
            name: "vm".into(),
            vcpus: 1,
            memory_mb: 128,
            root_gb: 1,
            base_image: "/nonexistent".into(),
            base_format: "qcow2".into(),
            image_properties: Default::default(),
            config_drive: None,
            nics: Vec::new(),
            boot_volume: None,
            volumes: Vec::new(),
        }
    }

    #[tokio::test]
    async fn states_move_like_a_real_vm() {
        let d = FakeDriver::new(4, 4096, 40);
        assert_eq!(d.spawn(&spec("a")).await.unwrap(), PowerState::Running);
        assert_eq!(
            d.spawn(&spec("a")).await.unwrap(),
            PowerState::Running,
            "idempotent"
        );
        assert_eq!(d.pause("a").await.unwrap(), PowerState::Paused);
        assert!(matches!(
            d.reboot("a", false).await,
            Err(VirtError::InvalidState(_))
        ));
        assert_eq!(d.unpause("a").await.unwrap(), PowerState::Running);
        assert_eq!(d.suspend("a").await.unwrap(), PowerState::Suspended);
        assert_eq!(d.resume(&spec("a")).await.unwrap(), PowerState::Running);
        assert_eq!(
            d.power_off("a", Duration::from_secs(1)).await.unwrap(),
            PowerState::Shutdown
        );
        assert_eq!(d.power_on(&spec("a")).await.unwrap(), PowerState::Running);
        let console = String::from_utf8(d.console_output("a").await.unwrap()).unwrap();
        assert!(console.contains("fake: vm booted"), "{console}");
        d.destroy("a").await.unwrap();
        d.destroy("a").await.unwrap();
        assert!(matches!(d.info("a").await, Err(VirtError::NotFound(_))));
        assert!(d.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn rescue_boots_the_rescue_image_until_unrescue() {
        let d = FakeDriver::new(4, 4096, 40);
        let img = Path::new("/cache/rescue.qcow2");
        assert!(matches!(
            d.rescue(&spec("a"), img, "qcow2").await,
            Err(VirtError::NotFound(_))
        ));
        d.spawn(&spec("a")).await.unwrap();
        assert_eq!(
            d.unrescue(&spec("a")).await.unwrap(),
            PowerState::Running,
            "unrescue of a running VM that is not rescued changes nothing"
        );
        assert_eq!(d.rescue_image("a"), None);

        assert_eq!(
            d.rescue(&spec("a"), img, "qcow2").await.unwrap(),
            PowerState::Running
        );
        assert_eq!(d.rescue_image("a").as_deref(), Some(img));
        assert_eq!(
            d.rescue(&spec("a"), img, "qcow2").await.unwrap(),
            PowerState::Running,
            "idempotent"
        );
        let console = String::from_utf8(d.console_output("a").await.unwrap()).unwrap();
        assert_eq!(
            console
                .matches("fake: rescued from /cache/rescue.qcow2")
                .count(),
            1,
            "{console}"
        );

        // A rescued VM that went down stays rescued; unrescue boots it normally.
        d.power_off("a", Duration::from_secs(1)).await.unwrap();
        assert_eq!(d.rescue_image("a").as_deref(), Some(img));
        assert_eq!(d.unrescue(&spec("a")).await.unwrap(), PowerState::Running);
        assert_eq!(d.rescue_image("a"), None);
        assert_eq!(d.info("a").await.unwrap().power_state, PowerState::Running);
        let console = String::from_utf8(d.console_output("a").await.unwrap()).unwrap();
        assert!(console.ends_with("fake: unrescued\n"), "{console}");

        // A stopped VM can be rescued; a suspended one cannot.
        d.power_off("a", Duration::from_secs(1)).await.unwrap();
        assert_eq!(
            d.rescue(&spec("a"), img, "raw").await.unwrap(),
            PowerState::Running
        );
        d.unrescue(&spec("a")).await.unwrap();
        d.suspend("a").await.unwrap();
        assert!(matches!(
            d.rescue(&spec("a"), img, "qcow2").await,
            Err(VirtError::InvalidState(_))
        ));
        assert!(matches!(
            d.unrescue(&spec("a")).await,
            Err(VirtError::InvalidState(_))
        ));
        assert_eq!(d.rescue_image("a"), None);
    }
}
