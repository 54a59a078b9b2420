//! Servers: create (quota, scheduling hand-off to the conductor), show, list, update,
//! delete, metadata and tags. Visibility: a caller sees its project's servers; admins see
//! all with `all_tenants`. What a caller may not see is `NotFound`, never `Forbidden`.
//!
//! The signatures here are the contract the API codes against; the servers work fills in
//! the bodies.

use std::collections::BTreeMap;

use common_error::{Error, Result};
use compute_model::{Instance, InstanceAction, InstanceActionEvent};

use crate::{Compute, Context};

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

fn pending(what: &str) -> Error {
    Error::NotImplemented(format!("{what} is not implemented yet"))
}

impl Compute {
    /// Creates `max_count` servers (at least `min_count` within quota, else `Forbidden`
    /// with Nova's quota message), records them BUILDING and starts a build workflow for
    /// each. Returns them in launch order.
    pub async fn server_create(&self, ctx: &Context, req: ServerCreate) -> Result<Vec<Instance>> {
        let _ = (ctx, req);
        Err(pending("server create"))
    }

    /// A server the caller may see (its project, or any for admins), else `NotFound`.
    pub async fn server_get(&self, ctx: &Context, uuid: &str) -> Result<Instance> {
        let _ = (ctx, uuid);
        Err(pending("server show"))
    }

    pub async fn server_list(&self, ctx: &Context, f: &ServerFilter) -> Result<Vec<Instance>> {
        let _ = (ctx, f);
        Err(pending("server list"))
    }

    pub async fn server_update(&self, ctx: &Context, uuid: &str, u: ServerUpdate) -> Result<Instance> {
        let _ = (ctx, uuid, u);
        Err(pending("server update"))
    }

    /// Starts the delete workflow (`force` skips a soft-delete; there is none configured,
    /// so both delete at once). 409 when locked for a non-admin.
    pub async fn server_delete(&self, ctx: &Context, uuid: &str, force: bool) -> Result<()> {
        let _ = (ctx, uuid, force);
        Err(pending("server delete"))
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
        let _ = (ctx, uuid, items, replace);
        Err(pending("server metadata"))
    }

    pub async fn server_metadata_delete(&self, ctx: &Context, uuid: &str, key: &str) -> Result<()> {
        let _ = (ctx, uuid, key);
        Err(pending("server metadata"))
    }

    /// Replaces the tag set (`tags` None adds/removes nothing); returns the set.
    pub async fn server_tags_set(&self, ctx: &Context, uuid: &str, tags: Vec<String>) -> Result<Vec<String>> {
        let _ = (ctx, uuid, tags);
        Err(pending("server tags"))
    }

    pub async fn server_tag_add(&self, ctx: &Context, uuid: &str, tag: &str) -> Result<bool> {
        let _ = (ctx, uuid, tag);
        Err(pending("server tags"))
    }

    pub async fn server_tag_delete(&self, ctx: &Context, uuid: &str, tag: &str) -> Result<()> {
        let _ = (ctx, uuid, tag);
        Err(pending("server tags"))
    }

    pub async fn instance_actions(&self, ctx: &Context, uuid: &str) -> Result<Vec<InstanceAction>> {
        let _ = (ctx, uuid);
        Err(pending("instance actions"))
    }

    pub async fn instance_action(
        &self,
        ctx: &Context,
        uuid: &str,
        request_id: &str,
    ) -> Result<(InstanceAction, Vec<InstanceActionEvent>)> {
        let _ = (ctx, uuid, request_id);
        Err(pending("instance actions"))
    }
}
