//! `/v3/users/{user_id}/application_credentials`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common_error::{Error, Result};
use common_http::{AuthContext, Authed, HttpResult};
use identity_domain::application_credential::{AppCredCaller, NewAppCred, RoleRef, MAX_NAME_LEN};
use identity_model::ApplicationCredential;
use serde_json::{json, Value};

use crate::context::target;
use crate::input::{envelope, opt_bool, opt_str, Obj};
use crate::v3::collection_links;
use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/v3/users/{user_id}/application_credentials",
            get(list).post(create),
        )
        .route(
            "/v3/users/{user_id}/application_credentials/{id}",
            get(show).delete(delete),
        )
}

const ALLOWED: &[&str] = &[
    "id",
    "name",
    "description",
    "secret",
    "expires_at",
    "project_id",
    "roles",
    "access_rules",
    "unrestricted",
    "system",
];

/// Keystone's rendering of `expires_at`: `2018-02-27T18:30:59.000000` (UTC, no zone).
fn expires_text(t: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
}

/// An application credential as Keystone renders it; the secret only when given.
pub fn render(s: &ApiState, ac: &ApplicationCredential, secret: Option<&str>) -> Value {
    let roles: Vec<Value> = ac
        .roles
        .iter()
        .map(|r| json!({"id": r.id, "name": r.name, "domain_id": r.domain_id}))
        .collect();
    let mut v = json!({
        "id": ac.id,
        "name": ac.name,
        "description": ac.description,
        "user_id": ac.user_id,
        "project_id": ac.project_id,
        "system": null,
        "roles": roles,
        "expires_at": ac.expires_at.and_then(expires_text),
        "unrestricted": ac.unrestricted,
        "access_rules": [],
        "links": {"self": format!("{}/users/{}/application_credentials/{}", s.v3_url(), ac.user_id, ac.id)},
    });
    if let Some(sec) = secret {
        v["secret"] = json!(sec);
    }
    v
}

/// Parses Keystone's `expires_at`: ISO 8601 in UTC, with `T` or a space, optional fraction
/// and optional `Z`.
pub fn parse_expires(text: &str) -> Result<i64> {
    let bad = || {
        Error::bad_request(
            "Timestamp not in expected format. The server could not comply with the request since it is either \
             malformed or otherwise incorrect. The client is assumed to be in error.",
        )
    };
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(d.timestamp());
    }
    let t = text.strip_suffix('Z').unwrap_or(text);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(d.and_utc().timestamp());
        }
    }
    chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp())
        .ok_or_else(bad)
}

fn invalid(field: &str, detail: &str) -> Error {
    Error::bad_request(format!("Invalid input for field '{field}': {detail}"))
}

fn parse_roles(o: &Obj) -> Result<Vec<RoleRef>> {
    let list = match o.get("roles") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(invalid("roles", &format!("{other} is not of type 'array'"))),
    };
    list.iter()
        .map(|r| {
            let m = r
                .as_object()
                .ok_or_else(|| invalid("roles", &format!("{r} is not of type 'object'")))?;
            if m.len() != 1 {
                return Err(invalid(
                    "roles",
                    &format!("{r} must have exactly one of 'id' or 'name'"),
                ));
            }
            if let Some(id) = opt_str(m, "id", 64, false)? {
                if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Err(invalid(
                        "roles/id",
                        &format!("'{id}' does not match '^[a-zA-Z0-9-]+$'"),
                    ));
                }
                return Ok(RoleRef::Id(id));
            }
            match opt_str(m, "name", 255, false)? {
                Some(n) if !n.trim().is_empty() => Ok(RoleRef::Name(n)),
                Some(_) => Err(invalid("roles/name", "'' is too short")),
                None => Err(invalid(
                    "roles",
                    &format!("Additional properties are not allowed in {r}"),
                )),
            }
        })
        .collect()
}

fn parse_new(o: &Obj) -> Result<NewAppCred> {
    if let Some(k) = o.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let name = opt_str(o, "name", MAX_NAME_LEN, false)?
        .ok_or_else(|| Error::bad_request("'name' is a required property"))?;
    if name.trim().is_empty() {
        return Err(invalid(
            "name",
            &format!("'{name}' does not match '[\\\\S]+'"),
        ));
    }
    opt_str(o, "project_id", 0, false)?;
    opt_str(o, "system", 0, true)?;
    match o.get("access_rules") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(Value::Array(_)) => {
            return Err(invalid("access_rules", "access rules are not supported"))
        }
        Some(other) => {
            return Err(invalid(
                "access_rules",
                &format!("{other} is not of type 'array'"),
            ))
        }
    }
    let expires_at = opt_str(o, "expires_at", 0, true)?
        .filter(|e| !e.is_empty())
        .map(|e| parse_expires(&e))
        .transpose()?;
    Ok(NewAppCred {
        name,
        description: opt_str(o, "description", 0, true)?,
        secret: opt_str(o, "secret", 0, true)?,
        expires_at,
        roles: parse_roles(o)?,
        unrestricted: opt_bool(o, "unrestricted")?.unwrap_or(false),
    })
}

