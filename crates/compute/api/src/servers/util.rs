//! Helpers the server handlers share: the caller, policy checks with Nova's refusal, JSON
//! bodies read as Nova reads them, links, query strings, Nova's timestamp formats and
//! `oslo.utils` boolean parsing. (Candidates for the API crate's `common.rs`.)

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use common_error::{Error, Result};
use common_http::{AuthContext, HttpError, RequestId};
use common_policy::Target;
use compute_domain::Context;
use compute_model::Instance;
use serde_json::Value;

use crate::ApiState;

/// The authenticated caller: the token's context and the domain's view of it.
pub(crate) struct Caller {
    pub auth: AuthContext,
    pub ctx: Context,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let auth = parts
            .extensions
            .get::<AuthContext>()
            .cloned()
            .ok_or_else(|| HttpError(Error::unauthenticated()))?;
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_else(|| format!("req-{}", uuid::Uuid::new_v4()));
        let ctx = crate::context(&auth, &request_id);
        Ok(Caller { auth, ctx })
    }
}

/// Nova's `PolicyNotAuthorized` message.
pub(crate) fn policy_denied(rule: &str) -> Error {
    Error::forbidden(format!("Policy doesn't allow {rule} to be performed."))
}

impl ApiState {
    /// Whether policy allows `rule` on `target` (Nova's `context.can(..., fatal=False)`).
    pub(crate) fn can(&self, caller: &Caller, rule: &str, target: &Target) -> bool {
        self.policy.enforce(rule, target, &caller.auth.credentials)
    }

    /// Nova's `context.can(rule, target)`: 403 with Nova's message when denied.
    pub(crate) fn authorize(&self, caller: &Caller, rule: &str, target: &Target) -> Result<()> {
        if self.can(caller, rule, target) {
            Ok(())
        } else {
            Err(policy_denied(rule))
        }
    }

    /// `{v2.1}/{collection}/{id}`.
    pub(crate) fn self_href(&self, collection: &str, id: &str) -> String {
        self_href(&self.base_url, collection, id)
    }

    /// Nova's `self` + `bookmark` link pair.
    pub(crate) fn links(&self, collection: &str, id: &str) -> Value {
        links(&self.base_url, collection, id)
    }
}

/// `{base}/compute/v2.1/{collection}/{id}`.
pub(crate) fn self_href(base_url: &str, collection: &str, id: &str) -> String {
    format!("{base_url}/compute/v2.1/{collection}/{id}")
}

/// The version-less bookmark `{base}/compute/{collection}/{id}`.
pub(crate) fn bookmark_href(base_url: &str, collection: &str, id: &str) -> String {
    format!("{base_url}/compute/{collection}/{id}")
}

/// Nova's `self` + `bookmark` link pair.
pub(crate) fn links(base_url: &str, collection: &str, id: &str) -> Value {
    serde_json::json!([
        {"rel": "self", "href": self_href(base_url, collection, id)},
        {"rel": "bookmark", "href": bookmark_href(base_url, collection, id)},
    ])
}

/// The target Nova builds from a server: its project and user.
pub(crate) fn server_target(inst: &Instance) -> Target {
    common_policy::target(&[("project_id", &inst.project_id), ("user_id", &inst.user_id)])
}

/// The caller's own project and user (Nova's default target).
pub(crate) fn own_target(caller: &Caller) -> Target {
    common_policy::target(&[
        ("project_id", &caller.ctx.project_id),
        ("user_id", &caller.ctx.user_id),
    ])
}

/// A request body as Nova's WSGI layer reads it: empty is JSON `null` (Nova passes
/// `body=None` to the schema), anything unparsable is "Malformed request body".
pub(crate) fn body_json(body: &[u8]) -> Result<Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|_| Error::bad_request("Malformed request body"))
}

/// A 404 in Nova's body with Nova's own wording (`common_error::Error::NotFound` words its
/// message as "Could not find ...").
pub(crate) fn not_found(message: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({"itemNotFound": {"code": 404, "message": message}});
    (axum::http::StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

/// A bad request with Nova's "Invalid input received" wording.
pub(crate) fn invalid_input(reason: &str) -> Error {
    Error::bad_request(format!("Invalid input received: {reason}"))
}

/// The query string as ordered (name, value) pairs.
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Nova's next-page link: every request parameter (last value wins, sorted by name) with
/// `marker` set to the last item's id, under `{v2.1}/{path}`.
pub(crate) fn next_link(
    state: &ApiState,
    path: &str,
    params: &[(String, String)],
    marker: &str,
) -> Value {
    let mut map: std::collections::BTreeMap<&str, &str> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    map.insert("marker", marker);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(map)
        .finish();
    serde_json::json!([{"rel": "next", "href": format!("{}/{path}?{query}", state.v21_url())}])
}

/// Nova's `utils.isotime`: `2026-11-22T01:07:43Z`, from a stored timestamp.
pub(crate) fn isotime(stored: &str) -> String {
    match parse_time(stored) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => stored.to_string(),
    }
}

/// A datetime as Nova's JSON encoder writes it: `2026-11-22T01:07:43.123456`.
pub(crate) fn strtime(stored: &str) -> String {
    match parse_time(stored) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        None => stored.to_string(),
    }
}

