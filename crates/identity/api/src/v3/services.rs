//! `/v3/services`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common_error::{Error, Result};
use common_http::{Authed, HttpResult};
use identity_domain::catalog::MAX_SERVICE_FIELD_LEN;
use identity_model::Service;
use serde_json::{json, Value};

use crate::input::{envelope, extra, opt_bool, opt_str, Obj};
use crate::v3::regions::{collection, with_extra};
use crate::v3::self_link;
use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v3/services", get(list).post(create))
        .route("/v3/services/{id}", get(show).patch(update).delete(delete))
}

const KNOWN: &[&str] = &["id", "type", "name", "description", "enabled", "links"];

/// A service as Keystone renders it (`description` only when it has one).
pub fn render(s: &ApiState, svc: &Service) -> Value {
    let mut v = json!({
        "id": svc.id,
        "type": svc.service_type,
        "name": svc.name,
        "enabled": svc.enabled,
        "links": self_link(s, &format!("services/{}", svc.id)),
    });
    if let Some(d) = &svc.description {
        v["description"] = json!(d);
    }
    with_extra(v, &svc.extra)
}

/// A non-empty string of at most 255 characters.
fn field(o: &Obj, name: &str) -> Result<Option<String>> {
    let v = opt_str(o, name, MAX_SERVICE_FIELD_LEN, false)?;
    if v.as_deref() == Some("") {
        return Err(Error::bad_request(format!(
            "Invalid input for field '{name}': '' is too short"
        )));
    }
    Ok(v)
}

async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    s.authorize(&auth, "identity:list_services", &Default::default())?;
    let services = s
        .identity
        .service_list(
            q.get("type").map(String::as_str),
            q.get("name").map(String::as_str),
        )
        .await?;
    let items = services.iter().map(|x| render(&s, x)).collect();
    Ok(Json(collection(&s, "services", "services", items)))
}

async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    body: Bytes,
) -> HttpResult<Response> {
    let o = envelope(&body, "service")?;
    let service_type =
        field(&o, "type")?.ok_or_else(|| Error::bad_request("'type' is a required property"))?;
    let svc = Service {
        id: String::new(),
        service_type,
        name: field(&o, "name")?.unwrap_or_default(),
        description: opt_str(&o, "description", 0, true)?,
        enabled: opt_bool(&o, "enabled")?.unwrap_or(true),
        extra: extra(&o, KNOWN),
    };
    s.authorize(&auth, "identity:create_service", &Default::default())?;
    let svc = s.identity.service_create(svc).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"service": render(&s, &svc)})),
    )
        .into_response())
}

async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    s.authorize(&auth, "identity:get_service", &Default::default())?;
    let svc = s.identity.service_get(&id).await?;
    Ok(Json(json!({"service": render(&s, &svc)})))
}

async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    let o = envelope(&body, "service")?;
    if o.is_empty() {
        return Err(Error::bad_request(
            "Invalid input for field 'service': {} does not have enough properties",
        )
        .into());
    }
    let service_type = field(&o, "type")?;
    let name = field(&o, "name")?;
    let description = opt_str(&o, "description", 0, true)?;
    let enabled = opt_bool(&o, "enabled")?;
    let given_id = opt_str(&o, "id", 0, true)?;
    let ex = extra(&o, KNOWN);
    s.authorize(&auth, "identity:update_service", &Default::default())?;
    if given_id.is_some_and(|g| g != id) {
        return Err(Error::bad_request("Cannot change ID").into());
    }
    let svc = s
        .identity
        .service_update(&id, |svc| {
            if let Some(t) = service_type {
                svc.service_type = t;
            }
            if let Some(n) = name {
                svc.name = n;
            }
            if o.contains_key("description") {
                svc.description = description;
            }
            if let Some(e) = enabled {
                svc.enabled = e;
            }
            svc.extra.extend(ex);
            Ok(())
        })
        .await?;
    Ok(Json(json!({"service": render(&s, &svc)})))
}

async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    s.authorize(&auth, "identity:delete_service", &Default::default())?;
    s.identity.service_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
