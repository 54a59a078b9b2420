//! Servers: create (quota, scheduling hand-off to the conductor), show, list, update,
//! delete, metadata and tags. Visibility: a caller sees its project's servers; admins see
//! all with `all_tenants`. What a caller may not see is `NotFound`, never `Forbidden`.
//!
//! The signatures here are the contract the API codes against.

pub(crate) mod create;
mod list;

pub use list::{MAX_LIMIT, SORT_KEYS};

use std::collections::BTreeMap;

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate, NewWorkflow};
use compute_model::{Instance, InstanceAction, InstanceActionEvent, TaskState, VmState};

use crate::workflows::{delete::DeleteState, Caller};
use crate::{Compute, Context};

/// Most tags a server may have (Nova's `MAX_TAGS`).
pub const MAX_TAGS: i64 = 50;

/// `networks` of a create request (required from 2.37).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Networks {
    /// Not given (allowed before 2.37; treated as `auto`).
    Unspecified,
    None,
    Auto,
    /// Explicit requests: each a network uuid, a port id or a fixed IP.
    List(Vec<NetworkRequest>),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkRequest {
    pub uuid: Option<String>,
    pub port: Option<String>,
    pub fixed_ip: Option<String>,
    pub tag: Option<String>,
}

/// One `block_device_mapping_v2` entry (OSC always sends the image one beside `imageRef`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockDevice {
    pub uuid: Option<String>,
    pub source_type: String,
    pub destination_type: Option<String>,
    pub boot_index: Option<i64>,
    pub volume_size: Option<i64>,
    pub delete_on_termination: bool,
}

/// A validated `POST /servers` body (the API checks shapes; the domain checks meaning).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerCreate {
    pub name: String,
    /// `imageRef` (an id; the API strips a URL to its last segment). Empty/None with a
    /// volume BDM means boot from volume.
    pub image_ref: Option<String>,
    /// `flavorRef` as an id (URL stripped by the API).
    pub flavor_ref: String,
    pub networks: Option<Networks>,
    /// `security_groups` names (or ids) for the ports compute creates; empty: `default`.
    pub security_groups: Vec<String>,
    pub key_name: Option<String>,
    /// Base64, as sent (the API has checked it decodes and its size).
    pub user_data: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub availability_zone: Option<String>,
    /// `os:scheduler_hints.group`.
    pub group: Option<String>,
    pub min_count: i64,
    pub max_count: i64,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub config_drive: bool,
    pub hostname: Option<String>,
    pub access_ip_v4: Option<String>,
    pub access_ip_v6: Option<String>,
    pub block_devices: Vec<BlockDevice>,
}

/// Filters and paging of `GET /servers[/detail]` (already authorised by the API: non-admin
/// callers never get `all_tenants`, `host` or other projects).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerFilter {
    /// Substring (Nova: regex) match on the name.
    pub name: Option<String>,
    /// API status names (`ACTIVE`, `SHUTOFF`, ...).
    pub status: Vec<String>,
    pub host: Option<String>,
    pub image: Option<String>,
    pub flavor: Option<String>,
    pub changes_since: Option<String>,
    pub changes_before: Option<String>,
    /// List every project's servers (admin's `all_tenants`).
    pub all_tenants: bool,
    /// Only this project's servers (admin with `project_id`/`tenant_id`).
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    pub availability_zone: Option<String>,
    pub locked: Option<bool>,
    pub tags: Vec<String>,
    pub tags_any: Vec<String>,
    pub not_tags: Vec<String>,
    pub not_tags_any: Vec<String>,
    /// Include deleted servers (admin's `deleted=True`).
    pub deleted: bool,
    pub limit: Option<usize>,
    pub marker: Option<String>,
    /// (key, dir) pairs; default `created_at desc`.
    pub sort: Vec<(String, String)>,
}

/// A `PUT /servers/{id}` body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerUpdate {
    pub name: Option<String>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
    pub hostname: Option<String>,
    pub access_ip_v4: Option<String>,
    pub access_ip_v6: Option<String>,
}

/// Nova's 409 for an action in the wrong state.
pub(crate) fn invalid_state(action: &str, i: &Instance, attr: &str) -> Error {
    let state = match attr {
        "task_state" => i
            .task_state
            .map(TaskState::as_str)
            .unwrap_or("None")
            .to_string(),
        _ => i.vm_state.as_str().to_string(),
    };
    Error::Conflict(format!(
        "Cannot '{action}' instance {} while it is in {attr} {state}",
        i.uuid
    ))
}

