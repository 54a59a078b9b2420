//! Request ids, access logs and per-route metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use common_observability::Metrics;
use tracing::Instrument;

/// The id of the request being handled (`req-<uuid>`), also sent back as
/// `x-openstack-request-id`.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// What [`observe_layer`] needs: the service name used as a metrics label and the registry.
#[derive(Clone)]
pub struct ObserveState {
    pub service: &'static str,
    pub metrics: Arc<Metrics>,
}

/// Assigns a request id, logs the request at debug level (never bodies or tokens), records
/// its latency under the matched route, and sets `x-openstack-request-id` on the response.
pub async fn observe_layer(
    axum::extract::State(state): axum::extract::State<ObserveState>,
    mut req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let id = format!("req-{}", uuid::Uuid::new_v4());
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, service = state.service);
    let mut resp = next.run(req).instrument(span).await;
    let status = resp.status().as_u16();
    let took = start.elapsed();
    state
        .metrics
        .observe(state.service, &method, &route, status, took);
    tracing::debug!(request_id = %id, %method, %route, status, micros = took.as_micros() as u64, "request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-openstack-request-id", v);
    }
    resp
}
