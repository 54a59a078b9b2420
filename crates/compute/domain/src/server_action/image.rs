//! The actions that go through an image: createImage, shelve, unshelve, rebuild.

use std::collections::BTreeMap;

use common_error::{Error, Result};
use compute_db::status;
use compute_model::{TaskState, VmState};

use super::{Begin, Rebuild};
use crate::server::create::check_image;
use crate::server::{check_lock, check_state, invalid_state, request_id};
use crate::workflows::build::BuildState;
use crate::workflows::rebuild::RebuildState;
use crate::workflows::shelve::ShelveState;
use crate::workflows::snapshot::SnapshotState;
use crate::workflows::Caller;
use crate::{Compute, Context};

/// Where a snapshot (createImage, shelve) may be taken.
const SNAPSHOT_VM: &[VmState] = &[
    VmState::Active,
    VmState::Stopped,
    VmState::Paused,
    VmState::Suspended,
];

/// Properties of a server snapshot image.
fn snapshot_properties(
    i: &compute_model::Instance,
    extra: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut p = extra;
    p.insert("image_type".into(), "snapshot".into());
    p.insert("instance_uuid".into(), i.uuid.clone());
    p.insert("base_image_ref".into(), i.image_ref.clone());
    p.insert("user_id".into(), i.user_id.clone());
    p
}

pub(super) async fn create_image(
    c: &Compute,
    ctx: &Context,
    uuid: &str,
    name: &str,
    metadata: BTreeMap<String, String>,
) -> Result<String> {
    let i = c.visible(ctx, uuid, false).await?;
    check_state("createImage", &i, SNAPSHOT_VM, Some(&[None]))?;
    if i.host.is_none() {
        return Err(invalid_state("createImage", &i, "vm_state"));
    }
    let image_id = c
        .images
        .create(ctx, name, "qcow2", &snapshot_properties(&i, metadata))
        .await?;
    let state = SnapshotState {
        project_id: i.project_id.clone(),
        caller: Caller::from(ctx),
        request_id: request_id(ctx),
        image_id: image_id.clone(),
    };
    let begun = c
        .action_begin(
            ctx,
            &i,
            Begin {
                action: "createImage",
                rid: &state.request_id,
                task: TaskState::ImageSnapshot,
                kind: "snapshot",
            },
            &state,
            |_| {},
        )
        .await;
    if let Err(e) = begun {
        if let Err(d) = c.images.delete(ctx, &image_id).await {
            tracing::warn!(image = %image_id, error = %d, "delete unused snapshot image");
        }
        return Err(e);
    }
    Ok(image_id)
}

pub(super) async fn shelve(c: &Compute, ctx: &Context, uuid: &str) -> Result<()> {
    let i = c.visible(ctx, uuid, false).await?;
    check_lock(ctx, &i)?;
    check_state("shelve", &i, SNAPSHOT_VM, Some(&[None]))?;
    if i.host.is_none() {
        return Err(invalid_state("shelve", &i, "vm_state"));
    }
    let state = ShelveState {
        project_id: i.project_id.clone(),
        caller: Caller::from(ctx),
        request_id: request_id(ctx),
        prev_vm: i.vm_state,
        image_name: format!("{}-shelved", i.name),
        image_meta: snapshot_properties(&i, BTreeMap::new()),
        image_properties: c.image_properties(ctx, &i).await,
        image_id: None,
    };
    c.action_begin(
        ctx,
        &i,
        Begin {
            action: "shelve",
            rid: &state.request_id,
            task: TaskState::Shelving,
            kind: "shelve",
        },
        &state,
        |_| {},
    )
    .await
}

pub(super) async fn unshelve(c: &Compute, ctx: &Context, uuid: &str) -> Result<()> {
    let i = c.visible(ctx, uuid, false).await?;
    check_lock(ctx, &i)?;
    check_state(
        "unshelve",
        &i,
        &[VmState::Shelved, VmState::ShelvedOffloaded],
        Some(&[None]),
    )?;
    let shelved = c
        .store
        .workflow_list_for_instance(uuid)
        .await?
        .into_iter()
        .rev()
        .find(|w| w.kind == "shelve" && w.status == status::DONE)
        .and_then(|w| {
            w.data
                .get("image_id")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .ok_or_else(|| {
            Error::Conflict(format!(
                "Instance {uuid} has no shelved image to unshelve from"
            ))
        })?;
    let state = BuildState {
        project_id: i.project_id.clone(),
        caller: Caller::from(ctx),
        request_id: request_id(ctx),
        image_id: shelved,
        image_properties: c.image_properties(ctx, &i).await,
        ..BuildState::default()
    };
    c.action_begin(
        ctx,
        &i,
        Begin {
            action: "unshelve",
            rid: &state.request_id,
            task: TaskState::Unshelving,
            kind: "unshelve",
        },
        &state,
        |_| {},
    )
    .await
}

pub(super) async fn rebuild(c: &Compute, ctx: &Context, uuid: &str, r: Rebuild) -> Result<()> {
    let i = c.visible(ctx, uuid, false).await?;
    check_lock(ctx, &i)?;
    check_state(
        "rebuild",
        &i,
        &[VmState::Active, VmState::Stopped, VmState::Error],
        Some(&[None]),
    )?;
    if i.host.is_none() {
        return Err(invalid_state("rebuild", &i, "vm_state"));
    }
    let img = check_image(c, ctx, &r.image_ref, &i.flavor).await?;
    let key_data = match &r.key_name {
        Some(Some(k)) => Some(Some(
            c.store
                .keypair_get(&ctx.user_id, k)
                .await?
                .ok_or_else(|| Error::bad_request("Invalid key_name provided."))?
                .public_key,
        )),
        Some(None) => Some(None),
        None => None,
    };
    let limits = c.limits(&i.project_id).await?;
    if let (Some(m), Some(max)) = (
        &r.metadata,
        limits.get("metadata_items").copied().filter(|m| *m >= 0),
    ) {
        if m.len() as i64 > max {
            return Err(Error::Forbidden(format!(
                "Maximum number of metadata items exceeds {max}"
            )));
        }
    }
    let state = RebuildState {
        project_id: i.project_id.clone(),
        caller: Caller::from(ctx),
        request_id: request_id(ctx),
        image_id: img.id.clone(),
        image_properties: img.properties.clone(),
        stopped: i.vm_state == VmState::Stopped,
        power_state: None,
    };
    c.action_begin(
        ctx,
        &i,
        Begin {
            action: "rebuild",
            rid: &state.request_id,
            task: TaskState::Rebuilding,
            kind: "rebuild",
        },
        &state,
        |u| {
            u.change.image_ref = Some(img.id.clone());
            u.change.name = r.name.clone();
            u.change.description = r.description.clone();
            u.change.key_name = r.key_name.clone();
            u.change.key_data = key_data;
            u.change.user_data = r.user_data.clone();
        },
    )
    .await?;
    if let Some(m) = &r.metadata {
        c.store.instance_metadata_set(uuid, m, true, -1).await?;
    }
    Ok(())
}
