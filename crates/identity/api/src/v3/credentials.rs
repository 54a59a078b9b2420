//! `/v3/credentials` (filled in by the credentials work).

use axum::Router;

use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
}
