//! `server_create`: validate what the request names (flavor, image, key, group, zone,
//! networks and security groups, metadata quota), insert the instances with their quota, `create` actions and
//! pending build workflows in one transaction, join the server group, and ask the
//! conductor to run the builds.

use std::collections::{BTreeMap, BTreeSet};

use common_error::{Error, Result};
use compute_db::{InstanceCreate, NewInstance, NewWorkflow};
use compute_model::{Flavor, Instance, PowerState, TaskState, VmState};
use rand::Rng;

use super::{action_record, request_id, ServerCreate, MAX_TAGS};
use crate::network;
use crate::ports::ImageInfo;
use crate::workflows::build::BuildState;
use crate::workflows::Caller;
use crate::{Compute, Context};

const GIB: i64 = 1024 * 1024 * 1024;

/// Nova's `sanitize_hostname`: lowercase, spaces/underscores/dots to dashes, only
/// `[a-z0-9-]`, trimmed of dashes, at most 63 characters; `fallback` when nothing is left.
pub(crate) fn sanitize_hostname(name: &str, fallback: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if matches!(c, ' ' | '_' | '.') { '-' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect::<String>()
        .to_ascii_lowercase();
    s.truncate(63);
    let s = s.trim_matches(|c| c == '-' || c == '.').to_string();
    if s.is_empty() {
        fallback.to_string()
    } else {
        s
    }
}

fn reservation_id() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let s: String = (0..8)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect();
    format!("r-{s}")
}

/// The flavor the caller may boot: public, or private with access for its project.
async fn flavor(c: &Compute, ctx: &Context, id: &str) -> Result<Flavor> {
    let missing = || Error::BadRequest(format!("Flavor {id} could not be found."));
    let f = c.store.flavor_get(id).await?.ok_or_else(missing)?;
    if f.disabled {
        return Err(missing());
    }
    if !f.is_public
        && !ctx.is_admin
        && !c
            .store
            .flavor_access_list(id)
            .await?
            .contains(&ctx.project_id)
    {
        return Err(missing());
    }
    Ok(f)
}

/// The image to boot, checked against the flavor (Nova's `_check_requested_image`).
async fn image(c: &Compute, ctx: &Context, req: &ServerCreate, f: &Flavor) -> Result<ImageInfo> {
    if req
        .block_devices
        .iter()
        .any(|b| b.source_type != "image" || b.destination_type.as_deref() == Some("volume"))
    {
        return Err(Error::bad_request(
            "Block Device Mapping is Invalid: volumes are not available yet; boot from an image.",
        ));
    }
    let id = req
        .image_ref
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            req.block_devices
                .iter()
                .find(|b| b.boot_index == Some(0))
                .and_then(|b| b.uuid.clone())
        })
        .ok_or_else(|| {
            Error::bad_request(
                "Block Device Mapping is Invalid: an image is required to boot from.",
            )
        })?;
    check_image(c, ctx, &id, f).await
}

/// Image `id` as `ctx` sees it, active and fitting flavor `f` (Nova's
/// `_check_requested_image`); `BadRequest` with Nova's messages otherwise.
pub(crate) async fn check_image(
    c: &Compute,
    ctx: &Context,
    id: &str,
    f: &Flavor,
) -> Result<ImageInfo> {
    let img = match c.images.get(ctx, id).await {
        Ok(i) => i,
        Err(Error::NotFound { .. }) => {
            return Err(Error::BadRequest(format!("Image {id} could not be found.")))
        }
        Err(e) => return Err(e),
    };
    if img.status != "active" {
        return Err(Error::BadRequest(format!("Image {id} is not active.")));
    }
    if f.ram < img.min_ram {
        return Err(Error::bad_request(
            "Flavor's memory is too small for requested image.",
        ));
    }
    if f.disk > 0 {
        let flavor_bytes = f.disk * GIB;
        if img.size > flavor_bytes {
            return Err(Error::BadRequest(format!(
                "Flavor's disk is too small for requested image. Flavor disk is {flavor_bytes} bytes, image is {} bytes.",
                img.size
            )));
        }
        if img.min_disk > f.disk {
            return Err(Error::BadRequest(format!(
                "Flavor's disk is too small for requested image. Flavor disk is {flavor_bytes} bytes, minimum requested disk is {} bytes.",
                img.min_disk * GIB
            )));
        }
    }
    Ok(img)
}

