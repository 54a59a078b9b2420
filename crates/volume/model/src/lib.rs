//! The block storage service's vocabulary: volumes, snapshots and attachments as the domain
//! and API layers share them, Cinder's status values, and the volume driver contract
//! ([`driver`]).

pub mod driver;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::driver::Connection;

/// Defines a status enum with Cinder's exact strings.
macro_rules! statuses {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Cinder's string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The status named `text`, if it is one.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    /// A volume's `status`.
    VolumeStatus {
        Creating = "creating",
        Available = "available",
        Reserved = "reserved",
        Attaching = "attaching",
        Detaching = "detaching",
        InUse = "in-use",
        Maintenance = "maintenance",
        Deleting = "deleting",
        AwaitingTransfer = "awaiting-transfer",
        Error = "error",
        ErrorDeleting = "error_deleting",
        BackingUp = "backing-up",
        RestoringBackup = "restoring-backup",
        ErrorRestoring = "error_restoring",
        ErrorExtending = "error_extending",
        Extending = "extending",
        Downloading = "downloading",
        Uploading = "uploading",
        Retyping = "retyping",
    }
}

impl VolumeStatus {
    /// A status an operation passes through: a volume found in it at start-up was caught
    /// mid-operation by a crash, and recovery redoes or rolls the operation back.
    pub fn is_transitional(self) -> bool {
        matches!(
            self,
            VolumeStatus::Creating
                | VolumeStatus::Attaching
                | VolumeStatus::Detaching
                | VolumeStatus::Deleting
                | VolumeStatus::BackingUp
                | VolumeStatus::RestoringBackup
                | VolumeStatus::Extending
                | VolumeStatus::Downloading
                | VolumeStatus::Uploading
                | VolumeStatus::Retyping
        )
    }
}

statuses! {
    /// A volume's (and an attachment's) `attach_status`.
    AttachStatus {
        Attached = "attached",
        Attaching = "attaching",
        Detached = "detached",
        Reserved = "reserved",
        ErrorAttaching = "error_attaching",
        ErrorDetaching = "error_detaching",
        Deleted = "deleted",
    }
}

statuses! {
    /// A snapshot's `status`.
    SnapshotStatus {
        Creating = "creating",
        Available = "available",
        Deleting = "deleting",
        Error = "error",
        ErrorDeleting = "error_deleting",
        Restoring = "restoring",
    }
}

/// One attachment of a volume to a server (Cinder's v3 attachment record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    pub volume_id: String,
    /// The server, when the attachment is for one.
    pub instance_uuid: Option<String>,
    /// The compute host, once a connector was given.
    pub attached_host: Option<String>,
    /// The guest device (`/dev/vdb`), once known.
    pub mountpoint: Option<String>,
    pub attach_status: AttachStatus,
    /// `rw` or `ro`.
    pub attach_mode: String,
    /// How the host reaches the volume, once exported.
    pub connection_info: Option<Connection>,
    pub attached_at: Option<String>,
    pub detached_at: Option<String>,
}

/// A volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// GiB.
    pub size: i64,
    pub status: VolumeStatus,
    pub attach_status: AttachStatus,
    pub availability_zone: String,
    pub volume_type_id: String,
    pub bootable: bool,
    pub multiattach: bool,
    pub read_only: bool,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    /// The image a volume was made from (`volume_image_metadata.image_id`).
    pub image_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Image properties copied at creation from an image.
    pub image_metadata: BTreeMap<String, String>,
    /// The backend host (`os-vol-host-attr:host`).
    pub host: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    /// Live attachments (not deleted).
    pub attachments: Vec<Attachment>,
}

/// A snapshot of a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub volume_id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// GiB (the volume's size when taken).
    pub size: i64,
    pub status: SnapshotStatus,
    pub metadata: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_with_cinders_strings() {
        for s in VolumeStatus::ALL {
            assert_eq!(VolumeStatus::parse(s.as_str()), Some(*s));
            let json = serde_json::to_string(s).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(VolumeStatus::InUse.as_str(), "in-use");
        assert_eq!(VolumeStatus::ErrorDeleting.as_str(), "error_deleting");
        assert_eq!(VolumeStatus::parse("in_use"), None);
        for s in AttachStatus::ALL {
            assert_eq!(AttachStatus::parse(s.as_str()), Some(*s));
        }
        for s in SnapshotStatus::ALL {
            assert_eq!(SnapshotStatus::parse(s.as_str()), Some(*s));
        }
    }

    #[test]
    fn only_passing_states_are_transitional() {
        assert!(VolumeStatus::Creating.is_transitional());
        assert!(VolumeStatus::Detaching.is_transitional());
        assert!(!VolumeStatus::Available.is_transitional());
        assert!(!VolumeStatus::InUse.is_transitional());
        assert!(!VolumeStatus::Error.is_transitional());
        assert!(!VolumeStatus::Reserved.is_transitional());
    }

    #[test]
    fn connection_info_reads_like_cinders() {
        let c = Connection::Local {
            device_path: "/v/x.raw".into(),
            format: "raw".into(),
        };
        let v = serde_json::to_value(&c).unwrap_or_default();
        assert_eq!(v["driver_volume_type"], "local");
        assert_eq!(v["data"]["device_path"], "/v/x.raw");
    }
}