/// `oslo_utils.timeutils.parse_isotime` as far as clients use it: a date, or a date and
/// time (seconds and fraction optional) with `Z` or an offset; naive times are UTC.
pub(crate) fn parse_time(s: &str) -> Option<chrono::NaiveDateTime> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%:z",
        "%Y-%m-%dT%H:%M%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.naive_utc());
        }
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(naive, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// A client timestamp in the store's format (UTC, microseconds), for filters.
pub(crate) fn to_stored_time(s: &str) -> Option<String> {
    parse_time(s).map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
}

const TRUE_STRINGS: [&str; 6] = ["1", "t", "true", "on", "y", "yes"];
const FALSE_STRINGS: [&str; 6] = ["0", "f", "false", "off", "n", "no"];

/// `oslo_utils.strutils.bool_from_string(s, strict=True)`: `Err` with oslo's message.
pub(crate) fn bool_strict(s: &str) -> Result<bool, String> {
    let t = s.trim().to_lowercase();
    if TRUE_STRINGS.contains(&t.as_str()) {
        return Ok(true);
    }
    if FALSE_STRINGS.contains(&t.as_str()) {
        return Ok(false);
    }
    let mut all: Vec<&str> = TRUE_STRINGS
        .iter()
        .chain(FALSE_STRINGS.iter())
        .copied()
        .collect();
    all.sort_unstable();
    let acceptable: Vec<String> = all.iter().map(|a| format!("'{a}'")).collect();
    Err(format!(
        "Unrecognized value '{s}', acceptable values are: {}",
        acceptable.join(", ")
    ))
}

/// `bool_from_string(s, default=False)`: unknown strings are false.
pub(crate) fn bool_lenient(s: &str) -> bool {
    bool_strict(s).unwrap_or(false)
}

/// A JSON boolean or one of Nova's `parameter_types.boolean` strings, already validated.
pub(crate) fn json_bool(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => bool_lenient(s),
        _ => false,
    }
}

/// Nova's `common.get_id_from_href`: the last path segment of a URL, or the id itself.
pub(crate) fn id_from_href(href: &str) -> String {
    let no_query = href.split(['?', '#']).next().unwrap_or("");
    let path = match no_query.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => no_query,
    };
    path.rsplit('/').next().unwrap_or("").to_string()
}

/// A positive integer given as a JSON number or a digit string (already validated).
pub(crate) fn json_int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A JSON string field.
pub(crate) fn json_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_in_novas_formats() {
        assert_eq!(
            isotime("2026-11-22T01:07:43.123456"),
            "2026-11-22T01:07:43Z"
        );
        assert_eq!(
            strtime("2026-11-22T01:07:43.123456"),
            "2026-11-22T01:07:43.123456"
        );
        assert_eq!(strtime("2026-11-22T01:07:43"), "2026-11-22T01:07:43.000000");
        assert_eq!(
            to_stored_time("2026-11-22T03:07:43+02:00").as_deref(),
            Some("2026-11-22T01:07:43.000000")
        );
        assert_eq!(
            to_stored_time("2026-11-22").as_deref(),
            Some("2026-11-22T00:00:00.000000")
        );
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn booleans_follow_oslo() {
        assert_eq!(bool_strict("Yes"), Ok(true));
        assert_eq!(bool_strict("0"), Ok(false));
        let e = bool_strict("maybe").unwrap_err();
        assert_eq!(
            e,
            "Unrecognized value 'maybe', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
        );
        assert!(!bool_lenient("maybe"));
    }

    #[test]
    fn ids_come_from_hrefs() {
        assert_eq!(id_from_href("http://h/compute/v2.1/flavors/42?x=1"), "42");
        assert_eq!(id_from_href("42"), "42");
        assert_eq!(id_from_href("http://h"), "");
    }
}
