//! Volumes: hot-plug and hot-unplug over QMP, and their record in `spec.json`.
//!
//! A volume is a block node `v<id>` (`blockdev-add` on the volume's file or NBD export) and
//! a virtio-blk-pci device `d<id>` on it (see [`crate::cmdline::BlockVolume`]), in a PCI slot
//! of its own that is recorded with it, so every later boot (and a restore from saved
//! memory) puts it back where the guest had it. Attach plugs what is missing of the two and
//! then records the volume; detach asks the guest to release the device (`device_del`, then
//! the `DEVICE_DELETED` event naming our device), deletes the node and forgets the volume.
//! Both look at what QEMU has before acting, so a replay after a crash finishes the job. A
//! VM without a process only has its record changed; a suspended one refuses (its saved
//! memory fixes its devices).

use std::time::Duration;

use compute_virt::{PowerState, VirtError, VmVolume};
use serde_json::{json, Value};

use crate::cmdline::{self, BlockVolume, VmPaths};
use crate::disk::{self, SavedSpec, SavedVolume};
use crate::qmp::{Qmp, QmpError};
use crate::vm::{self, block_volume, qmp, qmp_err, Found};
use crate::{invalid, QemuDriver};

/// How long a detach waits for the guest to release the device.
const UNPLUG_TIMEOUT: Duration = Duration::from_secs(30);

/// True when the VM has a QEMU process to hot-plug into (running, paused or crashed); false
/// when none runs. A suspended VM cannot change its devices.
async fn live_for(paths: &VmPaths, uuid: &str, what: &str) -> Result<bool, VirtError> {
    match vm::find(paths).await? {
        Found {
            power: PowerState::Suspended,
            ..
        } => Err(invalid(uuid, what, PowerState::Suspended)),
        Found { live, .. } => Ok(live.is_some()),
    }
}

/// True when the block node `node` exists.
async fn has_node(q: &mut Qmp, node: &str) -> Result<bool, VirtError> {
    let nodes = q
        .execute("query-named-block-nodes", Some(json!({"flat": true})))
        .await
        .map_err(qmp_err("query-named-block-nodes"))?;
    Ok(nodes.as_array().is_some_and(|a| {
        a.iter()
            .any(|n| n.get("node-name").and_then(Value::as_str) == Some(node))
    }))
}

/// True when the device `id` exists (user-created devices live under `/machine/peripheral`).
async fn has_device(q: &mut Qmp, id: &str) -> Result<bool, VirtError> {
    let devices = q
        .execute("qom-list", Some(json!({"path": "/machine/peripheral"})))
        .await
        .map_err(qmp_err("qom-list"))?;
    Ok(devices.as_array().is_some_and(|a| {
        a.iter()
            .any(|d| d.get("name").and_then(Value::as_str) == Some(id))
    }))
}

/// Plugs `v` into a running QEMU: what is missing of its node and device.
async fn plug(paths: &VmPaths, v: &BlockVolume) -> Result<(), VirtError> {
    let mut q = qmp(paths).await?;
    if !has_node(&mut q, &v.node).await? {
        q.execute("blockdev-add", Some(v.blockdev()))
            .await
            .map_err(qmp_err("blockdev-add"))?;
    }
    if !has_device(&mut q, &v.device).await? {
        if let Err(e) = q.execute("device_add", Some(v.device())).await {
            // Do not leave a node nobody uses (a replay adds it again).
            let _ = q
                .execute("blockdev-del", Some(json!({"node-name": v.node})))
                .await;
            return Err(qmp_err("device_add")(e));
        }
    }
    Ok(())
}

/// Unplugs a volume from a running QEMU: the guest releases the device, then the node goes.
async fn unplug(paths: &VmPaths, node: &str, device: &str) -> Result<(), VirtError> {
    let mut q = qmp(paths).await?;
    if has_device(&mut q, device).await? {
        match q.execute("device_del", Some(json!({"id": device}))).await {
            Ok(_) => {}
            // An earlier attempt's unplug still pending: wait for it like for ours.
            Err(QmpError::Command { desc, .. }) if desc.contains("in the process of unplug") => {}
            Err(e) => return Err(qmp_err("device_del")(e)),
        }
        let wanted = device.to_string();
        let deleted = q
            .wait_event("DEVICE_DELETED", UNPLUG_TIMEOUT, |d| {
                d.get("device").and_then(Value::as_str) == Some(wanted.as_str())
            })
            .await
            .map_err(qmp_err("waiting for DEVICE_DELETED"))?;
        // A timed-out wait may have cut a line in half: ask on a fresh connection (QEMU
        // serves one client at a time, so the old one goes first).
        drop(q);
        q = qmp(paths).await?;
        if !deleted && has_device(&mut q, device).await? {
            return Err(VirtError::Failed(format!(
                "detach: the guest did not release device {} within {UNPLUG_TIMEOUT:?}",
                device
            )));
        }
    }
    if has_node(&mut q, node).await? {
        q.execute("blockdev-del", Some(json!({"node-name": node})))
            .await
            .map_err(qmp_err("blockdev-del"))?;
    }
    Ok(())
}

