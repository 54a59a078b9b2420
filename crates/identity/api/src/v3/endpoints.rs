//! `/v3/endpoints` (filled in by the endpoints work).

use axum::Router;

use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
}
