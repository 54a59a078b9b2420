//! Cinder v3 over HTTP: version discovery, microversion negotiation (`OpenStack-API-Version:
//! volume 3.x`, 3.0–3.70), volumes (+ actions), the v3 attachments API, snapshots, quota sets,
//! limits and availability zones; every route both as `/v3/{project_id}/...` and `/v3/...`.
//! Handlers parse the request, check Cinder's policy rules, call the volume domain layer and
//! render Cinder's JSON. Errors are rendered by the shared `Dialect::Volume`. No SQL and no
//! business rules here.

mod views;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use common_error::Error;
use common_http::{AuthContext, Authed, HttpResult};
use common_policy::{Enforcer, Target};
use serde_json::{json, Map, Value};
use volume_domain::{Caller, VolumeCreate, Volumes};
use volume_model::driver::Connector;
use volume_model::{AttachStatus, VolumeStatus};

/// The microversions served (major 3).
pub const MIN_MINOR: u32 = 0;
pub const MAX_MINOR: u32 = 70;

/// What every volume handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub volumes: Volumes,
    pub policy: Arc<Enforcer>,
    /// Public base URL of the listener, e.g. `http://127.0.0.1:8800`.
    pub base_url: String,
}

/// The negotiated microversion's minor number (3.`n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mv(pub u32);

impl<S: Send + Sync> FromRequestParts<S> for Mv {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Mv>()
            .copied()
            .unwrap_or(Mv(MIN_MINOR)))
    }
}

/// The block storage router, to be nested under `/volume`. The caller adds the observe,
/// auth and dialect layers.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/volumes", get(volumes_list).post(volume_create))
        .route("/volumes/detail", get(volumes_detail))
        .route(
            "/volumes/{id}",
            get(volume_show).put(volume_update).delete(volume_delete),
        )
        .route("/volumes/{id}/action", post(volume_action))
        .route(
            "/attachments",
            get(attachments_list).post(attachment_create),
        )
        .route("/attachments/detail", get(attachments_list))
        .route(
            "/attachments/{id}",
            get(attachment_show)
                .put(attachment_update)
                .delete(attachment_delete),
        )
        .route("/attachments/{id}/action", post(attachment_action))
        .route("/snapshots", get(snapshots_list).post(snapshot_create))
        .route("/snapshots/detail", get(snapshots_detail))
        .route(
            "/snapshots/{id}",
            get(snapshot_show).delete(snapshot_delete),
        )
        .route("/os-quota-sets/{target}", get(quota_show).put(quota_update))
        .route("/os-quota-sets/{target}/defaults", get(quota_defaults))
        .route("/limits", get(limits))
        .route("/os-availability-zone", get(availability_zones))
        .route("/types", get(types_list))
        .route("/types/{id}", get(type_show))
        .route(
            "/extensions",
            get(|| async { Json(json!({"extensions": []})) }),
        )
        .with_state(state.clone());
    let versioned = Router::new()
        .nest("/v3/{project_id}", api.clone())
        .nest("/v3", api)
        .layer(axum::middleware::from_fn(negotiate));
    Router::new()
        .route("/", get(versions))
        .route("/v3", get(versions))
        .route("/v3/", get(versions))
        .with_state(state)
        .merge(versioned)
}

fn version_entry(s: &ApiState) -> Value {
    json!({
        "id": "v3.0", "status": "CURRENT", "version": format!("3.{MAX_MINOR}"),
        "min_version": "3.0", "updated": "2023-03-01T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/volume/v3/", s.base_url)}],
        "media-types": [{"base": "application/json",
            "type": "application/vnd.openstack.volume+json;version=3"}],
    })
}

async fn versions(State(s): State<ApiState>) -> Json<Value> {
    Json(json!({"versions": [version_entry(&s)]}))
}

