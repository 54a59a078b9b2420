//! `/v2.0/quotas`: per-project limits, defaults and usage.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use common_http::{Authed, HttpResult};
use network_model::errors::invalid_attribute;
use serde_json::{json, Map, Value};

use crate::body::{self, repr};
use crate::{caller, ApiState};

fn target(project: &str) -> common_policy::Target {
    common_policy::target(&[("project_id", project), ("tenant_id", project)])
}

fn render(q: &network_model::QuotaSet) -> Value {
    Value::Object(
        q.iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<Map<_, _>>(),
    )
}

/// `GET /v2.0/quotas`: every project with overrides (admin); a project sees its own.
pub async fn list(State(s): State<ApiState>, Authed(auth): Authed) -> HttpResult<Json<Value>> {
    let c = caller(&s, &auth);
    let mut out = Vec::new();
    for (p, q) in s.net.quota_list().await? {
        if s.allowed(&auth, "get_quota", &target(&p)) && c.owns(&p) {
            let mut v = render(&q);
            v["project_id"] = json!(p);
            v["tenant_id"] = json!(p);
            out.push(v);
        }
    }
    Ok(Json(json!({"quotas": out})))
}

pub async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(project): Path<String>,
) -> HttpResult<Json<Value>> {
    s.authorize(&auth, "get_quota", &target(&project))?;
    Ok(Json(
        json!({"quota": render(&s.net.quota_get(&project).await?)}),
    ))
}

pub async fn defaults(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(project): Path<String>,
) -> HttpResult<Json<Value>> {
    s.authorize(&auth, "get_quota", &target(&project))?;
    Ok(Json(json!({"quota": render(&s.net.quota_defaults())})))
}

pub async fn details(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(project): Path<String>,
) -> HttpResult<Json<Value>> {
    s.authorize(&auth, "get_quota", &target(&project))?;
    let d = s.net.quota_details(&project).await?;
    let v: Map<String, Value> = d
        .into_iter()
        .map(|(k, d)| {
            (
                k,
                json!({"limit": d.limit, "used": d.used, "reserved": d.reserved}),
            )
        })
        .collect();
    Ok(Json(json!({"quota": v})))
}

pub async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(project): Path<String>,
    raw: Bytes,
) -> HttpResult<Json<Value>> {
    let mut b = body::parse(&raw, "quota", false)?;
    let mut limits = BTreeMap::new();
    for name in b.names() {
        let v = b.take(&name).unwrap_or(Value::Null);
        let n = match &v {
            Value::Number(n) => n.as_i64(),
            Value::String(t) => t.trim().parse::<i64>().ok(),
            _ => None,
        }
        .ok_or_else(|| invalid_attribute(&name, format!("'{}' is not an integer", repr(&v))))?;
        limits.insert(name, n);
    }
    b.finish()?;
    s.authorize(&auth, "update_quota", &target(&project))?;
    let q = s.net.quota_update(&project, &limits).await?;
    Ok(Json(json!({"quota": render(&q)})))
}

pub async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(project): Path<String>,
) -> HttpResult<StatusCode> {
    s.authorize(&auth, "delete_quota", &target(&project))?;
    s.net.quota_delete(&project).await?;
    Ok(StatusCode::NO_CONTENT)
}
