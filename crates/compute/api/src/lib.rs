//! Nova's compute API v2.1 over HTTP: microversion negotiation (2.1 to [`MAX_MINOR`] via
//! `OpenStack-API-Version: compute 2.x` or the legacy `X-OpenStack-Nova-API-Version`),
//! policy by Nova's rule names, Nova's JSON, and Nova's error bodies
//! (`{"itemNotFound": {"code", "message"}}`, rendered by `common-http`).
//!
//! Handlers parse, check policy, make one domain call and render; no SQL, no business rules.
//! Must not depend on the db crate or on other services.

pub mod microversion;
mod servers;

use std::sync::Arc;

use axum::Router;
use common_http::AuthContext;
use common_policy::Enforcer;
use compute_domain::{Compute, Context};

pub use microversion::{Mv, MAX_MINOR, MIN_MINOR};

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub compute: Compute,
    pub policy: Arc<Enforcer>,
    /// Public base URL of the listener, e.g. `http://127.0.0.1:8800`; links are
    /// `{base_url}/compute/v2.1/...`.
    pub base_url: String,
}

impl ApiState {
    /// `{base_url}/compute/v2.1`.
    pub fn v21_url(&self) -> String {
        format!("{}/compute/v2.1", self.base_url)
    }
}

/// The domain's view of the caller.
pub fn context(auth: &AuthContext, request_id: &str) -> Context {
    let roles: Vec<String> = auth.roles.iter().map(|(_, n)| n.clone()).collect();
    Context {
        user_id: auth.credentials.user_id.clone(),
        project_id: auth.credentials.project_id.clone().unwrap_or_default(),
        is_admin: roles.iter().any(|r| r == "admin"),
        roles,
        request_id: request_id.to_string(),
    }
}

/// The compute router, to be nested under `/compute`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .merge(servers::routes())
        .layer(axum::middleware::from_fn(microversion::negotiate))
        .with_state(state)
}
