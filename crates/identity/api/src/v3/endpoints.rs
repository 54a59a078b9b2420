//! `/v3/endpoints`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common_error::{Error, Result};
use common_http::{Authed, HttpResult};
use identity_domain::catalog::EndpointFilter;
use identity_domain::catalog::{check_interface, MAX_REGION_ID_LEN};
use identity_model::Endpoint;
use serde_json::{json, Value};

use crate::input::{envelope, extra, opt_bool, opt_str, Obj};
use crate::v3::regions::{collection, with_extra};
use crate::v3::self_link;
use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v3/endpoints", get(list).post(create))
        .route("/v3/endpoints/{id}", get(show).patch(update).delete(delete))
}

const KNOWN: &[&str] = &[
    "id",
    "interface",
    "region_id",
    "region",
    "service_id",
    "url",
    "enabled",
    "links",
    "legacy_endpoint_id",
];

/// An endpoint as Keystone renders it (`region` repeats `region_id`).
pub fn render(s: &ApiState, e: &Endpoint) -> Value {
    let v = json!({
        "id": e.id,
        "interface": e.interface,
        "region_id": e.region_id,
        "region": e.region_id,
        "service_id": e.service_id,
        "url": e.url,
        "enabled": e.enabled,
        "links": self_link(s, &format!("endpoints/{}", e.id)),
    });
    with_extra(v, &e.extra)
}

/// The region of a request: `region_id`, or else the legacy `region` (which Keystone creates
/// when missing). Returns `(present, region, legacy)`.
fn region(o: &Obj) -> Result<(bool, Option<String>, bool)> {
    let region_id = opt_str(o, "region_id", MAX_REGION_ID_LEN, true)?;
    let legacy = opt_str(o, "region", MAX_REGION_ID_LEN, true)?;
    Ok(match (region_id, legacy) {
        (Some(r), _) => (true, Some(r), false),
        (None, Some(l)) => (true, Some(l), true),
        (None, None) => (
            o.contains_key("region_id") || o.contains_key("region"),
            None,
            false,
        ),
    })
}

async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    if let Some(i) = q.get("interface") {
        check_interface(i)?;
    }
    s.authorize(&auth, "identity:list_endpoints", &Default::default())?;
    let f = EndpointFilter {
        service_id: q.get("service_id").cloned(),
        region_id: q.get("region_id").cloned(),
        interface: q.get("interface").cloned(),
    };
    let endpoints = s.identity.endpoint_list(&f).await?;
    let items = endpoints.iter().map(|e| render(&s, e)).collect();
    Ok(Json(collection(&s, "endpoints", "endpoints", items)))
}

async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    body: Bytes,
) -> HttpResult<Response> {
    let o = envelope(&body, "endpoint")?;
    let required = |f: &str| -> Result<String> {
        opt_str(&o, f, 0, false)?
            .ok_or_else(|| Error::bad_request(format!("'{f}' is a required property")))
    };
    let interface = required("interface")?;
    check_interface(&interface)?;
    let service_id = required("service_id")?;
    let url = required("url")?;
    let (_, region_id, legacy) = region(&o)?;
    let e = Endpoint {
        id: String::new(),
        service_id,
        region_id,
        interface,
        url,
        enabled: opt_bool(&o, "enabled")?.unwrap_or(true),
        extra: extra(&o, KNOWN),
    };
    s.authorize(&auth, "identity:create_endpoint", &Default::default())?;
    let e = s.identity.endpoint_create(e, legacy).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"endpoint": render(&s, &e)})),
    )
        .into_response())
}

async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    s.authorize(&auth, "identity:get_endpoint", &Default::default())?;
    let e = s.identity.endpoint_get(&id).await?;
    Ok(Json(json!({"endpoint": render(&s, &e)})))
}

async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    let o = envelope(&body, "endpoint")?;
    if o.is_empty() {
        return Err(Error::bad_request(
            "Invalid input for field 'endpoint': {} does not have enough properties",
        )
        .into());
    }
    let interface = opt_str(&o, "interface", 0, false)?;
    if let Some(i) = &interface {
        check_interface(i)?;
    }
    let service_id = opt_str(&o, "service_id", 0, false)?;
    let url = opt_str(&o, "url", 0, false)?;
    let enabled = opt_bool(&o, "enabled")?;
    let (region_given, region_id, legacy) = region(&o)?;
    let given_id = opt_str(&o, "id", 0, true)?;
    let ex = extra(&o, KNOWN);
    s.authorize(&auth, "identity:update_endpoint", &Default::default())?;
    if given_id.is_some_and(|g| g != id) {
        return Err(Error::bad_request("Cannot change ID").into());
    }
    let e = s
        .identity
        .endpoint_update(&id, legacy, |e| {
            if let Some(i) = interface {
                e.interface = i;
            }
            if let Some(v) = service_id {
                e.service_id = v;
            }
            if let Some(u) = url {
                e.url = u;
            }
            if let Some(b) = enabled {
                e.enabled = b;
            }
            if region_given {
                e.region_id = region_id;
            }
            e.extra.extend(ex);
            Ok(())
        })
        .await?;
    Ok(Json(json!({"endpoint": render(&s, &e)})))
}

async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    s.authorize(&auth, "identity:delete_endpoint", &Default::default())?;
    s.identity.endpoint_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
