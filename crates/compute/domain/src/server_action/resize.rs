//! resize, confirmResize, revertResize (same host: the allocation is replaced in place).

use common_error::{Error, Result};
use compute_db::{Expect, InstanceChange, InstanceUpdate, QuotaChange};
use compute_model::{Flavor, Instance, Migration, PowerState, TaskState, VmState};

use super::Begin;
use crate::server::{action_record, check_lock, check_state, invalid_state, request_id};
use crate::workflows::resize::{downsize, upsize, ResizeState};
use crate::workflows::{event_end, Caller};
use crate::{Compute, Context};

/// The flavor a resize may go to.
async fn target(c: &Compute, ctx: &Context, id: &str) -> Result<Flavor> {
    let missing = || Error::bad_request("Unable to locate requested flavor.");
    let f = c.store.flavor_get(id).await?.ok_or_else(missing)?;
    if f.disabled
        || (!f.is_public
            && !ctx.is_admin
            && !c
                .store
                .flavor_access_list(id)
                .await?
                .contains(&ctx.project_id))
    {
        return Err(missing());
    }
    Ok(f)
}

fn placed(action: &str, i: &Instance) -> Result<(String, String)> {
    match (&i.host, &i.node) {
        (Some(h), Some(n)) => Ok((h.clone(), n.clone())),
        _ => Err(invalid_state(action, i, "vm_state")),
    }
}

/// The instance's migration in `status`.
async fn migration(c: &Compute, uuid: &str, status: &str) -> Result<Migration> {
    c.store
        .migration_list_for_instance(uuid)
        .await?
        .into_iter()
        .find(|m| m.status == status)
        .ok_or_else(|| Error::bad_request("Instance has not been resized."))
}

pub(super) async fn resize(c: &Compute, ctx: &Context, uuid: &str, flavor_ref: &str) -> Result<()> {
    let i = c.visible(ctx, uuid, false).await?;
    check_lock(ctx, &i)?;
    check_state(
        "resize",
        &i,
        &[VmState::Active, VmState::Stopped],
        Some(&[None]),
    )?;
    let (host, node) = placed("resize", &i)?;
    let new = target(c, ctx, flavor_ref).await?;
    if new.id == i.flavor.id {
        return Err(Error::bad_request(
            "When resizing, instances must change flavor!",
        ));
    }
    if new.disk == 0 && i.flavor.disk > 0 {
        return Err(Error::bad_request(
            "Resize to zero disk flavor is not allowed.",
        ));
    }
    if new.disk < i.flavor.disk {
        return Err(Error::bad_request(
            "Resize error: Unable to resize disk down.",
        ));
    }
    let limits = c.limits(&i.project_id).await?;
    let now = compute_db::now_text();
    let m = Migration {
        uuid: uuid::Uuid::new_v4().to_string(),
        id: 0,
        instance_uuid: i.uuid.clone(),
        migration_type: "resize".into(),
        status: "pre-migrating".into(),
        source_compute: Some(host.clone()),
        dest_compute: Some(host.clone()),
        source_node: Some(node.clone()),
        dest_node: Some(node.clone()),
        old_flavor_id: i.flavor.id.clone(),
        new_flavor_id: new.id.clone(),
        project_id: ctx.project_id.clone(),
        user_id: ctx.user_id.clone(),
        created_at: now.clone(),
        updated_at: now,
    };
    let state = ResizeState {
        project_id: i.project_id.clone(),
        caller: Caller::from(ctx),
        request_id: request_id(ctx),
        migration_uuid: m.uuid.clone(),
        from: i.flavor.clone(),
        to: new.clone(),
        host,
        node,
        revert: false,
        stopped: i.vm_state == VmState::Stopped,
        prev_vm: i.vm_state,
        image_properties: c.image_properties(ctx, &i).await,
        power_state: None,
    };
    let deltas = upsize(&i.flavor, &new);
    c.action_begin(
        ctx,
        &i,
        Begin {
            action: "resize",
            rid: &state.request_id,
            task: TaskState::ResizePrep,
            kind: "resize",
        },
        &state,
        |u| {
            u.change.new_flavor = Some(Some(new));
            u.quota = Some(QuotaChange { deltas, limits });
            u.migration_new = Some(m);
        },
    )
    .await
}

pub(super) async fn confirm(c: &Compute, ctx: &Context, uuid: &str) -> Result<()> {
    let i = c.visible(ctx, uuid, false).await?;
    check_lock(ctx, &i)?;
    check_state("confirmResize", &i, &[VmState::Resized], Some(&[None]))?;
    let new = i
        .new_flavor
        .clone()
        .ok_or_else(|| Error::bad_request("Instance has not been resized."))?;
    let m = migration(c, uuid, "finished").await?;
    let rid = request_id(ctx);
    let mut action = action_record(ctx, &i, "confirmResize");
    action.request_id = rid.clone();
    let u = InstanceUpdate {
        expect: Expect {
            generation: Some(i.generation),
            vm_states: vec![VmState::Resized],
            task_states: Some(vec![None]),
        },
        change: InstanceChange {
            flavor: Some(new.clone()),
            new_flavor: Some(None),
            vm_state: Some(if i.power_state == PowerState::Shutdown {
                VmState::Stopped
            } else {
                VmState::Active
            }),
            ..InstanceChange::default()
        },
        quota: Some(QuotaChange {
            deltas: downsize(&i.flavor, &new),
            limits: Default::default(),
        }),
        action: Some(action),
        event: Some((rid.clone(), event_end("compute_confirm_resize", true))),
        action_finish: Some((rid, None)),
        migration_status: Some((m.uuid, "confirmed".into())),
        ..InstanceUpdate::default()
    };
    match c.store.instance_update(uuid, &u).await {
        Ok(_) => Ok(()),
        Err(Error::Conflict(_)) => {
            let cur = c.visible(ctx, uuid, false).await?;
            Err(invalid_state("confirmResize", &cur, "vm_state"))
        }
        Err(e) => Err(e),
    }
}

pub(super) async fn revert(c: &Compute, ctx: &Context, uuid: &str) -> Result<()> {
    let i = c.visible(ctx, uuid, false).await?;
    check_lock(ctx, &i)?;
    check_state("revertResize", &i, &[VmState::Resized], Some(&[None]))?;
    let (host, node) = placed("revertResize", &i)?;
    let new = i
        .new_flavor
        .clone()
        .ok_or_else(|| Error::bad_request("Instance has not been resized."))?;
    let m = migration(c, uuid, "finished").await?;
    let state = ResizeState {
        project_id: i.project_id.clone(),
        caller: Caller::from(ctx),
        request_id: request_id(ctx),
        migration_uuid: m.uuid.clone(),
        from: new,
        to: i.flavor.clone(),
        host,
        node,
        revert: true,
        stopped: i.power_state == PowerState::Shutdown,
        prev_vm: VmState::Resized,
        image_properties: c.image_properties(ctx, &i).await,
        power_state: None,
    };
    c.action_begin(
        ctx,
        &i,
        Begin {
            action: "revertResize",
            rid: &state.request_id,
            task: TaskState::ResizeReverting,
            kind: "resize",
        },
        &state,
        |u| {
            u.migration_status = Some((m.uuid, "reverting".into()));
        },
    )
    .await
}
