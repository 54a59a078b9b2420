//! Helpers every compute handler shares (the servers handlers may use them too): the
//! caller ([`Caller`]), errors with Nova's own wording ([`ApiErr`], [`not_found`]), policy
//! checks with Nova's refusal ([`enforce`]), JSON bodies read and validated as Nova reads
//! them ([`validated_body`]), query strings ([`Query`], [`limit_marker`]), links
//! ([`links`]) and Nova's `*_links` pagination ([`next_links`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common_error::Error;
use common_http::{AuthContext, HttpError, RequestId};
use common_policy::Target;
use compute_domain::Context;
use serde_json::{json, Value};

use crate::validate::{self, Schema};
use crate::{ApiState, Mv};

/// Nova's `CONF.api.max_limit`: the largest page.
pub(crate) const MAX_LIMIT: usize = 1000;

/// The authenticated caller: the token's context and the domain's view of it.
pub(crate) struct Caller {
    pub auth: AuthContext,
    pub ctx: Context,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let auth = parts
            .extensions
            .get::<AuthContext>()
            .cloned()
            .ok_or_else(|| ApiErr::from(Error::unauthenticated()))?;
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_else(|| format!("req-{}", uuid::Uuid::new_v4()));
        let ctx = crate::context(&auth, &request_id);
        Ok(Caller { auth, ctx })
    }
}

/// A handler's failure: an `Error` (rendered by the service layer) or a finished Nova
/// fault with Nova's own wording.
#[derive(Debug)]
pub(crate) struct ApiErr(pub Box<Response>);

impl From<Error> for ApiErr {
    fn from(e: Error) -> Self {
        ApiErr(Box::new(HttpError(e).into_response()))
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// What handlers return.
pub(crate) type Res = Result<Response, ApiErr>;

/// A Nova fault body `{"<name>": {"code", "message"}}` with `status`.
pub(crate) fn fault(status: StatusCode, message: &str) -> ApiErr {
    let name = match status.as_u16() {
        400 => "badRequest",
        403 => "forbidden",
        404 => "itemNotFound",
        409 => "conflictingRequest",
        413 => "overLimit",
        _ => "computeFault",
    };
    let body = json!({name: {"code": status.as_u16(), "message": message}});
    ApiErr(Box::new((status, axum::Json(body)).into_response()))
}

/// 404 with Nova's message.
pub(crate) fn not_found(message: &str) -> ApiErr {
    fault(StatusCode::NOT_FOUND, message)
}

/// 400 with Nova's message.
pub(crate) fn bad_request(message: &str) -> ApiErr {
    ApiErr::from(Error::bad_request(message))
}

/// A domain `NotFound` worded by `message`; other errors pass through.
pub(crate) fn worded(e: Error, message: impl FnOnce() -> String) -> ApiErr {
    match e {
        Error::NotFound { .. } => not_found(&message()),
        other => ApiErr::from(other),
    }
}

/// What Nova answers when a method does not exist at the requested microversion.
pub(crate) fn require(mv: Mv, minor: u32) -> Result<(), ApiErr> {
    if mv.at_least(minor) {
        Ok(())
    } else {
        Err(not_found("The resource could not be found."))
    }
}

/// Nova's `context.can(rule, target, fatal=False)`.
pub(crate) fn can(state: &ApiState, caller: &Caller, rule: &str, target: &Target) -> bool {
    state.policy.enforce(rule, target, &caller.auth.credentials)
}

/// Nova's `context.can(rule, target)`: 403 "Policy doesn't allow <rule> to be performed."
pub(crate) fn enforce(
    state: &ApiState,
    caller: &Caller,
    rule: &str,
    target: &Target,
) -> Result<(), ApiErr> {
    if can(state, caller, rule, target) {
        Ok(())
    } else {
        Err(ApiErr::from(Error::forbidden(format!(
            "Policy doesn't allow {rule} to be performed."
        ))))
    }
}

/// Nova's default target: the caller's project and user.
pub(crate) fn own_target(caller: &Caller) -> Target {
    common_policy::target(&[
        ("project_id", &caller.ctx.project_id),
        ("user_id", &caller.ctx.user_id),
    ])
}

/// A target naming only `project_id`.
pub(crate) fn project_target(project: &str) -> Target {
    common_policy::target(&[("project_id", project)])
}

/// An empty target (`target={}` in Nova).
pub(crate) fn no_target() -> Target {
    Target::new()
}

/// Nova's `self` + `bookmark` links of `{collection}/{id}`.
pub(crate) fn links(state: &ApiState, collection: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{}/{collection}/{id}", state.v21_url())},
        {"rel": "bookmark", "href": format!("{}/compute/{collection}/{id}", state.base_url)},
    ])
}

