//! The metadata service's HTTP side (Nova's metadata API as a guest sees it at
//! `http://169.254.169.254/`): one router per listener, which serves one network. The caller
//! is named by the network and its source address ([`MetadataLookup`]); the content is the
//! domain's ([`compute_domain::metadata`]). No token: the guest's address is its identity.
//! An address that is no instance's gets 404, like an unknown path.
//!
//! Serve it with the peer address, e.g.
//! `axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use compute_domain::metadata::Answer;
use compute_domain::{Compute, MetadataLookup};

/// What the metadata router needs.
#[derive(Clone)]
struct MetadataState {
    compute: Compute,
    lookup: Arc<dyn MetadataLookup>,
    network_id: Arc<str>,
}

/// The metadata router of the listener serving network `network_id`.
pub fn router(compute: Compute, lookup: Arc<dyn MetadataLookup>, network_id: &str) -> Router {
    Router::new().fallback(serve).with_state(MetadataState {
        compute,
        lookup,
        network_id: Arc::from(network_id),
    })
}

fn plain(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        body,
    )
        .into_response()
}

/// The caller's address, IPv4-mapped IPv6 addresses as IPv4.
fn peer(req: &Request) -> Option<IpAddr> {
    let ConnectInfo(addr) = req.extensions().get::<ConnectInfo<SocketAddr>>()?;
    Some(match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    })
}

async fn serve(State(s): State<MetadataState>, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed");
    }
    let Some(ip) = peer(&req) else {
        return plain(StatusCode::NOT_FOUND, "404 Not Found");
    };
    let path = req.uri().path().to_string();
    let answer = s
        .compute
        .metadata_answer(&*s.lookup, &s.network_id, ip, &path)
        .await;
    match answer {
        Ok(Answer::Text(t)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], t).into_response()
        }
        Ok(Answer::Json(v)) => {
            ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
        }
        Ok(Answer::Bytes(b)) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], b).into_response()
        }
        Ok(Answer::NotFound) => plain(StatusCode::NOT_FOUND, "404 Not Found"),
        Err(e) => {
            tracing::error!(network = %s.network_id, %ip, %path, error = %e, "metadata request failed");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error",
            )
        }
    }
}
