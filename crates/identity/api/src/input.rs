//! Reading request bodies field by field with Keystone's validation messages, so that wrong
//! types, missing fields and over-long values answer 400 and never panic.

use common_error::{Error, Result};
use serde_json::{Map, Value};

pub type Obj = Map<String, Value>;

fn invalid(field: &str, detail: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("Invalid input for field '{field}': {detail}"))
}

/// Parses the body and returns the object under `key` (`{"project": {...}}`).
pub fn envelope(body: &[u8], key: &str) -> Result<Obj> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        Error::bad_request("The request body could not be parsed as JSON. Expecting to find valid JSON in request body.")
    })?;
    match v {
        Value::Object(mut m) => match m.remove(key) {
            Some(Value::Object(o)) => Ok(o),
            Some(other) => Err(invalid(key, format!("{other} is not of type 'object'"))),
            None => Err(Error::bad_request(format!(
                "'{key}' is a required property"
            ))),
        },
        other => Err(Error::bad_request(format!(
            "{other} is not of type 'object'"
        ))),
    }
}

/// An optional string field, at most `max` characters (0 = unlimited); `null` counts as absent
/// only when `nullable`.
pub fn opt_str(o: &Obj, field: &str, max: usize, nullable: bool) -> Result<Option<String>> {
    match o.get(field) {
        None => Ok(None),
        Some(Value::Null) if nullable => Ok(None),
        Some(Value::String(s)) => {
            if max > 0 && s.chars().count() > max {
                return Err(invalid(field, format!("'{}' is too long", truncate(s))));
            }
            Ok(Some(s.clone()))
        }
        Some(other) => Err(invalid(field, format!("{other} is not of type 'string'"))),
    }
}

/// A required non-empty string field.
pub fn req_str(o: &Obj, field: &str, max: usize) -> Result<String> {
    match opt_str(o, field, max, false)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        Some(_) => Err(invalid(field, "'' is too short")),
        None => Err(Error::bad_request(format!(
            "'{field}' is a required property"
        ))),
    }
}

/// An optional boolean field.
pub fn opt_bool(o: &Obj, field: &str) -> Result<Option<bool>> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(invalid(field, format!("{other} is not of type 'boolean'"))),
    }
}

/// An optional list of strings.
pub fn opt_str_list(o: &Obj, field: &str) -> Result<Option<Vec<String>>> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(invalid(field, format!("{other} is not of type 'string'"))),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(other) => Err(invalid(field, format!("{other} is not of type 'array'"))),
    }
}

/// An optional object field.
pub fn opt_obj<'a>(o: &'a Obj, field: &str) -> Result<Option<&'a Obj>> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(invalid(field, format!("{other} is not of type 'object'"))),
    }
}

/// Rejects fields that may not be set by a request.
pub fn forbid(o: &Obj, fields: &[&str]) -> Result<()> {
    for f in fields {
        if o.contains_key(*f) {
            return Err(Error::bad_request(format!(
                "Additional properties are not allowed ('{f}' was unexpected)"
            )));
        }
    }
    Ok(())
}

/// The fields of `o` not in `known`, kept as Keystone keeps extra attributes.
pub fn extra(o: &Obj, known: &[&str]) -> Obj {
    o.iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect::<String>() + if s.chars().count() > 40 { "..." } else { "" }
}

/// Parses a query boolean as Keystone does (`true`/`1`/`yes`/... and `false`/`0`/`no`).
pub fn query_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_errors_are_bad_requests() {
        assert_eq!(envelope(b"{", "p").unwrap_err().status(), 400);
        assert_eq!(envelope(b"[]", "p").unwrap_err().status(), 400);
        assert_eq!(envelope(b"{}", "p").unwrap_err().status(), 400);
        assert_eq!(envelope(b"{\"p\": 3}", "p").unwrap_err().status(), 400);
        assert!(envelope(b"{\"p\": {}}", "p").is_ok());
    }

    #[test]
    fn typed_fields() {
        let o: Obj =
            serde_json::from_str(r#"{"name": 1, "ok": "x", "b": "no", "l": [1]}"#).unwrap();
        assert!(req_str(&o, "name", 64)
            .unwrap_err()
            .to_string()
            .contains("not of type 'string'"));
        assert_eq!(req_str(&o, "ok", 64).unwrap(), "x");
        assert!(req_str(&o, "missing", 64)
            .unwrap_err()
            .to_string()
            .contains("required"));
        assert!(opt_bool(&o, "b").is_err());
        assert!(opt_str_list(&o, "l").is_err());
        assert!(opt_str(&o, "ok", 0, false).unwrap().is_some());
    }
}