impl QemuDriver {
    pub(crate) async fn attach(&self, uuid: &str, volume: &VmVolume) -> Result<(), VirtError> {
        let (paths, _guard) = self.existing(uuid).await?;
        let mut saved = disk::read_spec(&paths).await?;
        if saved
            .boot_volume
            .as_ref()
            .is_some_and(|b| b.volume_id == volume.volume_id)
        {
            return Err(VirtError::InvalidState(format!(
                "volume {} is the root disk of instance {uuid}",
                volume.volume_id
            )));
        }
        let slot = match saved.volume(&volume.volume_id) {
            Some(v) => v.slot,
            None => saved.free_slot().ok_or_else(|| {
                VirtError::InvalidState(format!(
                    "instance {uuid} has {} volumes attached already",
                    cmdline::MAX_VOLUMES
                ))
            })?,
        };
        block_volume(volume, Some(slot))?;
        let live = live_for(&paths, uuid, "attach a volume to").await?;
        // A plugged volume keeps the target it was plugged with; a stopped VM takes the
        // current one.
        let volume = match saved.volume(&volume.volume_id) {
            Some(known) if live => known.volume.clone(),
            _ => volume.clone(),
        };
        if live {
            let bv = block_volume(&volume, Some(slot))?;
            plug(&paths, &bv).await?;
            tracing::info!(%uuid, volume = %volume.volume_id, device = %bv.device, "volume plugged");
        }
        match saved
            .volumes
            .iter_mut()
            .find(|v| v.volume.volume_id == volume.volume_id)
        {
            Some(known) if known.volume == volume => return Ok(()),
            Some(known) => known.volume = volume,
            None => saved.volumes.push(SavedVolume { volume, slot }),
        }
        disk::write_spec(&paths, &saved).await
    }

    pub(crate) async fn detach(&self, uuid: &str, volume_id: &str) -> Result<(), VirtError> {
        let (paths, _guard) = self.existing(uuid).await?;
        let mut saved = disk::read_spec(&paths).await?;
        if saved
            .boot_volume
            .as_ref()
            .is_some_and(|b| b.volume_id == volume_id)
        {
            return Err(VirtError::InvalidState(format!(
                "volume {volume_id} is the root disk of instance {uuid}"
            )));
        }
        let Some((node, device)) = cmdline::names(volume_id) else {
            return Ok(());
        };
        if live_for(&paths, uuid, "detach a volume from").await? {
            // Also when not recorded: an attach may have plugged it before a crash.
            unplug(&paths, &node, &device).await?;
            tracing::info!(%uuid, volume = %volume_id, "volume unplugged");
        }
        if saved.volume(volume_id).is_some() {
            saved.volumes.retain(|v| v.volume.volume_id != volume_id);
            disk::write_spec(&paths, &saved).await?;
        }
        Ok(())
    }

    pub(crate) async fn extend(
        &self,
        uuid: &str,
        volume_id: &str,
        new_size_bytes: u64,
    ) -> Result<(), VirtError> {
        let (paths, _guard) = self.existing(uuid).await?;
        let saved: SavedSpec = disk::read_spec(&paths).await?;
        let attached = saved.volume(volume_id).is_some()
            || saved
                .boot_volume
                .as_ref()
                .is_some_and(|b| b.volume_id == volume_id);
        if !attached {
            return Err(VirtError::InvalidState(format!(
                "volume {volume_id} is not attached to instance {uuid}"
            )));
        }
        let Some((node, _)) = cmdline::names(volume_id) else {
            return Ok(());
        };
        // A stopped VM sees the new size when it boots.
        if !live_for(&paths, uuid, "extend a volume of").await? {
            return Ok(());
        }
        let mut q = qmp(&paths).await?;
        q.execute(
            "block_resize",
            Some(json!({"node-name": node, "size": new_size_bytes})),
        )
        .await
        .map_err(qmp_err("block_resize"))?;
        Ok(())
    }
}
