//! Keystone v3 over HTTP: handlers that parse and validate requests, check policy by
//! Keystone's rule names, call the identity domain layer once, and render Keystone's JSON.
//! No SQL and no business rules here.

mod context;
mod input;
pub mod v3;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use common_http::{Dialect, RateLimiter};
use common_policy::Enforcer;
use identity_domain::Identity;

pub use context::LocalValidator;

/// What every identity handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub identity: Identity,
    pub policy: Arc<Enforcer>,
    /// Public base URL of the listener, e.g. `http://127.0.0.1:8800`.
    pub base_url: String,
    /// Token-endpoint limits per user and per source address.
    pub token_per_user: Arc<RateLimiter>,
    pub token_per_addr: Arc<RateLimiter>,
}

impl ApiState {
    /// `http://host:port/identity`.
    pub fn identity_url(&self) -> String {
        format!("{}/identity", self.base_url)
    }

    /// `http://host:port/identity/v3`.
    pub fn v3_url(&self) -> String {
        format!("{}/identity/v3", self.base_url)
    }

    /// The error dialect of this service.
    pub fn dialect(&self) -> Dialect {
        Dialect::Identity {
            auth_uri: self.v3_url(),
        }
    }
}

/// The identity router, to be nested under `/identity`. The caller adds the observe, auth
/// and dialect layers.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(v3::versions))
        .route("/v3", get(v3::version))
        .route("/v3/", get(v3::version))
        .merge(v3::routes())
        .fallback(unknown_path)
        .with_state(state)
}

/// Paths no handler serves: Keystone's 404 body.
async fn unknown_path() -> axum::http::StatusCode {
    axum::http::StatusCode::NOT_FOUND
}
