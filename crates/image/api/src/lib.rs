//! Glance v2 over HTTP: handlers that parse requests as Glance does, check policy by
//! Glance's rule names (`get_image`, `add_image`, `upload_image`, ...), call the image domain
//! layer, and render Glance's JSON. Errors are rendered by the shared `Dialect::Image`
//! (webob's HTML pages), except the statuses `common_error` has no word for (410, 415, 416),
//! which are built here in the same shape. No SQL and no business rules here.

#![recursion_limit = "256"]

mod data;
mod images;
mod members;
mod patch;
mod query;
mod schema;
mod views;
mod wire;

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use common_error::{Error, Result};
use common_http::AuthContext;
use common_policy::{Enforcer, Target, NONE};
use image_domain::{Caller, Images};
use image_model::{Image, Visibility};
use serde_json::{json, Value};

/// What every image handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub images: Images,
    pub policy: Arc<Enforcer>,
    /// Public base URL of the listener, e.g. `http://127.0.0.1:8800`.
    pub base_url: String,
}

impl ApiState {
    /// `http://host:port/image`.
    pub fn image_url(&self) -> String {
        format!("{}/image", self.base_url)
    }
}

/// The image router, to be nested under `/image`. The caller adds the observe, auth and
/// dialect layers.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(versions))
        .route("/versions", get(versions_explicit))
        .route("/v2", get(versions_explicit))
        .route("/v2/", get(versions_explicit))
        .route("/v2/schemas/image", get(|| async { Json(schema::image()) }))
        .route(
            "/v2/schemas/images",
            get(|| async { Json(schema::images()) }),
        )
        .route(
            "/v2/schemas/member",
            get(|| async { Json(schema::member()) }),
        )
        .route(
            "/v2/schemas/members",
            get(|| async { Json(schema::members()) }),
        )
        .route("/v2/images", get(images::list).post(images::create))
        .route(
            "/v2/images/{id}",
            get(images::show)
                .patch(images::update)
                .delete(images::delete),
        )
        .route(
            "/v2/images/{id}/actions/deactivate",
            post(images::deactivate),
        )
        .route(
            "/v2/images/{id}/actions/reactivate",
            post(images::reactivate),
        )
        .route(
            "/v2/images/{id}/tags/{tag}",
            put(images::tag_add).delete(images::tag_delete),
        )
        .route(
            "/v2/images/{id}/file",
            get(data::download).put(data::upload),
        )
        .route("/v2/images/{id}/stage", put(data::stage))
        .route("/v2/images/{id}/import", post(data::import))
        .route(
            "/v2/images/{id}/members",
            get(members::list).post(members::create),
        )
        .route(
            "/v2/images/{id}/members/{member_id}",
            get(members::show)
                .put(members::update)
                .delete(members::delete),
        )
        .route("/v2/info/import", get(data::info_import))
        .route("/v2/info/stores", get(data::info_stores))
        .route("/v2/info/usage", get(data::info_usage))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
}

/// Glance's version entries (no cache and no multi-store: 2.17 is current). Every entry
/// points at `/v2/`.
fn version_list(s: &ApiState) -> Value {
    let href = format!("{}/v2/", s.image_url());
    let mut out =
        vec![json!({"id": "v2.17", "status": "CURRENT", "links": [{"rel": "self", "href": href}]})];
    for v in [
        "2.15", "2.9", "2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1", "2.0",
    ] {
        out.push(json!({"id": format!("v{v}"), "status": "SUPPORTED", "links": [{"rel": "self", "href": href}]}));
    }
    json!({"versions": out})
}

/// `GET /image/`: 300 Multiple Choices with the versions, as Glance answers.
async fn versions(axum::extract::State(s): axum::extract::State<ApiState>) -> Response {
    (StatusCode::MULTIPLE_CHOICES, Json(version_list(&s))).into_response()
}

/// `GET /image/versions`: the same list, 200.
async fn versions_explicit(axum::extract::State(s): axum::extract::State<ApiState>) -> Response {
    Json(version_list(&s)).into_response()
}

/// The caller as the domain layer sees it.
pub(crate) fn caller(auth: &AuthContext) -> Caller {
    Caller {
        user_id: auth.credentials.user_id.clone(),
        project_id: auth.credentials.project_id.clone(),
        is_admin: auth
            .credentials
            .roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case("admin")),
    }
}

/// Glance's `ImageTarget`: the owner as `project_id` and `owner`, the visibility, and the
/// caller's project as `member_id` when the image is shared with it.
pub(crate) fn image_target(c: &Caller, img: &Image) -> Target {
    let owner = img.owner.clone().unwrap_or_else(|| NONE.to_string());
    let mut t = common_policy::target(&[
        ("project_id", &owner),
        ("owner", &owner),
        ("visibility", img.visibility.as_str()),
        ("id", &img.id),
    ]);
    if img.visibility == Visibility::Shared {
        if let Some(p) = &c.project_id {
            if img.owner.as_deref() != Some(p) {
                t.insert("member_id".into(), p.clone());
            }
        }
    }
    t
}

/// Glance's policy refusal.
pub(crate) fn forbidden(rule: &str) -> Error {
    Error::forbidden(format!("You are not authorized to complete {rule} action."))
}

impl ApiState {
    /// Checks `rule` on a target.
    pub(crate) fn authorize(&self, auth: &AuthContext, rule: &str, t: &Target) -> Result<()> {
        if self.policy.enforce(rule, t, &auth.credentials) {
            Ok(())
        } else {
            Err(forbidden(rule))
        }
    }

    /// Checks `rule` on an image; a refusal is a 404 when the caller may not even see the
    /// image (`get_image`), so that its existence does not leak.
    pub(crate) fn enforce_image(
        &self,
        auth: &AuthContext,
        c: &Caller,
        rule: &str,
        img: &Image,
    ) -> Result<()> {
        let t = image_target(c, img);
        if self.policy.enforce(rule, &t, &auth.credentials) {
            return Ok(());
        }
        if rule == "get_image" || !self.policy.enforce("get_image", &t, &auth.credentials) {
            return Err(image_domain::image::not_found(&img.id));
        }
        Err(forbidden(rule))
    }

    /// An image the caller may see, by id.
    pub(crate) async fn fetch(&self, auth: &AuthContext, c: &Caller, id: &str) -> Result<Image> {
        let img = self.images.image_get(c, id).await?;
        self.enforce_image(auth, c, "get_image", &img)?;
        Ok(img)
    }
}

/// A JSON request body as Glance's deserializer reads it.
pub(crate) fn json_body(body: &Bytes) -> Result<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_request("Body expected in request."));
    }
    serde_json::from_slice(body).map_err(|_| Error::bad_request("Malformed JSON in request body."))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A webob-style error page for statuses `common_error` cannot express (410, 415, 416).
pub(crate) fn html_error(status: StatusCode, message: &str) -> Response {
    let code = status.as_u16();
    let title = status.canonical_reason().unwrap_or("Error");
    let html = format!(
        "<html>\n <head>\n  <title>{code} {title}</title>\n </head>\n <body>\n  <h1>{code} {title}</h1>\n  {}<br /><br />\n\n\n\n </body>\n</html>",
        html_escape(message)
    );
    let mut r = (status, html).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}
