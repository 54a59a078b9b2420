//! `/v3/users`: user CRUD, the self-service password change, and a user's groups and projects.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use common_error::{Error, Result};
use common_http::{AuthContext, Authed, HttpResult};
use common_policy::Target;
use identity_domain::user::{options_of, set_loose_attr, ExpiryFilter, UserPatch, OPTIONS_KEY};
use identity_model::{Extra, ListFilter, User, DEFAULT_DOMAIN_ID};
use serde_json::{json, Map, Value};

use crate::context::target;
use crate::input::{envelope, extra, opt_bool, opt_obj, opt_str, query_bool, req_str, Obj};
use crate::v3::{collection_links, groups};
use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v3/users", get(list).post(create))
        .route(
            "/v3/users/{user_id}",
            get(show).patch(update).delete(delete),
        )
        .route("/v3/users/{user_id}/password", post(change_password))
        .route("/v3/users/{user_id}/groups", get(list_groups))
        .route("/v3/users/{user_id}/projects", get(list_projects))
}

/// Attributes with a meaning of their own; anything else in a request is an extra attribute.
const KNOWN: &[&str] = &[
    "id",
    "name",
    "domain_id",
    "enabled",
    "default_project_id",
    "description",
    "email",
    "password",
    "options",
    "links",
    "password_expires_at",
    "federated",
];

/// Longest id accepted in `domain_id` and `default_project_id` (Keystone's `id_string`).
const MAX_ID_LEN: usize = 64;

/// Longest request body accepted on the unauthenticated password change.
const MAX_PASSWORD_BODY: usize = 64 * 1024;

/// Keystone's timestamp format for `password_expires_at`.
fn expiry_text(secs: i64) -> Value {
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(t) => json!(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
        None => Value::Null,
    }
}

/// A user as Keystone renders it: never the password; `default_project_id`, `description`
/// and `email` only when set; extra attributes at the top level.
pub fn render(s: &ApiState, u: &User) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(u.id));
    m.insert("name".into(), json!(u.name));
    m.insert("domain_id".into(), json!(u.domain_id));
    m.insert("enabled".into(), json!(u.enabled));
    if let Some(p) = &u.default_project_id {
        m.insert("default_project_id".into(), json!(p));
    }
    if let Some(d) = &u.description {
        m.insert("description".into(), json!(d));
    }
    if let Some(e) = &u.email {
        m.insert("email".into(), json!(e));
    }
    m.insert(
        "password_expires_at".into(),
        u.password_expires_at
            .map(expiry_text)
            .unwrap_or(Value::Null),
    );
    m.insert("options".into(), Value::Object(options_of(u)));
    m.insert(
        "links".into(),
        json!({"self": format!("{}/users/{}", s.v3_url(), u.id)}),
    );
    for (k, v) in &u.extra {
        if k != OPTIONS_KEY {
            m.entry(k.clone()).or_insert(v.clone());
        }
    }
    Value::Object(m)
}

pub(crate) fn user_target(u: &User) -> Target {
    target(&[
        ("target.user.id", Some(&u.id)),
        ("target.user.domain_id", Some(&u.domain_id)),
    ])
}

/// Fetches the path's user, checking policy on it first if it exists (Keystone checks with
/// an empty target when it does not, so a denied caller learns nothing).
async fn fetch(s: &ApiState, auth: &AuthContext, id: &str, action: &str) -> Result<User> {
    match s.identity.user_get(id).await {
        Ok(u) => {
            s.authorize(auth, action, &user_target(&u))?;
            Ok(u)
        }
        Err(e) => {
            s.authorize(auth, action, &Target::new())?;
            Err(e)
        }
    }
}

/// The domain a new user or group goes to when the request names none, as Keystone's
/// `_normalize_domain_id`: a domain-scoped token's domain, else the default domain.
pub(crate) fn implied_domain(auth: &AuthContext) -> String {
    auth.credentials
        .domain_id
        .clone()
        .unwrap_or_else(|| DEFAULT_DOMAIN_ID.to_string())
}

/// An id-valued field (Keystone's `id_string`: 1 to 64 letters, digits and dashes).
pub(crate) fn opt_id(o: &Obj, field: &str, nullable: bool) -> Result<Option<String>> {
    let v = opt_str(o, field, MAX_ID_LEN, nullable)?;
    if let Some(id) = &v {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Error::bad_request(format!(
                "Invalid input for field '{field}': '{id}' does not match '^[a-zA-Z0-9-]+$'"
            )));
        }
    }
    Ok(v)
}

