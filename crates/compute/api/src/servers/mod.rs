//! `/v2.1/servers` and the server sub-resources (filled in by the servers work).

use axum::Router;

use crate::ApiState;

/// The servers routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
}
