//! Nova's three state axes (vm_state, task_state, power_state) and the API `status` they
//! map to.

use serde::{Deserialize, Serialize};

/// The stable state of an instance (Nova's `vm_states`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VmState {
    Building,
    Active,
    Stopped,
    Paused,
    Suspended,
    Rescued,
    Resized,
    Shelved,
    ShelvedOffloaded,
    SoftDeleted,
    Deleted,
    Error,
}

impl VmState {
    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Building => "building",
            VmState::Active => "active",
            VmState::Stopped => "stopped",
            VmState::Paused => "paused",
            VmState::Suspended => "suspended",
            VmState::Rescued => "rescued",
            VmState::Resized => "resized",
            VmState::Shelved => "shelved",
            VmState::ShelvedOffloaded => "shelved_offloaded",
            VmState::SoftDeleted => "soft-delete",
            VmState::Deleted => "deleted",
            VmState::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<VmState> {
        Some(match s {
            "building" => VmState::Building,
            "active" => VmState::Active,
            "stopped" => VmState::Stopped,
            "paused" => VmState::Paused,
            "suspended" => VmState::Suspended,
            "rescued" => VmState::Rescued,
            "resized" => VmState::Resized,
            "shelved" => VmState::Shelved,
            "shelved_offloaded" => VmState::ShelvedOffloaded,
            "soft-delete" => VmState::SoftDeleted,
            "deleted" => VmState::Deleted,
            "error" => VmState::Error,
            _ => return None,
        })
    }
}

/// What is happening to an instance right now (Nova's `task_states`), `None` when idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Scheduling,
    BlockDeviceMapping,
    Networking,
    Spawning,
    ImageSnapshot,
    ImageSnapshotPending,
    ImageUploading,
    Rebooting,
    RebootingHard,
    Pausing,
    Unpausing,
    Suspending,
    Resuming,
    PoweringOff,
    PoweringOn,
    Rescuing,
    Unrescuing,
    Rebuilding,
    ResizePrep,
    ResizeMigrating,
    ResizeMigrated,
    ResizeFinish,
    ResizeReverting,
    ResizeConfirming,
    Shelving,
    ShelvingImageUploading,
    ShelvingOffloading,
    Unshelving,
    Deleting,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Scheduling => "scheduling",
            TaskState::BlockDeviceMapping => "block_device_mapping",
            TaskState::Networking => "networking",
            TaskState::Spawning => "spawning",
            TaskState::ImageSnapshot => "image_snapshot",
            TaskState::ImageSnapshotPending => "image_snapshot_pending",
            TaskState::ImageUploading => "image_uploading",
            TaskState::Rebooting => "rebooting",
            TaskState::RebootingHard => "rebooting_hard",
            TaskState::Pausing => "pausing",
            TaskState::Unpausing => "unpausing",
            TaskState::Suspending => "suspending",
            TaskState::Resuming => "resuming",
            TaskState::PoweringOff => "powering-off",
            TaskState::PoweringOn => "powering-on",
            TaskState::Rescuing => "rescuing",
            TaskState::Unrescuing => "unrescuing",
            TaskState::Rebuilding => "rebuilding",
            TaskState::ResizePrep => "resize_prep",
            TaskState::ResizeMigrating => "resize_migrating",
            TaskState::ResizeMigrated => "resize_migrated",
            TaskState::ResizeFinish => "resize_finish",
            TaskState::ResizeReverting => "resize_reverting",
            TaskState::ResizeConfirming => "resize_confirming",
            TaskState::Shelving => "shelving",
            TaskState::ShelvingImageUploading => "shelving_image_uploading",
            TaskState::ShelvingOffloading => "shelving_offloading",
            TaskState::Unshelving => "unshelving",
            TaskState::Deleting => "deleting",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        const ALL: [TaskState; 29] = [
            TaskState::Scheduling,
            TaskState::BlockDeviceMapping,
            TaskState::Networking,
            TaskState::Spawning,
            TaskState::ImageSnapshot,
            TaskState::ImageSnapshotPending,
            TaskState::ImageUploading,
            TaskState::Rebooting,
            TaskState::RebootingHard,
            TaskState::Pausing,
            TaskState::Unpausing,
            TaskState::Suspending,
            TaskState::Resuming,
            TaskState::PoweringOff,
            TaskState::PoweringOn,
            TaskState::Rescuing,
            TaskState::Unrescuing,
            TaskState::Rebuilding,
            TaskState::ResizePrep,
            TaskState::ResizeMigrating,
            TaskState::ResizeMigrated,
            TaskState::ResizeFinish,
            TaskState::ResizeReverting,
            TaskState::ResizeConfirming,
            TaskState::Shelving,
            TaskState::ShelvingImageUploading,
            TaskState::ShelvingOffloading,
            TaskState::Unshelving,
            TaskState::Deleting,
        ];
        ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What the hypervisor says (Nova's `power_state` integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PowerState {
    NoState = 0,
    Running = 1,
    Paused = 3,
    Shutdown = 4,
    Crashed = 6,
    Suspended = 7,
}

