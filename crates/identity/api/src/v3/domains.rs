//! `/v3/domains`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common_error::{Error, Result};
use common_http::{AuthContext, Authed, HttpResult};
use identity_model::{ListFilter, Project};
use serde_json::{json, Value};

use crate::context::target;
use crate::input::{envelope, extra, forbid, opt_bool, opt_str, opt_str_list, query_bool, req_str};
use crate::v3::collection_links;
use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v3/domains", get(list).post(create))
        .route("/v3/domains/{id}", get(show).patch(update).delete(delete))
}

const KNOWN: &[&str] = &[
    "id",
    "name",
    "description",
    "enabled",
    "tags",
    "options",
    "links",
    "explicit_domain_id",
];

/// A domain as Keystone renders it.
pub fn render(s: &ApiState, d: &Project) -> Value {
    let mut v = json!({
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "enabled": d.enabled,
        "tags": d.tags,
        "options": {},
        "links": {"self": format!("{}/domains/{}", s.v3_url(), d.id)},
    });
    if let Value::Object(m) = &mut v {
        for (k, val) in &d.extra {
            m.entry(k.clone()).or_insert(val.clone());
        }
    }
    v
}

async fn fetch(s: &ApiState, auth: &AuthContext, id: &str, action: &str) -> Result<Project> {
    s.authorize(auth, action, &target(&[("target.domain.id", Some(id))]))?;
    s.identity.domain_get(id).await
}

async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    s.authorize(&auth, "identity:list_domains", &Default::default())?;
    let enabled = match q.get("enabled") {
        Some(v) => Some(
            query_bool(v).ok_or_else(|| Error::bad_request("Invalid input for field 'enabled'"))?,
        ),
        None => None,
    };
    let f = ListFilter {
        name: q.get("name").cloned(),
        enabled,
        is_domain: Some(true),
        ..Default::default()
    };
    let items: Vec<Value> = s
        .identity
        .project_list(&f)
        .await?
        .iter()
        .map(|d| render(&s, d))
        .collect();
    Ok(Json(
        json!({"domains": items, "links": collection_links(&s, "domains")}),
    ))
}

async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    body: Bytes,
) -> HttpResult<Response> {
    let o = envelope(&body, "domain")?;
    forbid(&o, &["links", "id"])?;
    s.authorize(&auth, "identity:create_domain", &Default::default())?;
    let d = Project {
        id: opt_str(&o, "explicit_domain_id", 64, true)?.unwrap_or_else(identity_domain::new_id),
        name: req_str(&o, "name", 64)?,
        domain_id: None,
        parent_id: None,
        description: opt_str(&o, "description", 0, true)?.unwrap_or_default(),
        enabled: opt_bool(&o, "enabled")?.unwrap_or(true),
        is_domain: true,
        tags: opt_str_list(&o, "tags")?.unwrap_or_default(),
        extra: extra(&o, KNOWN),
    };
    let d = s.identity.project_create(d).await?;
    Ok((StatusCode::CREATED, Json(json!({"domain": render(&s, &d)}))).into_response())
}

async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let d = fetch(&s, &auth, &id, "identity:get_domain").await?;
    Ok(Json(json!({"domain": render(&s, &d)})))
}

async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    let o = envelope(&body, "domain")?;
    forbid(&o, &["id", "links"])?;
    fetch(&s, &auth, &id, "identity:update_domain").await?;
    let name = opt_str(&o, "name", 64, false)?;
    let description = opt_str(&o, "description", 0, true)?;
    let enabled = opt_bool(&o, "enabled")?;
    let tags = opt_str_list(&o, "tags")?;
    let ex = extra(&o, KNOWN);
    let d = s
        .identity
        .project_update(&id, true, |d| {
            if let Some(n) = name {
                d.name = n;
            }
            if o.contains_key("description") {
                d.description = description.unwrap_or_default();
            }
            if let Some(e) = enabled {
                d.enabled = e;
            }
            if let Some(t) = tags {
                d.tags = t;
            }
            d.extra.extend(ex);
            Ok(())
        })
        .await?;
    Ok(Json(json!({"domain": render(&s, &d)})))
}

async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    fetch(&s, &auth, &id, "identity:delete_domain").await?;
    s.identity.domain_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