/// A password field: a string (or null, meaning none). Its value never appears in a message.
fn opt_password(o: &Obj, field: &str) -> Result<Option<String>> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(p)) => Ok(Some(p.clone())),
        Some(_) => Err(Error::bad_request(format!(
            "Invalid input for field '{field}': the value is not of type 'string'"
        ))),
    }
}

/// `description`: a string or null.
fn opt_description(o: &Obj) -> Result<Option<Value>> {
    match o.get("description") {
        None => Ok(None),
        Some(v @ (Value::String(_) | Value::Null)) => Ok(Some(v.clone())),
        Some(other) => Err(Error::bad_request(format!(
            "Invalid input for field 'description': {other} is not of type 'string', 'null'"
        ))),
    }
}

/// `enabled`: a boolean; null is not allowed.
fn opt_enabled(o: &Obj) -> Result<Option<bool>> {
    if o.get("enabled").is_some_and(Value::is_null) {
        return Err(Error::bad_request(
            "Invalid input for field 'enabled': None is not of type 'boolean'",
        ));
    }
    opt_bool(o, "enabled")
}

/// Federated attributes need identity providers, which this cloud does not have.
fn check_federated(o: &Obj) -> Result<()> {
    match o.get("federated") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(a)) if a.is_empty() => Ok(()),
        Some(Value::Array(a)) => {
            let idp = a
                .first()
                .and_then(|f| f.get("idp_id"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            Err(Error::bad_request(format!(
                "Could not find Identity Provider: {idp}"
            )))
        }
        Some(other) => Err(Error::bad_request(format!(
            "Invalid input for field 'federated': {other} is not of type 'array'"
        ))),
    }
}

fn options_obj(o: &Obj) -> Result<Option<Extra>> {
    Ok(opt_obj(o, "options")?.cloned())
}

pub(crate) fn parse_enabled(q: &HashMap<String, String>) -> Result<Option<bool>> {
    match q.get("enabled") {
        Some(v) => Ok(Some(query_bool(v).ok_or_else(|| {
            Error::bad_request(format!(
                "Invalid input for field 'enabled': '{v}' is not a boolean."
            ))
        })?)),
        None => Ok(None),
    }
}

/// Cuts a list to `list_limit`, reporting whether it was cut.
pub(crate) fn truncate<T>(s: &ApiState, items: &mut Vec<T>) -> bool {
    let limit = s.identity.config().list_limit;
    let cut = limit > 0 && items.len() > limit;
    if cut {
        items.truncate(limit);
    }
    cut
}

pub(crate) fn users_body(s: &ApiState, mut users: Vec<User>, path: &str) -> Value {
    let cut = truncate(s, &mut users);
    let items: Vec<Value> = users.iter().map(|u| render(s, u)).collect();
    let mut body = json!({"users": items, "links": collection_links(s, path)});
    if cut {
        body["truncated"] = json!(true);
    }
    body
}

async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    let token_domain = auth.credentials.domain_id.clone();
    s.authorize(
        &auth,
        "identity:list_users",
        &target(&[("target.domain_id", token_domain.as_deref())]),
    )?;
    let f = ListFilter {
        name: q.get("name").cloned(),
        domain_id: q.get("domain_id").cloned().or_else(|| token_domain.clone()),
        enabled: parse_enabled(&q)?,
        ..Default::default()
    };
    let expires = q
        .get("password_expires_at")
        .map(|v| ExpiryFilter::parse(v))
        .transpose()?;
    let mut users = s.identity.user_list(&f, expires.as_ref()).await?;
    // A domain-scoped caller sees only its own domain's users.
    if let Some(d) = &token_domain {
        users.retain(|u| u.domain_id == *d);
    }
    Ok(Json(users_body(&s, users, "users")))
}

async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    body: Bytes,
) -> HttpResult<Response> {
    let o = envelope(&body, "user")?;
    // Keystone checks policy on the body as sent, before validating it.
    let body_domain = o.get("domain_id").and_then(Value::as_str);
    s.authorize(
        &auth,
        "identity:create_user",
        &target(&[("target.user.domain_id", body_domain)]),
    )?;
    let name = req_str(&o, "name", 0)?;
    let domain_id = match opt_id(&o, "domain_id", false)? {
        Some(d) => d,
        None => implied_domain(&auth),
    };
    let password = opt_password(&o, "password")?;
    let mut u = User {
        id: String::new(),
        name,
        domain_id,
        enabled: opt_enabled(&o)?.unwrap_or(true),
        default_project_id: opt_id(&o, "default_project_id", true)?,
        description: None,
        email: None,
        password_expires_at: None,
        extra: extra(&o, KNOWN),
    };
    check_federated(&o)?;
    if let Some(v) = opt_description(&o)? {
        set_loose_attr(&mut u.description, &mut u.extra, "description", v);
    }
    if let Some(v) = o.get("email") {
        set_loose_attr(&mut u.email, &mut u.extra, "email", v.clone());
    }
    if let Some(opts) = options_obj(&o)? {
        u.extra.insert(OPTIONS_KEY.into(), Value::Object(opts));
    }
    let u = s.identity.user_create(u, password.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(json!({"user": render(&s, &u)}))).into_response())
}

