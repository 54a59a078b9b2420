//! `/v3/regions`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common_error::{Error, Result};
use common_http::{Authed, HttpResult};
use identity_domain::catalog::{MAX_DESCRIPTION_LEN, MAX_REGION_ID_LEN};
use identity_model::{Extra, Region};
use serde_json::{json, Value};

use crate::input::{envelope, extra, opt_str, Obj};
use crate::v3::{collection_links, self_link};
use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v3/regions", get(list).post(create))
        .route(
            "/v3/regions/{id}",
            get(show).put(create_with_id).patch(update).delete(delete),
        )
}

const KNOWN: &[&str] = &["id", "description", "parent_region_id", "links"];

/// Merges an entity's extra attributes into its rendered object, as Keystone does.
pub(crate) fn with_extra(mut v: Value, extra: &Extra) -> Value {
    if let Value::Object(m) = &mut v {
        for (k, val) in extra {
            m.entry(k.clone()).or_insert(val.clone());
        }
    }
    v
}

/// `{"<key>": [...], "links": ...}`, truncated to `list_limit` with `"truncated": true` as
/// Keystone does.
pub(crate) fn collection(s: &ApiState, key: &str, path: &str, mut items: Vec<Value>) -> Value {
    let limit = s.identity.config().list_limit;
    let truncated = limit > 0 && items.len() > limit;
    if truncated {
        items.truncate(limit);
    }
    let mut body = serde_json::Map::new();
    body.insert(key.to_string(), Value::Array(items));
    body.insert("links".into(), collection_links(s, path));
    if truncated {
        body.insert("truncated".into(), json!(true));
    }
    Value::Object(body)
}

/// A region as Keystone renders it.
pub fn render(s: &ApiState, r: &Region) -> Value {
    let v = json!({
        "id": r.id,
        "description": r.description,
        "parent_region_id": r.parent_region_id,
        "links": self_link(s, &format!("regions/{}", r.id)),
    });
    with_extra(v, &r.extra)
}

/// A region id or parent id: 1 to 255 characters, or null.
fn region_id(o: &Obj, field: &str) -> Result<Option<String>> {
    let v = opt_str(o, field, MAX_REGION_ID_LEN, true)?;
    if v.as_deref() == Some("") {
        return Err(Error::bad_request(format!(
            "Invalid input for field '{field}': '' is too short"
        )));
    }
    Ok(v)
}

fn parse_new(o: &Obj, id: String) -> Result<Region> {
    Ok(Region {
        id,
        description: opt_str(o, "description", MAX_DESCRIPTION_LEN, true)?.unwrap_or_default(),
        parent_region_id: region_id(o, "parent_region_id")?,
        extra: extra(o, KNOWN),
    })
}

async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    s.authorize(&auth, "identity:list_regions", &Default::default())?;
    let regions = s
        .identity
        .region_list(q.get("parent_region_id").map(String::as_str))
        .await?;
    let items = regions.iter().map(|r| render(&s, r)).collect();
    Ok(Json(collection(&s, "regions", "regions", items)))
}

async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    body: Bytes,
) -> HttpResult<Response> {
    let o = envelope(&body, "region")?;
    let id = opt_str(&o, "id", MAX_REGION_ID_LEN, true)?.unwrap_or_default();
    let r = parse_new(&o, id)?;
    s.authorize(&auth, "identity:create_region", &Default::default())?;
    let r = s.identity.region_create(r).await?;
    Ok((StatusCode::CREATED, Json(json!({"region": render(&s, &r)}))).into_response())
}

async fn create_with_id(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let o = envelope(&body, "region")?;
    if let Some(given) = opt_str(&o, "id", MAX_REGION_ID_LEN, true)? {
        if given != id {
            return Err(Error::bad_request(format!(
                "Conflicting region IDs specified: \"{id}\" != \"{given}\""
            ))
            .into());
        }
    }
    if id.chars().count() > MAX_REGION_ID_LEN {
        return Err(Error::bad_request("Invalid input for field 'id': too long").into());
    }
    let r = parse_new(&o, id)?;
    s.authorize(&auth, "identity:create_region", &Default::default())?;
    let r = s.identity.region_create(r).await?;
    Ok((StatusCode::CREATED, Json(json!({"region": render(&s, &r)}))).into_response())
}

async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    s.authorize(&auth, "identity:get_region", &Default::default())?;
    let r = s.identity.region_get(&id).await?;
    Ok(Json(json!({"region": render(&s, &r)})))
}

async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    let o = envelope(&body, "region")?;
    if o.is_empty() {
        return Err(Error::bad_request(
            "Invalid input for field 'region': {} does not have enough properties",
        )
        .into());
    }
    let description = opt_str(&o, "description", MAX_DESCRIPTION_LEN, true)?;
    let parent = region_id(&o, "parent_region_id")?;
    let given_id = opt_str(&o, "id", MAX_REGION_ID_LEN, true)?;
    let ex = extra(&o, KNOWN);
    s.authorize(&auth, "identity:update_region", &Default::default())?;
    if given_id.is_some_and(|g| g != id) {
        return Err(Error::bad_request("Cannot change ID").into());
    }
    let r = s
        .identity
        .region_update(&id, |r| {
            if o.contains_key("description") {
                r.description = description.unwrap_or_default();
            }
            if o.contains_key("parent_region_id") {
                r.parent_region_id = parent;
            }
            r.extra.extend(ex);
            Ok(())
        })
        .await?;
    Ok(Json(json!({"region": render(&s, &r)})))
}

async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    s.authorize(&auth, "identity:delete_region", &Default::default())?;
    s.identity.region_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