/// Checks Nova's `check_instance_state`: `vm` (empty: any) and `task` (None: any).
pub(crate) fn check_state(
    action: &str,
    i: &Instance,
    vm: &[VmState],
    task: Option<&[Option<TaskState>]>,
) -> Result<()> {
    if !vm.is_empty() && !vm.contains(&i.vm_state) {
        return Err(invalid_state(action, i, "vm_state"));
    }
    if let Some(t) = task {
        if !t.contains(&i.task_state) {
            return Err(invalid_state(action, i, "task_state"));
        }
    }
    Ok(())
}

/// Nova's `check_instance_lock`: a locked server refuses non-admins.
pub(crate) fn check_lock(ctx: &Context, i: &Instance) -> Result<()> {
    if i.locked && !ctx.is_admin {
        return Err(Error::Conflict(format!("Instance {} is locked", i.uuid)));
    }
    Ok(())
}

/// An instance action record for `ctx`'s request.
pub(crate) fn action_record(ctx: &Context, i: &Instance, action: &str) -> InstanceAction {
    let now = compute_db::now_text();
    InstanceAction {
        instance_uuid: i.uuid.clone(),
        request_id: request_id(ctx),
        action: action.to_string(),
        project_id: ctx.project_id.clone(),
        user_id: ctx.user_id.clone(),
        start_time: now.clone(),
        updated_at: now,
        message: None,
    }
}

/// The request id to record (a fresh one when the caller has none).
pub(crate) fn request_id(ctx: &Context) -> String {
    if ctx.request_id.is_empty() {
        format!("req-{}", uuid::Uuid::new_v4())
    } else {
        ctx.request_id.clone()
    }
}

impl Compute {
    /// A server `ctx` may see (its project's, or any for admins), else `NotFound`.
    pub(crate) async fn visible(
        &self,
        ctx: &Context,
        uuid: &str,
        read_deleted: bool,
    ) -> Result<Instance> {
        match self.store.instance_get(uuid, read_deleted).await? {
            Some(i) if ctx.is_admin || i.project_id == ctx.project_id => Ok(i),
            _ => Err(Error::not_found("server", uuid)),
        }
    }