/// `OpenStack-API-Version: volume 3.x`: no header is 3.0, `latest` the maximum, out of range
/// 406, malformed 400; echoed with `Vary`.
async fn negotiate(mut req: Request, next: Next) -> Response {
    let asked = req
        .headers()
        .get_all("openstack-api-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|t| t.split(','))
        .find_map(|part| {
            let mut w = part.split_whitespace();
            w.next()
                .filter(|s| s.eq_ignore_ascii_case("volume"))
                .map(|_| w.collect::<Vec<_>>().join(" "))
        });
    let parsed = match asked {
        None => Ok(MIN_MINOR),
        Some(v) if v.eq_ignore_ascii_case("latest") => Ok(MAX_MINOR),
        Some(v) => match v
            .split_once('.')
            .map(|(a, b)| (a.parse::<u32>(), b.parse::<u32>()))
        {
            Some((Ok(3), Ok(m))) if m <= MAX_MINOR => Ok(m),
            Some((Ok(_), Ok(_))) => Err((
                StatusCode::NOT_ACCEPTABLE,
                json!({"HTTPNotAcceptable": {"code": 406, "message": format!(
                    "Version {v} is not supported by the API. Minimum is 3.{MIN_MINOR} and maximum is 3.{MAX_MINOR}.")}}),
            )),
            _ => Err((
                StatusCode::BAD_REQUEST,
                json!({"badRequest": {"code": 400, "message": format!(
                    "Invalid API version request string {v}: must be of format MajorNum.MinorNum.")}}),
            )),
        },
    };
    let (minor, mut resp) = match parsed {
        Ok(m) => {
            req.extensions_mut().insert(Mv(m));
            (m, next.run(req).await)
        }
        Err((code, body)) => (MIN_MINOR, (code, Json(body)).into_response()),
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("volume 3.{minor}")) {
        h.insert("openstack-api-version", v);
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static("OpenStack-API-Version"),
    );
    resp
}

/// The caller as the domain sees it (admin is Cinder's `context_is_admin`).
fn caller(s: &ApiState, auth: &AuthContext) -> Caller {
    Caller {
        user_id: auth.credentials.user_id.clone(),
        project_id: auth.credentials.project_id.clone(),
        is_admin: s
            .policy
            .enforce("context_is_admin", &Target::new(), &auth.credentials),
    }
}

/// Checks `rule` for a resource of `project_id`: 403 when refused.
fn authorize(s: &ApiState, auth: &AuthContext, rule: &str, project_id: &str) -> Result<(), Error> {
    let t = common_policy::target(&[("project_id", project_id)]);
    if s.policy.enforce(rule, &t, &auth.credentials) {
        Ok(())
    } else {
        Err(Error::forbidden(format!(
            "Policy doesn't allow {rule} to be performed."
        )))
    }
}

/// The path's project (when the route has one) must be the token's, unless admin.
fn check_path_project(
    s: &ApiState,
    auth: &AuthContext,
    p: &HashMap<String, String>,
) -> Result<(), Error> {
    if let Some(pid) = p.get("project_id") {
        if auth.credentials.project_id.as_deref() != Some(pid.as_str()) && !caller(s, auth).is_admin
        {
            return Err(Error::bad_request("Malformed request url"));
        }
    }
    Ok(())
}

fn own_project(auth: &AuthContext) -> String {
    auth.credentials.project_id.clone().unwrap_or_default()
}

fn query(q: &Option<String>) -> BTreeMap<String, String> {
    form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// The JSON object body, or Cinder's 400.
fn body_object(body: &Bytes) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Error::bad_request("Malformed request body")),
    }
}

fn entity<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a Map<String, Value>, Error> {
    m.get(key).and_then(Value::as_object).ok_or_else(|| {
        Error::bad_request(format!("Missing required element '{key}' in request body."))
    })
}

fn opt_str(m: &Map<String, Value>, key: &str) -> Result<Option<String>, Error> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::bad_request(format!(
            "Invalid input for field/attribute {key}."
        ))),
    }
}

fn size_of(v: Option<&Value>, key: &str) -> Result<Option<i64>, Error> {
    match v {
        None | Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => n.as_i64().map(Some),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok().map(Some),
        _ => None,
    }
    .ok_or_else(|| {
        Error::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {}. must be an integer",
            v.map(Value::to_string).unwrap_or_default()
        ))
    })
}

fn metadata(m: &Map<String, Value>) -> Result<BTreeMap<String, String>, Error> {
    match m.get("metadata") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(Error::bad_request(
                    "Invalid input for field/attribute metadata.",
                )),
            })
            .collect(),
        Some(_) => Err(Error::bad_request(
            "Invalid input for field/attribute metadata.",
        )),
    }
}

// ---- volumes ----

