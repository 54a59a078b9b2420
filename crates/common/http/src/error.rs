//! Rendering `common_error::Error` in each service's OpenStack error dialect.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common_error::Error;
use serde_json::json;

/// The error body shapes of the OpenStack services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialect {
    /// Keystone: `{"error": {"code", "message", "title"}}`; 401 carries `WWW-Authenticate`
    /// pointing at this identity URL.
    Identity { auth_uri: String },
    /// Nova: `{"itemNotFound": {"code", "message"}}` and friends.
    Compute,
    /// Cinder: Nova's shapes, and a missing resource reads "Volume X could not be found."
    /// (`Error::NotFound { kind: "volume_type", .. }` → "Volume type X could not be found.").
    Volume,
    /// Neutron: `{"NeutronError": {"type", "message", "detail"}}`.
    Network,
    /// Placement and the API-SIG: `{"errors": [{"status", "title", "detail", "code", "request_id"}]}`.
    Placement,
    /// Glance (webob): an HTML page whose text is the title and message.
    Image,
}

/// An error on its way out of a handler. The body is filled in by [`service_layer`].
#[derive(Debug)]
pub struct HttpError(pub Error);

impl From<Error> for HttpError {
    fn from(e: Error) -> Self {
        HttpError(e)
    }
}

#[derive(Clone)]
struct Pending(Error);

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = status.into_response();
        resp.extensions_mut().insert(Pending(self.0));
        resp
    }
}

/// The reason phrase used as a title.
pub fn title(status: u16) -> &'static str {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

impl Dialect {
    /// Renders `err` as a complete response in this dialect.
    pub fn render(&self, err: &Error, request_id: &str) -> Response {
        let status = err.status();
        if status >= 500 {
            tracing::error!(request_id, error = %err, "request failed");
        }
        let message = err.public_message();
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = match self {
            Dialect::Identity { .. } => {
                let body =
                    json!({"error": {"code": status, "message": message, "title": title(status)}});
                (code, axum::Json(body)).into_response()
            }
            Dialect::Compute | Dialect::Volume => {
                let message = match (self, err) {
                    (Dialect::Volume, Error::NotFound { kind, id }) if *kind != "resource" => {
                        format!("{} {id} could not be found.", humanize(kind))
                    }
                    _ => message,
                };
                let name = match status {
                    400 => "badRequest",
                    401 => "unauthorized",
                    403 => "forbidden",
                    404 => "itemNotFound",
                    405 => "HTTPMethodNotAllowed",
                    406 => "HTTPNotAcceptable",
                    409 => "conflictingRequest",
                    413 | 429 => "overLimit",
                    501 => "HTTPNotImplemented",
                    503 => "serviceUnavailable",
                    _ => "computeFault",
                };
                (
                    code,
                    axum::Json(json!({name: {"code": status, "message": message}})),
                )
                    .into_response()
            }
            Dialect::Network => {
                let kind = match status {
                    400 => "HTTPBadRequest",
                    401 => "HTTPUnauthorized",
                    403 => "HTTPForbidden",
                    404 => "HTTPNotFound",
                    409 => "HTTPConflict",
                    413 => "OverQuota",
                    _ => "HTTPInternalServerError",
                };
                let (kind, message) = neutron_type(err, kind, message);
                let body =
                    json!({"NeutronError": {"type": kind, "message": message, "detail": ""}});
                (code, axum::Json(body)).into_response()
            }
            Dialect::Placement => {
                let body = json!({"errors": [{
                    "status": status, "title": title(status), "detail": message,
                    "code": "placement.undefined", "request_id": request_id,
                }]});
                (code, axum::Json(body)).into_response()
            }
            Dialect::Image => {
                let t = title(status);
                let html = format!(
                    "<html>\n <head>\n  <title>{status} {t}</title>\n </head>\n <body>\n  <h1>{status} {t}</h1>\n  {}<br /><br />\n\n\n\n </body>\n</html>",
                    html_escape(&message)
                );
                let mut r = (code, html).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=UTF-8"),
                );
                r
            }
        };
        if let (Dialect::Identity { auth_uri }, 401) = (self, status) {
            if let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"{auth_uri}\"")) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if let Error::RateLimited { retry_after } = err {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        resp
    }
}

/// Separates a Neutron error type from its message in an error's text:
/// `"IpAddressAlreadyAllocated\u{1f}IP address 10.0.0.5 already allocated in subnet S"`.
pub const NEUTRON_TYPE_SEPARATOR: char = '\u{1f}';

/// Neutron's `type` and message for `err`: the type the network service put in front of the
/// message, else `<Kind>NotFound` for a missing resource (`security_group` →
/// `SecurityGroupNotFound`, "Security group X could not be found."), else the HTTP default.
fn neutron_type(err: &Error, default: &str, message: String) -> (String, String) {
    // A typed 404 carries its type and whole message as the id (`RouterNotFound\u{1f}Router
    // R could not be found`), since `NotFound` has no message of its own.
    if let Error::NotFound { id, .. } = err {
        if let Some((kind, msg)) = id.split_once(NEUTRON_TYPE_SEPARATOR) {
            return (kind.to_string(), msg.to_string());
        }
    }
    if let Some((kind, msg)) = message.split_once(NEUTRON_TYPE_SEPARATOR) {
        return (kind.to_string(), msg.to_string());
    }
    if let Error::NotFound { kind, id } = err {
        if *kind != "resource" {
            let camel: String = kind
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                })
                .collect();
            let human = humanize(kind);
            return (
                format!("{camel}NotFound"),
                format!("{human} {id} could not be found."),
            );
        }
    }
    (default.to_string(), message)
}

