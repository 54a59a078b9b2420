//! `/servers/{id}/metadata[/{key}]` (Nova's `server_metadata.py`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use common_error::{Error, Result};
use common_http::HttpResult;
use compute_model::Instance;
use serde_json::{json, Value};

use super::crud::load;
use super::schema::Schema;
use super::schemas;
use super::util::{body_json, not_found, server_target, Caller};
use crate::ApiState;

const NOT_FOUND: &str = "Metadata item was not found";

async fn prepare(s: &ApiState, caller: &Caller, id: &str, verb: &str) -> Result<Instance> {
    let inst = load(s, caller, id).await?;
    let rule = format!("os_compute_api:server-metadata:{verb}");
    s.authorize(caller, &rule, &server_target(&inst))?;
    Ok(inst)
}

fn validated(body: &Bytes, schema: Schema) -> Result<Value> {
    let v = body_json(body)?;
    schema
        .validate(&v)
        .map_err(|e| Error::bad_request(e.body_message()))?;
    Ok(v)
}

fn items(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /servers/{id}/metadata`.
pub(super) async fn index(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let inst = prepare(&s, &caller, &id, "index").await?;
    Ok(Json(json!({"metadata": inst.metadata})))
}

/// `POST /servers/{id}/metadata`: merges; 200 with the whole set.
pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    let v = validated(&body, schemas::metadata_set())?;
    let inst = prepare(&s, &caller, &id, "create").await?;
    let all = s
        .compute
        .server_metadata_set(&caller.ctx, &inst.uuid, items(&v["metadata"]), false)
        .await?;
    Ok(Json(json!({"metadata": all})))
}

/// `PUT /servers/{id}/metadata`: replaces the set.
pub(super) async fn update_all(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    let v = validated(&body, schemas::metadata_set())?;
    let inst = prepare(&s, &caller, &id, "update_all").await?;
    let all = s
        .compute
        .server_metadata_set(&caller.ctx, &inst.uuid, items(&v["metadata"]), true)
        .await?;
    Ok(Json(json!({"metadata": all})))
}

/// `GET /servers/{id}/metadata/{key}`.
pub(super) async fn show(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
) -> HttpResult<Response> {
    let inst = prepare(&s, &caller, &id, "show").await?;
    Ok(match inst.metadata.get(&key) {
        Some(v) => Json(json!({"meta": {key: v}})).into_response(),
        None => not_found(NOT_FOUND),
    })
}

/// `PUT /servers/{id}/metadata/{key}`: exactly one item, named as in the URL.
pub(super) async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    let v = validated(&body, schemas::metadata_item())?;
    let inst = prepare(&s, &caller, &id, "update").await?;
    let meta = items(&v["meta"]);
    if !meta.contains_key(&key) {
        return Err(Error::bad_request("Request body and URI mismatch").into());
    }
    s.compute
        .server_metadata_set(&caller.ctx, &inst.uuid, meta.clone(), false)
        .await?;
    Ok(Json(json!({"meta": meta})))
}

/// `DELETE /servers/{id}/metadata/{key}`.
pub(super) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
) -> HttpResult<Response> {
    let inst = prepare(&s, &caller, &id, "delete").await?;
    if !inst.metadata.contains_key(&key) {
        return Ok(not_found(NOT_FOUND));
    }
    s.compute
        .server_metadata_delete(&caller.ctx, &inst.uuid, &key)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
