//! Placement over HTTP: microversion negotiation (`OpenStack-API-Version: placement 1.x`,
//! 1.0 to 1.39), policy by Placement's rule names, and Placement's JSON, with errors in the
//! API-SIG form `{"errors": [{"status", "title", "detail", "code", "request_id"}]}` and
//! Placement's specific `code`s.

mod allocations;
mod candidates;
mod providers;
mod resources;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common_error::Error;
use common_http::AuthContext;
use common_policy::Enforcer;
use placement_domain::{Placement, CODE_SEP};
use serde_json::{json, Value};

/// The highest microversion served.
pub const MAX_MINOR: u32 = 39;
const HEADER: &str = "openstack-api-version";

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub placement: Placement,
    pub policy: Arc<Enforcer>,
    /// Public base URL of the listener, e.g. `http://127.0.0.1:8800`; `Location` headers
    /// are absolute (webob makes them so in Placement).
    pub base_url: String,
}

/// The negotiated microversion's minor number (the major is 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mv(pub u32);

/// A Placement error.
#[derive(Debug, Clone)]
pub struct PErr {
    pub status: u16,
    pub detail: String,
    pub code: String,
}

impl PErr {
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        PErr {
            status,
            detail: detail.into(),
            code: "placement.undefined".into(),
        }
    }
    pub fn bad(detail: impl Into<String>) -> Self {
        PErr::new(400, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        PErr::new(404, detail)
    }
    fn render(&self, request_id: &str) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"errors": [{
            "status": self.status, "title": common_http::error::title(self.status),
            "detail": self.detail, "code": self.code, "request_id": request_id,
        }]});
        (status, Json(body)).into_response()
    }
}

impl From<Error> for PErr {
    fn from(e: Error) -> Self {
        let status = e.status();
        let msg = e.public_message();
        match msg.split_once(CODE_SEP) {
            Some((code, detail)) => PErr {
                status,
                detail: detail.into(),
                code: code.into(),
            },
            None => PErr::new(status, msg),
        }
    }
}

impl IntoResponse for PErr {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = status.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

pub(crate) type Res = Result<Response, PErr>;

/// Parses the version header: `None` = no placement entry.
fn parse_version(req: &Request) -> Result<Mv, PErr> {
    let mut found = None;
    for v in req.headers().get_all(HEADER) {
        let Ok(text) = v.to_str() else { continue };
        for part in text.split(',') {
            let mut words = part.split_whitespace();
            if words
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("placement"))
            {
                found = Some(words.collect::<Vec<_>>().join(" "));
            }
        }
    }
    let Some(ver) = found else { return Ok(Mv(0)) };
    if ver.eq_ignore_ascii_case("latest") {
        return Ok(Mv(MAX_MINOR));
    }
    let bad = || PErr::bad(format!("invalid version string: {ver}"));
    let (maj, min) = ver.split_once('.').ok_or_else(bad)?;
    let maj: u32 = maj.parse().map_err(|_| bad())?;
    let min: u32 = min.parse().map_err(|_| bad())?;
    if maj != 1 || min > MAX_MINOR {
        return Err(
            PErr::new(406, format!("Unacceptable version header: {ver}"))
                .with_code("placement.undefined"),
        );
    }
    Ok(Mv(min))
}

impl PErr {
    fn with_code(self, code: &str) -> Self {
        self.coded(code)
    }

    /// The same error with Placement's specific `code`.
    pub fn coded(mut self, code: &str) -> Self {
        self.code = code.into();
        self
    }
}

/// Negotiates the microversion, renders pending errors with the request id, and echoes
/// the version with `Vary`.
async fn microversion(mut req: Request, next: Next) -> Response {
    let rid = req
        .extensions()
        .get::<common_http::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let (mv, mut resp) = match parse_version(&req) {
        Ok(mv) => {
            req.extensions_mut().insert(mv);
            let mut resp = next.run(req).await;
            if let Some(e) = resp.extensions_mut().remove::<PErr>() {
                let headers = resp.headers().clone();
                resp = e.render(&rid);
                for (k, v) in headers.iter() {
                    if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                        resp.headers_mut().insert(k.clone(), v.clone());
                    }
                }
            }
            (mv, resp)
        }
        Err(e) => (Mv(0), e.render(&rid)),
    };
    if let Ok(v) = HeaderValue::from_str(&format!("placement 1.{}", mv.0)) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static("openstack-api-version"),
    );
    resp
}