/// The requested zone (and an admin's forced host) after checking the zone exists.
async fn zone(
    c: &Compute,
    ctx: &Context,
    az: Option<&str>,
) -> Result<(Option<String>, Option<String>)> {
    let Some(az) = az.filter(|s| !s.is_empty()) else {
        return Ok((None, None));
    };
    let mut parts = az.splitn(3, ':');
    let zone = parts.next().unwrap_or_default().to_string();
    let host = parts.next().filter(|h| !h.is_empty()).map(str::to_string);
    if host.is_some() && !ctx.is_admin {
        return Err(Error::forbidden(
            "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.",
        ));
    }
    let mut known: BTreeSet<String> = c
        .store
        .service_list()
        .await?
        .into_iter()
        .filter(|s| s.binary == "nova-compute")
        .map(|s| s.availability_zone)
        .collect();
    known.insert(c.cfg.availability_zone.clone());
    if !zone.is_empty() && !known.contains(&zone) {
        return Err(Error::BadRequest(format!(
            "The requested availability zone is not available: {zone}"
        )));
    }
    Ok(((!zone.is_empty()).then_some(zone), host))
}

pub(super) async fn create(c: &Compute, ctx: &Context, req: ServerCreate) -> Result<Vec<Instance>> {
    let f = flavor(c, ctx, &req.flavor_ref).await?;
    let img = image(c, ctx, &req, &f).await?;
    let key_data = match &req.key_name {
        Some(k) => Some(
            c.store
                .keypair_get(&ctx.user_id, k)
                .await?
                .ok_or_else(|| Error::bad_request("Invalid key_name provided."))?
                .public_key,
        ),
        None => None,
    };
    if let Some(g) = &req.group {
        match c.store.server_group_get(g).await? {
            Some(group) if ctx.is_admin || group.project_id == ctx.project_id => {}
            _ => {
                return Err(Error::BadRequest(format!(
                    "Instance group {g} could not be found."
                )))
            }
        }
    }
    let (az, force_host) = zone(c, ctx, req.availability_zone.as_deref()).await?;
    let nets = network::resolve(
        c,
        ctx,
        req.networks.as_ref(),
        &req.security_groups,
        req.max_count.max(req.min_count).max(1),
    )
    .await?;
    let limits = c.limits(&ctx.project_id).await?;
    if let Some(max) = limits.get("metadata_items").copied().filter(|m| *m >= 0) {
        if req.metadata.len() as i64 > max {
            return Err(Error::Forbidden(format!(
                "Maximum number of metadata items exceeds {max}"
            )));
        }
    }
    if req.tags.len() as i64 > MAX_TAGS {
        return Err(Error::BadRequest(format!(
            "The number of tags exceeded the per-server limit {MAX_TAGS}"
        )));
    }
    let min = req.min_count.max(1);
    let max = req.max_count.max(min);
    let per: BTreeMap<String, i64> = [("instances", 1), ("cores", f.vcpus), ("ram", f.ram)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let ask = InstanceCreate {
        project_id: ctx.project_id.clone(),
        min_count: min,
        max_count: max,
        per_instance: per,
        limits: limits.clone(),
    };
    let rid = request_id(ctx);
    let reservation = reservation_id();
    let caller = Caller::from(ctx);
    let build = |n: i64| -> Result<Vec<NewInstance>> {
        let now = compute_db::now_text();
        (0..n)
            .map(|idx| {
                let uuid = uuid::Uuid::new_v4().to_string();
                let name = if n > 1 {
                    format!("{}-{}", req.name, idx + 1)
                } else {
                    req.name.clone()
                };
                let hostname = match (&req.hostname, n) {
                    (Some(h), 1) => h.clone(),
                    _ => sanitize_hostname(&name, &format!("server-{uuid}")),
                };
                let i = Instance {
                    uuid: uuid.clone(),
                    name,
                    project_id: ctx.project_id.clone(),
                    user_id: ctx.user_id.clone(),
                    image_ref: img.id.clone(),
                    flavor: f.clone(),
                    new_flavor: None,
                    vm_state: VmState::Building,
                    task_state: Some(TaskState::Scheduling),
                    power_state: PowerState::NoState,
                    host: None,
                    node: None,
                    availability_zone: az.clone(),
                    key_name: req.key_name.clone(),
                    key_data: key_data.clone(),
                    user_data: req.user_data.clone(),
                    metadata: req.metadata.clone(),
                    tags: req.tags.clone(),
                    description: req.description.clone(),
                    hostname,
                    locked: false,
                    locked_reason: None,
                    config_drive: true,
                    access_ip_v4: req.access_ip_v4.clone().unwrap_or_default(),
                    access_ip_v6: req.access_ip_v6.clone().unwrap_or_default(),
                    launch_index: idx,
                    reservation_id: reservation.clone(),
                    progress: 0,
                    created_at: now.clone(),
                    updated_at: now.clone(),
                    launched_at: None,
                    terminated_at: None,
                    fault: None,
                    server_group: req.group.clone(),
                    generation: 1,
                };
                let state = BuildState {
                    project_id: ctx.project_id.clone(),
                    caller: caller.clone(),
                    request_id: rid.clone(),
                    image_id: img.id.clone(),
                    image_properties: img.properties.clone(),
                    force_host: force_host.clone(),
                    network: nets.clone(),
                    ..BuildState::default()
                };
                let data =
                    serde_json::to_value(&state).map_err(|e| Error::internal("encode build", e))?;
                let mut action = action_record(ctx, &i, "create");
                action.request_id = rid.clone();
                Ok(NewInstance {
                    workflow: Some(NewWorkflow::new("build", &uuid, data)),
                    action: Some(action),
                    instance: i,
                })
            })
            .collect()
    };
    let mut news: Vec<(Instance, String)> = Vec::new();
    let made = c
        .store
        .instance_create(&ask, |n| {
            let v = build(n)?;
            news = v
                .iter()
                .map(|x| {
                    (
                        x.instance.clone(),
                        x.workflow
                            .as_ref()
                            .map(|w| w.id.clone())
                            .unwrap_or_default(),
                    )
                })
                .collect();
            Ok(v)
        })
        .await?;
    if let Some(g) = &req.group {
        let limit = limits.get("server_group_members").copied().unwrap_or(-1);
        for (idx, i) in made.iter().enumerate() {
            if let Err(e) = c.store.server_group_add_member(g, &i.uuid, limit).await {
                undo_create(c, g, &news[..], idx).await;
                return Err(e);
            }
        }
    }
    for (_, wf) in &news {
        c.workflow_kick(wf).await;
    }
    Ok(made)
}

/// Takes back servers whose group membership could not be recorded: removes the members
/// added so far, fails their pending builds and deletes the rows (quota returned).
async fn undo_create(c: &Compute, group: &str, news: &[(Instance, String)], added: usize) {
    for (n, (i, wf)) in news.iter().enumerate() {
        if n < added {
            if let Err(e) = c.store.server_group_remove_member(group, &i.uuid).await {
                tracing::warn!(instance = %i.uuid, error = %e, "remove group member");
            }
        }
        if c.store.workflow_claim(wf).await.unwrap_or(false) {
            let e = c
                .store
                .workflow_finish(
                    wf,
                    compute_db::status::FAILED,
                    &serde_json::Value::Null,
                    Some("server group full"),
                )
                .await;
            if let Err(e) = e {
                tracing::warn!(workflow = %wf, error = %e, "fail build");
            }
        }
        if let Err(e) = c
            .store
            .instance_soft_delete(&i.uuid, &compute_db::Expect::default())
            .await
        {
            tracing::warn!(instance = %i.uuid, error = %e, "take back server");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_sanitised_like_nova() {
        assert_eq!(
            sanitize_hostname("My Server_1.example", "x"),
            "my-server-1-example"
        );
        assert_eq!(sanitize_hostname("--ab--", "x"), "ab");
        assert_eq!(sanitize_hostname("@@@", "server-1"), "server-1");
        assert_eq!(sanitize_hostname(&"a".repeat(80), "x").len(), 63);
        assert!(reservation_id().starts_with("r-"));
    }
}