/// The query string as ordered pairs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query(pub Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name` (webob's `GET.get` on a single value).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// Validates against query-parameter schemas (see [`validate::query`]).
    pub(crate) fn check(
        &self,
        params: &[(&'static str, Schema)],
        strict: bool,
    ) -> Result<(), ApiErr> {
        validate::query(params, &self.0, strict).map_err(|m| bad_request(&m))
    }
}

/// The pagination parameters' schemas (`limit`, `marker`).
pub(crate) fn pagination_params() -> Vec<(&'static str, Schema)> {
    vec![
        ("limit", validate::non_negative_integer()),
        ("marker", Schema(vec![validate::Kw::Type(&["string"])])),
    ]
}

/// Nova's `get_limit_and_marker`: `limit` capped at [`MAX_LIMIT`] (already validated as a
/// non-negative integer), and `marker`.
pub(crate) fn limit_marker(q: &Query) -> Result<(Option<usize>, Option<String>), ApiErr> {
    let limit = match q.get("limit") {
        Some(l) => Some(
            l.trim()
                .parse::<usize>()
                .map_err(|_| bad_request("limit param must be an integer"))?
                .min(MAX_LIMIT),
        ),
        None => None,
    };
    Ok((limit, q.get("marker").map(str::to_string)))
}

/// Nova's `_get_collection_links`: a `next` link when the page is full (`limit` or
/// [`MAX_LIMIT`] items), with every request parameter (sorted) and `marker` = `last_id`.
pub(crate) fn next_links(
    state: &ApiState,
    path: &str,
    q: &Query,
    page_len: usize,
    last_id: Option<&str>,
) -> Option<Value> {
    let limit = q
        .get("limit")
        .and_then(|l| l.trim().parse::<usize>().ok())
        .unwrap_or(MAX_LIMIT)
        .min(MAX_LIMIT);
    let last = last_id?;
    if limit == 0 || page_len != limit {
        return None;
    }
    let mut params: std::collections::BTreeMap<&str, &str> =
        q.0.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    params.insert("marker", last);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    Some(json!([{"rel": "next", "href": format!("{}/{path}?{query}", state.v21_url())}]))
}

/// A request body as Nova's WSGI layer reads it: empty is `null`, unparsable is
/// "Malformed request body".
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, ApiErr> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|_| bad_request("Malformed request body"))
}

/// Parses and validates a body against `schema`.
pub(crate) fn validated_body(body: &[u8], schema: &Schema) -> Result<Value, ApiErr> {
    let v = parse_body(body)?;
    validate::body(schema, &v).map_err(|m| bad_request(&m))?;
    Ok(v)
}

/// A JSON response.
pub(crate) fn reply(status: StatusCode, body: Value) -> Res {
    Ok((status, axum::Json(body)).into_response())
}

/// An empty response.
pub(crate) fn empty(status: StatusCode) -> Res {
    Ok(status.into_response())
}

/// An integer from a value that passed an `['integer', 'string']` schema.
pub(crate) fn int_of(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// Whether `s` looks like a UUID (oslo's `is_uuid_like`: 32 hex digits, dashes optional).
pub(crate) fn is_uuid_like(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
        && uuid::Uuid::parse_str(s).is_ok()
}

/// `oslo_utils.strutils.bool_from_string(s, strict=True)`.
pub(crate) fn bool_strict(s: &str) -> Result<bool, String> {
    const TRUE: [&str; 6] = ["1", "t", "true", "on", "y", "yes"];
    const FALSE: [&str; 6] = ["0", "f", "false", "off", "n", "no"];
    let t = s.trim().to_lowercase();
    if TRUE.contains(&t.as_str()) {
        return Ok(true);
    }
    if FALSE.contains(&t.as_str()) {
        return Ok(false);
    }
    let mut all: Vec<&str> = TRUE.iter().chain(FALSE.iter()).copied().collect();
    all.sort_unstable();
    let acceptable: Vec<String> = all.iter().map(|a| format!("'{a}'")).collect();
    Err(format!(
        "Unrecognized value '{s}', acceptable values are: {}",
        acceptable.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_booleans() {
        assert!(is_uuid_like("0b0a6a8e-1f29-4f0e-9b6a-4d1f5c3e2a11"));
        assert!(!is_uuid_like("42"));
        assert_eq!(bool_strict("Yes"), Ok(true));
        assert!(bool_strict("maybe")
            .unwrap_err()
            .starts_with("Unrecognized value 'maybe'"));
    }
}
