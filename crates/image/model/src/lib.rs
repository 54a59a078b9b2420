//! The image service's data types: images with their status and visibility, custom
//! properties and tags, image members, list filters. Plain data shared by the store, the
//! domain layer and the API; no I/O and no other service's types.

use std::collections::BTreeMap;

use common_error::{Error, Result};

/// Disk formats Glance accepts by default (`[image_format] disk_formats`).
pub const DISK_FORMATS: &[&str] = &[
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];

/// Container formats Glance accepts by default (`[image_format] container_formats`).
pub const CONTAINER_FORMATS: &[&str] = &[
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];

/// The secure hash Glance computes on upload (`hashing_algorithm`).
pub const HASH_ALGO: &str = "sha512";

/// An image's life-cycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Queued,
    Saving,
    Active,
    Killed,
    Deleted,
    Uploading,
    Importing,
    PendingDelete,
    Deactivated,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Queued,
        Status::Saving,
        Status::Active,
        Status::Killed,
        Status::Deleted,
        Status::Uploading,
        Status::Importing,
        Status::PendingDelete,
        Status::Deactivated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Saving => "saving",
            Status::Active => "active",
            Status::Killed => "killed",
            Status::Deleted => "deleted",
            Status::Uploading => "uploading",
            Status::Importing => "importing",
            Status::PendingDelete => "pending_delete",
            Status::Deactivated => "deactivated",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The states this one may move to (Glance's `valid_state_targets`).
    pub fn targets(self) -> &'static [Status] {
        use Status::*;
        match self {
            Queued => &[Saving, Uploading, Importing, Active, Deleted],
            Saving => &[Active, Killed, Deleted, Queued],
            Uploading => &[Importing, Queued, Deleted],
            Importing => &[Active, Deleted, Queued],
            Active => &[PendingDelete, Deleted, Deactivated],
            Killed => &[Deleted],
            PendingDelete => &[Deleted, Active],
            Deleted => &[],
            Deactivated => &[Active, Deleted],
        }
    }

    /// `Ok` when `self → to` is allowed, else Glance's 409 wording.
    pub fn check_transition(self, to: Status) -> Result<()> {
        if self.targets().contains(&to) {
            Ok(())
        } else {
            Err(Error::Conflict(format!(
                "Image status transition from {} to {} is not allowed",
                self.as_str(),
                to.as_str()
            )))
        }
    }
}

/// Who may see an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    Public,
    Community,
    Shared,
    Private,
}

impl Visibility {
    pub const ALL: [Visibility; 4] = [
        Visibility::Community,
        Visibility::Public,
        Visibility::Private,
        Visibility::Shared,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Community => "community",
            Visibility::Shared => "shared",
            Visibility::Private => "private",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        Visibility::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// An image record.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    pub status: Status,
    pub visibility: Visibility,
    pub protected: bool,
    pub os_hidden: bool,
    pub owner: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub size: Option<i64>,
    pub virtual_size: Option<i64>,
    /// MD5 of the data, hex.
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    /// Stored as `YYYY-MM-DDTHH:MM:SS.ffffff` (UTC), rendered to the second.
    pub created_at: String,
    pub updated_at: String,
    /// Sorted, unique.
    pub tags: Vec<String>,
    /// Custom properties (always strings in Glance v2).
    pub properties: BTreeMap<String, String>,
    /// The key of the stored data in the image store; internal, never rendered.
    pub blob: Option<String>,
    /// Bumped on every write; updates compare and set on it.
    pub generation: i64,
}

/// An image shared with another project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub image_id: String,
    pub member_id: String,
    pub status: MemberStatus,
    pub created_at: String,
    pub updated_at: String,
}