async fn volume_create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    mv: Mv,
    body: Bytes,
) -> HttpResult<(StatusCode, Json<Value>)> {
    check_path_project(&s, &auth, &p)?;
    let b = body_object(&body)?;
    let v = entity(&b, "volume")?;
    authorize(&s, &auth, "volume:create", &own_project(&auth))?;
    let req = VolumeCreate {
        size: size_of(v.get("size"), "size")?.unwrap_or(0),
        name: opt_str(v, "name")?.or(opt_str(v, "display_name")?),
        description: opt_str(v, "description")?.or(opt_str(v, "display_description")?),
        metadata: metadata(v)?,
        volume_type: opt_str(v, "volume_type")?,
        availability_zone: opt_str(v, "availability_zone")?,
        image_id: opt_str(v, "imageRef")?.or(opt_str(v, "image_id")?),
        snapshot_id: opt_str(v, "snapshot_id")?,
        source_volid: opt_str(v, "source_volid")?,
        multiattach: v
            .get("multiattach")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    if req.size == 0 && req.snapshot_id.is_none() && req.source_volid.is_none() {
        return Err(Error::bad_request(
            "Invalid input received: Volume size '0' must be an integer and greater than 0",
        )
        .into());
    }
    let c = caller(&s, &auth);
    let vol = s.volumes.create(&c, req).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"volume": views::volume(&s, &p, mv, c.is_admin, &vol)})),
    ))
}

async fn list_volumes(
    s: &ApiState,
    auth: &AuthContext,
    p: &HashMap<String, String>,
    q: &Option<String>,
) -> Result<(Vec<volume_model::Volume>, bool, BTreeMap<String, String>), Error> {
    check_path_project(s, auth, p)?;
    authorize(s, auth, "volume:get_all", &own_project(auth))?;
    let q = query(q);
    let c = caller(s, auth);
    let all = c.is_admin && (truthy(q.get("all_tenants")) || truthy(q.get("all_projects")));
    let mut vols = s.volumes.list(&c, all).await?;
    if let Some(pid) = q.get("project_id").filter(|_| c.is_admin) {
        vols.retain(|v| &v.project_id == pid);
    }
    if let Some(n) = q.get("name") {
        vols.retain(|v| v.name.as_deref() == Some(n.as_str()));
    }
    if let Some(st) = q.get("status") {
        vols.retain(|v| v.status.as_str() == st);
    }
    if let Some(b) = q.get("bootable") {
        vols.retain(|v| v.bootable == truthy(Some(b)));
    }
    // Newest first, as Cinder sorts by default (created_at desc).
    vols.reverse();
    if let Some(m) = q.get("marker") {
        let at = vols
            .iter()
            .position(|v| &v.id == m)
            .ok_or_else(|| Error::bad_request(format!("Marker {m} could not be found.")))?;
        vols.drain(..=at);
    }
    let mut full = false;
    if let Some(l) = q.get("limit") {
        let l: usize = l
            .parse()
            .map_err(|_| Error::bad_request("limit param must be an integer"))?;
        full = vols.len() > l;
        vols.truncate(l);
        full = full || (l > 0 && vols.len() == l);
    }
    Ok((vols, full, q))
}

async fn volumes_list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let (vols, full, q) = list_volumes(&s, &auth, &p, &q).await?;
    let items: Vec<Value> = vols
        .iter()
        .map(|v| json!({"id": v.id, "name": v.name, "links": views::links(&s, &p, "volumes", &v.id)}))
        .collect();
    Ok(Json(views::page(
        &s,
        &p,
        "volumes",
        items,
        full,
        &vols.last().map(|v| v.id.clone()),
        &q,
    )))
}

async fn volumes_detail(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    mv: Mv,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let (vols, full, q) = list_volumes(&s, &auth, &p, &q).await?;
    let admin = caller(&s, &auth).is_admin;
    let items: Vec<Value> = vols
        .iter()
        .map(|v| views::volume(&s, &p, mv, admin, v))
        .collect();
    Ok(Json(views::page(
        &s,
        &p,
        "volumes/detail",
        items,
        full,
        &vols.last().map(|v| v.id.clone()),
        &q,
    )))
}

async fn volume_show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    mv: Mv,
) -> HttpResult<Json<Value>> {
    check_path_project(&s, &auth, &p)?;
    let id = p.get("id").cloned().unwrap_or_default();
    let c = caller(&s, &auth);
    let v = s.volumes.get(&c, &id).await?;
    authorize(&s, &auth, "volume:get", &v.project_id)?;
    Ok(Json(
        json!({"volume": views::volume(&s, &p, mv, c.is_admin, &v)}),
    ))
}

