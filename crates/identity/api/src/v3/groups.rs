//! `/v3/groups`: group CRUD and membership.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common_error::{Error, Result};
use common_http::{AuthContext, Authed, HttpResult};
use common_policy::Target;
use identity_domain::group::GroupPatch;
use identity_domain::user::ExpiryFilter;
use identity_model::{Group, ListFilter};
use serde_json::{json, Map, Value};

use crate::context::target;
use crate::input::{envelope, extra, opt_str, req_str, Obj};
use crate::v3::collection_links;
use crate::v3::users::{implied_domain, opt_id, parse_enabled, truncate, users_body};
use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v3/groups", get(list).post(create))
        .route(
            "/v3/groups/{group_id}",
            get(show).patch(update).delete(delete),
        )
        .route("/v3/groups/{group_id}/users", get(list_users))
        .route(
            "/v3/groups/{group_id}/users/{user_id}",
            get(check_user).put(add_user).delete(remove_user),
        )
}

const KNOWN: &[&str] = &["id", "name", "domain_id", "description", "links"];

/// A group as Keystone renders it, extra attributes at the top level.
pub fn render(s: &ApiState, g: &Group) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(g.id));
    m.insert("name".into(), json!(g.name));
    m.insert("domain_id".into(), json!(g.domain_id));
    m.insert("description".into(), json!(g.description));
    m.insert(
        "links".into(),
        json!({"self": format!("{}/groups/{}", s.v3_url(), g.id)}),
    );
    for (k, v) in &g.extra {
        m.entry(k.clone()).or_insert(v.clone());
    }
    Value::Object(m)
}

fn group_target(g: &Group) -> Target {
    target(&[
        ("target.group.id", Some(&g.id)),
        ("target.group.domain_id", Some(&g.domain_id)),
    ])
}

/// Fetches the path's group, checking policy on it first if it exists.
async fn fetch(s: &ApiState, auth: &AuthContext, id: &str, action: &str) -> Result<Group> {
    match s.identity.group_get(id).await {
        Ok(g) => {
            s.authorize(auth, action, &group_target(&g))?;
            Ok(g)
        }
        Err(e) => {
            s.authorize(auth, action, &Target::new())?;
            Err(e)
        }
    }
}

/// `description`: a string or null.
fn opt_description(o: &Obj) -> Result<Option<Option<String>>> {
    if !o.contains_key("description") {
        return Ok(None);
    }
    Ok(Some(opt_str(o, "description", 0, true)?))
}

async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    let token_domain = auth.credentials.domain_id.clone();
    s.authorize(
        &auth,
        "identity:list_groups",
        &target(&[("target.group.domain_id", token_domain.as_deref())]),
    )?;
    let f = ListFilter {
        name: q.get("name").cloned(),
        domain_id: q.get("domain_id").cloned().or_else(|| token_domain.clone()),
        ..Default::default()
    };
    let mut gs = s.identity.group_list(&f).await?;
    // A domain-scoped caller sees only its own domain's groups.
    if let Some(d) = &token_domain {
        gs.retain(|g| g.domain_id == *d);
    }
    let cut = truncate(&s, &mut gs);
    let items: Vec<Value> = gs.iter().map(|g| render(&s, g)).collect();
    let mut body = json!({"groups": items, "links": collection_links(&s, "groups")});
    if cut {
        body["truncated"] = json!(true);
    }
    Ok(Json(body))
}

async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    body: Bytes,
) -> HttpResult<Response> {
    let o = envelope(&body, "group")?;
    // Keystone checks policy on the body as sent, before validating it.
    let body_domain = o.get("domain_id").and_then(Value::as_str);
    s.authorize(
        &auth,
        "identity:create_group",
        &target(&[("target.group.domain_id", body_domain)]),
    )?;
    let g = Group {
        id: String::new(),
        name: req_str(&o, "name", 0)?,
        domain_id: opt_id(&o, "domain_id", false)?.unwrap_or_else(|| implied_domain(&auth)),
        description: opt_description(&o)?.flatten().unwrap_or_default(),
        extra: extra(&o, KNOWN),
    };
    let g = s.identity.group_create(g).await?;
    Ok((StatusCode::CREATED, Json(json!({"group": render(&s, &g)}))).into_response())
}

async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let g = fetch(&s, &auth, &id, "identity:get_group").await?;
    Ok(Json(json!({"group": render(&s, &g)})))
}

async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    fetch(&s, &auth, &id, "identity:update_group").await?;
    let o = envelope(&body, "group")?;
    if o.is_empty() {
        return Err(Error::bad_request(
            "Invalid input for field 'group': {} does not have enough properties",
        )
        .into());
    }
    if o.get("id")
        .is_some_and(|v| !v.is_null() && v.as_str() != Some(id.as_str()))
    {
        return Err(Error::bad_request("Cannot change ID").into());
    }
    let name = match o.get("name") {
        Some(_) => Some(req_str(&o, "name", 0)?),
        None => None,
    };
    let patch = GroupPatch {
        name,
        domain_id: opt_str(&o, "domain_id", 0, false)?,
        description: opt_description(&o)?,
        extra: extra(&o, KNOWN),
    };
    let g = s.identity.group_update(&id, patch).await?;
    Ok(Json(json!({"group": render(&s, &g)})))
}

async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    fetch(&s, &auth, &id, "identity:delete_group").await?;
    s.identity.group_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_users(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    fetch(&s, &auth, &id, "identity:list_users_in_group").await?;
    let f = ListFilter {
        name: q.get("name").cloned(),
        domain_id: q.get("domain_id").cloned(),
        enabled: parse_enabled(&q)?,
        ..Default::default()
    };
    let expires = q
        .get("password_expires_at")
        .map(|v| ExpiryFilter::parse(v))
        .transpose()?;
    let mut users = s
        .identity
        .group_list_users(&id, &f, expires.as_ref())
        .await?;
    if let Some(d) = &auth.credentials.domain_id {
        users.retain(|u| u.domain_id == *d);
    }
    Ok(Json(users_body(&s, users, &format!("groups/{id}/users"))))
}

/// Policy for a membership call: the group's and the user's domains, for those that exist.
async fn authorize_membership(
    s: &ApiState,
    auth: &AuthContext,
    group_id: &str,
    user_id: &str,
    action: &str,
) -> Result<()> {
    let mut t = Target::new();
    match s.identity.group_get(group_id).await {
        Ok(g) => t.extend(group_target(&g)),
        Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    match s.identity.user_get(user_id).await {
        Ok(u) => t.extend(crate::v3::users::user_target(&u)),
        Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    s.authorize(auth, action, &t)
}

async fn check_user(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((gid, uid)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    authorize_membership(&s, &auth, &gid, &uid, "identity:check_user_in_group").await?;
    s.identity.group_check_user(&gid, &uid).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_user(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((gid, uid)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    authorize_membership(&s, &auth, &gid, &uid, "identity:add_user_to_group").await?;
    s.identity.group_add_user(&gid, &uid).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_user(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((gid, uid)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    authorize_membership(&s, &auth, &gid, &uid, "identity:remove_user_from_group").await?;
    s.identity.group_remove_user(&gid, &uid).await?;
    Ok(StatusCode::NO_CONTENT)
}
