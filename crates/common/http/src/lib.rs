//! HTTP plumbing shared by every service's `-api` crate: error rendering in each OpenStack
//! dialect, request ids, metrics, token authentication, rate limiting, JSON body parsing.
//!
//! It holds no business rules and knows no service's resources. Handlers return
//! `Result<_, HttpError>`; the service's [`service_layer`] renders errors in its dialect.

pub mod auth;
pub mod error;
pub mod json;
pub mod observe;
pub mod ratelimit;
pub mod time;

pub use auth::{auth_layer, AuthContext, AuthState, Authed, TokenValidator};
pub use error::{service_layer, Dialect, HttpError};
pub use json::parse_json;
pub use observe::{observe_layer, ObserveState, RequestId};
pub use ratelimit::RateLimiter;

/// Result type of handlers.
pub type HttpResult<T> = Result<T, HttpError>;