/// The placement router, to be nested under `/placement`.
pub fn router(state: ApiState) -> Router {
    use providers as p;
    Router::new()
        .route("/", get(root))
        .route("/resource_providers", get(p::list).post(p::create))
        .route(
            "/resource_providers/{uuid}",
            get(p::show).put(p::update).delete(p::delete),
        )
        .route(
            "/resource_providers/{uuid}/inventories",
            get(p::inv_list)
                .put(p::inv_put_all)
                .post(p::inv_post)
                .delete(p::inv_delete_all),
        )
        .route(
            "/resource_providers/{uuid}/inventories/{rc}",
            get(p::inv_show).put(p::inv_put).delete(p::inv_delete),
        )
        .route(
            "/resource_providers/{uuid}/traits",
            get(p::traits_list)
                .put(p::traits_put)
                .delete(p::traits_delete),
        )
        .route(
            "/resource_providers/{uuid}/aggregates",
            get(p::aggs_list).put(p::aggs_put),
        )
        .route(
            "/resource_providers/{uuid}/usages",
            get(allocations::provider_usages),
        )
        .route(
            "/resource_providers/{uuid}/allocations",
            get(allocations::provider_allocations),
        )
        .route(
            "/resource_classes",
            get(resources::classes_list).post(resources::class_create),
        )
        .route(
            "/resource_classes/{name}",
            get(resources::class_show)
                .put(resources::class_put)
                .delete(resources::class_delete),
        )
        .route("/traits", get(resources::traits_list))
        .route(
            "/traits/{name}",
            get(resources::trait_show)
                .put(resources::trait_put)
                .delete(resources::trait_delete),
        )
        .route("/allocations", axum::routing::post(allocations::post_many))
        .route(
            "/allocations/{consumer}",
            get(allocations::show)
                .put(allocations::put)
                .delete(allocations::delete),
        )
        .route("/usages", get(allocations::usages))
        .route("/allocation_candidates", get(candidates::list))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn(microversion))
        .with_state(state)
}

/// `GET /placement`: the version document (no token needed).
async fn root() -> Response {
    Json(json!({"versions": [{
        "id": "v1.0", "min_version": "1.0", "max_version": format!("1.{MAX_MINOR}"),
        "status": "CURRENT", "links": [{"rel": "self", "href": ""}],
    }]}))
    .into_response()
}

impl ApiState {
    /// An absolute `Location` for a path such as `/placement/traits/X`.
    pub(crate) fn location(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.trim_end_matches('/'))
    }

    /// Checks a rule with the caller's project and user as the target.
    pub(crate) fn authorize(&self, auth: &AuthContext, rule: &str) -> Result<(), PErr> {
        let project = auth.credentials.project_id.clone().unwrap_or_default();
        let t = common_policy::target(&[
            ("project_id", &project),
            ("user_id", &auth.credentials.user_id),
        ]);
        self.authorize_on(auth, rule, &t)
    }

    pub(crate) fn authorize_on(
        &self,
        auth: &AuthContext,
        rule: &str,
        t: &common_policy::Target,
    ) -> Result<(), PErr> {
        if self.policy.enforce(rule, t, &auth.credentials) {
            Ok(())
        } else {
            Err(PErr::new(
                403,
                format!("Policy does not allow {rule} to be performed."),
            ))
        }
    }
}

/// 404 for a route that does not exist at this microversion.
pub(crate) fn need(mv: Mv, min: u32) -> Result<(), PErr> {
    if mv.0 >= min {
        Ok(())
    } else {
        Err(PErr::not_found("The resource could not be found."))
    }
}

/// A JSON object body, or Placement's 400.
pub(crate) fn body_object(b: &Bytes) -> Result<serde_json::Map<String, Value>, PErr> {
    match serde_json::from_slice::<Value>(b) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(PErr::bad(
            "JSON does not validate: the body must be an object",
        )),
        Err(e) => Err(PErr::bad(format!("Malformed JSON: {e}"))),
    }
}

/// Any JSON body, or Placement's 400.
pub(crate) fn body_json(b: &Bytes) -> Result<Value, PErr> {
    serde_json::from_slice::<Value>(b).map_err(|e| PErr::bad(format!("Malformed JSON: {e}")))
}

/// A schema-style 400.
pub(crate) fn invalid(what: impl std::fmt::Display) -> PErr {
    PErr::bad(format!("JSON does not validate: {what}"))
}

/// A non-negative integer field of a body.
pub(crate) fn int_field(
    m: &serde_json::Map<String, Value>,
    k: &str,
    min: i64,
    default: Option<i64>,
) -> Result<i64, PErr> {
    match m.get(k) {
        None => default.ok_or_else(|| invalid(format!("'{k}' is a required property"))),
        Some(v) => match v.as_i64() {
            Some(n) if n >= min && n <= placement_domain::MAX_INT => Ok(n),
            _ => Err(invalid(format!(
                "{v} is not valid under the schema of '{k}'"
            ))),
        },
    }
}

/// Whether `s` is a UUID (with or without dashes).
pub(crate) fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// The response for 200 JSON.
pub(crate) fn ok(v: Value) -> Res {
    Ok(Json(v).into_response())
}

pub(crate) fn no_content() -> Res {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The query string parsed into pairs (repeats kept).
pub(crate) fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}
