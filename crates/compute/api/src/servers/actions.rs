//! `POST /servers/{id}/action`: Nova's action dispatch (one body key names the action), the
//! action's schema, the server (404 before 403), the action's policy, one domain call.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use common_error::{Error, Result};
use common_http::HttpResult;
use compute_domain::server_action::Rebuild;
use compute_model::{Instance, VmState};
use serde_json::{json, Value};

use super::crud::{load, written_view};
use super::schema::Schema;
use super::schemas;
use super::util::{json_int, json_str, server_target, Caller};
use crate::{ApiState, Mv};

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(msg)
}

fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// Nova's 409 for an action the server's state does not allow.
fn invalid_state(action: &str, inst: &Instance) -> Error {
    Error::conflict(format!(
        "Cannot '{action}' instance {} while it is in vm_state {}",
        inst.uuid,
        inst.vm_state.as_str()
    ))
}

/// Loads the server and checks the action's rule on it.
async fn prepare(s: &ApiState, caller: &Caller, id: &str, rule: &str) -> Result<Instance> {
    let inst = load(s, caller, id).await?;
    s.authorize(caller, rule, &server_target(&inst))?;
    Ok(inst)
}

fn string_map(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    v.and_then(Value::as_object).map(|m| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect()
    })
}

/// XML-invalid control characters Nova strips from console output.
fn clean_console(out: &str) -> String {
    out.chars()
        .filter(|c| !matches!(*c as u32, 0x00..=0x08 | 0x0B..=0x1F))
        .collect()
}

/// Nova's `action_peek`: exactly one top-level key.
fn peek(body: &[u8]) -> Result<(String, Value, Value)> {
    let malformed = || bad("Malformed request body");
    let v: Value = serde_json::from_slice(body).map_err(|_| malformed())?;
    let (name, arg) = match v.as_object() {
        Some(o) if o.len() == 1 => o.iter().next().map(|(k, a)| (k.clone(), a.clone())),
        _ => None,
    }
    .ok_or_else(malformed)?;
    Ok((name, arg, v))
}

