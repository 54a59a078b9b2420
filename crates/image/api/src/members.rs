//! `/v2/images/{id}/members`: sharing an image with other projects.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use common_error::Error;
use common_http::{Authed, HttpResult};
use image_model::MemberStatus;
use serde_json::{json, Value};

use crate::{caller, json_body, views, ApiState};

pub async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    let body = json_body(&body)?;
    let member_id = match body.get("member") {
        None if body.is_object() => {
            return Err(Error::bad_request("Member to be added not specified").into())
        }
        None => {
            return Err(Error::bad_request(
                "Expected a member in the form: {\"member\": \"image_id\"}",
            )
            .into())
        }
        Some(Value::String(m)) if m.is_empty() => {
            return Err(Error::bad_request("Member can't be empty").into())
        }
        Some(Value::String(m)) => m.clone(),
        Some(Value::Null) => return Err(Error::bad_request("Member can't be empty").into()),
        Some(_) => {
            return Err(Error::bad_request(
                "Expected a member in the form: {\"member\": \"image_id\"}",
            )
            .into())
        }
    };
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    s.enforce_image(&auth, &c, "add_member", &img)
        .map_err(|e| {
            if e.status() == 403 {
                Error::forbidden(format!("Not allowed to create members for image {id}."))
            } else {
                e
            }
        })?;
    let m = s.images.member_create(&img, &member_id).await?;
    Ok(Json(views::member(&m)))
}

pub async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    s.enforce_image(&auth, &c, "get_members", &img)?;
    let members = s.images.member_list(&c, &img).await?;
    Ok(Json(json!({
        "members": members.iter().map(views::member).collect::<Vec<_>>(),
        "schema": "/v2/schemas/members",
    })))
}

pub async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((id, member_id)): Path<(String, String)>,
) -> HttpResult<Json<Value>> {
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    // A refusal reads as "not found", so that memberships do not leak.
    s.enforce_image(&auth, &c, "get_member", &img)
        .map_err(|_| Error::not_found("image member", &member_id))?;
    let m = s.images.member_get(&c, &img, &member_id).await?;
    Ok(Json(views::member(&m)))
}

pub async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((id, member_id)): Path<(String, String)>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    let body = json_body(&body)?;
    let status = match body.get("status") {
        None if body.is_object() => return Err(Error::bad_request("Status not specified").into()),
        None => {
            return Err(Error::bad_request(
                "Expected a status in the form: {\"status\": \"status\"}",
            )
            .into())
        }
        Some(v) => v.as_str().and_then(MemberStatus::parse).ok_or_else(|| {
            Error::bad_request(
                "Incorrect request: Status must be \"pending\", \"accepted\" or \"rejected\".",
            )
        })?,
    };
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    s.enforce_image(&auth, &c, "modify_member", &img)
        .map_err(|e| {
            if e.status() == 403 {
                Error::forbidden(format!("Not allowed to update members for image {id}."))
            } else {
                e
            }
        })?;
    let m = s.images.member_update(&c, &img, &member_id, status).await?;
    Ok(Json(views::member(&m)))
}

pub async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((id, member_id)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    let c = caller(&auth);
    let img = s.fetch(&auth, &c, &id).await?;
    s.enforce_image(&auth, &c, "delete_member", &img)
        .map_err(|e| {
            if e.status() == 403 {
                Error::forbidden(format!("Not allowed to delete members for image {id}."))
            } else {
                e
            }
        })?;
    s.images.member_delete(&c, &img, &member_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
