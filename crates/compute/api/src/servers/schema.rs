//! The part of JSON Schema (draft 2020-12) that Nova's request schemas use, evaluated the way
//! Python's `jsonschema` does it — keywords in the schema's order, the first error wins — so
//! that a 400 carries the message Nova would send (`Invalid input for field/attribute name.
//! Value: . '' should be non-empty`). Messages quote values with Python's `repr`.

use serde_json::Value;

use super::pyrepr::{py_repr, py_str};

/// A string check standing in for a Python regular expression; the text is what the error
/// message quotes.
#[derive(Clone, Copy)]
pub(crate) struct Pattern {
    pub text: &'static str,
    pub test: fn(&str) -> bool,
}

/// The `format` values Nova's schemas use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Uuid,
    /// Nova's `name`: printable, no leading or trailing whitespace (fails with InvalidName).
    Name,
    Base64,
    Ipv4,
    Ipv6,
    DateTime,
    Regex,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Uuid => "uuid",
            Format::Name => "name",
            Format::Base64 => "base64",
            Format::Ipv4 => "ipv4",
            Format::Ipv6 => "ipv6",
            Format::DateTime => "date-time",
            Format::Regex => "regex",
        }
    }

    fn check(self, s: &str) -> bool {
        match self {
            Format::Uuid => is_uuid_like(s),
            Format::Name => is_valid_name(s),
            Format::Base64 => is_base64(s),
            Format::Ipv4 => s.parse::<std::net::Ipv4Addr>().is_ok(),
            Format::Ipv6 => s.parse::<std::net::Ipv6Addr>().is_ok(),
            Format::DateTime => super::util::parse_time(s).is_some(),
            Format::Regex => !s.is_empty(),
        }
    }
}

/// One keyword of a schema.
#[derive(Clone)]
pub(crate) enum Kw {
    Type(&'static [&'static str]),
    Enum(Vec<Value>),
    Pattern(Pattern),
    Format(Format),
    MinLength(usize),
    MaxLength(usize),
    Minimum(i64),
    Maximum(i64),
    Properties(Vec<(&'static str, Schema)>),
    PatternProperties(Pattern, Box<Schema>),
    Required(Vec<&'static str>),
    AdditionalProperties(bool),
    Items(Box<Schema>),
    MinItems(usize),
    MaxItems(usize),
    MinProperties(usize),
    MaxProperties(usize),
    OneOf(Vec<Schema>),
}

/// A schema: its keywords in the order Nova's Python dict lists them. Empty accepts anything.
#[derive(Clone, Default)]
pub(crate) struct Schema(pub Vec<Kw>);

/// One step of the path to the failing value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

impl std::fmt::Display for Seg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seg::Key(k) => f.write_str(k),
            Seg::Index(i) => write!(f, "{i}"),
        }
    }
}

/// The first validation error.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Invalid {
    pub path: Vec<Seg>,
    pub instance: Value,
    pub message: String,
    /// Set by the `name` format: Nova reports its own message then.
    pub invalid_name: bool,
}

const NAME_REASON: &str = "printable characters. Can not start or end with whitespace.";

impl Invalid {
    /// Nova's 400 message for a request body (`ex.path.pop()`: the innermost step).
    pub fn body_message(&self) -> String {
        if self.invalid_name {
            return format!(
                "An invalid 'name' value was provided. The name must be: {NAME_REASON}"
            );
        }
        match self.path.last() {
            Some(seg) => format!(
                "Invalid input for field/attribute {seg}. Value: {}. {}",
                py_str(&self.instance),
                self.message
            ),
            None => self.message.clone(),
        }
    }

    /// Nova's 400 message for query parameters (`ex.path.popleft()`: the parameter name).
    pub fn query_message(&self) -> String {
        match self.path.first() {
            Some(seg) => format!(
                "Invalid input for query parameters {seg}. Value: {}. {}",
                py_str(&self.instance),
                self.message
            ),
            None => self.message.clone(),
        }
    }
}

impl Schema {
    pub fn any() -> Schema {
        Schema(Vec::new())
    }

    pub fn with(mut self, kw: Kw) -> Schema {
        self.0.push(kw);
        self
    }

    /// Returns the first error, like `jsonschema`'s `validate`.
    pub fn validate(&self, v: &Value) -> Result<(), Invalid> {
        let mut path = Vec::new();
        match self.first_error(v, &mut path) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn is_valid(&self, v: &Value) -> bool {
        self.first_error(v, &mut Vec::new()).is_none()
    }

    fn first_error(&self, v: &Value, path: &mut Vec<Seg>) -> Option<Invalid> {
        for kw in &self.0 {
            if let Some(e) = check(kw, self, v, path) {
                return Some(e);
            }
        }
        None
    }
}

fn fail(path: &[Seg], v: &Value, message: String) -> Option<Invalid> {
    Some(Invalid {
        path: path.to_vec(),
        instance: v.clone(),
        message,
        invalid_name: false,
    })
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "string" => v.is_string(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => match v {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => false,
    }
}

/// Python's `int(x)` then `float(x)` on a string or number (Nova's `_number_from_str`).
fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => {
            let t = s.trim().replace('_', "");
            t.parse::<i64>()
                .map(|i| i as f64)
                .ok()
                .or_else(|| t.parse::<f64>().ok())
        }
        _ => None,
    }
}