/// `security_group` → `Security group`.
fn humanize(kind: &str) -> String {
    let human = kind.replace('_', " ");
    let mut h = human.chars();
    h.next()
        .map(|f| f.to_uppercase().chain(h).collect::<String>())
        .unwrap_or_default()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Middleware for one service's router: renders handler errors, and framework rejections
/// (unknown route, wrong method, bad path parameter), in the service's dialect.
pub async fn service_layer(dialect: Dialect, req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<crate::observe::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let mut resp = next.run(req).await;
    if let Some(Pending(err)) = resp.extensions_mut().remove::<Pending>() {
        let mut rendered = dialect.render(&err, &request_id);
        for (k, v) in resp.headers() {
            if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                rendered.headers_mut().insert(k.clone(), v.clone());
            }
        }
        return rendered;
    }
    let status = resp.status().as_u16();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json") || v.contains("html"));
    if status >= 400 && !is_json {
        let err = match status {
            404 => Error::NotFound {
                kind: "resource",
                id: "requested".into(),
            },
            405 => Error::BadRequest("The method is not allowed for the requested URL.".into()),
            400 | 415 | 422 => Error::BadRequest(rejection_text(resp).await),
            413 => Error::QuotaExceeded("Request body too large.".into()),
            _ => return resp,
        };
        let mut r = dialect.render(&err, &request_id);
        if status == 404 {
            r = not_found_generic(&dialect, &request_id);
        } else if status == 405 {
            *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        }
        return r;
    }
    resp
}

fn not_found_generic(dialect: &Dialect, request_id: &str) -> Response {
    let err = Error::NotFound {
        kind: "resource",
        id: String::new(),
    };
    let mut r = dialect.render(&err, request_id);
    // Replace the "Could not find resource: ." wording with the generic one.
    let msg = "The resource could not be found.";
    let body = match dialect {
        Dialect::Identity { .. } => {
            json!({"error": {"code": 404, "message": msg, "title": "Not Found"}})
        }
        Dialect::Compute | Dialect::Volume => {
            json!({"itemNotFound": {"code": 404, "message": msg}})
        }
        Dialect::Network => {
            json!({"NeutronError": {"type": "HTTPNotFound", "message": msg, "detail": ""}})
        }
        Dialect::Placement => {
            json!({"errors": [{"status": 404, "title": "Not Found", "detail": msg, "code": "placement.undefined", "request_id": request_id}]})
        }
        Dialect::Image => return r,
    };
    *r.body_mut() = Body::from(body.to_string());
    r.headers_mut().remove(header::CONTENT_LENGTH);
    r
}

async fn rejection_text(resp: Response) -> String {
    let bytes = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    if text.is_empty() {
        "The request could not be understood.".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_json(r: Response) -> serde_json::Value {
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        serde_json::from_slice(&b).unwrap()
    }

    #[tokio::test]
    async fn identity_dialect_has_title_and_www_authenticate() {
        let d = Dialect::Identity {
            auth_uri: "http://h/identity/v3".into(),
        };
        let r = d.render(&Error::unauthenticated(), "req-1");
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Keystone uri=\"http://h/identity/v3\""
        );
        let v = body_json(r).await;
        assert_eq!(v["error"]["title"], "Unauthorized");
        assert_eq!(v["error"]["code"], 401);
    }

    #[tokio::test]
    async fn compute_and_network_dialects() {
        let v = body_json(Dialect::Compute.render(&Error::not_found("server", "x"), "r")).await;
        assert_eq!(v["itemNotFound"]["code"], 404);
        let v = body_json(Dialect::Network.render(&Error::conflict("in use"), "r")).await;
        assert_eq!(v["NeutronError"]["type"], "HTTPConflict");
        let typed = Error::conflict("IpAddressAlreadyAllocated\u{1f}IP address 10.0.0.5 is taken.");
        let v = body_json(Dialect::Network.render(&typed, "r")).await;
        assert_eq!(v["NeutronError"]["type"], "IpAddressAlreadyAllocated");
        assert_eq!(
            v["NeutronError"]["message"],
            "IP address 10.0.0.5 is taken."
        );
        let v =
            body_json(Dialect::Network.render(&Error::not_found("security_group", "g"), "r")).await;
        let vol =
            body_json(Dialect::Volume.render(&Error::not_found("volume_type", "t"), "r")).await;
        assert_eq!(
            vol["itemNotFound"]["message"],
            "Volume type t could not be found."
        );
        assert_eq!(vol["itemNotFound"]["code"], 404);
        assert_eq!(v["NeutronError"]["type"], "SecurityGroupNotFound");
        assert_eq!(
            v["NeutronError"]["message"],
            "Security group g could not be found."
        );
        let typed = Error::not_found(
            "resource",
            "RouterNotFound\u{1f}Router r could not be found",
        );
        let v = body_json(Dialect::Network.render(&typed, "r")).await;
        assert_eq!(v["NeutronError"]["type"], "RouterNotFound");
        assert_eq!(v["NeutronError"]["message"], "Router r could not be found");
    }

    #[tokio::test]
    async fn internal_errors_hide_context() {
        let r = Dialect::Compute.render(&Error::internal("db", "secret detail"), "r");
        let v = body_json(r).await;
        assert!(!v.to_string().contains("secret"));
    }
}