/// `POST /servers/{id}/action`.
pub(super) async fn action(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let (name, arg, body) = peek(&body)?;
    let check = |schema: Schema| -> Result<()> {
        schema.validate(&body).map_err(|e| bad(e.body_message()))
    };
    let c = &s.compute;
    let ctx = &caller.ctx;
    let resp = match name.as_str() {
        "os-start" => {
            let i = prepare(&s, &caller, &id, "os_compute_api:servers:start").await?;
            c.server_start(ctx, &i.uuid).await?;
            accepted()
        }
        "os-stop" => {
            let i = prepare(&s, &caller, &id, "os_compute_api:servers:stop").await?;
            c.server_stop(ctx, &i.uuid).await?;
            accepted()
        }
        "reboot" => {
            check(schemas::reboot())?;
            let hard = arg["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("hard"));
            let i = prepare(&s, &caller, &id, "os_compute_api:servers:reboot").await?;
            c.server_reboot(ctx, &i.uuid, hard).await?;
            accepted()
        }
        "pause" | "unpause" => {
            let rule = format!("os_compute_api:os-pause-server:{name}");
            let i = prepare(&s, &caller, &id, &rule).await?;
            if name == "pause" {
                c.server_pause(ctx, &i.uuid).await?;
            } else {
                c.server_unpause(ctx, &i.uuid).await?;
            }
            accepted()
        }
        "suspend" | "resume" => {
            let rule = format!("os_compute_api:os-suspend-server:{name}");
            let i = prepare(&s, &caller, &id, &rule).await?;
            if name == "suspend" {
                c.server_suspend(ctx, &i.uuid).await?;
            } else {
                c.server_resume(ctx, &i.uuid).await?;
            }
            accepted()
        }
        "lock" => {
            check(schemas::lock(mv))?;
            let i = prepare(&s, &caller, &id, "os_compute_api:os-lock-server:lock").await?;
            let reason = if mv.at_least(73) {
                json_str(arg.get("locked_reason"))
            } else {
                None
            };
            c.server_lock(ctx, &i.uuid, reason).await?;
            accepted()
        }
        "unlock" => {
            let i = prepare(&s, &caller, &id, "os_compute_api:os-lock-server:unlock").await?;
            c.server_unlock(ctx, &i.uuid).await?;
            accepted()
        }
        "rebuild" => rebuild(&s, mv, &caller, &id, &arg, &body).await?,
        "resize" => {
            check(schemas::resize())?;
            let flavor = match &arg["flavorRef"] {
                Value::String(f) => f.clone(),
                other => other.to_string(),
            };
            let i = prepare(&s, &caller, &id, "os_compute_api:servers:resize").await?;
            c.server_resize(ctx, &i.uuid, &flavor).await?;
            accepted()
        }
        "confirmResize" => {
            let i = prepare(&s, &caller, &id, "os_compute_api:servers:confirm_resize").await?;
            c.server_confirm_resize(ctx, &i.uuid).await?;
            StatusCode::NO_CONTENT.into_response()
        }
        "revertResize" => {
            let i = prepare(&s, &caller, &id, "os_compute_api:servers:revert_resize").await?;
            c.server_revert_resize(ctx, &i.uuid).await?;
            accepted()
        }
        "createImage" => {
            check(schemas::create_image())?;
            let i = prepare(&s, &caller, &id, "os_compute_api:servers:create_image").await?;
            let image_name = json_str(arg.get("name"))
                .unwrap_or_default()
                .trim()
                .to_string();
            let meta = string_map(arg.get("metadata")).unwrap_or_default();
            let image_id = c
                .server_create_image(ctx, &i.uuid, &image_name, meta)
                .await?;
            if mv.at_least(45) {
                (StatusCode::ACCEPTED, Json(json!({"image_id": image_id}))).into_response()
            } else {
                let mut r = accepted();
                let url = format!("{}/image/v2/images/{image_id}", s.base_url);
                if let Ok(v) = HeaderValue::from_str(&url) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
        }
        "shelve" => {
            let i = prepare(&s, &caller, &id, "os_compute_api:os-shelve:shelve").await?;
            c.server_shelve(ctx, &i.uuid).await?;
            accepted()
        }
        "shelveOffload" => {
            // Shelving offloads at once here, so there is never anything left to offload.
            let i = prepare(&s, &caller, &id, "os_compute_api:os-shelve:shelve_offload").await?;
            if i.vm_state != VmState::ShelvedOffloaded {
                return Err(invalid_state("shelveOffload", &i).into());
            }
            accepted()
        }
        "unshelve" => {
            check(schemas::unshelve(mv))?;
            let i = prepare(&s, &caller, &id, "os_compute_api:os-shelve:unshelve").await?;
            c.server_unshelve(ctx, &i.uuid).await?;
            accepted()
        }
        "rescue" => {
            check(schemas::rescue())?;
            let password =
                json_str(arg.get("adminPass")).unwrap_or_else(super::create::generate_password);
            let i = prepare(&s, &caller, &id, "os_compute_api:os-rescue").await?;
            let image = json_str(arg.get("rescue_image_ref"));
            let password = c.server_rescue(ctx, &i.uuid, image, Some(password)).await?;
            // Nova answers 200 (not 202) with the rescue password.
            Json(json!({"adminPass": password})).into_response()
        }
        "unrescue" => {
            let i = prepare(&s, &caller, &id, "os_compute_api:os-unrescue").await?;
            c.server_unrescue(ctx, &i.uuid).await?;
            accepted()
        }
        "os-getConsoleOutput" => {
            check(schemas::console_output())?;
            let i = prepare(&s, &caller, &id, "os_compute_api:os-console-output").await?;
            let length = json_int(arg.get("length")).filter(|l| *l >= 0);
            let out = c.server_console_output(ctx, &i.uuid, length).await?;
            Json(json!({"output": clean_console(&out)})).into_response()
        }
        "forceDelete" => {
            let i = prepare(&s, &caller, &id, "os_compute_api:os-deferred-delete:force").await?;
            c.server_delete(ctx, &i.uuid, true).await?;
            accepted()
        }
        "restore" => {
            // No soft delete is configured, so no server is ever SOFT_DELETED.
            let i = prepare(
                &s,
                &caller,
                &id,
                "os_compute_api:os-deferred-delete:restore",
            )
            .await?;
            return Err(invalid_state("restore", &i).into());
        }
        "trigger_crash_dump" if mv.at_least(17) => {
            check(schemas::action(
                "trigger_crash_dump",
                Schema::any().with(super::schema::Kw::Type(&["null"])),
            ))?;
            prepare(
                &s,
                &caller,
                &id,
                "os_compute_api:servers:trigger_crash_dump",
            )
            .await?;
            return Err(bad("Triggering crash dump is not supported").into());
        }
        other => return Err(bad(format!("There is no such action: {other}")).into()),
    };
    Ok(resp)
}

/// `rebuild`: 202 with the rebuilt server, its admin password and a `Location` header.
async fn rebuild(
    s: &ApiState,
    mv: Mv,
    caller: &Caller,
    id: &str,
    arg: &Value,
    body: &Value,
) -> Result<Response> {
    schemas::rebuild(mv)
        .validate(body)
        .map_err(|e| bad(e.body_message()))?;
    let inst = prepare(s, caller, id, "os_compute_api:servers:rebuild").await?;
    if mv.at_least(63) && arg.get("trusted_image_certificates").is_some() {
        s.authorize(
            caller,
            "os_compute_api:servers:rebuild:trusted_certs",
            &server_target(&inst),
        )?;
    }
    let opt_string = |k: &str| arg.get(k).map(|v| v.as_str().map(str::to_string));
    let r = Rebuild {
        image_ref: json_str(arg.get("imageRef")).unwrap_or_default(),
        name: json_str(arg.get("name")).map(|n| n.trim().to_string()),
        metadata: string_map(arg.get("metadata")),
        description: if mv.at_least(19) {
            opt_string("description")
        } else {
            None
        },
        key_name: if mv.at_least(54) {
            opt_string("key_name")
        } else {
            None
        },
        user_data: if mv.at_least(57) {
            opt_string("user_data")
        } else {
            None
        },
    };
    let password = json_str(arg.get("adminPass")).unwrap_or_else(super::create::generate_password);
    s.compute.server_rebuild(&caller.ctx, &inst.uuid, r).await?;
    let inst = load(s, caller, &inst.uuid).await?;
    let mut view = written_view(s, caller, mv, &inst).await?;
    if mv.at_least(54) {
        view["key_name"] = json!(inst.key_name);
    }
    view.as_object_mut()
        .map(|m| m.remove("OS-EXT-SRV-ATTR:user_data"));
    view["adminPass"] = json!(password);
    if mv.at_least(57) {
        view["user_data"] = json!(inst.user_data);
    }
    let mut resp = (StatusCode::ACCEPTED, Json(json!({"server": view}))).into_response();
    if let Ok(loc) = HeaderValue::from_str(&s.self_href("servers", &inst.uuid)) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}
