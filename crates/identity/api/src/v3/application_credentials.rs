//! `/v3/application_credentials` (filled in by the application_credentials work).

use axum::Router;

use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
}
