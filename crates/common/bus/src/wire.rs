//! Wire shapes shared by both buses: RPC request and reply bodies, errors as kind + message,
//! the notification envelope, and name validation.

use std::{
    collections::HashSet,
    sync::{Mutex, OnceLock, PoisonError},
    time::{SystemTime, UNIX_EPOCH},
};

use common_error::Error;
use serde::{Deserialize, Serialize};

use crate::{Notification, Value};

/// Longest topic or event type accepted (AMQP routing keys and queue names stop at 255 bytes,
/// and a topic gets a queue-name prefix).
const MAX_NAME_LEN: usize = 200;

/// An RPC request body: `{"method": ..., "args": ...}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    pub method: String,
    #[serde(default)]
    pub args: Value,
}

/// An RPC reply body: `{"ok": value}` or `{"error": {"kind", "message", ...}}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Reply {
    Ok(Value),
    Error(WireError),
}

impl Reply {
    pub fn from_result(result: Result<Value, Error>) -> Self {
        match result {
            Ok(value) => Reply::Ok(value),
            Err(err) => Reply::Error(WireError::from_error(&err)),
        }
    }

    pub fn into_result(self) -> Result<Value, Error> {
        match self {
            Reply::Ok(value) => Ok(value),
            Reply::Error(err) => Err(err.into_error()),
        }
    }
}

/// An [`Error`] on the wire: the variant name as `kind`, its message, and the structured
/// fields of the variants that have them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireError {
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl WireError {
    fn plain(kind: &str, message: &str) -> Self {
        WireError {
            kind: kind.to_owned(),
            message: message.to_owned(),
            resource: None,
            id: None,
            retry_after: None,
        }
    }

    pub fn from_error(err: &Error) -> Self {
        match err {
            Error::BadRequest(m) => Self::plain("BadRequest", m),
            Error::Unauthenticated(m) => Self::plain("Unauthenticated", m),
            Error::Forbidden(m) => Self::plain("Forbidden", m),
            Error::NotFound { kind, id } => WireError {
                resource: Some((*kind).to_owned()),
                id: Some(id.clone()),
                ..Self::plain("NotFound", &err.to_string())
            },
            Error::Conflict(m) => Self::plain("Conflict", m),
            Error::QuotaExceeded(m) => Self::plain("QuotaExceeded", m),
            Error::RateLimited { retry_after } => WireError {
                retry_after: Some(*retry_after),
                ..Self::plain("RateLimited", &err.to_string())
            },
            Error::NoValidHost(m) => Self::plain("NoValidHost", m),
            Error::NotImplemented(m) => Self::plain("NotImplemented", m),
            Error::Unavailable(m) => Self::plain("Unavailable", m),
            Error::Internal(m) => Self::plain("Internal", m),
        }
    }

    pub fn into_error(self) -> Error {
        let WireError {
            kind,
            message,
            resource,
            id,
            retry_after,
        } = self;
        match kind.as_str() {
            "BadRequest" => Error::BadRequest(message),
            "Unauthenticated" => Error::Unauthenticated(message),
            "Forbidden" => Error::Forbidden(message),
            "NotFound" => Error::NotFound {
                kind: intern_resource_kind(resource.as_deref().unwrap_or("resource")),
                id: id.unwrap_or_default(),
            },
            "Conflict" => Error::Conflict(message),
            "QuotaExceeded" => Error::QuotaExceeded(message),
            "RateLimited" => Error::RateLimited {
                retry_after: retry_after.unwrap_or(1),
            },
            "NoValidHost" => Error::NoValidHost(message),
            "NotImplemented" => Error::NotImplemented(message),
            "Unavailable" => Error::Unavailable(message),
            "Internal" => Error::Internal(message),
            other => Error::Internal(format!("remote error of unknown kind {other}: {message}")),
        }
    }
}

/// `Error::NotFound` names its resource kind with a `&'static str`. Kinds are a small fixed
/// vocabulary, so each distinct one is leaked once; past a cap (a misbehaving peer) or for
/// odd input they collapse to "resource".
fn intern_resource_kind(kind: &str) -> &'static str {
    const MAX_KINDS: usize = 512;
    static KINDS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut kinds = KINDS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = kinds.get(kind) {
        return known;
    }
    if kinds.len() >= MAX_KINDS || kind.is_empty() || kind.len() > 64 {
        return "resource";
    }
    let leaked: &'static str = Box::leak(kind.to_owned().into_boxed_str());
    kinds.insert(leaked);
    leaked
}

