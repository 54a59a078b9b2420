//! Token authentication shared by every API: the validated caller ([`AuthContext`]), the
//! validator trait the identity client implements, and the extractor handlers use.

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common_error::Error;
use common_policy::Credentials;

use crate::error::HttpError;
use crate::ratelimit::RateLimiter;

/// The caller behind a valid token.
#[derive(Clone, Default)]
pub struct AuthContext {
    /// The token itself (never logged; `Debug` omits it).
    pub token: String,
    pub credentials: Credentials,
    pub user_name: String,
    pub user_domain_name: String,
    pub project_name: Option<String>,
    pub project_domain_name: Option<String>,
    pub domain_name: Option<String>,
    /// `(id, name)` of each effective role.
    pub roles: Vec<(String, String)>,
    pub methods: Vec<String>,
    pub audit_ids: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub app_cred_id: Option<String>,
}

impl fmt::Debug for AuthContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthContext")
            .field("user_id", &self.credentials.user_id)
            .field("project_id", &self.credentials.project_id)
            .field("domain_id", &self.credentials.domain_id)
            .field("system_scope", &self.credentials.system_scope)
            .field("roles", &self.credentials.roles)
            .finish_non_exhaustive()
    }
}

/// Turns a token into the caller; implemented by the identity client (locally, without a
/// database round trip beyond a cached revocation check).
#[async_trait::async_trait]
pub trait TokenValidator: Send + Sync + 'static {
    async fn validate(&self, token: &str) -> Result<AuthContext, Error>;
}

/// What [`auth_layer`] needs.
#[derive(Clone)]
pub struct AuthState {
    pub validator: Arc<dyn TokenValidator>,
    /// Per-project API rate limit (rate 0 disables it).
    pub per_project: Arc<RateLimiter>,
}

/// Validates `X-Auth-Token` when present and stores the [`AuthContext`] in the request's
/// extensions; an invalid token is answered 401 at once. Requests without a token pass
/// through (handlers that need one use [`Authed`]).
pub async fn auth_layer(
    axum::extract::State(state): axum::extract::State<AuthState>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(token) = token {
        match state.validator.validate(&token).await {
            Ok(ctx) => {
                if let Some(p) = &ctx.credentials.project_id {
                    if let Err(e) = state.per_project.check(p) {
                        return HttpError(e).into_response();
                    }
                }
                req.extensions_mut().insert(ctx);
            }
            Err(e) => return HttpError(e).into_response(),
        }
    }
    next.run(req).await
}

/// Extractor for handlers that require a valid token: 401 without one.
pub struct Authed(pub AuthContext);

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AuthContext>()
            .cloned()
            .map(Authed)
            .ok_or_else(|| HttpError(Error::unauthenticated()))
    }
}
