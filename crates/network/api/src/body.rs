//! Request bodies as Neutron's API layer reads them: `{"<resource>": {...}}`, attribute by
//! attribute with Neutron's validation messages, and unrecognized attributes refused.

use axum::body::Bytes;
use common_error::Error;
use network_model::errors::{bad_request, invalid_attribute};
use serde_json::{Map, Value};

/// Most characters of a name or description (Neutron's `NAME_MAX_LEN`, `DESCRIPTION_MAX_LEN`).
pub const NAME_MAX_LEN: usize = 255;

/// The attributes of one resource in a request body, consumed one by one.
pub struct Attrs {
    map: Map<String, Value>,
    post: bool,
}

/// Parses `{"<key>": {...}}`.
pub fn parse(body: &Bytes, key: &str, post: bool) -> Result<Attrs, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_request("Resource body required"));
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|_| bad_request("Malformed request body"))?;
    let Value::Object(mut top) = v else {
        return Err(bad_request("Malformed request body"));
    };
    match top.remove(key) {
        Some(Value::Object(map)) => Ok(Attrs { map, post }),
        Some(_) => Err(bad_request(format!(
            "Unable to find '{key}' in request body"
        ))),
        None => Err(bad_request(format!(
            "Unable to find '{key}' in request body"
        ))),
    }
}

/// What a JSON value reads as in Neutron's messages (`'abc'`, `1`, `None`).
pub fn repr(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// Neutron's `convert_to_boolean`.
pub fn to_bool(attr: &str, v: &Value) -> Result<bool, Error> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("true") || s == "1" => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") || s == "0" => Ok(false),
        other => Err(invalid_attribute(
            attr,
            format!("'{}' cannot be converted to boolean", repr(other)),
        )),
    }
}

impl Attrs {
    /// Whether the body names `attr`.
    pub fn has(&self, attr: &str) -> bool {
        self.map.contains_key(attr)
    }

    /// The names still unread.
    pub fn names(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    /// Looks at a raw value without taking it.
    pub fn take_ref(&self, attr: &str) -> Option<&Value> {
        self.map.get(attr)
    }

    /// Takes a raw value.
    pub fn take(&mut self, attr: &str) -> Option<Value> {
        self.map.remove(attr)
    }

    /// Refuses an attribute the operation does not accept (id, status, ...).
    pub fn refuse(&mut self, attrs: &[&str]) -> Result<(), Error> {
        for a in attrs {
            if self.map.contains_key(*a) {
                return Err(if self.post {
                    bad_request(format!("Attribute '{a}' not allowed in POST"))
                } else {
                    bad_request(format!("Cannot update read-only attribute {a}"))
                });
            }
        }
        Ok(())
    }

    /// A string of at most `max` characters (`None` when absent).
    pub fn string(&mut self, attr: &str, max: usize) -> Result<Option<String>, Error> {
        match self.map.remove(attr) {
            None => Ok(None),
            Some(Value::String(s)) => {
                if s.chars().count() > max {
                    return Err(invalid_attribute(
                        attr,
                        format!("'{s}' exceeds maximum length of {max}"),
                    ));
                }
                Ok(Some(s))
            }
            Some(other) => Err(invalid_attribute(
                attr,
                format!("'{}' is not a valid string", repr(&other)),
            )),
        }
    }

    /// A string that may be null: `Some(None)` for an explicit null.
    pub fn nullable_string(
        &mut self,
        attr: &str,
        max: usize,
    ) -> Result<Option<Option<String>>, Error> {
        match self.map.get(attr) {
            Some(Value::Null) => {
                self.map.remove(attr);
                Ok(Some(None))
            }
            _ => Ok(self.string(attr, max)?.map(Some)),
        }
    }

    /// A required string.
    pub fn required_string(&mut self, attr: &str, max: usize) -> Result<String, Error> {
        self.string(attr, max)?.ok_or_else(|| {
            bad_request(format!(
                "Failed to parse request. Required attribute '{attr}' not specified"
            ))
        })
    }

    /// A boolean (Neutron's `convert_to_boolean`).
    pub fn boolean(&mut self, attr: &str) -> Result<Option<bool>, Error> {
        match self.map.remove(attr) {
            None => Ok(None),
            Some(v) => to_bool(attr, &v).map(Some),
        }
    }

    /// An integer (numbers or numeric strings); `Some(None)` for an explicit null.
    pub fn nullable_int(&mut self, attr: &str) -> Result<Option<Option<i64>>, Error> {
        match self.map.remove(attr) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(Some(n.as_i64())),
            Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
                Ok(Some(s.trim().parse::<i64>().ok()))
            }
            Some(other) => Err(invalid_attribute(
                attr,
                format!("'{}' is not an integer", repr(&other)),
            )),
        }
    }

    /// An integer; null is refused.
    pub fn int(&mut self, attr: &str) -> Result<Option<i64>, Error> {
        match self.nullable_int(attr)? {
            Some(None) => Err(invalid_attribute(attr, "'None' is not an integer")),
            other => Ok(other.flatten()),
        }
    }

    /// A list of strings.
    pub fn string_list(&mut self, attr: &str) -> Result<Option<Vec<String>>, Error> {
        match self.map.remove(attr) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(invalid_attribute(
                        attr,
                        format!("'{}' is not a valid string", repr(&other)),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(invalid_attribute(
                attr,
                format!("'{}' is not a list", repr(&other)),
            )),
        }
    }

    /// The owning project: `project_id` or `tenant_id` (they must agree).
    pub fn project(&mut self) -> Result<Option<String>, Error> {
        let p = self.string("project_id", 255)?;
        let t = self.string("tenant_id", 255)?;
        match (p, t) {
            (Some(p), Some(t)) if p != t => {
                Err(bad_request("'project_id' and 'tenant_id' do not match"))
            }
            (p, t) => Ok(p.or(t)),
        }
    }

    /// Fails on any attribute left unread.
    pub fn finish(self) -> Result<(), Error> {
        if self.map.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.map.keys().map(String::as_str).collect();
        Err(bad_request(format!(
            "Unrecognized attribute(s) '{}'",
            names.join(", ")
        )))
    }
}