impl Notification {
    /// A fresh INFO notification stamped now.
    pub(crate) fn new(publisher_id: &str, event_type: &str, payload: Value) -> Self {
        Notification {
            message_id: uuid::Uuid::new_v4().to_string(),
            event_type: event_type.to_owned(),
            publisher_id: publisher_id.to_owned(),
            priority: "INFO".to_owned(),
            timestamp: utc_timestamp(SystemTime::now()),
            payload,
        }
    }
}

/// Formats a time as oslo.messaging does: UTC `"2026-11-22 01:02:03.123456"`.
pub(crate) fn utc_timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Checks an RPC topic: non-empty, bounded, dotted words of safe characters.
pub(crate) fn validate_topic(topic: &str) -> Result<(), Error> {
    validate_name("topic", topic, false)
}

/// Checks a notification event type (no wildcards).
pub(crate) fn validate_event_type(event_type: &str) -> Result<(), Error> {
    validate_name("event type", event_type, false)
}

/// Checks a subscription pattern (wildcards `*` and `#` allowed as whole words).
pub(crate) fn validate_pattern(pattern: &str) -> Result<(), Error> {
    validate_name("subscription pattern", pattern, true)
}

fn validate_name(what: &str, name: &str, wildcards: bool) -> Result<(), Error> {
    let word_ok = |w: &str| {
        (wildcards && (w == "*" || w == "#"))
            || (!w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '@')))
    };
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.split('.').all(word_ok) {
        return Err(Error::bad_request(format!(
            "invalid bus {what} {name:?}: dotted words of [A-Za-z0-9_:@-], at most \
             {MAX_NAME_LEN} bytes"
        )));
    }
    Ok(())
}

/// The error every bus returns when a call gets no reply in time.
pub(crate) fn timed_out(topic: &str, method: &str, timeout: std::time::Duration) -> Error {
    Error::Unavailable(format!(
        "rpc call {method} on topic {topic} timed out after {} ms",
        timeout.as_millis()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_error_variant_round_trips_through_json() {
        let errors = [
            Error::bad_request("bad flavor"),
            Error::unauthenticated(),
            Error::forbidden("nope"),
            Error::not_found("server", "abc"),
            Error::conflict("in use"),
            Error::QuotaExceeded("cores".into()),
            Error::RateLimited { retry_after: 7 },
            Error::NoValidHost("no host".into()),
            Error::NotImplemented("later".into()),
            Error::Unavailable("db down".into()),
            Error::internal("open file", "denied"),
        ];
        for err in errors {
            let json = serde_json::to_string(&Reply::from_result(Err(err.clone()))).unwrap();
            let back: Reply = serde_json::from_str(&json).unwrap();
            let got = back.into_result().unwrap_err();
            assert_eq!(got, err);
            assert_eq!(got.to_string(), err.to_string());
        }
    }

    #[test]
    fn reply_shapes_are_ok_or_error() {
        let ok = serde_json::to_value(Reply::from_result(Ok(serde_json::json!(1)))).unwrap();
        assert_eq!(ok, serde_json::json!({"ok": 1}));
        let err = serde_json::to_value(Reply::from_result(Err(Error::conflict("x")))).unwrap();
        assert_eq!(
            err,
            serde_json::json!({"error": {"kind": "Conflict", "message": "x"}})
        );
    }

    #[test]
    fn unknown_kinds_become_internal() {
        let err = WireError::plain("Exploded", "boom").into_error();
        assert!(matches!(err, Error::Internal(m) if m.contains("Exploded") && m.contains("boom")));
    }

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let at = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(utc_timestamp(at), "2023-11-14 22:13:20.123456");
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01 00:00:00.000000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc_timestamp(leap), "2000-02-29 00:00:00.000000");
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_topic("compute.host-1").is_ok());
        assert!(validate_topic("").is_err());
        assert!(validate_topic("a..b").is_err());
        assert!(validate_topic("a.*").is_err());
        assert!(validate_topic(&"x".repeat(201)).is_err());
        assert!(validate_pattern("compute.instance.*").is_ok());
        assert!(validate_pattern("#").is_ok());
        assert!(validate_pattern("a*").is_err());
        assert!(validate_event_type("compute.instance.create.end").is_ok());
        assert!(validate_event_type("compute.#").is_err());
    }
}
