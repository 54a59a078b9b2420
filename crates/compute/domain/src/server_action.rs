//! Server actions (`POST /servers/{id}/action`): each checks the lock and the state (409
//! with Nova's "Cannot '<action>' instance <uuid> while it is in vm_state <state>"
//! message), sets the task state, records an instance action, and hands the work to the
//! conductor. They return once the action is accepted (Nova's 202), except the console
//! output, which answers at once.
//!
//! The signatures here are the contract the API codes against; the servers work fills in
//! the bodies.

use std::collections::BTreeMap;

use common_error::{Error, Result};

use crate::{Compute, Context};

fn pending(what: &str) -> Error {
    Error::NotImplemented(format!("{what} is not implemented yet"))
}

/// A `rebuild` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rebuild {
    pub image_ref: String,
    pub name: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub description: Option<Option<String>>,
    pub key_name: Option<Option<String>>,
    pub user_data: Option<Option<String>>,
}

impl Compute {
    pub async fn server_stop(&self, ctx: &Context, uuid: &str) -> Result<()> {
        let _ = (ctx, uuid);
        Err(pending("stop"))
    }

    pub async fn server_start(&self, ctx: &Context, uuid: &str) -> Result<()> {
        let _ = (ctx, uuid);
        Err(pending("start"))
    }

    pub async fn server_reboot(&self, ctx: &Context, uuid: &str, hard: bool) -> Result<()> {
        let _ = (ctx, uuid, hard);
        Err(pending("reboot"))
    }

    pub async fn server_pause(&self, ctx: &Context, uuid: &str) -> Result<()> {
        let _ = (ctx, uuid);
        Err(pending("pause"))
    }

    pub async fn server_unpause(&self, ctx: &Context, uuid: &str) -> Result<()> {
        let _ = (ctx, uuid);
        Err(pending("unpause"))
    }

    pub async fn server_suspend(&self, ctx: &Context, uuid: &str) -> Result<()> {
        let _ = (ctx, uuid);
        Err(pending("suspend"))
    }

    pub async fn server_resume(&self, ctx: &Context, uuid: &str) -> Result<()> {
        let _ = (ctx, uuid);
        Err(pending("resume"))
    }

    pub async fn server_lock(&self, ctx: &Context, uuid: &str, reason: Option<String>) -> Result<()> {
        let _ = (ctx, uuid, reason);
        Err(pending("lock"))
    }

    pub async fn server_unlock(&self, ctx: &Context, uuid: &str) -> Result<()> {
        let _ = (ctx, uuid);
        Err(pending("unlock"))
    }

    pub async fn server_rebuild(&self, ctx: &Context, uuid: &str, r: Rebuild) -> Result<()> {
        let _ = (ctx, uuid, r);
        Err(pending("rebuild"))
    }

    /// Resizes to `flavor_ref`; the server ends VERIFY_RESIZE.
    pub async fn server_resize(&self, ctx: &Context, uuid: &str, flavor_ref: &str) -> Result<()> {
        let _ = (ctx, uuid, flavor_ref);
        Err(pending("resize"))
    }

    pub async fn server_confirm_resize(&self, ctx: &Context, uuid: &str) -> Result<()> {
        let _ = (ctx, uuid);
        Err(pending("confirmResize"))
    }

    pub async fn server_revert_resize(&self, ctx: &Context, uuid: &str) -> Result<()> {
        let _ = (ctx, uuid);
        Err(pending("revertResize"))
    }

    /// Snapshots the root disk to a new image; returns the image id at once (the image
    /// becomes active when the upload finishes).
    pub async fn server_create_image(
        &self,
        ctx: &Context,
        uuid: &str,
        name: &str,
        metadata: BTreeMap<String, String>,
    ) -> Result<String> {
        let _ = (ctx, uuid, name, metadata);
        Err(pending("createImage"))
    }

    pub async fn server_shelve(&self, ctx: &Context, uuid: &str) -> Result<()> {
        let _ = (ctx, uuid);
        Err(pending("shelve"))
    }

    pub async fn server_unshelve(&self, ctx: &Context, uuid: &str) -> Result<()> {
        let _ = (ctx, uuid);
        Err(pending("unshelve"))
    }

    /// The serial console log (the last `length` lines when given).
    pub async fn server_console_output(&self, ctx: &Context, uuid: &str, length: Option<i64>) -> Result<String> {
        let _ = (ctx, uuid, length);
        Err(pending("os-getConsoleOutput"))
    }
}
