//! `/v3/regions` (filled in by the regions work).

use axum::Router;

use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
}
