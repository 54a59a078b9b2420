//! Keystone v3 resources, one module each, and version discovery.

pub mod application_credentials;
pub mod auth;
pub mod credentials;
pub mod domains;
pub mod endpoints;
pub mod groups;
pub mod projects;
pub mod regions;
pub mod role_assignments;
pub mod roles;
pub mod services;
pub mod users;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::ApiState;

/// Keystone's v3 API version.
pub const VERSION: &str = "v3.14";
const UPDATED: &str = "2020-04-07T00:00:00Z";

/// All v3 routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .merge(auth::routes())
        .merge(domains::routes())
        .merge(projects::routes())
        .merge(users::routes())
        .merge(groups::routes())
        .merge(roles::routes())
        .merge(role_assignments::routes())
        .merge(regions::routes())
        .merge(services::routes())
        .merge(endpoints::routes())
        .merge(application_credentials::routes())
        .merge(credentials::routes())
}

fn version_entry(s: &ApiState) -> Value {
    json!({
        "id": VERSION,
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": format!("{}/", s.v3_url())}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

/// `GET /identity/`: 300 Multiple Choices with the versions list, as Keystone answers.
pub async fn versions(State(s): State<ApiState>) -> Response {
    let body = json!({"versions": {"values": [version_entry(&s)]}});
    let mut r = (StatusCode::MULTIPLE_CHOICES, Json(body)).into_response();
    if let Ok(v) = format!("{}/", s.v3_url()).parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(
        header::VARY,
        header::HeaderValue::from_static("X-Auth-Token"),
    );
    r
}

/// `GET /identity/v3`: the v3 version document.
pub async fn version(State(s): State<ApiState>) -> Response {
    let mut r = Json(json!({"version": version_entry(&s)})).into_response();
    r.headers_mut().insert(
        header::VARY,
        header::HeaderValue::from_static("X-Auth-Token"),
    );
    r
}

/// Keystone's `links` for a collection.
pub fn collection_links(s: &ApiState, path: &str) -> Value {
    json!({"self": format!("{}/{}", s.v3_url(), path), "previous": null, "next": null})
}

/// Keystone's `links` for one entity.
pub fn self_link(s: &ApiState, path: &str) -> Value {
    json!({"self": format!("{}/{}", s.v3_url(), path)})
}