impl PowerState {
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(c: i64) -> PowerState {
        match c {
            1 => PowerState::Running,
            3 => PowerState::Paused,
            4 => PowerState::Shutdown,
            6 => PowerState::Crashed,
            7 => PowerState::Suspended,
            _ => PowerState::NoState,
        }
    }
}

/// The API `status` of a server (Nova's `common.status_from_state`).
pub fn status(vm: VmState, task: Option<TaskState>) -> &'static str {
    use TaskState as T;
    match vm {
        VmState::Active => match task {
            Some(T::Rebooting) => "REBOOT",
            Some(T::RebootingHard) => "HARD_REBOOT",
            Some(T::Rebuilding) => "REBUILD",
            Some(T::ResizePrep | T::ResizeMigrating | T::ResizeMigrated | T::ResizeFinish) => {
                "RESIZE"
            }
            Some(T::ResizeReverting) => "REVERT_RESIZE",
            _ => "ACTIVE",
        },
        VmState::Building => "BUILD",
        VmState::Stopped => match task {
            Some(T::ResizePrep | T::ResizeMigrating | T::ResizeMigrated | T::ResizeFinish) => {
                "RESIZE"
            }
            Some(T::Rebuilding) => "REBUILD",
            _ => "SHUTOFF",
        },
        VmState::Resized => match task {
            Some(T::ResizeReverting) => "REVERT_RESIZE",
            _ => "VERIFY_RESIZE",
        },
        VmState::Paused => "PAUSED",
        VmState::Suspended => "SUSPENDED",
        VmState::Rescued => "RESCUE",
        VmState::Error => match task {
            Some(T::Rebuilding) => "REBUILD",
            _ => "ERROR",
        },
        VmState::Deleted => "DELETED",
        VmState::SoftDeleted => "SOFT_DELETED",
        VmState::Shelved => "SHELVED",
        VmState::ShelvedOffloaded => "SHELVED_OFFLOADED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in [
            VmState::Active,
            VmState::ShelvedOffloaded,
            VmState::SoftDeleted,
        ] {
            assert_eq!(VmState::parse(v.as_str()), Some(v));
        }
        for t in [
            TaskState::PoweringOff,
            TaskState::Deleting,
            TaskState::ResizeFinish,
        ] {
            assert_eq!(TaskState::parse(t.as_str()), Some(t));
        }
        assert_eq!(
            PowerState::from_code(PowerState::Suspended.code()),
            PowerState::Suspended
        );
    }

    #[test]
    fn status_follows_nova() {
        assert_eq!(status(VmState::Active, None), "ACTIVE");
        assert_eq!(
            status(VmState::Active, Some(TaskState::RebootingHard)),
            "HARD_REBOOT"
        );
        assert_eq!(status(VmState::Stopped, None), "SHUTOFF");
        assert_eq!(status(VmState::Resized, None), "VERIFY_RESIZE");
        assert_eq!(
            status(VmState::Building, Some(TaskState::Spawning)),
            "BUILD"
        );
    }
}
