//! `/v3/groups` (filled in by the groups work).

use axum::Router;

use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
}