async fn volume_update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    mv: Mv,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    check_path_project(&s, &auth, &p)?;
    let id = p.get("id").cloned().unwrap_or_default();
    let b = body_object(&body)?;
    let u = entity(&b, "volume")?;
    let c = caller(&s, &auth);
    let v = s.volumes.get(&c, &id).await?;
    authorize(&s, &auth, "volume:update", &v.project_id)?;
    let name = match u.get("name").or(u.get("display_name")) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(n)) => Some(Some(n.clone())),
        Some(_) => {
            return Err(Error::bad_request("Invalid input for field/attribute name.").into())
        }
    };
    let description = match u.get("description").or(u.get("display_description")) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(n)) => Some(Some(n.clone())),
        Some(_) => {
            return Err(Error::bad_request("Invalid input for field/attribute description.").into())
        }
    };
    let meta = if u.contains_key("metadata") {
        Some(metadata(u)?)
    } else {
        None
    };
    let v = s.volumes.update(&c, &id, name, description, meta).await?;
    Ok(Json(
        json!({"volume": views::volume(&s, &p, mv, c.is_admin, &v)}),
    ))
}

async fn volume_delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    RawQuery(q): RawQuery,
) -> HttpResult<StatusCode> {
    check_path_project(&s, &auth, &p)?;
    let id = p.get("id").cloned().unwrap_or_default();
    let q = query(&q);
    let c = caller(&s, &auth);
    let v = s.volumes.get(&c, &id).await?;
    authorize(&s, &auth, "volume:delete", &v.project_id)?;
    let force = truthy(q.get("force"));
    if force {
        authorize(&s, &auth, "volume:force_delete", &v.project_id)?;
    }
    s.volumes
        .delete(&c, &id, truthy(q.get("cascade")), force)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

async fn volume_action(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    body: Bytes,
) -> HttpResult<Response> {
    check_path_project(&s, &auth, &p)?;
    let id = p.get("id").cloned().unwrap_or_default();
    let b = body_object(&body)?;
    let Some((action, arg)) = b.iter().next() else {
        return Err(Error::bad_request("There is no such action: ").into());
    };
    let c = caller(&s, &auth);
    let v = s.volumes.get(&c, &id).await?;
    let empty = Map::new();
    let args = arg.as_object().unwrap_or(&empty);
    match action.as_str() {
        "os-extend" => {
            authorize(&s, &auth, "volume:extend", &v.project_id)?;
            let n = size_of(args.get("new_size"), "new_size")?
                .ok_or_else(|| Error::bad_request("Missing required element 'new_size'."))?;
            s.volumes.extend(&c, &id, n).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-reset_status" => {
            authorize(
                &s,
                &auth,
                "volume_extension:volume_admin_actions:reset_status",
                &v.project_id,
            )?;
            let status = match opt_str(args, "status")? {
                Some(t) => Some(VolumeStatus::parse(&t).ok_or_else(|| {
                    Error::bad_request(format!(
                        "Invalid input received: '{t}' is not a valid status."
                    ))
                })?),
                None => None,
            };
            let attach = match opt_str(args, "attach_status")? {
                Some(t) => Some(AttachStatus::parse(&t).ok_or_else(|| {
                    Error::bad_request(format!(
                        "Invalid input received: '{t}' is not a valid attach status."
                    ))
                })?),
                None => None,
            };
            s.volumes.reset_status(&c, &id, status, attach).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-force_delete" => {
            authorize(
                &s,
                &auth,
                "volume_extension:volume_admin_actions:force_delete",
                &v.project_id,
            )?;
            s.volumes.delete(&c, &id, true, true).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-set_bootable" => {
            authorize(&s, &auth, "volume:update", &v.project_id)?;
            let bootable = match args.get("bootable") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(t)) => truthy(Some(t)),
                _ => return Err(Error::bad_request("Must specify bootable in request.").into()),
            };
            s.volumes.set_flags(&c, &id, Some(bootable), None).await?;
            Ok(StatusCode::OK.into_response())
        }
        "os-update_readonly_flag" => {
            authorize(&s, &auth, "volume:update", &v.project_id)?;
            let ro = match args.get("readonly") {
                Some(Value::Bool(b)) => *b,
                _ => return Err(Error::bad_request("Must specify readonly in request.").into()),
            };
            s.volumes.set_flags(&c, &id, None, Some(ro)).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        other => Err(Error::bad_request(format!("There is no such action: {other}")).into()),
    }
}

