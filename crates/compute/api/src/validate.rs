//! The small part of JSON Schema the resource request schemas use, checked the way Nova's
//! validator reports it: keywords in the schema's order, the first error wins, and the 400
//! reads `Invalid input for field/attribute <name>. Value: <value>. <jsonschema message>`
//! (`... query parameters ...` for query strings), or the bare message at the top level.
//! Values are quoted with Python's `repr`/`str`.

use serde_json::{Map, Value};

/// A string check standing in for a Python regular expression; `text` is what the message
/// quotes.
#[derive(Clone, Copy)]
pub(crate) struct Pattern {
    pub text: &'static str,
    pub test: fn(&str) -> bool,
}

/// One keyword.
#[derive(Clone)]
pub(crate) enum Kw {
    Type(&'static [&'static str]),
    Enum(Vec<Value>),
    Pattern(Pattern),
    /// Nova's `name` format: printable, no leading or trailing whitespace.
    NameFormat,
    MinLength(usize),
    MaxLength(usize),
    /// Numbers, and strings that read as numbers (Nova's override).
    Minimum(i64),
    Maximum(i64),
    ExclusiveMinimum(i64),
    MinProperties(usize),
    MaxProperties(usize),
    Properties(Vec<(&'static str, Schema)>),
    PatternProperties(Pattern, Box<Schema>),
    Required(Vec<&'static str>),
    AdditionalProperties(bool),
    MinItems(usize),
    MaxItems(usize),
    /// `prefixItems` with `items: false` (2.64's one-element `policies`).
    PrefixItems(Vec<Schema>),
}

/// A schema: its keywords in the order Nova's dict lists them.
#[derive(Clone, Default)]
pub(crate) struct Schema(pub Vec<Kw>);

/// `repr()` of a JSON value as Python would print the decoded object.
pub(crate) fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            (_, _, Some(f)) => format!("{f}"),
            _ => n.to_string(),
        },
        Value::String(s) => {
            let quote = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::from(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", py_repr(&Value::String(k.clone())), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `str()`: like `repr()` except that a string is itself.
pub(crate) fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// Whether `s` is a valid Nova `name`: no leading or trailing whitespace, printable.
pub(crate) fn valid_name(s: &str) -> bool {
    let printable = |c: char| !c.is_control();
    s.chars().all(printable)
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
}

/// A failure: the path to the value (outermost first), the value, and the message.
struct Failure {
    path: Vec<String>,
    value: Value,
    message: String,
    /// Nova's InvalidName replaces the whole detail.
    whole: bool,
}

fn fail(value: &Value, message: String) -> Failure {
    Failure {
        path: Vec::new(),
        value: value.clone(),
        message,
        whole: false,
    }
}

fn in_object(v: &Value) -> Option<&Map<String, Value>> {
    v.as_object()
}

fn check_kw(kw: &Kw, v: &Value) -> Result<(), Failure> {
    match kw {
        Kw::Type(types) => {
            if !types.iter().any(|t| is_type(v, t)) {
                let names: Vec<String> = types.iter().map(|t| format!("'{t}'")).collect();
                return Err(fail(
                    v,
                    format!("{} is not of type {}", py_repr(v), names.join(", ")),
                ));
            }
        }
        Kw::Enum(options) => {
            if !options.contains(v) {
                return Err(fail(
                    v,
                    format!(
                        "{} is not one of {}",
                        py_repr(v),
                        py_repr(&Value::Array(options.clone()))
                    ),
                ));
            }
        }
        Kw::Pattern(p) => {
            if let Value::String(s) = v {
                if !(p.test)(s) {
                    return Err(fail(
                        v,
                        format!(
                            "{} does not match {}",
                            py_repr(v),
                            py_repr(&Value::String(p.text.into()))
                        ),
                    ));
                }
            }
        }
        Kw::NameFormat => {
            if !v.as_str().is_some_and(valid_name) {
                let mut f = fail(
                    v,
                    "An invalid 'name' value was provided. The name must be: printable \
                     characters. Can not start or end with whitespace."
                        .into(),
                );
                f.whole = true;
                return Err(f);
            }
        }
        Kw::MinLength(n) => {
            if let Value::String(s) = v {
                if s.chars().count() < *n {
                    let why = if *n == 1 {
                        "should be non-empty"
                    } else {
                        "is too short"
                    };
                    return Err(fail(v, format!("{} {why}", py_repr(v))));
                }
            }
        }
        Kw::MaxLength(n) => {
            if let Value::String(s) = v {
                if s.chars().count() > *n {
                    return Err(fail(v, format!("{} is too long", py_repr(v))));
                }
            }
        }
        Kw::Minimum(m) => {
            if let Some(x) = as_number(v) {
                if x < *m as f64 {
                    let shown = Value::from(x as i64);
                    return Err(fail(
                        &shown,
                        format!("{} is less than the minimum of {m}", py_repr(&shown)),
                    ));
                }
            }
        }
        Kw::Maximum(m) => {
            if let Some(x) = as_number(v) {
                if x > *m as f64 {
                    let shown = if x.fract() == 0.0 && x.abs() < 9e18 {
                        Value::from(x as i64)
                    } else {
                        v.clone()
                    };
                    return Err(fail(
                        &shown,
                        format!("{} is greater than the maximum of {m}", py_repr(&shown)),
                    ));
                }
            }
        }
        Kw::ExclusiveMinimum(m) => {
            if let Value::Number(n) = v {
                if n.as_f64().is_some_and(|x| x <= *m as f64) {
                    return Err(fail(
                        v,
                        format!("{} is less than or equal to the minimum of {m}", py_repr(v)),
                    ));
                }
            }
        }
        Kw::MinProperties(n) => {
            if in_object(v).is_some_and(|o| o.len() < *n) {
                let why = if *n == 1 {
                    "should be non-empty"
                } else {
                    "does not have enough properties"
                };
                return Err(fail(v, format!("{} {why}", py_repr(v))));
            }
        }
        Kw::MaxProperties(n) => {
            if in_object(v).is_some_and(|o| o.len() > *n) {
                return Err(fail(v, format!("{} has too many properties", py_repr(v))));
            }
        }
        Kw::Required(names) => {
            if let Some(o) = in_object(v) {
                if let Some(missing) = names.iter().find(|n| !o.contains_key(**n)) {
                    return Err(fail(v, format!("'{missing}' is a required property")));
                }
            }
        }
        // Checked by `check_all`, which sees the sibling keywords.
        Kw::Properties(_)
        | Kw::PatternProperties(..)
        | Kw::AdditionalProperties(_)
        | Kw::PrefixItems(_) => {}
        Kw::MinItems(n) => {
            if v.as_array().is_some_and(|a| a.len() < *n) {
                let why = if *n == 1 {
                    "should be non-empty"
                } else {
                    "is too short"
                };
                return Err(fail(v, format!("{} {why}", py_repr(v))));
            }
        }
        Kw::MaxItems(n) => {
            if v.as_array().is_some_and(|a| a.len() > *n) {
                return Err(fail(v, format!("{} is too long", py_repr(v))));
            }
        }
    }
    Ok(())
}

/// `additionalProperties: false` needs the sibling `properties`/`patternProperties`.
fn extras(schema: &Schema, o: &Map<String, Value>) -> Vec<String> {
    let mut known: Vec<&str> = Vec::new();
    let mut patterns: Vec<Pattern> = Vec::new();
    for kw in &schema.0 {
        match kw {
            Kw::Properties(p) => known.extend(p.iter().map(|(n, _)| *n)),
            Kw::PatternProperties(p, _) => patterns.push(*p),
            _ => {}
        }
    }
    o.keys()
        .filter(|k| !known.contains(&k.as_str()) && !patterns.iter().any(|p| (p.test)(k)))
        .cloned()
        .collect()
}

fn check_all(schema: &Schema, v: &Value) -> Result<(), Failure> {
    for kw in &schema.0 {
        if let (Kw::AdditionalProperties(false), Some(o)) = (kw, v.as_object()) {
            let extra = extras(schema, o);
            if !extra.is_empty() {
                let list: Vec<String> = extra.iter().map(|e| format!("'{e}'")).collect();
                let verb = if extra.len() == 1 { "was" } else { "were" };
                return Err(fail(
                    v,
                    format!(
                        "Additional properties are not allowed ({} {verb} unexpected)",
                        list.join(", ")
                    ),
                ));
            }
            continue;
        }
        match kw {
            Kw::Properties(props) => {
                if let Some(o) = v.as_object() {
                    for (name, sub) in props {
                        if let Some(x) = o.get(*name) {
                            check_all(sub, x).map_err(|mut f| {
                                f.path.insert(0, (*name).to_string());
                                f
                            })?;
                        }
                    }
                }
            }
            Kw::PatternProperties(p, sub) => {
                if let Some(o) = v.as_object() {
                    for (k, x) in o {
                        if (p.test)(k) {
                            check_all(sub, x).map_err(|mut f| {
                                f.path.insert(0, k.clone());
                                f
                            })?;
                        }
                    }
                }
            }
            Kw::PrefixItems(items) => {
                if let Some(a) = v.as_array() {
                    for (i, (sub, x)) in items.iter().zip(a).enumerate() {
                        check_all(sub, x).map_err(|mut f| {
                            f.path.insert(0, i.to_string());
                            f
                        })?;
                    }
                }
            }
            other => check_kw(other, v)?,
        }
    }
    Ok(())
}

/// Checks a request body; the error is Nova's 400 detail.
pub(crate) fn body(schema: &Schema, v: &Value) -> Result<(), String> {
    check_all(schema, v).map_err(|f| {
        if f.whole || f.path.is_empty() {
            f.message
        } else {
            format!(
                "Invalid input for field/attribute {}. Value: {}. {}",
                f.path.last().map(String::as_str).unwrap_or(""),
                py_str(&f.value),
                f.message
            )
        }
    })
}

/// Checks query parameters (each a list of values, as Nova sees them); `strict` is the
/// 2.75 `additionalProperties: false`.
pub(crate) fn query(
    params: &[(&'static str, Schema)],
    pairs: &[(String, String)],
    strict: bool,
) -> Result<(), String> {
    if strict {
        let mut extra: Vec<&str> = pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !params.iter().any(|(n, _)| n == k))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            let list: Vec<String> = extra.iter().map(|e| format!("'{e}'")).collect();
            let verb = if extra.len() == 1 { "was" } else { "were" };
            return Err(format!(
                "Additional properties are not allowed ({} {verb} unexpected)",
                list.join(", ")
            ));
        }
    }
    for (name, schema) in params {
        for (_, v) in pairs.iter().filter(|(k, _)| k == name) {
            let value = Value::String(v.clone());
            check_all(schema, &value).map_err(|f| {
                format!(
                    "Invalid input for query parameters {name}. Value: {}. {}",
                    py_str(&f.value),
                    f.message
                )
            })?;
        }
    }
    Ok(())
}

/// Nova's `non_negative_integer` for query parameters (`limit`, `offset`).
pub(crate) fn non_negative_integer() -> Schema {
    Schema(vec![
        Kw::Type(&["integer", "string"]),
        Kw::Pattern(Pattern {
            text: "^[0-9]*$",
            test: |s| s.chars().all(|c| c.is_ascii_digit()),
        }),
        Kw::Minimum(0),
        Kw::MinLength(1),
    ])
}

/// Nova's `name`.
pub(crate) fn name() -> Schema {
    Schema(vec![
        Kw::Type(&["string"]),
        Kw::NameFormat,
        Kw::MinLength(1),
        Kw::MaxLength(255),
    ])
}

/// Nova's `boolean` (a JSON boolean or one of its spellings).
pub(crate) fn boolean() -> Schema {
    let words = [
        "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "False", "FALSE",
        "false", "0", "OFF", "Off", "off", "NO", "No", "no",
    ];
    let mut options = vec![Value::Bool(true)];
    options.extend(words[..10].iter().map(|w| Value::String((*w).into())));
    options.push(Value::Bool(false));
    options.extend(words[10..].iter().map(|w| Value::String((*w).into())));
    Schema(vec![Kw::Type(&["boolean", "string"]), Kw::Enum(options)])
}

/// The truth of a value that passed [`boolean`].
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.to_lowercase().as_str(), "true" | "1" | "on" | "yes"),
        _ => false,
    }
}