    /// `project_id`'s quota limits (configured defaults overridden by its own).
    pub(crate) async fn limits(&self, project_id: &str) -> Result<BTreeMap<String, i64>> {
        let c = &self.cfg;
        let defaults: BTreeMap<String, i64> = [
            ("instances", c.quota_instances),
            ("cores", c.quota_cores),
            ("ram", c.quota_ram),
            ("key_pairs", c.quota_key_pairs),
            ("server_groups", c.quota_server_groups),
            ("server_group_members", c.quota_server_group_members),
            ("metadata_items", c.quota_metadata_items),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        self.store.quota_limits(project_id, &defaults).await
    }

    /// Creates `max_count` servers (at least `min_count` within quota, else `Forbidden`
    /// with Nova's quota message), records them BUILDING and starts a build workflow for
    /// each. Returns them in launch order.
    pub async fn server_create(&self, ctx: &Context, req: ServerCreate) -> Result<Vec<Instance>> {
        create::create(self, ctx, req).await
    }

    /// A server the caller may see (its project, or any for admins), else `NotFound`.
    pub async fn server_get(&self, ctx: &Context, uuid: &str) -> Result<Instance> {
        self.visible(ctx, uuid, false).await
    }

    pub async fn server_list(&self, ctx: &Context, f: &ServerFilter) -> Result<Vec<Instance>> {
        list::list(self, ctx, f).await
    }

    pub async fn server_update(
        &self,
        ctx: &Context,
        uuid: &str,
        u: ServerUpdate,
    ) -> Result<Instance> {
        self.visible(ctx, uuid, false).await?;
        let change = InstanceChange {
            name: u.name,
            description: u.description,
            hostname: u.hostname,
            access_ip_v4: u.access_ip_v4,
            access_ip_v6: u.access_ip_v6,
            ..InstanceChange::default()
        };
        let upd = InstanceUpdate {
            change,
            ..InstanceUpdate::default()
        };
        self.store
            .instance_update(uuid, &upd)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found("server", uuid),
                e => e,
            })
    }

    /// Starts the delete workflow (`force` skips a soft-delete; there is none configured,
    /// so both delete at once). 409 when locked for a non-admin.
    pub async fn server_delete(&self, ctx: &Context, uuid: &str, force: bool) -> Result<()> {
        let _ = force;
        for _ in 0..5 {
            let i = self.visible(ctx, uuid, false).await?;
            check_lock(ctx, &i)?;
            if i.task_state == Some(TaskState::Deleting) {
                return Ok(());
            }
            let state = DeleteState {
                project_id: i.project_id.clone(),
                caller: Caller::from(ctx),
                request_id: request_id(ctx),
            };
            let data =
                serde_json::to_value(&state).map_err(|e| Error::internal("encode delete", e))?;
            let wf = NewWorkflow::new("delete", uuid, data);
            let mut action = action_record(ctx, &i, "delete");
            action.request_id = state.request_id.clone();
            let u = InstanceUpdate {
                expect: Expect::generation(i.generation),
                change: InstanceChange {
                    task_state: Some(Some(TaskState::Deleting)),
                    ..InstanceChange::default()
                },
                action: Some(action),
                workflow: Some(wf.clone()),
                ..InstanceUpdate::default()
            };
            match self.store.instance_update(uuid, &u).await {
                Ok(_) => {
                    self.workflow_kick(&wf.id).await;
                    return Ok(());
                }
                // Changed under us (a workflow step): read it again.
                Err(Error::Conflict(_)) => continue,
                Err(Error::NotFound { .. }) => return Err(Error::not_found("server", uuid)),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "Instance {uuid} is changing too fast to delete; retry"
        )))
    }

    /// Replaces (`replace`) or merges metadata; returns the full set. Quota:
    /// `metadata_items`.
    pub async fn server_metadata_set(
        &self,
        ctx: &Context,
        uuid: &str,
        items: BTreeMap<String, String>,
        replace: bool,
    ) -> Result<BTreeMap<String, String>> {
        let i = self.visible(ctx, uuid, false).await?;
        check_lock(ctx, &i)?;
        check_state("update metadata", &i, METADATA_VM_STATES, Some(&[None]))?;
        let max = self
            .limits(&i.project_id)
            .await?
            .get("metadata_items")
            .copied()
            .unwrap_or(-1);
        self.store
            .instance_metadata_set(uuid, &items, replace, max)
            .await
    }

    pub async fn server_metadata_delete(&self, ctx: &Context, uuid: &str, key: &str) -> Result<()> {
        let i = self.visible(ctx, uuid, false).await?;
        check_lock(ctx, &i)?;
        check_state("delete metadata", &i, METADATA_VM_STATES, Some(&[None]))?;
        self.store.instance_metadata_delete(uuid, key).await
    }

    /// Replaces the tag set (`tags` None adds/removes nothing); returns the set.
    pub async fn server_tags_set(
        &self,
        ctx: &Context,
        uuid: &str,
        tags: Vec<String>,
    ) -> Result<Vec<String>> {
        let i = self.visible(ctx, uuid, false).await?;
        check_state("update tags", &i, TAG_VM_STATES, None)?;
        self.store.instance_tags_set(uuid, &tags, MAX_TAGS).await
    }

    pub async fn server_tag_add(&self, ctx: &Context, uuid: &str, tag: &str) -> Result<bool> {
        let i = self.visible(ctx, uuid, false).await?;
        check_state("update tag", &i, TAG_VM_STATES, None)?;
        self.store.instance_tag_add(uuid, tag, MAX_TAGS).await
    }

    pub async fn server_tag_delete(&self, ctx: &Context, uuid: &str, tag: &str) -> Result<()> {
        let i = self.visible(ctx, uuid, false).await?;
        check_state("delete tag", &i, TAG_VM_STATES, None)?;
        self.store.instance_tag_delete(uuid, tag).await
    }

    pub async fn instance_actions(&self, ctx: &Context, uuid: &str) -> Result<Vec<InstanceAction>> {
        self.visible(ctx, uuid, true).await?;
        self.store.instance_action_list(uuid).await
    }

    pub async fn instance_action(
        &self,
        ctx: &Context,
        uuid: &str,
        request_id: &str,
    ) -> Result<(InstanceAction, Vec<InstanceActionEvent>)> {
        self.visible(ctx, uuid, true).await?;
        self.store
            .instance_action_get(uuid, request_id)
            .await?
            .ok_or_else(|| Error::not_found("instance action", request_id))
    }
}

/// Where metadata may change (Nova's `update_instance_metadata`).
const METADATA_VM_STATES: &[VmState] = &[
    VmState::Active,
    VmState::Paused,
    VmState::Suspended,
    VmState::Stopped,
];

/// Where tags may change (Nova's `server_tags._check_instance_in_valid_state`).
const TAG_VM_STATES: &[VmState] = &[
    VmState::Active,
    VmState::Paused,
    VmState::Suspended,
    VmState::Stopped,
    VmState::Shelved,
    VmState::ShelvedOffloaded,
];

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_crud;
#[cfg(test)]
mod tests_network;