// ---- attachments ----

/// A connector from a request body: another host, reached over an NBD export (only this
/// process's compute service gets the file itself).
fn connector(v: Option<&Value>) -> Option<Connector> {
    let m = v?.as_object()?;
    Some(Connector {
        host: m
            .get("host")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        local: false,
    })
}

async fn attachment_create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    mv: Mv,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    check_path_project(&s, &auth, &p)?;
    if mv.0 < 27 {
        return Err(Error::NotFound {
            kind: "resource",
            id: String::new(),
        }
        .into());
    }
    let b = body_object(&body)?;
    let a = entity(&b, "attachment")?;
    let volume_id = opt_str(a, "volume_uuid")?
        .ok_or_else(|| Error::bad_request("Missing required element 'volume_uuid'."))?;
    let c = caller(&s, &auth);
    let v = s.volumes.get(&c, &volume_id).await?;
    authorize(&s, &auth, "volume:attachment_create", &v.project_id)?;
    let instance = opt_str(a, "instance_uuid")?;
    let mode = opt_str(a, "mode")?;
    let att = s
        .volumes
        .attachment_create(
            &c,
            &volume_id,
            instance.as_deref(),
            connector(a.get("connector")),
            mode.as_deref(),
        )
        .await?;
    Ok(Json(json!({"attachment": views::attachment(&att)})))
}

async fn attachments_list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    check_path_project(&s, &auth, &p)?;
    authorize(&s, &auth, "volume:attachment_get", &own_project(&auth))?;
    let q = query(&q);
    let c = caller(&s, &auth);
    let all = c.is_admin && (truthy(q.get("all_tenants")) || truthy(q.get("all_projects")));
    let mut atts = s.volumes.attachments(&c, all).await?;
    if let Some(vid) = q.get("volume_id") {
        atts.retain(|a| &a.volume_id == vid);
    }
    if let Some(i) = q.get("instance_id") {
        atts.retain(|a| a.instance_uuid.as_deref() == Some(i.as_str()));
    }
    let items: Vec<Value> = atts.iter().map(views::attachment).collect();
    Ok(Json(json!({"attachments": items})))
}

async fn attachment_show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    check_path_project(&s, &auth, &p)?;
    let id = p.get("id").cloned().unwrap_or_default();
    let a = s.volumes.attachment_get(&caller(&s, &auth), &id).await?;
    Ok(Json(json!({"attachment": views::attachment(&a)})))
}

async fn attachment_update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    check_path_project(&s, &auth, &p)?;
    let id = p.get("id").cloned().unwrap_or_default();
    let b = body_object(&body)?;
    let a = entity(&b, "attachment")?;
    let conn = connector(a.get("connector"))
        .ok_or_else(|| Error::bad_request("Missing required element 'connector'."))?;
    let c = caller(&s, &auth);
    let att = s.volumes.attachment_update(&c, &id, conn).await?;
    Ok(Json(json!({"attachment": views::attachment(&att)})))
}

async fn attachment_action(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    body: Bytes,
) -> HttpResult<StatusCode> {
    check_path_project(&s, &auth, &p)?;
    let id = p.get("id").cloned().unwrap_or_default();
    let b = body_object(&body)?;
    if !b.contains_key("os-complete") {
        return Err(Error::bad_request("There is no such action.").into());
    }
    s.volumes
        .attachment_complete(&caller(&s, &auth), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn attachment_delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    check_path_project(&s, &auth, &p)?;
    let id = p.get("id").cloned().unwrap_or_default();
    let c = caller(&s, &auth);
    let a = s.volumes.attachment_get(&c, &id).await?;
    let v = s.volumes.get(&c, &a.volume_id).await?;
    authorize(&s, &auth, "volume:attachment_delete", &v.project_id)?;
    s.volumes.attachment_delete(&c, &id).await?;
    Ok(Json(json!({"attachments": []})))
}

// ---- snapshots ----

async fn snapshot_create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    mv: Mv,
    body: Bytes,
) -> HttpResult<(StatusCode, Json<Value>)> {
    check_path_project(&s, &auth, &p)?;
    let b = body_object(&body)?;
    let sn = entity(&b, "snapshot")?;
    let volume_id = opt_str(sn, "volume_id")?
        .ok_or_else(|| Error::bad_request("Missing required element 'volume_id'."))?;
    let c = caller(&s, &auth);
    let v = s.volumes.get(&c, &volume_id).await?;
    authorize(&s, &auth, "volume:create_snapshot", &v.project_id)?;
    let force = match sn.get("force") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(t)) => truthy(Some(t)),
        _ => false,
    };
    let snap = s
        .volumes
        .snapshot_create(
            &c,
            &volume_id,
            opt_str(sn, "name")?.or(opt_str(sn, "display_name")?),
            opt_str(sn, "description")?.or(opt_str(sn, "display_description")?),
            metadata(sn)?,
            force,
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"snapshot": views::snapshot(mv, &snap)})),
    ))
}