fn caller(auth: &AuthContext) -> AppCredCaller {
    AppCredCaller {
        user_id: auth.credentials.user_id.clone(),
        project_id: auth.credentials.project_id.clone(),
        role_ids: auth.roles.iter().map(|(id, _)| id.clone()).collect(),
        app_cred_id: auth.app_cred_id.clone(),
    }
}

async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(user_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    s.authorize(
        &auth,
        "identity:list_application_credentials",
        &target(&[("user_id", Some(&user_id))]),
    )?;
    let creds = s
        .identity
        .app_cred_list(&user_id, q.get("name").map(String::as_str))
        .await?;
    let items: Vec<Value> = creds.iter().map(|ac| render(&s, ac, None)).collect();
    let path = format!("users/{user_id}/application_credentials");
    Ok(Json(
        json!({"application_credentials": items, "links": collection_links(&s, &path)}),
    ))
}

async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(user_id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let o = envelope(&body, "application_credential")?;
    let new = parse_new(&o)?;
    s.authorize(
        &auth,
        "identity:create_application_credential",
        &target(&[("user_id", Some(&user_id))]),
    )?;
    let (ac, secret) = s
        .identity
        .app_cred_create(&user_id, &caller(&auth), new)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"application_credential": render(&s, &ac, Some(&secret))})),
    )
        .into_response())
}

/// Fetches a credential for get/delete: policy is judged against its owner (not the path's
/// user), as Keystone does, so knowing an id is not enough to read another user's.
async fn fetch(
    s: &ApiState,
    auth: &AuthContext,
    user_id: &str,
    id: &str,
    action: &str,
) -> Result<ApplicationCredential> {
    match s.identity.app_cred_get(id).await {
        Ok(ac) => {
            s.authorize(auth, action, &target(&[("user_id", Some(&ac.user_id))]))?;
            Ok(ac)
        }
        Err(e) => {
            s.authorize(auth, action, &target(&[("user_id", Some(user_id))]))?;
            Err(e)
        }
    }
}

async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((user_id, id)): Path<(String, String)>,
) -> HttpResult<Json<Value>> {
    let ac = fetch(
        &s,
        &auth,
        &user_id,
        &id,
        "identity:get_application_credential",
    )
    .await?;
    Ok(Json(
        json!({"application_credential": render(&s, &ac, None)}),
    ))
}

async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((user_id, id)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    fetch(
        &s,
        &auth,
        &user_id,
        &id,
        "identity:delete_application_credential",
    )
    .await?;
    s.identity
        .app_cred_check_manager(auth.app_cred_id.as_deref(), "application credentials")
        .await?;
    s.identity.app_cred_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_at_formats() {
        let want = 1_893_456_000; // 2030-01-01T00:00:00Z
        for t in [
            "2030-01-01T00:00:00Z",
            "2030-01-01T00:00:00",
            "2030-01-01T00:00:00.000000",
            "2030-01-01 00:00:00",
            "2030-01-01T00:00",
            "2030-01-01",
            "2030-01-01T02:00:00+02:00",
        ] {
            assert_eq!(parse_expires(t).unwrap(), want, "{t}");
        }
        for t in ["", "soon", "2030-13-01T00:00:00", "2030-01-01T25:00:00"] {
            assert_eq!(parse_expires(t).unwrap_err().status(), 400, "{t}");
        }
        assert_eq!(expires_text(want).unwrap(), "2030-01-01T00:00:00.000000");
    }

    #[test]
    fn create_bodies() {
        let o: Obj = serde_json::from_str(r#"{"name": "a", "roles": [{"name": "member"}, {"id": "abc"}], "access_rules": [], "secret": null, "expires_at": null, "description": null, "unrestricted": null}"#).unwrap();
        let n = parse_new(&o).unwrap();
        assert_eq!(
            n.roles,
            vec![RoleRef::Name("member".into()), RoleRef::Id("abc".into())]
        );
        for bad in [
            r#"{}"#,
            r#"{"name": ""}"#,
            r#"{"name": " "}"#,
            r#"{"name": 3}"#,
            r#"{"name": "a", "bogus": 1}"#,
            r#"{"name": "a", "roles": [{"id": "x", "name": "y"}]}"#,
            r#"{"name": "a", "roles": [{}]}"#,
            r#"{"name": "a", "roles": "admin"}"#,
            r#"{"name": "a", "roles": [{"id": "a b"}]}"#,
            r#"{"name": "a", "access_rules": [{"path": "/", "method": "GET", "service": "compute"}]}"#,
            r#"{"name": "a", "expires_at": "tomorrow"}"#,
            r#"{"name": "a", "unrestricted": "yes"}"#,
        ] {
            let o: Obj = serde_json::from_str(bad).unwrap();
            assert_eq!(parse_new(&o).unwrap_err().status(), 400, "{bad}");
        }
    }
}