fn num_repr(f: f64, orig: &Value) -> String {
    let int_like = match orig {
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::String(s) => s.trim().replace('_', "").parse::<i64>().is_ok(),
        Value::Bool(_) => true,
        _ => false,
    };
    if int_like {
        format!("{}", f as i64)
    } else {
        py_repr(&serde_json::json!(f))
    }
}

fn check(kw: &Kw, schema: &Schema, v: &Value, path: &mut Vec<Seg>) -> Option<Invalid> {
    match kw {
        Kw::Type(types) => {
            if types.iter().any(|t| is_type(v, t)) {
                return None;
            }
            let reprs: Vec<String> = types.iter().map(|t| format!("'{t}'")).collect();
            fail(
                path,
                v,
                format!("{} is not of type {}", py_repr(v), reprs.join(", ")),
            )
        }
        Kw::Enum(items) => {
            if items.iter().any(|e| e == v) {
                return None;
            }
            let list = Value::Array(items.clone());
            fail(
                path,
                v,
                format!("{} is not one of {}", py_repr(v), py_repr(&list)),
            )
        }
        Kw::Pattern(p) => match v {
            Value::String(s) if !(p.test)(s) => fail(
                path,
                v,
                format!(
                    "{} does not match {}",
                    py_repr(v),
                    py_repr(&Value::from(p.text))
                ),
            ),
            _ => None,
        },
        Kw::Format(f) => match v {
            Value::String(s) if !f.check(s) => {
                let mut e = fail(path, v, format!("{} is not a '{}'", py_repr(v), f.as_str()))?;
                e.invalid_name = *f == Format::Name;
                Some(e)
            }
            _ => None,
        },
        Kw::MinLength(n) => match v {
            Value::String(s) if s.chars().count() < *n => {
                let m = if *n == 1 {
                    "should be non-empty"
                } else {
                    "is too short"
                };
                fail(path, v, format!("{} {m}", py_repr(v)))
            }
            _ => None,
        },
        Kw::MaxLength(n) => match v {
            Value::String(s) if s.chars().count() > *n => {
                let m = if *n == 0 {
                    "is expected to be empty"
                } else {
                    "is too long"
                };
                fail(path, v, format!("{} {m}", py_repr(v)))
            }
            _ => None,
        },
        Kw::Minimum(min) => {
            let f = number_of(v)?;
            (f < *min as f64).then_some(())?;
            fail(
                path,
                v,
                format!("{} is less than the minimum of {min}", num_repr(f, v)),
            )
        }
        Kw::Maximum(max) => {
            let f = number_of(v)?;
            (f > *max as f64).then_some(())?;
            fail(
                path,
                v,
                format!("{} is greater than the maximum of {max}", num_repr(f, v)),
            )
        }
        Kw::Properties(props) => {
            let obj = v.as_object()?;
            for (name, sub) in props {
                if let Some(child) = obj.get(*name) {
                    path.push(Seg::Key((*name).to_string()));
                    let e = sub.first_error(child, path);
                    path.pop();
                    if e.is_some() {
                        return e;
                    }
                }
            }
            None
        }
        Kw::PatternProperties(p, sub) => {
            let obj = v.as_object()?;
            for (k, child) in obj {
                if (p.test)(k) {
                    path.push(Seg::Key(k.clone()));
                    let e = sub.first_error(child, path);
                    path.pop();
                    if e.is_some() {
                        return e;
                    }
                }
            }
            None
        }
        Kw::Required(names) => {
            let obj = v.as_object()?;
            let missing = names.iter().find(|n| !obj.contains_key(**n))?;
            fail(path, v, format!("'{missing}' is a required property"))
        }
        Kw::AdditionalProperties(allowed) => {
            if *allowed {
                return None;
            }
            let obj = v.as_object()?;
            additional_properties(schema, obj, v, path)
        }
        Kw::Items(sub) => {
            let arr = v.as_array()?;
            for (i, child) in arr.iter().enumerate() {
                path.push(Seg::Index(i));
                let e = sub.first_error(child, path);
                path.pop();
                if e.is_some() {
                    return e;
                }
            }
            None
        }
        Kw::MinItems(n) => match v {
            Value::Array(a) if a.len() < *n => {
                let m = if *n == 1 {
                    "should be non-empty"
                } else {
                    "is too short"
                };
                fail(path, v, format!("{} {m}", py_repr(v)))
            }
            _ => None,
        },
        Kw::MaxItems(n) => match v {
            Value::Array(a) if a.len() > *n => {
                let m = if *n == 0 {
                    "is expected to be empty"
                } else {
                    "is too long"
                };
                fail(path, v, format!("{} {m}", py_repr(v)))
            }
            _ => None,
        },
        Kw::MinProperties(n) => match v {
            Value::Object(o) if o.len() < *n => {
                let m = if *n == 1 {
                    "should be non-empty"
                } else {
                    "does not have enough properties"
                };
                fail(path, v, format!("{} {m}", py_repr(v)))
            }
            _ => None,
        },
        Kw::MaxProperties(n) => match v {
            Value::Object(o) if o.len() > *n => {
                let m = if *n == 0 {
                    "is expected to be empty"
                } else {
                    "has too many properties"
                };
                fail(path, v, format!("{} {m}", py_repr(v)))
            }
            _ => None,
        },
        Kw::OneOf(subs) => {
            let valid = subs.iter().filter(|s| s.is_valid(v)).count();
            match valid {
                1 => None,
                0 => fail(
                    path,
                    v,
                    format!("{} is not valid under any of the given schemas", py_repr(v)),
                ),
                _ => fail(
                    path,
                    v,
                    format!("{} is valid under each of the given schemas", py_repr(v)),
                ),
            }
        }
    }
}