/// An object with `props`, `required` and no other properties.
pub(crate) fn object(props: Vec<(&'static str, Schema)>, required: Vec<&'static str>) -> Schema {
    Schema(vec![
        Kw::Type(&["object"]),
        Kw::Properties(props),
        Kw::Required(required),
        Kw::AdditionalProperties(false),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flavorish() -> Schema {
        object(
            vec![(
                "flavor",
                object(
                    vec![
                        ("name", name()),
                        (
                            "ram",
                            Schema(vec![
                                Kw::Type(&["integer", "string"]),
                                Kw::Pattern(Pattern {
                                    text: "^[0-9]+$",
                                    test: |s| {
                                        !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
                                    },
                                }),
                                Kw::Minimum(1),
                            ]),
                        ),
                        ("public", boolean()),
                    ],
                    vec!["name", "ram"],
                ),
            )],
            vec!["flavor"],
        )
    }

    #[test]
    fn messages_read_like_novas() {
        let s = flavorish();
        assert_eq!(
            body(&s, &Value::Null).unwrap_err(),
            "None is not of type 'object'"
        );
        assert_eq!(
            body(&s, &json!({})).unwrap_err(),
            "'flavor' is a required property"
        );
        assert_eq!(
            body(&s, &json!({"flavor": {"name": "a"}})).unwrap_err(),
            "Invalid input for field/attribute flavor. Value: {'name': 'a'}. 'ram' is a required property"
        );
        assert_eq!(
            body(&s, &json!({"flavor": {"name": "a", "ram": 0}})).unwrap_err(),
            "Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1"
        );
        assert_eq!(
            body(&s, &json!({"flavor": {"name": "a", "ram": "x"}})).unwrap_err(),
            "Invalid input for field/attribute ram. Value: x. 'x' does not match '^[0-9]+$'"
        );
        assert_eq!(
            body(&s, &json!({"flavor": {"name": " a", "ram": 1}})).unwrap_err(),
            "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace."
        );
        assert_eq!(
            body(&s, &json!({"flavor": {"name": "", "ram": 1}})).unwrap_err(),
            "Invalid input for field/attribute name. Value: . '' should be non-empty"
        );
        assert_eq!(
            body(&s, &json!({"flavor": {"name": "a", "ram": 1, "x": 1}})).unwrap_err(),
            "Invalid input for field/attribute flavor. Value: {'name': 'a', 'ram': 1, 'x': 1}. Additional properties are not allowed ('x' was unexpected)"
        );
        assert_eq!(
            body(&s, &json!({"flavor": {"name": "a", "ram": 1, "public": "maybe"}})).unwrap_err(),
            "Invalid input for field/attribute public. Value: maybe. 'maybe' is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']"
        );
        assert!(body(
            &s,
            &json!({"flavor": {"name": "a", "ram": "2", "public": "yes"}})
        )
        .is_ok());
    }

    #[test]
    fn query_messages_and_strictness() {
        let params = [("limit", non_negative_integer())];
        let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert_eq!(
            query(&params, &q("limit", "abc"), false).unwrap_err(),
            "Invalid input for query parameters limit. Value: abc. 'abc' does not match '^[0-9]*$'"
        );
        assert!(query(&params, &q("other", "1"), false).is_ok());
        assert_eq!(
            query(&params, &q("other", "1"), true).unwrap_err(),
            "Additional properties are not allowed ('other' was unexpected)"
        );
    }

    #[test]
    fn python_reprs() {
        assert_eq!(py_repr(&json!("it's")), "\"it's\"");
        assert_eq!(py_repr(&json!(1.0)), "1.0");
        assert_eq!(py_repr(&json!([true, null])), "[True, None]");
        assert_eq!(py_str(&json!("x")), "x");
    }
}
