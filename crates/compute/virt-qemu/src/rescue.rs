//! Rescue and unrescue. A VM is rescued exactly while `rescue.qcow2` (a fresh overlay on the
//! rescue image, renamed into place only once complete) exists in its directory: every boot
//! then starts from it with the root disk attached second (see [`crate::vm`]'s `boot`), so
//! power-on, reboot and an agent restart keep a rescued VM rescued. Unrescue removes the file
//! and boots normally.

use std::path::Path;
use std::time::Duration;

use compute_virt::{PowerState, VirtError, VmSpec};

use crate::vm::{self, exists, remove_file, Found};
use crate::{disk, invalid, QemuDriver};

/// How long a rescue waits for the guest to power off before stopping it hard.
const RESCUE_POWEROFF_TIMEOUT: Duration = Duration::from_secs(60);

impl QemuDriver {
    pub(crate) async fn rescue_vm(
        &self,
        spec: &VmSpec,
        image: &Path,
        format: &str,
    ) -> Result<PowerState, VirtError> {
        let (paths, _guard) = self.existing(&spec.uuid).await?;
        let rescued = exists(&paths.rescue_disk()).await;
        match vm::find(&paths).await? {
            Found {
                power: PowerState::Suspended,
                ..
            } => return Err(invalid(&spec.uuid, "rescue", PowerState::Suspended)),
            Found {
                power: PowerState::Running,
                live: Some(_),
            } if rescued => return Ok(PowerState::Running),
            Found {
                live: Some(live), ..
            } => vm::stop(&paths, &live, RESCUE_POWEROFF_TIMEOUT).await?,
            Found { live: None, .. } => {}
        }
        self.check_root_disk(&paths, spec, "rescue").await?;
        self.clean_partials(&paths).await;
        // The rescue image's own size: the rescue system needs no more room.
        disk::create_overlay(image, format, &paths.rescue_disk(), 0).await?;
        self.prepare(&paths, spec, false).await?;
        tracing::info!(uuid = %spec.uuid, image = %image.display(), "booting the rescue disk");
        self.boot_saved(&paths).await
    }

    pub(crate) async fn unrescue_vm(&self, spec: &VmSpec) -> Result<PowerState, VirtError> {
        let (paths, _guard) = self.existing(&spec.uuid).await?;
        let rescued = exists(&paths.rescue_disk()).await;
        let found = vm::find(&paths).await?;
        if !rescued {
            match found {
                Found {
                    power: PowerState::Running,
                    live: Some(_),
                } => return Ok(PowerState::Running),
                // Stopped and not rescued (a replay after the overlay was dropped): boot.
                Found {
                    power: PowerState::Shutdown,
                    live: None,
                } => {}
                Found { power, .. } => return Err(invalid(&spec.uuid, "unrescue", power)),
            }
        } else if let Some(live) = found.live {
            // The rescue system is thrown away: no need to shut it down gracefully.
            vm::quit_or_kill(&paths, live.pid).await?;
        }
        remove_file(&paths.saved_state()).await?;
        remove_file(&paths.rescue_disk()).await?;
        self.clean_partials(&paths).await;
        self.check_root_disk(&paths, spec, "unrescue").await?;
        self.prepare(&paths, spec, false).await?;
        tracing::info!(uuid = %spec.uuid, "unrescued; booting the root disk");
        self.boot_saved(&paths).await
    }
}
