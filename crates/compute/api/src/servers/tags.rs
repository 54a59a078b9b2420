//! `/servers/{id}/tags[/{tag}]` (Nova's `server_tags.py`, 2.26 and later; older
//! microversions answer 404 as Nova does for a method it does not have).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use common_error::{Error, Result};
use common_http::HttpResult;
use compute_model::{Instance, VmState};
use serde_json::json;

use super::crud::load;
use super::schema::{Kw, Schema};
use super::schemas::{self, MAX_TAG_COUNT};
use super::util::{body_json, not_found, server_target, Caller};
use crate::{ApiState, Mv};

/// A plain 404 that the service layer renders with Nova's generic message.
fn no_such_method() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

async fn prepare(s: &ApiState, caller: &Caller, id: &str, verb: &str) -> Result<Instance> {
    let inst = load(s, caller, id).await?;
    let rule = format!("os_compute_api:os-server-tags:{verb}");
    s.authorize(caller, &rule, &server_target(&inst))?;
    Ok(inst)
}

/// Tags change only on servers at rest (Nova's `_check_instance_in_valid_state`).
fn check_state(inst: &Instance, action: &str) -> Result<()> {
    match inst.vm_state {
        VmState::Active | VmState::Paused | VmState::Suspended | VmState::Stopped => Ok(()),
        other => Err(Error::conflict(format!(
            "Cannot '{action}' instance {} while it is in vm_state {}",
            inst.uuid,
            other.as_str()
        ))),
    }
}

/// `GET /servers/{id}/tags`.
pub(super) async fn index(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    Path(id): Path<String>,
) -> HttpResult<Response> {
    if !mv.at_least(26) {
        return Ok(no_such_method());
    }
    let inst = prepare(&s, &caller, &id, "index").await?;
    Ok(Json(json!({"tags": inst.tags})).into_response())
}

/// `PUT /servers/{id}/tags`: replaces the set.
pub(super) async fn update_all(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    if !mv.at_least(26) {
        return Ok(no_such_method());
    }
    let v = body_json(&body)?;
    schemas::tags_set()
        .validate(&v)
        .map_err(|e| Error::bad_request(e.body_message()))?;
    let inst = prepare(&s, &caller, &id, "update_all").await?;
    check_state(&inst, "update tags")?;
    let tags: Vec<String> = v["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let tags = s
        .compute
        .server_tags_set(&caller.ctx, &inst.uuid, tags)
        .await?;
    Ok(Json(json!({"tags": tags})).into_response())
}

/// `DELETE /servers/{id}/tags`.
pub(super) async fn delete_all(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    Path(id): Path<String>,
) -> HttpResult<Response> {
    if !mv.at_least(26) {
        return Ok(no_such_method());
    }
    let inst = prepare(&s, &caller, &id, "delete_all").await?;
    check_state(&inst, "delete tags")?;
    s.compute
        .server_tags_set(&caller.ctx, &inst.uuid, Vec::new())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn no_tag(id: &str, tag: &str) -> Response {
    not_found(&format!("Server {id} has no tag '{tag}'"))
}

/// `GET /servers/{id}/tags/{tag}`: 204 when present.
pub(super) async fn show(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> HttpResult<Response> {
    if !mv.at_least(26) {
        return Ok(no_such_method());
    }
    let inst = prepare(&s, &caller, &id, "show").await?;
    if inst.tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Ok(no_tag(&id, &tag))
    }
}

/// `PUT /servers/{id}/tags/{tag}`: 201 with a `Location` when added, 204 when present.
pub(super) async fn update(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
    body: Bytes,
) -> HttpResult<Response> {
    if !mv.at_least(26) {
        return Ok(no_such_method());
    }
    let v = body_json(&body)?;
    Schema::any()
        .with(Kw::Type(&["null"]))
        .validate(&v)
        .map_err(|e| Error::bad_request(e.body_message()))?;
    let inst = prepare(&s, &caller, &id, "update").await?;
    check_state(&inst, "update tag")?;
    if let Err(e) = schemas::tag().validate(&json!(tag)) {
        return Err(Error::bad_request(format!(
            "Tag '{tag}' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: {}",
            e.message
        ))
        .into());
    }
    if inst.tags.len() >= MAX_TAG_COUNT {
        return Err(Error::bad_request(format!(
            "The number of tags exceeded the per-server limit {MAX_TAG_COUNT}"
        ))
        .into());
    }
    if inst.tags.contains(&tag) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    s.compute
        .server_tag_add(&caller.ctx, &inst.uuid, &tag)
        .await?;
    let mut resp = StatusCode::CREATED.into_response();
    let encoded: String = form_urlencoded::byte_serialize(tag.as_bytes()).collect();
    let loc = format!(
        "{}/tags/{}",
        s.self_href("servers", &inst.uuid),
        encoded.replace('+', "%20")
    );
    if let Ok(v) = HeaderValue::from_str(&loc) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `DELETE /servers/{id}/tags/{tag}`.
pub(super) async fn delete(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> HttpResult<Response> {
    if !mv.at_least(26) {
        return Ok(no_such_method());
    }
    let inst = prepare(&s, &caller, &id, "delete").await?;
    check_state(&inst, "delete tag")?;
    if !inst.tags.contains(&tag) {
        return Ok(not_found(&format!(
            "Instance {} has no tag '{tag}'",
            inst.uuid
        )));
    }
    s.compute
        .server_tag_delete(&caller.ctx, &inst.uuid, &tag)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
