//! `/v3/credentials`. Blobs are secrets: they are returned to their owner and admins only,
//! and never logged.

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
use identity_domain::credential::CredentialFilter;
use identity_model::Credential;
use serde_json::{json, Value};

use crate::context::target;
use crate::input::{envelope, extra, opt_str, Obj};
use crate::v3::regions::{collection, with_extra};
use crate::v3::self_link;
use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v3/credentials", get(list).post(create))
        .route(
            "/v3/credentials/{id}",
            get(show).patch(update).delete(delete),
        )
}

const KNOWN: &[&str] = &["id", "user_id", "project_id", "type", "blob", "links"];
/// Longest id-like field (Keystone's columns are 64 characters).
const MAX_ID_LEN: usize = 64;
const MAX_TYPE_LEN: usize = 255;

/// A credential as Keystone renders it.
pub fn render(s: &ApiState, c: &Credential) -> Value {
    let v = json!({
        "id": c.id,
        "user_id": c.user_id,
        "project_id": c.project_id,
        "type": c.cred_type,
        "blob": c.blob,
        "links": self_link(s, &format!("credentials/{}", c.id)),
    });
    with_extra(v, &c.extra)
}

fn cred_target(c: &Credential) -> Target {
    target(&[
        ("target.credential.id", Some(&c.id)),
        ("target.credential.user_id", Some(&c.user_id)),
        ("target.credential.project_id", c.project_id.as_deref()),
        ("target.credential.type", Some(&c.cred_type)),
    ])
}

/// A token issued with an application credential reaches only credentials of its project.
fn check_delegation(auth: &AuthContext, c: &Credential) -> Result<()> {
    if auth.app_cred_id.is_some() && c.project_id != auth.credentials.project_id {
        return Err(Error::forbidden(
            "You are not authorized to perform the requested action: Credential project does not match the project \
             scope of the delegated token.",
        ));
    }
    Ok(())
}

/// Fetches a credential, judging policy against it (or, when it does not exist, against
/// nothing, so only admins learn that).
async fn fetch(s: &ApiState, auth: &AuthContext, id: &str, action: &str) -> Result<Credential> {
    match s.identity.credential_get(id).await {
        Ok(c) => {
            s.authorize(auth, action, &cred_target(&c))?;
            check_delegation(auth, &c)?;
            Ok(c)
        }
        Err(e) => {
            s.authorize(auth, action, &Target::default())?;
            Err(e)
        }
    }
}

async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    let t = match auth.credentials.system_scope {
        Some(_) => Target::default(),
        None => target(&[("target.credential.user_id", Some(&auth.credentials.user_id))]),
    };
    s.authorize(&auth, "identity:list_credentials", &t)?;
    let f = CredentialFilter {
        user_id: q.get("user_id").cloned(),
        cred_type: q.get("type").cloned(),
    };
    let items: Vec<Value> = s
        .identity
        .credential_list(&f)
        .await?
        .iter()
        .filter(|c| {
            s.authorize(&auth, "identity:get_credential", &cred_target(c))
                .is_ok()
        })
        .filter(|c| check_delegation(&auth, c).is_ok())
        .map(|c| render(&s, c))
        .collect();
    Ok(Json(collection(&s, "credentials", "credentials", items)))
}

fn req(o: &Obj, field: &str, max: usize) -> Result<String> {
    opt_str(o, field, max, false)?
        .ok_or_else(|| Error::bad_request(format!("'{field}' is a required property")))
}

async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    body: Bytes,
) -> HttpResult<Response> {
    let o = envelope(&body, "credential")?;
    let blob = req(&o, "blob", 0)?;
    let cred_type = req(&o, "type", MAX_TYPE_LEN)?;
    let user_id = req(&o, "user_id", MAX_ID_LEN)?;
    let project_id = opt_str(&o, "project_id", MAX_ID_LEN, true)?;
    if cred_type == "ec2" && project_id.is_none() {
        return Err(Error::bad_request("'project_id' is a required property").into());
    }
    let c = Credential {
        id: String::new(),
        user_id,
        project_id,
        cred_type,
        blob,
        extra: extra(&o, KNOWN),
    };
    s.authorize(&auth, "identity:create_credential", &cred_target(&c))?;
    check_delegation(&auth, &c)?;
    let c = s
        .identity
        .credential_create(c, auth.app_cred_id.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"credential": render(&s, &c)})),
    )
        .into_response())
}

async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let c = fetch(&s, &auth, &id, "identity:get_credential").await?;
    Ok(Json(json!({"credential": render(&s, &c)})))
}

async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    let o = envelope(&body, "credential")?;
    if o.is_empty() {
        return Err(Error::bad_request(
            "Invalid input for field 'credential': {} does not have enough properties",
        )
        .into());
    }
    let blob = opt_str(&o, "blob", 0, false)?;
    let cred_type = opt_str(&o, "type", MAX_TYPE_LEN, false)?;
    let user_id = opt_str(&o, "user_id", MAX_ID_LEN, false)?;
    let project_id = opt_str(&o, "project_id", MAX_ID_LEN, true)?;
    let given_id = opt_str(&o, "id", 0, true)?;
    let ex = extra(&o, KNOWN);
    let current = fetch(&s, &auth, &id, "identity:update_credential").await?;
    if given_id.is_some_and(|g| g != id) {
        return Err(Error::bad_request("Cannot change ID").into());
    }
    let mut merged = current.clone();
    if let Some(u) = &user_id {
        merged.user_id = u.clone();
    }
    if o.contains_key("project_id") {
        merged.project_id = project_id.clone();
    }
    // The new owner and scope must be allowed too: a user cannot give a credential away.
    s.authorize(&auth, "identity:update_credential", &cred_target(&merged))?;
    check_delegation(&auth, &merged)?;
    let c = s
        .identity
        .credential_update(&id, |c| {
            if let Some(b) = blob {
                c.blob = b;
            }
            if let Some(t) = cred_type {
                c.cred_type = t;
            }
            c.user_id = merged.user_id;
            c.project_id = merged.project_id;
            c.extra.extend(ex);
            Ok(())
        })
        .await?;
    Ok(Json(json!({"credential": render(&s, &c)})))
}

async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    fetch(&s, &auth, &id, "identity:delete_credential").await?;
    s.identity.credential_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
