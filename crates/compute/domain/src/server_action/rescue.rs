//! rescue and unrescue (Nova's `compute/api.py` `rescue` / `unrescue`).

use common_error::{Error, Result};
use compute_model::{TaskState, VmState};

use super::Begin;
use crate::server::{check_lock, check_state, invalid_state, request_id};
use crate::workflows::rescue::{RescueOp, RescueState};
use crate::workflows::Caller;
use crate::{Compute, Context};

/// Where a rescue may start (Nova: ACTIVE, STOPPED, ERROR; no task).
const RESCUE_VM: &[VmState] = &[VmState::Active, VmState::Stopped, VmState::Error];

/// Nova's `utils.generate_password` alphabet: no look-alike characters.
const PASSWORD_CHARS: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// A random 12-character password.
fn generate_password() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| char::from(PASSWORD_CHARS[rng.gen_range(0..PASSWORD_CHARS.len())]))
        .collect()
}

/// The image a rescue boots: `rescue_image_ref` when given (it must be an active image the
/// caller can see, else Nova's 400), the server's own image otherwise.
async fn rescue_image(
    c: &Compute,
    ctx: &Context,
    i: &compute_model::Instance,
    rescue_image_ref: Option<String>,
) -> Result<String> {
    let Some(id) = rescue_image_ref else {
        return Ok(i.image_ref.clone());
    };
    let unsupported =
        || Error::BadRequest(format!("Requested rescue image '{id}' is not supported"));
    match c.images.get(ctx, &id).await {
        Ok(img) if img.status == "active" => Ok(img.id),
        Ok(_) | Err(Error::NotFound { .. }) => Err(unsupported()),
        Err(e) => Err(e),
    }
}

pub(super) async fn rescue(
    c: &Compute,
    ctx: &Context,
    uuid: &str,
    rescue_image_ref: Option<String>,
    admin_pass: Option<String>,
) -> Result<String> {
    let i = c.visible(ctx, uuid, false).await?;
    check_lock(ctx, &i)?;
    check_state("rescue", &i, RESCUE_VM, Some(&[None]))?;
    if i.host.is_none() {
        return Err(invalid_state("rescue", &i, "vm_state"));
    }
    let image = rescue_image(c, ctx, &i, rescue_image_ref).await?;
    if i.image_ref.is_empty() {
        return Err(Error::BadRequest(format!(
            "Instance {} cannot be rescued: Cannot rescue a volume-backed instance",
            i.uuid
        )));
    }
    let state = RescueState {
        project_id: i.project_id.clone(),
        caller: Caller::from(ctx),
        request_id: request_id(ctx),
        op: RescueOp::Rescue,
        rescue_image_id: image,
        prev_vm: i.vm_state,
        image_properties: c.image_properties(ctx, &i).await,
        power_state: None,
        undone: false,
    };
    begin(c, ctx, &i, &state).await?;
    Ok(admin_pass.unwrap_or_else(generate_password))
}

pub(super) async fn unrescue(c: &Compute, ctx: &Context, uuid: &str) -> Result<()> {
    let i = c.visible(ctx, uuid, false).await?;
    check_lock(ctx, &i)?;
    check_state("unrescue", &i, &[VmState::Rescued], Some(&[None]))?;
    if i.host.is_none() {
        return Err(invalid_state("unrescue", &i, "vm_state"));
    }
    let state = RescueState {
        project_id: i.project_id.clone(),
        caller: Caller::from(ctx),
        request_id: request_id(ctx),
        op: RescueOp::Unrescue,
        rescue_image_id: String::new(),
        prev_vm: i.vm_state,
        image_properties: c.image_properties(ctx, &i).await,
        power_state: None,
        undone: false,
    };
    begin(c, ctx, &i, &state).await
}

async fn begin(
    c: &Compute,
    ctx: &Context,
    i: &compute_model::Instance,
    st: &RescueState,
) -> Result<()> {
    let task: TaskState = st.op.task();
    c.action_begin(
        ctx,
        i,
        Begin {
            action: st.op.action(),
            rid: &st.request_id,
            task,
            kind: "rescue",
        },
        st,
        |_| {},
    )
    .await
}