async fn snapshots_all(
    s: &ApiState,
    auth: &AuthContext,
    p: &HashMap<String, String>,
    q: &Option<String>,
) -> Result<Vec<volume_model::Snapshot>, Error> {
    check_path_project(s, auth, p)?;
    authorize(s, auth, "volume:get_all_snapshots", &own_project(auth))?;
    let q = query(q);
    let c = caller(s, auth);
    let all = c.is_admin && (truthy(q.get("all_tenants")) || truthy(q.get("all_projects")));
    let mut snaps = s.volumes.snapshots(&c, all).await?;
    if let Some(v) = q.get("volume_id") {
        snaps.retain(|x| &x.volume_id == v);
    }
    if let Some(n) = q.get("name") {
        snaps.retain(|x| x.name.as_deref() == Some(n.as_str()));
    }
    snaps.reverse();
    Ok(snaps)
}

async fn snapshots_list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    mv: Mv,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let snaps = snapshots_all(&s, &auth, &p, &q).await?;
    let items: Vec<Value> = snaps.iter().map(|x| views::snapshot(mv, x)).collect();
    Ok(Json(json!({"snapshots": items})))
}

async fn snapshots_detail(
    st: State<ApiState>,
    a: Authed,
    p: Path<HashMap<String, String>>,
    mv: Mv,
    q: RawQuery,
) -> HttpResult<Json<Value>> {
    snapshots_list(st, a, p, mv, q).await
}

async fn snapshot_show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    mv: Mv,
) -> HttpResult<Json<Value>> {
    check_path_project(&s, &auth, &p)?;
    let id = p.get("id").cloned().unwrap_or_default();
    let snap = s.volumes.snapshot_get(&caller(&s, &auth), &id).await?;
    authorize(&s, &auth, "volume:get_snapshot", &snap.project_id)?;
    Ok(Json(json!({"snapshot": views::snapshot(mv, &snap)})))
}

