//! `/v3/roles` (global and domain-specific roles), implied roles under
//! `/v3/roles/{id}/implies`, and `/v3/role_inferences`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common_error::{Error, Result};
use common_http::{AuthContext, Authed, HttpResult};
use common_policy::{Target, NONE};
use identity_domain::role::RoleUpdate;
use identity_model::{Extra, Role};
use serde_json::{json, Value};

use crate::input::{envelope, opt_obj, opt_str, req_str};
use crate::v3::{collection_links, self_link};
use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v3/roles", get(list).post(create))
        .route("/v3/roles/{id}", get(show).patch(update).delete(delete))
        .route("/v3/roles/{id}/implies", get(implies_list))
        .route(
            "/v3/roles/{id}/implies/{implied_id}",
            get(implied_show)
                .head(implied_check)
                .put(implied_create)
                .delete(implied_delete),
        )
        .route("/v3/role_inferences", get(inferences))
}

/// A role as Keystone renders it.
pub fn render(s: &ApiState, r: &Role) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "domain_id": r.domain_id,
        "description": r.description,
        "options": r.options,
        "links": self_link(s, &format!("roles/{}", r.id)),
    })
}

/// The short form used in role inferences: id, name and links.
fn brief(s: &ApiState, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "links": self_link(s, &format!("roles/{}", r.id))})
}

/// The policy target of a role (`target.role.*`), a global role's domain being `None`.
pub fn role_target(prefix: &str, r: &Role, t: &mut Target) {
    t.insert(format!("target.{prefix}.id"), r.id.clone());
    t.insert(format!("target.{prefix}.name"), r.name.clone());
    t.insert(
        format!("target.{prefix}.domain_id"),
        r.domain_id.clone().unwrap_or_else(|| NONE.to_string()),
    );
}

/// Looks up a role for a request on it: the policy check runs before a missing role is
/// reported, on `action` for a global (or missing) role and `domain_action` for a
/// domain-specific one.
async fn fetch(
    s: &ApiState,
    auth: &AuthContext,
    id: &str,
    action: &str,
    domain_action: &str,
) -> Result<Role> {
    match s.identity.role_get(id).await {
        Ok(r) => {
            let mut t = Target::new();
            role_target("role", &r, &mut t);
            let action = if r.domain_id.is_some() {
                domain_action
            } else {
                action
            };
            s.authorize(auth, action, &t)?;
            Ok(r)
        }
        Err(e) => {
            s.authorize(auth, action, &Target::new())?;
            Err(e)
        }
    }
}

async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    let domain_id = q.get("domain_id").filter(|d| !d.is_empty()).cloned();
    let action = if domain_id.is_some() {
        "identity:list_domain_roles"
    } else {
        "identity:list_roles"
    };
    let mut t = Target::new();
    for k in ["name", "domain_id"] {
        if let Some(v) = q.get(k) {
            t.insert(k.to_string(), v.clone());
        }
    }
    s.authorize(&auth, action, &t)?;
    let mut roles = s
        .identity
        .role_list(q.get("name").map(String::as_str), domain_id.as_deref())
        .await?;
    let limit = s.identity.config().list_limit;
    let truncated = limit > 0 && roles.len() > limit;
    if truncated {
        roles.truncate(limit);
    }
    let items: Vec<Value> = roles.iter().map(|r| render(&s, r)).collect();
    let mut body = json!({"roles": items, "links": collection_links(&s, "roles")});
    if truncated {
        body["truncated"] = json!(true);
    }
    Ok(Json(body))
}

fn parse_json(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|_| {
        Error::bad_request("The request body could not be parsed as JSON. Expecting to find valid JSON in request body.")
    })
}

/// Parses `options` (an object whose only key is `immutable`, a boolean or null).
fn options(o: &serde_json::Map<String, Value>) -> Result<Option<Extra>> {
    let opts = opt_obj(o, "options")?.cloned();
    if let Some(opts) = &opts {
        identity_domain::role::check_options(opts)?;
    }
    Ok(opts)
}

/// A domain id in a request body: 1 to 64 letters, digits or dashes, or null.
fn domain_id(o: &serde_json::Map<String, Value>) -> Result<Option<String>> {
    let d = opt_str(o, "domain_id", 64, true)?;
    if let Some(d) = &d {
        if d.is_empty() || !d.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'domain_id': '{d}' does not match '^[a-zA-Z0-9-]+$'"
            )));
        }
    }
    Ok(d)
}

async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    body: Bytes,
) -> HttpResult<Response> {
    let v = parse_json(&body)?;
    let is_domain_role = v
        .get("role")
        .and_then(|r| r.get("domain_id"))
        .and_then(Value::as_str)
        .is_some_and(|d| !d.is_empty());
    let action = if is_domain_role {
        "identity:create_domain_role"
    } else {
        "identity:create_role"
    };
    s.authorize(&auth, action, &Target::new())?;
    let o = envelope(&body, "role")?;
    let r = Role {
        id: identity_domain::new_id(),
        name: req_str(&o, "name", identity_domain::role::MAX_NAME_LEN)?,
        domain_id: domain_id(&o)?,
        description: opt_str(
            &o,
            "description",
            identity_domain::role::MAX_DESCRIPTION_LEN,
            true,
        )?,
        options: options(&o)?.unwrap_or_default(),
    };
    let r = s.identity.role_create(r).await?;
    Ok((StatusCode::CREATED, Json(json!({"role": render(&s, &r)}))).into_response())
}