/// `additionalProperties: false`: keys neither named in `properties` nor matched by
/// `patternProperties`, reported as `jsonschema` words it.
fn additional_properties(
    schema: &Schema,
    obj: &serde_json::Map<String, Value>,
    v: &Value,
    path: &[Seg],
) -> Option<Invalid> {
    let mut named: Vec<&str> = Vec::new();
    let mut patterns: Vec<Pattern> = Vec::new();
    for kw in &schema.0 {
        match kw {
            Kw::Properties(props) => named.extend(props.iter().map(|(n, _)| *n)),
            Kw::PatternProperties(p, _) => patterns.push(*p),
            _ => {}
        }
    }
    let mut extras: Vec<&String> = obj
        .keys()
        .filter(|k| !named.contains(&k.as_str()) && !patterns.iter().any(|p| (p.test)(k)))
        .collect();
    if extras.is_empty() {
        return None;
    }
    extras.sort();
    let joined: Vec<String> = extras
        .iter()
        .map(|k| py_repr(&Value::from(k.as_str())))
        .collect();
    let joined = joined.join(", ");
    let message = if patterns.is_empty() {
        let verb = if extras.len() == 1 { "was" } else { "were" };
        format!("Additional properties are not allowed ({joined} {verb} unexpected)")
    } else {
        let verb = if extras.len() == 1 { "does" } else { "do" };
        let mut texts: Vec<&str> = patterns.iter().map(|p| p.text).collect();
        texts.sort_unstable();
        let pats: Vec<String> = texts.iter().map(|t| py_repr(&Value::from(*t))).collect();
        format!(
            "{joined} {verb} not match any of the regexes: {}",
            pats.join(", ")
        )
    };
    fail(path, v, message)
}

/// `oslo_utils.uuidutils.is_uuid_like`: 32 hex digits once `urn:`, `uuid:`, braces and
/// hyphens are removed.
pub(crate) fn is_uuid_like(s: &str) -> bool {
    let t = s.replace("urn:", "").replace("uuid:", "");
    let t = t.trim_matches(|c| c == '{' || c == '}').replace('-', "");
    t.len() == 32 && t.chars().all(|c| c.is_ascii_hexdigit())
}

/// Unicode space separators (`Zs`).
fn is_space_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// Nova's "printable" (`_is_printable` over the BMP): not a control, format, private-use,
/// line or paragraph separator character.
pub(crate) fn is_printable(c: char) -> bool {
    let u = c as u32;
    if u >= 0xFFFF || c.is_control() {
        return false;
    }
    let format = matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB);
    let private = (0xE000..=0xF8FF).contains(&u);
    let surrogate_or_nonchar = (0xD800..=0xDFFF).contains(&u) || u == 0xFFFE;
    !(format || private || surrogate_or_nonchar || u == 0x2028 || u == 0x2029)
}

/// Nova's `valid_name_regex`: printable characters, not starting or ending with whitespace.
/// (Python's `$` also matches before one trailing newline, which Nova therefore accepts.)
pub(crate) fn is_valid_name(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    let bad_edge = |c: char| !is_printable(c) || is_space_separator(c);
    s.chars().all(is_printable)
        && !s.chars().next().is_some_and(bad_edge)
        && !s.chars().last().is_some_and(bad_edge)
}

/// Base64 as Python's `base64.b64decode` accepts it (the data must end on a quantum
/// boundary or be padded to one), except that only whitespace may sit between the
/// characters: Python silently drops any other character outside the alphabet, so that
/// `"***"` would decode to nothing; here it is refused.
pub(crate) fn is_base64(s: &str) -> bool {
    let mut data = 0usize;
    let mut pads = 0usize;
    for c in s.chars() {
        match c {
            c if c.is_ascii_whitespace() => {}
            '=' => pads += 1,
            c if c.is_ascii_alphanumeric() || c == '+' || c == '/' => {
                if pads > 0 {
                    // Data after padding: Python ignores it only in its lenient mode.
                    return false;
                }
                data += 1;
            }
            _ => return false,
        }
    }
    match data % 4 {
        0 => true,
        1 => false,
        r => pads >= 4 - r,
    }
}
