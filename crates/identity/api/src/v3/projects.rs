//! `/v3/projects` and project tags.

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

use crate::context::{default_domain, target};
use crate::input::{envelope, extra, forbid, opt_bool, opt_str, opt_str_list, query_bool, req_str};
use crate::v3::collection_links;
use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v3/projects", get(list).post(create))
        .route("/v3/projects/{id}", get(show).patch(update).delete(delete))
        .route(
            "/v3/projects/{id}/tags",
            get(tags_list).put(tags_replace).delete(tags_clear),
        )
        .route(
            "/v3/projects/{id}/tags/{tag}",
            get(tag_check).put(tag_add).delete(tag_delete),
        )
}

const KNOWN: &[&str] = &[
    "id",
    "name",
    "domain_id",
    "parent_id",
    "description",
    "enabled",
    "is_domain",
    "tags",
    "options",
    "links",
];

/// A project as Keystone renders it.
pub fn render(s: &ApiState, p: &Project) -> Value {
    let mut v = json!({
        "id": p.id,
        "name": p.name,
        "domain_id": p.domain_id,
        "parent_id": p.parent_id,
        "description": p.description,
        "enabled": p.enabled,
        "is_domain": p.is_domain,
        "tags": p.tags,
        "options": {},
        "links": {"self": format!("{}/projects/{}", s.v3_url(), p.id)},
    });
    if let Value::Object(m) = &mut v {
        for (k, val) in &p.extra {
            m.entry(k.clone()).or_insert(val.clone());
        }
    }
    v
}

fn project_target(p: &Project) -> common_policy::Target {
    target(&[
        ("target.project.id", Some(&p.id)),
        ("target.project.domain_id", p.domain_id.as_deref()),
    ])
}

/// Fetches a project for a request: policy first on what is known, so a denied caller learns
/// nothing about existence beyond what Keystone reveals.
async fn fetch(s: &ApiState, auth: &AuthContext, id: &str, action: &str) -> Result<Project> {
    match s.identity.project_get(id).await {
        Ok(p) => {
            s.authorize(auth, action, &project_target(&p))?;
            Ok(p)
        }
        Err(e) => {
            s.authorize(auth, action, &target(&[("target.project.id", Some(id))]))?;
            Err(e)
        }
    }
}

fn split(v: Option<&String>) -> Vec<String> {
    v.map(|s| {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    let domain_id = q.get("domain_id").cloned();
    let token_domain = auth.credentials.domain_id.clone();
    s.authorize(
        &auth,
        "identity:list_projects",
        &target(&[("target.domain_id", token_domain.as_deref())]),
    )?;
    // A domain-scoped caller lists only its own domain's projects.
    let domain_id =
        match (&token_domain, domain_id) {
            (Some(d), Some(q)) if *d != q => return Err(Error::forbidden(
                "You are not authorized to perform the requested action: identity:list_projects.",
            )
            .into()),
            (Some(d), _) => Some(d.clone()),
            (None, q) => q,
        };
    let enabled = match q.get("enabled") {
        Some(v) => Some(
            query_bool(v).ok_or_else(|| Error::bad_request("Invalid input for field 'enabled'"))?,
        ),
        None => None,
    };
    let is_domain = match q.get("is_domain") {
        Some(v) => query_bool(v)
            .ok_or_else(|| Error::bad_request("Invalid input for field 'is_domain'"))?,
        None => false,
    };
    let f = ListFilter {
        name: q.get("name").cloned(),
        domain_id,
        enabled,
        parent_id: q.get("parent_id").cloned(),
        is_domain: Some(is_domain),
        tags: split(q.get("tags")),
        tags_any: split(q.get("tags-any")),
        not_tags: split(q.get("not-tags")),
        not_tags_any: split(q.get("not-tags-any")),
        limit: None,
    };
    let mut projects = s.identity.project_list(&f).await?;
    let limit = s.identity.config().list_limit;
    let truncated = limit > 0 && projects.len() > limit;
    if truncated {
        projects.truncate(limit);
    }
    let items: Vec<Value> = projects.iter().map(|p| render(&s, p)).collect();
    let mut body = json!({"projects": items, "links": collection_links(&s, "projects")});
    if truncated {
        body["truncated"] = json!(true);
    }
    Ok(Json(body))
}

async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    body: Bytes,
) -> HttpResult<Response> {
    let o = envelope(&body, "project")?;
    forbid(&o, &["links"])?;
    let is_domain = opt_bool(&o, "is_domain")?.unwrap_or(false);
    let parent_id = opt_str(&o, "parent_id", 64, true)?;
    let mut domain_id = opt_str(&o, "domain_id", 64, true)?;
    if domain_id.is_none() && parent_id.is_none() && !is_domain {
        domain_id = Some(default_domain(&auth));
    }
    let p = Project {
        id: opt_str(&o, "id", 64, false)?.unwrap_or_else(identity_domain::new_id),
        name: req_str(&o, "name", 64)?,
        domain_id: domain_id.clone(),
        parent_id,
        description: opt_str(&o, "description", 0, true)?.unwrap_or_default(),
        enabled: opt_bool(&o, "enabled")?.unwrap_or(true),
        is_domain,
        tags: opt_str_list(&o, "tags")?.unwrap_or_default(),
        extra: extra(&o, KNOWN),
    };
    let action = if is_domain {
        "identity:create_domain"
    } else {
        "identity:create_project"
    };
    s.authorize(
        &auth,
        action,
        &target(&[("target.project.domain_id", domain_id.as_deref())]),
    )?;
    let p = s.identity.project_create(p).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": render(&s, &p)})),
    )
        .into_response())
}