async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let r = fetch(
        &s,
        &auth,
        &id,
        "identity:get_role",
        "identity:get_domain_role",
    )
    .await?;
    Ok(Json(json!({"role": render(&s, &r)})))
}

async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    parse_json(&body)?;
    fetch(
        &s,
        &auth,
        &id,
        "identity:update_role",
        "identity:update_domain_role",
    )
    .await?;
    let o = envelope(&body, "role")?;
    if o.is_empty() {
        return Err(Error::bad_request(
            "Invalid input for field 'role': {} does not have enough properties",
        )
        .into());
    }
    if let Some(v) = o.get("id").filter(|v| !v.is_null()) {
        if v.as_str() != Some(id.as_str()) {
            return Err(Error::bad_request("Cannot change ID").into());
        }
    }
    let u = RoleUpdate {
        name: match o.get("name") {
            Some(_) => Some(req_str(&o, "name", identity_domain::role::MAX_NAME_LEN)?),
            None => None,
        },
        description: match o.contains_key("description") {
            true => Some(opt_str(
                &o,
                "description",
                identity_domain::role::MAX_DESCRIPTION_LEN,
                true,
            )?),
            false => None,
        },
        domain_id: match o.contains_key("domain_id") {
            true => Some(domain_id(&o)?),
            false => None,
        },
        options: options(&o)?,
        fields: o.len(),
    };
    let r = s.identity.role_update(&id, u).await?;
    Ok(Json(json!({"role": render(&s, &r)})))
}

async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    fetch(
        &s,
        &auth,
        &id,
        "identity:delete_role",
        "identity:delete_domain_role",
    )
    .await?;
    s.identity.role_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Keystone builds the implied-role policy target from both roles, so an unknown role is a
/// 404 before any policy check.
async fn implied_target(s: &ApiState, prior: &str, implied: Option<&str>) -> Result<Target> {
    let mut t = Target::new();
    role_target("prior_role", &s.identity.role_get(prior).await?, &mut t);
    if let Some(i) = implied {
        role_target("implied_role", &s.identity.role_get(i).await?, &mut t);
    }
    Ok(t)
}

fn inference_body(s: &ApiState, prior: &Role, implied: &Role) -> Value {
    json!({
        "role_inference": {"prior_role": brief(s, prior), "implies": brief(s, implied)},
        "links": self_link(s, &format!("roles/{}/implies/{}", prior.id, implied.id)),
    })
}

async fn implies_list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let t = implied_target(&s, &id, None).await?;
    s.authorize(&auth, "identity:list_implied_roles", &t)?;
    let (prior, implied) = s.identity.implied_roles_of(&id).await?;
    let implies: Vec<Value> = implied.iter().map(|r| brief(&s, r)).collect();
    Ok(Json(json!({
        "role_inference": {"prior_role": brief(&s, &prior), "implies": implies},
        "links": self_link(&s, &format!("roles/{id}/implies")),
    })))
}

async fn implied_show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((id, implied)): Path<(String, String)>,
) -> HttpResult<Json<Value>> {
    let t = implied_target(&s, &id, Some(&implied)).await?;
    s.authorize(&auth, "identity:get_implied_role", &t)?;
    let (p, i) = s.identity.implied_role_get(&id, &implied).await?;
    Ok(Json(inference_body(&s, &p, &i)))
}

async fn implied_check(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((id, implied)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    let t = implied_target(&s, &id, Some(&implied)).await?;
    s.authorize(&auth, "identity:check_implied_role", &t)?;
    s.authorize(&auth, "identity:get_implied_role", &t)?;
    s.identity.implied_role_get(&id, &implied).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn implied_create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((id, implied)): Path<(String, String)>,
) -> HttpResult<Response> {
    let t = implied_target(&s, &id, Some(&implied)).await?;
    s.authorize(&auth, "identity:create_implied_role", &t)?;
    let (p, i) = s.identity.implied_role_create(&id, &implied).await?;
    Ok((StatusCode::CREATED, Json(inference_body(&s, &p, &i))).into_response())
}

async fn implied_delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((id, implied)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    let t = implied_target(&s, &id, Some(&implied)).await?;
    s.authorize(&auth, "identity:delete_implied_role", &t)?;
    s.identity.implied_role_delete(&id, &implied).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn inferences(State(s): State<ApiState>, Authed(auth): Authed) -> HttpResult<Json<Value>> {
    s.authorize(&auth, "identity:list_role_inference_rules", &Target::new())?;
    let rules: Vec<Value> = s
        .identity
        .role_inferences()
        .await?
        .iter()
        .map(|(p, implied)| {
            json!({"prior_role": brief(&s, p), "implies": implied.iter().map(|r| brief(&s, r)).collect::<Vec<_>>()})
        })
        .collect();
    Ok(Json(
        json!({"role_inferences": rules, "links": collection_links(&s, "role_inferences")}),
    ))
}
