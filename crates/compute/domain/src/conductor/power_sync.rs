//! Power-state sync (Nova's `_sync_instance_power_state`, in spirit): an agent reports a
//! VM whose power state changed on its own; the server's vm_state follows when no
//! operation is in progress on it.

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate};
use compute_model::{PowerState, VmState};

use crate::Compute;

/// The vm_state a server in `vm` moves to when its VM is found in `power` (None: stays).
pub(crate) fn follow(vm: VmState, power: PowerState) -> Option<VmState> {
    use PowerState as P;
    match (vm, power) {
        (VmState::Active, P::Shutdown | P::Crashed | P::Suspended) => Some(VmState::Stopped),
        (VmState::Stopped, P::Running) => Some(VmState::Active),
        (VmState::Paused, P::Shutdown | P::Crashed) => Some(VmState::Stopped),
        (VmState::Paused, P::Running) => Some(VmState::Active),
        (VmState::Suspended, P::Running) => Some(VmState::Active),
        _ => None,
    }
}

/// Applies a reported power state to the server `uuid`.
pub(crate) async fn apply(c: &Compute, uuid: &str, power: PowerState) -> Result<()> {
    let Some(i) = c.store.instance_get(uuid, false).await? else {
        return Ok(());
    };
    if i.task_state.is_some() || i.vm_state == VmState::Building {
        // An operation is under way; it settles the state itself.
        return Ok(());
    }
    let vm = follow(i.vm_state, power);
    if vm.is_none() && i.power_state == power {
        return Ok(());
    }
    tracing::info!(instance = uuid, from = i.vm_state.as_str(), ?power, to = ?vm, "power state changed on the host");
    let u = InstanceUpdate {
        expect: Expect {
            generation: Some(i.generation),
            task_states: Some(vec![None]),
            ..Expect::default()
        },
        change: InstanceChange {
            vm_state: vm,
            power_state: Some(power),
            ..InstanceChange::default()
        },
        ..InstanceUpdate::default()
    };
    match c.store.instance_update(uuid, &u).await {
        Ok(_) | Err(Error::Conflict(_)) | Err(Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_nova_in_spirit() {
        assert_eq!(
            follow(VmState::Active, PowerState::Shutdown),
            Some(VmState::Stopped)
        );
        assert_eq!(
            follow(VmState::Active, PowerState::Crashed),
            Some(VmState::Stopped)
        );
        assert_eq!(follow(VmState::Active, PowerState::Paused), None);
        assert_eq!(
            follow(VmState::Stopped, PowerState::Running),
            Some(VmState::Active)
        );
        assert_eq!(follow(VmState::Error, PowerState::Running), None);
        assert_eq!(follow(VmState::Active, PowerState::NoState), None);
    }
}
