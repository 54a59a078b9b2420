//! Microversion negotiation as Nova does it: `OpenStack-API-Version: compute 2.x` (or the
//! legacy `X-OpenStack-Nova-API-Version: 2.x`); no header means 2.1, `latest` the maximum;
//! out of range is 406 and malformed is 400, both in Nova's body. Every response echoes
//! both headers with `Vary`.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The lowest and highest microversion minors served (major is 2).
pub const MIN_MINOR: u32 = 1;
pub const MAX_MINOR: u32 = 79;

const HEADER: &str = "openstack-api-version";
const LEGACY: &str = "x-openstack-nova-api-version";

/// The negotiated microversion's minor number (2.`n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mv(pub u32);

impl Mv {
    /// Whether the request's version is at least 2.`minor`.
    pub fn at_least(self, minor: u32) -> bool {
        self.0 >= minor
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Mv {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Mv>()
            .copied()
            .unwrap_or(Mv(MIN_MINOR)))
    }
}

enum Bad {
    Malformed(String),
    Unacceptable(String),
}

fn requested(req: &Request) -> Option<String> {
    for v in req.headers().get_all(HEADER) {
        let Ok(text) = v.to_str() else { continue };
        for part in text.split(',') {
            let mut words = part.split_whitespace();
            if words
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("compute"))
            {
                return Some(words.collect::<Vec<_>>().join(" "));
            }
        }
    }
    req.headers()
        .get(LEGACY)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

fn parse(ver: Option<String>) -> Result<Mv, Bad> {
    let Some(ver) = ver else {
        return Ok(Mv(MIN_MINOR));
    };
    if ver.eq_ignore_ascii_case("latest") {
        return Ok(Mv(MAX_MINOR));
    }
    let bad = || {
        Bad::Malformed(format!(
            "API Version String {ver} is of invalid format. Must be of format MajorNum.MinorNum."
        ))
    };
    let (maj, min) = ver.split_once('.').ok_or_else(bad)?;
    let maj: u32 = maj.trim().parse().map_err(|_| bad())?;
    let min: u32 = min.trim().parse().map_err(|_| bad())?;
    if maj != 2 || (min != 0 && !(MIN_MINOR..=MAX_MINOR).contains(&min)) {
        return Err(Bad::Unacceptable(format!(
            "Version {ver} is not supported by the API. Minimum is 2.{MIN_MINOR} and maximum is 2.{MAX_MINOR}."
        )));
    }
    // 2.0 is served as 2.1 (Nova's v2 compatibility mode).
    Ok(Mv(min.max(MIN_MINOR)))
}

/// Negotiates the version for everything under `/compute`, except the version documents,
/// which answer without it.
pub async fn negotiate(mut req: Request, next: Next) -> Response {
    let (mv, mut resp) = match parse(requested(&req)) {
        Ok(mv) => {
            req.extensions_mut().insert(mv);
            (mv, next.run(req).await)
        }
        Err(Bad::Malformed(m)) => (
            Mv(MIN_MINOR),
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"badRequest": {"code": 400, "message": m}})),
            )
                .into_response(),
        ),
        Err(Bad::Unacceptable(m)) => (
            Mv(MIN_MINOR),
            (
                StatusCode::NOT_ACCEPTABLE,
                axum::Json(json!({"HTTPNotAcceptable": {"code": 406, "message": m}})),
            )
                .into_response(),
        ),
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("compute 2.{}", mv.0)) {
        h.insert(HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("2.{}", mv.0)) {
        h.insert(LEGACY, v);
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<u32, &'static str> {
        match parse(Some(s.into())) {
            Ok(m) => Ok(m.0),
            Err(Bad::Malformed(_)) => Err("400"),
            Err(Bad::Unacceptable(_)) => Err("406"),
        }
    }

    #[test]
    fn versions_parse_like_nova() {
        assert_eq!(parse(None).ok().map(|m| m.0), Some(1));
        assert_eq!(p("2.37"), Ok(37));
        assert_eq!(p("latest"), Ok(MAX_MINOR));
        assert_eq!(p("2.0"), Ok(1));
        assert_eq!(p("2.999"), Err("406"));
        assert_eq!(p("3.1"), Err("406"));
        assert_eq!(p("two"), Err("400"));
        assert_eq!(p("2."), Err("400"));
    }
}
