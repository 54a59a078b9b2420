//! `/v3/role_assignments` (filled in by the role_assignments work).

use axum::Router;

use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
}
