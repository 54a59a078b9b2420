//! `/v3/auth/*`: issue, validate, check and revoke tokens; the caller's catalog, projects,
//! domains and system.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common_error::{Error, Result};
use common_http::time::keystone_time;
use common_http::{Authed, HttpResult};
use identity_domain::auth::{AuthMethod, DomainRef, UserRef};
use identity_domain::{AuthRequest, IssuedToken, ScopeRequest};
use identity_model::{ListFilter, Scope};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::context::target;
use crate::input::{opt_obj, opt_str, req_str, Obj};
use crate::v3::{collection_links, self_link};
use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/v3/auth/tokens",
            get(token_validate)
                .head(token_check)
                .post(token_issue)
                .delete(token_revoke),
        )
        .route("/v3/auth/catalog", get(auth_catalog))
        .route("/v3/auth/projects", get(auth_projects))
        .route("/v3/auth/domains", get(auth_domains))
        .route("/v3/auth/system", get(auth_system))
}

#[derive(Deserialize, Default)]
struct TokenQuery {
    nocatalog: Option<String>,
    allow_expired: Option<String>,
}

/// Longest token body accepted.
const MAX_AUTH_BODY: usize = 64 * 1024;

async fn token_issue(
    State(s): State<ApiState>,
    Query(q): Query<TokenQuery>,
    req: Request,
) -> HttpResult<Response> {
    let addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let body = axum::body::to_bytes(req.into_body(), MAX_AUTH_BODY)
        .await
        .map_err(|_| Error::bad_request("The request body is too large or could not be read."))?;
    if let Some(a) = &addr {
        s.token_per_addr.check(a)?;
    }
    let auth = parse_auth(&body)?;
    s.token_per_user.check(&rate_key(&auth.method))?;
    let token = s.identity.authenticate(&auth).await?;
    let body = token_body(&s, &token, q.nocatalog.is_none()).await?;
    let mut r = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&token.id) {
        r.headers_mut().insert("x-subject-token", v);
    }
    Ok(r)
}

fn rate_key(m: &AuthMethod) -> String {
    match m {
        AuthMethod::Password {
            user: UserRef::Id(id),
            ..
        } => format!("u:{id}"),
        AuthMethod::Password {
            user: UserRef::Name { name, domain },
            ..
        } => format!("n:{name}@{domain:?}"),
        AuthMethod::Token { .. } => "token".into(),
        AuthMethod::ApplicationCredential { id, name, .. } => format!("ac:{id:?}:{name:?}"),
    }
}

/// The subject token of GET/HEAD/DELETE: `X-Subject-Token`; invalid ones are 404 as in Keystone.
async fn subject(s: &ApiState, headers: &HeaderMap) -> Result<IssuedToken> {
    let tok = headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::bad_request("X-Subject-Token header is required."))?;
    s.identity.validate(tok).await.map_err(|e| match e {
        Error::Unauthenticated(_) => Error::not_found("token", "X-Subject-Token"),
        other => other,
    })
}

fn token_target(t: &IssuedToken) -> common_policy::Target {
    target(&[("target.token.user_id", Some(t.resolved.user.id.as_str()))])
}

async fn token_validate(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
) -> HttpResult<Response> {
    let _ = q.allow_expired;
    let t = subject(&s, &headers).await;
    let t = match t {
        Ok(t) => t,
        Err(e) => {
            s.authorize(&auth, "identity:validate_token", &Default::default())
                .or(Err(e.clone()))?;
            return Err(e.into());
        }
    };
    s.authorize(&auth, "identity:validate_token", &token_target(&t))?;
    let body = token_body(&s, &t, q.nocatalog.is_none()).await?;
    let mut r = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&t.id) {
        r.headers_mut().insert("x-subject-token", v);
    }
    Ok(r)
}

async fn token_check(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    headers: HeaderMap,
) -> HttpResult<StatusCode> {
    let t = subject(&s, &headers).await?;
    s.authorize(&auth, "identity:check_token", &token_target(&t))?;
    Ok(StatusCode::OK)
}