/// A membership's state, set by the consumer project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    Pending,
    Accepted,
    Rejected,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Pending => "pending",
            MemberStatus::Accepted => "accepted",
            MemberStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<MemberStatus> {
        [
            MemberStatus::Pending,
            MemberStatus::Accepted,
            MemberStatus::Rejected,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// Data staged for the `glance-direct` import, waiting for `POST /import`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub image_id: String,
    pub blob: String,
    pub size: i64,
    pub checksum: String,
    pub os_hash_value: String,
    /// What inspection of the staged bytes found (`qcow2`, `raw`, ...).
    pub detected_format: String,
    pub virtual_size: Option<i64>,
    /// Why the bytes failed the safety checks, if they did.
    pub unsafe_reason: Option<String>,
}

/// A comparison in a list filter (`gte:2026-01-01T00:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CmpOp {
    pub fn parse(s: &str) -> Option<CmpOp> {
        Some(match s {
            "eq" => CmpOp::Eq,
            "neq" => CmpOp::Neq,
            "gt" => CmpOp::Gt,
            "gte" => CmpOp::Gte,
            "lt" => CmpOp::Lt,
            "lte" => CmpOp::Lte,
            _ => return None,
        })
    }

    pub fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Neq => "<>",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }
}

/// Columns an image list may be sorted by.
pub const SORT_KEYS: &[&str] = &[
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
];

/// A parsed image list request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// An admin sees every image (Glance's `is_admin`).
    pub is_admin: bool,
    /// The caller's project: its own images, and shared images it is a member of.
    pub project_id: Option<String>,
    /// Shared images are listed for a member whose membership has this status (`None`: any).
    pub member_status: Option<MemberStatus>,
    /// `Some(v)`: only that visibility; `None`: all but other projects' community images.
    pub visibility: Option<Visibility>,
    /// `visibility=all`: no visibility restriction beyond the scope.
    pub visibility_all: bool,
    /// Column equality or `in:` lists: (`name`|`id`|`status`|`disk_format`|`container_format`
    /// |`owner`|`checksum`|`os_hash_value`|..., values).
    pub columns_in: Vec<(String, Vec<String>)>,
    /// Integer column equality (`min_ram`, `min_disk`, `virtual_size`, `size`).
    pub int_eq: Vec<(String, i64)>,
    /// `<column>_min` / `_max` ranges: (column, op, value).
    pub ranges: Vec<(String, CmpOp, i64)>,
    /// `created_at` / `updated_at` comparisons, values in storage format.
    pub times: Vec<(String, CmpOp, String)>,
    pub protected: Option<bool>,
    pub os_hidden: bool,
    pub tags: Vec<String>,
    /// Custom property equality.
    pub properties: Vec<(String, String)>,
    /// (key, descending).
    pub sort: Vec<(String, bool)>,
    pub marker: Option<String>,
    pub limit: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            is_admin: false,
            project_id: None,
            member_status: Some(MemberStatus::Accepted),
            visibility: None,
            visibility_all: false,
            columns_in: Vec::new(),
            int_eq: Vec::new(),
            ranges: Vec::new(),
            times: Vec::new(),
            protected: None,
            os_hidden: false,
            tags: Vec::new(),
            properties: Vec::new(),
            sort: vec![("created_at".into(), true)],
            marker: None,
            limit: 25,
        }
    }
}

/// What a project holds, for quotas and `GET /v2/info/usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Images not deleted.
    pub count: i64,
    /// Bytes of active and staged data.
    pub bytes: i64,
    /// Bytes staged for import.
    pub staged_bytes: i64,
    /// Images being uploaded or staged.
    pub uploading: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_machine_follows_glance() {
        assert!(Status::Queued.check_transition(Status::Saving).is_ok());
        assert!(Status::Saving.check_transition(Status::Queued).is_ok());
        let e = Status::Active.check_transition(Status::Saving).unwrap_err();
        assert_eq!(e.status(), 409);
        assert_eq!(
            e.to_string(),
            "Image status transition from active to saving is not allowed"
        );
        assert!(Status::Deleted.targets().is_empty());
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn parsing_rejects_unknown_words() {
        assert_eq!(Visibility::parse("everyone"), None);
        assert_eq!(MemberStatus::parse("maybe"), None);
        assert_eq!(CmpOp::parse("gte"), Some(CmpOp::Gte));
        assert_eq!(CmpOp::parse("like"), None);
    }
}