async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let p = fetch(&s, &auth, &id, "identity:get_project").await?;
    Ok(Json(json!({"project": render(&s, &p)})))
}

async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    let o = envelope(&body, "project")?;
    fetch(&s, &auth, &id, "identity:update_project").await?;
    if o.contains_key("domain_id") {
        return Err(Error::bad_request("Update of `domain_id` is not allowed.").into());
    }
    if o.contains_key("parent_id") || o.contains_key("is_domain") {
        return Err(
            Error::forbidden("Update of `parent_id` or `is_domain` is not allowed.").into(),
        );
    }
    forbid(&o, &["id", "links"])?;
    let name = opt_str(&o, "name", 64, false)?;
    let description = opt_str(&o, "description", 0, true)?;
    let enabled = opt_bool(&o, "enabled")?;
    let tags = opt_str_list(&o, "tags")?;
    let ex = extra(&o, KNOWN);
    let p = s
        .identity
        .project_update(&id, false, |p| {
            if let Some(n) = name {
                p.name = n;
            }
            if o.contains_key("description") {
                p.description = description.unwrap_or_default();
            }
            if let Some(e) = enabled {
                p.enabled = e;
            }
            if let Some(t) = tags {
                p.tags = t;
            }
            p.extra.extend(ex);
            Ok(())
        })
        .await?;
    Ok(Json(json!({"project": render(&s, &p)})))
}

async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    fetch(&s, &auth, &id, "identity:delete_project").await?;
    s.identity.project_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tags_list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let p = fetch(&s, &auth, &id, "identity:list_project_tags").await?;
    Ok(Json(json!({"tags": p.tags})))
}

async fn tags_replace(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    fetch(&s, &auth, &id, "identity:update_project_tags").await?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| Error::bad_request("Expecting to find valid JSON in request body."))?;
    let tags = match v.get("tags") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| {
                t.as_str().map(str::to_string).ok_or_else(|| {
                    Error::bad_request("Invalid input for field 'tags': not a string")
                })
            })
            .collect::<Result<Vec<_>>>()?,
        _ => return Err(Error::bad_request("'tags' is a required property").into()),
    };
    let p = s
        .identity
        .project_update(&id, false, |p| {
            p.tags = tags;
            Ok(())
        })
        .await?;
    Ok(Json(json!({"tags": p.tags})))
}

async fn tags_clear(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    fetch(&s, &auth, &id, "identity:delete_project_tags").await?;
    s.identity
        .project_update(&id, false, |p| {
            p.tags.clear();
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_check(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((id, tag)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    let p = fetch(&s, &auth, &id, "identity:get_project_tag").await?;
    if p.tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found("tag", tag).into())
    }
}

async fn tag_add(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((id, tag)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    fetch(&s, &auth, &id, "identity:create_project_tag").await?;
    identity_domain::project::check_tag(&tag)?;
    s.identity
        .project_update(&id, false, |p| {
            p.tags.push(tag);
            Ok(())
        })
        .await?;
    Ok(StatusCode::CREATED)
}

async fn tag_delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((id, tag)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    let p = fetch(&s, &auth, &id, "identity:delete_project_tag").await?;
    if !p.tags.contains(&tag) {
        return Err(Error::not_found("tag", tag).into());
    }
    s.identity
        .project_update(&id, false, |p| {
            p.tags.retain(|t| *t != tag);
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