async fn token_revoke(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    headers: HeaderMap,
) -> HttpResult<StatusCode> {
    let t = subject(&s, &headers).await?;
    s.authorize(&auth, "identity:revoke_token", &token_target(&t))?;
    s.identity.token_revoke(&t).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn auth_catalog(State(s): State<ApiState>, Authed(auth): Authed) -> HttpResult<Json<Value>> {
    let c = &auth.credentials;
    if c.project_id.is_none() && c.domain_id.is_none() && c.system_scope.is_none() {
        return Err(
            Error::forbidden("The service catalog is only available to scoped tokens.").into(),
        );
    }
    let catalog = render_catalog(&s, c.project_id.as_deref()).await?;
    Ok(Json(
        json!({"catalog": catalog, "links": collection_links(&s, "auth/catalog")}),
    ))
}

async fn auth_projects(State(s): State<ApiState>, Authed(auth): Authed) -> HttpResult<Json<Value>> {
    let uid = &auth.credentials.user_id;
    let all = s
        .identity
        .project_list(&ListFilter {
            is_domain: Some(false),
            ..Default::default()
        })
        .await?;
    let mut out = Vec::new();
    for p in all {
        if p.enabled
            && s.identity
                .has_any_role(uid, &Scope::Project(p.id.clone()))
                .await?
        {
            out.push(crate::v3::projects::render(&s, &p));
        }
    }
    Ok(Json(
        json!({"projects": out, "links": collection_links(&s, "auth/projects")}),
    ))
}

async fn auth_domains(State(s): State<ApiState>, Authed(auth): Authed) -> HttpResult<Json<Value>> {
    let uid = &auth.credentials.user_id;
    let all = s
        .identity
        .project_list(&ListFilter {
            is_domain: Some(true),
            ..Default::default()
        })
        .await?;
    let mut out = Vec::new();
    for d in all {
        if d.enabled
            && s.identity
                .has_any_role(uid, &Scope::Domain(d.id.clone()))
                .await?
        {
            out.push(crate::v3::domains::render(&s, &d));
        }
    }
    Ok(Json(
        json!({"domains": out, "links": collection_links(&s, "auth/domains")}),
    ))
}

async fn auth_system(State(s): State<ApiState>, Authed(auth): Authed) -> HttpResult<Json<Value>> {
    let has = s
        .identity
        .has_any_role(&auth.credentials.user_id, &Scope::System)
        .await?;
    let system: Vec<Value> = if has {
        vec![json!({"all": true})]
    } else {
        vec![]
    };
    Ok(Json(
        json!({"system": system, "links": self_link(&s, "auth/system")}),
    ))
}

/// The catalog as Keystone renders it.
pub async fn render_catalog(s: &ApiState, project_id: Option<&str>) -> Result<Vec<Value>> {
    Ok(s.identity
        .catalog(project_id)
        .await?
        .into_iter()
        .map(|c| {
            let eps: Vec<Value> = c
                .endpoints
                .iter()
                .map(|e| {
                    json!({"id": e.id, "interface": e.interface, "region_id": e.region_id,
                           "region": e.region_id, "url": e.url})
                })
                .collect();
            json!({"endpoints": eps, "id": c.service.id, "type": c.service.service_type, "name": c.service.name})
        })
        .collect())
}

/// The `{"token": ...}` body of issue and validate.
pub async fn token_body(s: &ApiState, t: &IssuedToken, with_catalog: bool) -> Result<Value> {
    let r = &t.resolved;
    let mut tok = json!({
        "methods": t.methods,
        "user": {
            "domain": {"id": r.user.domain_id, "name": r.user_domain_name},
            "id": r.user.id,
            "name": r.user.name,
            "password_expires_at": r.user.password_expires_at.map(keystone_time),
        },
        "audit_ids": t.audit_ids,
        "expires_at": keystone_time(t.expires_at),
        "issued_at": keystone_time(t.issued_at),
    });
    let scoped = !matches!(t.scope, Scope::Unscoped);
    if let Some(p) = &r.project {
        tok["project"] = json!({
            "domain": {"id": p.domain_id, "name": r.project_domain_name},
            "id": p.id, "name": p.name,
        });
        tok["is_domain"] = json!(false);
    }
    if let Some(d) = &r.domain {
        tok["domain"] = json!({"id": d.id, "name": d.name});
    }
    if matches!(t.scope, Scope::System) {
        tok["system"] = json!({"all": true});
    }
    if scoped {
        tok["roles"] = json!(r
            .roles
            .iter()
            .map(|x| json!({"id": x.id, "name": x.name}))
            .collect::<Vec<_>>());
        if with_catalog {
            let pid = r.project.as_ref().map(|p| p.id.as_str());
            tok["catalog"] = json!(render_catalog(s, pid).await?);
        }
    }
    if let Some(ac) = &t.app_cred {
        tok["application_credential"] =
            json!({"id": ac.id, "name": ac.name, "restricted": ac.restricted});
    }
    Ok(json!({"token": tok}))
}

fn parse_domain(o: &Obj) -> Result<DomainRef> {
    if let Some(id) = opt_str(o, "id", 64, false)? {
        return Ok(DomainRef::Id(id));
    }
    if let Some(n) = opt_str(o, "name", 64, false)? {
        return Ok(DomainRef::Name(n));
    }
    Err(Error::bad_request("Expecting to find id or name in domain. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."))
}

fn parse_user(o: &Obj) -> Result<UserRef> {
    if let Some(id) = opt_str(o, "id", 64, false)? {
        return Ok(UserRef::Id(id));
    }
    let name = opt_str(o, "name", 255, false)?.ok_or_else(|| {
        Error::bad_request("Expecting to find id or name in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
    })?;
    let domain = opt_obj(o, "domain")?.ok_or_else(|| {
        Error::bad_request("Expecting to find domain in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
    })?;
    Ok(UserRef::Name {
        name,
        domain: parse_domain(domain)?,
    })
}

/// Parses a `POST /v3/auth/tokens` body.
pub fn parse_auth(body: &Bytes) -> Result<AuthRequest> {
    let auth = crate::input::envelope(body, "auth")?;
    let identity = opt_obj(&auth, "identity")?
        .ok_or_else(|| Error::bad_request("'identity' is a required property"))?;
    let methods = crate::input::opt_str_list(identity, "methods")?
        .ok_or_else(|| Error::bad_request("'methods' is a required property"))?;
    let method_name = methods
        .first()
        .ok_or_else(|| Error::bad_request("Invalid input for field 'methods': [] is too short"))?;
    let data = |name: &str| -> Result<&Obj> {
        opt_obj(identity, name)?
            .ok_or_else(|| Error::bad_request(format!("'{name}' is a required property")))
    };
    let method = match method_name.as_str() {
        "password" => {
            let pw = data("password")?;
            let user = opt_obj(pw, "user")?
                .ok_or_else(|| Error::bad_request("'user' is a required property"))?;
            let user_ref = parse_user(user)?;
            let password = match user.get("password") {
                Some(Value::String(p)) => p.clone(),
                None => return Err(Error::unauthenticated()),
                Some(other) => {
                    return Err(Error::bad_request(format!(
                        "Invalid input for field 'password': {other} is not of type 'string'"
                    )))
                }
            };
            if password.len() > identity_domain::password::MAX_PASSWORD_LEN {
                return Err(Error::unauthenticated());
            }
            AuthMethod::Password {
                user: user_ref,
                password,
            }
        }
        "token" => AuthMethod::Token {
            token: req_str(data("token")?, "id", 8192)?,
        },
        "application_credential" => {
            let ac = data("application_credential")?;
            let user = opt_obj(ac, "user")?.map(parse_user).transpose()?;
            AuthMethod::ApplicationCredential {
                id: opt_str(ac, "id", 64, false)?,
                name: opt_str(ac, "name", 255, false)?,
                user,
                secret: req_str(ac, "secret", 4096)?,
            }
        }
        other => {
            return Err(Error::Unauthenticated(format!(
                "Attempted to authenticate with an unsupported method: {other}"
            )))
        }
    };
    let scope = match auth.get("scope") {
        None | Some(Value::Null) => ScopeRequest::Default,
        Some(Value::String(s)) if s == "unscoped" => ScopeRequest::Unscoped,
        Some(Value::Object(sc)) => {
            if let Some(p) = opt_obj(sc, "project")? {
                ScopeRequest::Project {
                    id: opt_str(p, "id", 64, false)?,
                    name: opt_str(p, "name", 64, false)?,
                    domain: opt_obj(p, "domain")?.map(parse_domain).transpose()?,
                }
            } else if let Some(d) = opt_obj(sc, "domain")? {
                ScopeRequest::Domain(parse_domain(d)?)
            } else if let Some(sys) = opt_obj(sc, "system")? {
                if sys.get("all") == Some(&Value::Bool(true)) {
                    ScopeRequest::System
                } else {
                    return Err(Error::bad_request(
                        "Invalid input for field 'system': only {\"all\": true} is supported",
                    ));
                }
            } else if sc.contains_key("OS-TRUST:trust") {
                return Err(Error::NotImplemented("Trusts are not supported.".into()));
            } else {
                return Err(Error::bad_request(
                    "Invalid input for field 'scope': expected project, domain or system",
                ));
            }
        }
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'scope': {other} is not of type 'object'"
            )))
        }
    };
    Ok(AuthRequest { method, scope })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_password_by_name_with_project_scope() {
        let b = Bytes::from_static(br#"{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "pw"}}}, "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}"#);
        let a = parse_auth(&b).unwrap();
        assert!(matches!(
            a.method,
            AuthMethod::Password {
                user: UserRef::Name { .. },
                ..
            }
        ));
        assert!(matches!(
            a.scope,
            ScopeRequest::Project { name: Some(_), .. }
        ));
    }

    #[test]
    fn bad_bodies_are_400_or_401_never_panics() {
        for body in [
            &b"{"[..],
            br#"{"auth": 1}"#,
            br#"{"auth": {}}"#,
            br#"{"auth": {"identity": {"methods": []}}}"#,
            br#"{"auth": {"identity": {"methods": ["password"]}}}"#,
            br#"{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": 3}}}}}"#,
            br#"{"auth": {"identity": {"methods": ["magic"]}}}"#,
            br#"{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "x", "password": "p"}}}, "scope": 5}}"#,
        ] {
            let e = parse_auth(&Bytes::copy_from_slice(body)).unwrap_err();
            assert!(matches!(e.status(), 400 | 401), "{e:?}");
        }
    }
}