async fn snapshot_delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
) -> HttpResult<StatusCode> {
    check_path_project(&s, &auth, &p)?;
    let id = p.get("id").cloned().unwrap_or_default();
    let c = caller(&s, &auth);
    let snap = s.volumes.snapshot_get(&c, &id).await?;
    authorize(&s, &auth, "volume:delete_snapshot", &snap.project_id)?;
    s.volumes.snapshot_delete(&c, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

// ---- quotas, limits, zones, types ----

const QUOTA_RESOURCES: &[&str] = &[
    "volumes",
    "snapshots",
    "gigabytes",
    "backups",
    "backup_gigabytes",
    "per_volume_gigabytes",
];

async fn quota_set(s: &ApiState, project: &str, usage: bool) -> Result<Value, Error> {
    let used = s.volumes.usage(project).await?;
    let mut m = Map::new();
    m.insert("id".into(), json!(project));
    for r in QUOTA_RESOURCES {
        let limit = s.volumes.quota(project, r).await?;
        let in_use = match *r {
            "volumes" => used.volumes,
            "snapshots" => used.snapshots,
            "gigabytes" => used.gigabytes,
            _ => 0,
        };
        m.insert(
            (*r).into(),
            if usage {
                json!({"limit": limit, "in_use": in_use, "reserved": 0, "allocated": 0})
            } else {
                json!(limit)
            },
        );
    }
    m.insert(
        "groups".into(),
        if usage {
            json!({"limit": 10, "in_use": 0, "reserved": 0, "allocated": 0})
        } else {
            json!(10)
        },
    );
    Ok(Value::Object(m))
}

async fn quota_show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    check_path_project(&s, &auth, &p)?;
    let target = p.get("target").cloned().unwrap_or_default();
    if !caller(&s, &auth).is_admin && Some(&target) != auth.credentials.project_id.as_ref() {
        return Err(Error::forbidden(
            "Policy doesn't allow volume_extension:quotas:show to be performed.",
        )
        .into());
    }
    authorize(&s, &auth, "volume_extension:quotas:show", &target)?;
    let usage = truthy(query(&q).get("usage"));
    Ok(Json(
        json!({"quota_set": quota_set(&s, &target, usage).await?}),
    ))
}

async fn quota_defaults(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    check_path_project(&s, &auth, &p)?;
    let target = p.get("target").cloned().unwrap_or_default();
    let mut m = Map::new();
    m.insert("id".into(), json!(target));
    for r in QUOTA_RESOURCES {
        m.insert((*r).into(), json!(s.volumes.default_quota(r)));
    }
    m.insert("groups".into(), json!(10));
    Ok(Json(json!({"quota_set": m})))
}

async fn quota_update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    check_path_project(&s, &auth, &p)?;
    let target = p.get("target").cloned().unwrap_or_default();
    authorize(&s, &auth, "volume_extension:quotas:update", &target)?;
    let b = body_object(&body)?;
    let q = entity(&b, "quota_set")?;
    let mut limits = BTreeMap::new();
    for (k, v) in q {
        if k == "tenant_id" || k == "id" {
            continue;
        }
        if !QUOTA_RESOURCES.contains(&k.as_str()) {
            return Err(Error::bad_request(format!("Bad key(s) in quota set: {k}")).into());
        }
        let n = size_of(Some(v), k)?.unwrap_or(-1);
        if n < -1 {
            return Err(Error::bad_request(format!(
                "Quota limit {n} for {k} must be -1 or greater."
            ))
            .into());
        }
        limits.insert(k.clone(), Some(n));
    }
    s.volumes.quota_update(&target, &limits).await?;
    let mut set = quota_set(&s, &target, false).await?;
    if let Some(o) = set.as_object_mut() {
        o.remove("id");
    }
    Ok(Json(json!({"quota_set": set})))
}

async fn limits(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(p): Path<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    check_path_project(&s, &auth, &p)?;
    let project = own_project(&auth);
    authorize(&s, &auth, "limits_extension:used_limits", &project)?;
    let used = s.volumes.usage(&project).await?;
    let q = |r: &'static str| {
        let s = s.clone();
        let project = project.clone();
        async move { s.volumes.quota(&project, r).await }
    };
    Ok(Json(json!({"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": q("volumes").await?,
        "maxTotalSnapshots": q("snapshots").await?,
        "maxTotalVolumeGigabytes": q("gigabytes").await?,
        "maxTotalBackups": q("backups").await?,
        "maxTotalBackupGigabytes": q("backup_gigabytes").await?,
        "totalVolumesUsed": used.volumes,
        "totalSnapshotsUsed": used.snapshots,
        "totalGigabytesUsed": used.gigabytes,
        "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0,
    }}})))
}

async fn availability_zones(State(s): State<ApiState>, Authed(_auth): Authed) -> Json<Value> {
    Json(json!({"availabilityZoneInfo": [{
        "zoneName": s.volumes.config().availability_zone, "zoneState": {"available": true}}]}))
}

fn default_type(s: &ApiState) -> Value {
    let name = &s.volumes.config().default_volume_type;
    json!({"id": name, "name": name, "description": "Default Volume Type",
           "is_public": true, "extra_specs": {}, "qos_specs_id": null,
           "os-volume-type-access:is_public": true})
}

async fn types_list(State(s): State<ApiState>, Authed(_auth): Authed) -> Json<Value> {
    Json(json!({"volume_types": [default_type(&s)]}))
}

async fn type_show(
    State(s): State<ApiState>,
    Authed(_auth): Authed,
    Path(p): Path<HashMap<String, String>>,
) -> HttpResult<Json<Value>> {
    let id = p.get("id").cloned().unwrap_or_default();
    if id != s.volumes.config().default_volume_type && id != "default" {
        return Err(Error::not_found("volume_type", id).into());
    }
    Ok(Json(json!({"volume_type": default_type(&s)})))
}