async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let u = fetch(&s, &auth, &id, "identity:get_user").await?;
    Ok(Json(json!({"user": render(&s, &u)})))
}

async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    fetch(&s, &auth, &id, "identity:update_user").await?;
    let o = envelope(&body, "user")?;
    if o.is_empty() {
        return Err(Error::bad_request(
            "Invalid input for field 'user': {} does not have enough properties",
        )
        .into());
    }
    if o.get("id")
        .is_some_and(|v| !v.is_null() && v.as_str() != Some(id.as_str()))
    {
        return Err(Error::bad_request("Cannot change ID").into());
    }
    check_federated(&o)?;
    let name = match o.get("name") {
        Some(_) => Some(req_str(&o, "name", 0)?),
        None => None,
    };
    let patch = UserPatch {
        name,
        domain_id: opt_str(&o, "domain_id", 0, false)?,
        enabled: opt_enabled(&o)?,
        default_project_id: if o.contains_key("default_project_id") {
            Some(opt_id(&o, "default_project_id", true)?)
        } else {
            None
        },
        description: opt_description(&o)?,
        email: o.get("email").cloned(),
        options: options_obj(&o)?,
        password: opt_password(&o, "password")?,
        extra: extra(&o, KNOWN),
    };
    let u = s.identity.user_update(&id, patch).await?;
    Ok(Json(json!({"user": render(&s, &u)})))
}

async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    fetch(&s, &auth, &id, "identity:delete_user").await?;
    s.identity.user_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v3/users/{user_id}/password`: no token and no policy; the original password is the
/// proof. Rate-limited like password authentication.
async fn change_password(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    req: Request,
) -> HttpResult<StatusCode> {
    let addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let body = axum::body::to_bytes(req.into_body(), MAX_PASSWORD_BODY)
        .await
        .map_err(|_| Error::bad_request("The request body is too large or could not be read."))?;
    if let Some(a) = &addr {
        s.token_per_addr.check(a)?;
    }
    s.token_per_user.check(&format!("u:{id}"))?;
    let o = envelope(&body, "user")?;
    if let Some(k) = o
        .keys()
        .find(|k| *k != "password" && *k != "original_password")
    {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        ))
        .into());
    }
    let original = opt_password(&o, "original_password")?
        .ok_or_else(|| Error::bad_request("'original_password' is a required property"))?;
    let new = opt_password(&o, "password")?
        .ok_or_else(|| Error::bad_request("'password' is a required property"))?;
    s.identity
        .user_change_password(&id, &original, &new)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_groups(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    let user = s.identity.user_get(&id).await;
    let mut t = user.as_ref().map(user_target).unwrap_or_default();
    t.insert("user_id".into(), id.clone());
    s.authorize(&auth, "identity:list_groups_for_user", &t)?;
    user?;
    let mut gs = s
        .identity
        .user_list_groups(&id, q.get("name").map(String::as_str))
        .await?;
    if let Some(d) = &auth.credentials.domain_id {
        gs.retain(|g| g.domain_id == *d);
    }
    let cut = truncate(&s, &mut gs);
    let items: Vec<Value> = gs
        .iter()
        .map(|g| {
            let mut v = groups::render(&s, g);
            v["membership_expires_at"] = Value::Null;
            v
        })
        .collect();
    let mut body =
        json!({"groups": items, "links": collection_links(&s, &format!("users/{id}/groups"))});
    if cut {
        body["truncated"] = json!(true);
    }
    Ok(Json(body))
}

async fn list_projects(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    fetch(&s, &auth, &id, "identity:list_user_projects").await?;
    let f = ListFilter {
        name: q.get("name").cloned(),
        domain_id: q.get("domain_id").cloned(),
        enabled: parse_enabled(&q)?,
        ..Default::default()
    };
    let mut ps = s.identity.user_list_projects(&id, &f).await?;
    let cut = truncate(&s, &mut ps);
    let items: Vec<Value> = ps
        .iter()
        .map(|p| crate::v3::projects::render(&s, p))
        .collect();
    let mut body =
        json!({"projects": items, "links": collection_links(&s, &format!("users/{id}/projects"))});
    if cut {
        body["truncated"] = json!(true);
    }
    Ok(Json(body))
}
