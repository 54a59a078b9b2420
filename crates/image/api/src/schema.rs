//! Glance's JSON schemas, served at `/v2/schemas/*` and used to validate image bodies and
//! patch values the way Glance's `jsonschema` validation does, with its messages.

use image_model::{CONTAINER_FORMATS, DISK_FORMATS};
use serde_json::{json, Map, Value};

const UUID_PATTERN: &str =
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$";
const STATUSES: &[&str] = &[
    "queued",
    "saving",
    "active",
    "killed",
    "deleted",
    "uploading",
    "importing",
    "pending_delete",
    "deactivated",
];

fn nullable_enum(values: &[&str]) -> Value {
    let mut v = vec![Value::Null];
    v.extend(values.iter().map(|s| json!(s)));
    Value::Array(v)
}

/// The image schema's `properties`.
pub fn image_properties() -> Value {
    json!({
        "id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
        "name": {"type": ["null", "string"], "description": "Descriptive name for the image", "maxLength": 255},
        "status": {"type": "string", "readOnly": true, "description": "Status of the image", "enum": STATUSES},
        "visibility": {"type": "string", "description": "Scope of image accessibility",
            "enum": ["community", "public", "private", "shared"]},
        "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean", "description": "If true, image will not appear in default image list response."},
        "checksum": {"type": ["null", "string"], "readOnly": true, "description": "md5 hash of image contents.", "maxLength": 32},
        "os_hash_algo": {"type": ["null", "string"], "readOnly": true,
            "description": "Algorithm to calculate the os_hash_value", "maxLength": 64},
        "os_hash_value": {"type": ["null", "string"], "readOnly": true,
            "description": "Hexdigest of the image contents using the algorithm specified by the os_hash_algo", "maxLength": 128},
        "owner": {"type": ["null", "string"], "description": "Owner of the image", "maxLength": 255},
        "size": {"type": ["null", "integer"], "readOnly": true, "description": "Size of image file in bytes"},
        "virtual_size": {"type": ["null", "integer"], "readOnly": true, "description": "Virtual size of image in bytes"},
        "container_format": {"type": ["null", "string"], "description": "Format of the container",
            "enum": nullable_enum(CONTAINER_FORMATS)},
        "disk_format": {"type": ["null", "string"], "description": "Format of the disk",
            "enum": nullable_enum(DISK_FORMATS)},
        "created_at": {"type": "string", "readOnly": true, "description": "Date and time of image registration"},
        "updated_at": {"type": "string", "readOnly": true, "description": "Date and time of the last image modification"},
        "tags": {"type": "array", "description": "List of strings related to the image",
            "items": {"type": "string", "maxLength": 255}},
        "direct_url": {"type": "string", "readOnly": true, "description": "URL to access the image file kept in external store"},
        "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
        "self": {"type": "string", "readOnly": true, "description": "An image self url"},
        "file": {"type": "string", "readOnly": true, "description": "An image file url"},
        "stores": {"type": "string", "readOnly": true,
            "description": "Store in which image data resides.  Only present when the operator has enabled multiple stores.  May be a comma-separated list of store identifiers."},
        "schema": {"type": "string", "readOnly": true, "description": "An image schema url"},
        "locations": {"type": "array", "description": "A set of URLs to access the image file kept in external store",
            "items": {"type": "object", "required": ["url", "metadata"], "properties": {
                "url": {"type": "string", "maxLength": 255},
                "metadata": {"type": "object"},
                "validation_data": {"type": "object", "writeOnly": true, "additionalProperties": false,
                    "required": ["os_hash_algo", "os_hash_value"],
                    "properties": {
                        "checksum": {"type": "string", "minLength": 32, "maxLength": 32},
                        "os_hash_algo": {"type": "string", "maxLength": 64},
                        "os_hash_value": {"type": "string", "maxLength": 128}}}}}},
    })
}

/// `GET /v2/schemas/image`.
pub fn image() -> Value {
    json!({
        "name": "image",
        "properties": image_properties(),
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

fn collection(name: &str, item: Value) -> Value {
    json!({
        "name": name,
        "properties": {
            name: {"type": "array", "items": item},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

/// `GET /v2/schemas/images`.
pub fn images() -> Value {
    collection("images", image())
}

/// `GET /v2/schemas/member`.
pub fn member() -> Value {
    json!({
        "name": "member",
        "properties": {
            "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
            "image_id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
            "created_at": {"type": "string", "description": "Date and time of image member creation"},
            "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
            "status": {"type": "string", "description": "The status of this image member",
                "enum": ["pending", "accepted", "rejected"]},
            "schema": {"readOnly": true, "type": "string"},
        },
        "additionalProperties": false,
    })
}

/// `GET /v2/schemas/members`.
pub fn members() -> Value {
    collection("members", member())
}

/// Python's `repr` of a JSON value, as jsonschema messages show it.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

/// Checks `value` against one property schema; the jsonschema-style message on failure.
fn check(schema: &Value, value: &Value) -> Result<(), String> {
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.iter().any(|t| type_matches(t, value)) {
            let shown = if types.len() == 1 {
                format!("'{}'", types[0])
            } else {
                types
                    .iter()
                    .map(|t| format!("'{t}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(format!("{} is not of type {shown}", py_repr(value)));
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.contains(value) {
            return Err(format!(
                "{} is not one of {}",
                py_repr(value),
                py_repr(&Value::Array(allowed.clone()))
            ));
        }
    }
    if let (Some(max), Some(s)) = (
        schema.get("maxLength").and_then(Value::as_u64),
        value.as_str(),
    ) {
        if s.chars().count() as u64 > max {
            return Err(format!("{} is too long", py_repr(value)));
        }
    }
    if let (Some(p), Some(s)) = (
        schema.get("pattern").and_then(Value::as_str),
        value.as_str(),
    ) {
        if p == UUID_PATTERN && !is_uuid(s) {
            return Err(format!(
                "{} does not match {}",
                py_repr(value),
                py_repr(&json!(p))
            ));
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for v in arr {
            check(items, v)?;
        }
    }
    Ok(())
}

/// Whether `s` has the shape of a UUID (hex groups 8-4-4-4-12).
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Validates an image body (or a partial one, for patches) like Glance's permissive image
/// schema: known properties by their schema, anything else must be a string.
pub fn validate_image(obj: &Map<String, Value>) -> Result<(), String> {
    let props = image_properties();
    for (k, v) in obj {
        let res = match props.get(k) {
            Some(s) => check(s, v),
            None => check(&json!({"type": "string"}), v),
        };
        res.map_err(|m| format!("Provided object does not match schema 'image': {m}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(o: Value) -> Result<(), String> {
        validate_image(o.as_object().unwrap())
    }

    #[test]
    fn messages_read_like_jsonschema() {
        assert!(v(json!({"name": "x", "disk_format": "qcow2", "k": ""})).is_ok());
        let e = v(json!({"disk_format": "floppy"})).unwrap_err();
        assert!(e.starts_with("Provided object does not match schema 'image': 'floppy' is not one of [None, 'ami'"), "{e}");
        assert_eq!(
            v(json!({"min_ram": "1"})).unwrap_err(),
            "Provided object does not match schema 'image': '1' is not of type 'integer'"
        );
        assert!(v(json!({"custom": 1}))
            .unwrap_err()
            .ends_with("1 is not of type 'string'"));
        assert!(v(json!({"name": "x".repeat(256)}))
            .unwrap_err()
            .ends_with("is too long"));
        assert!(v(json!({"id": "nope"}))
            .unwrap_err()
            .contains("does not match"));
        assert!(v(json!({"tags": ["a", 1]})).is_err());
        assert!(v(json!({"id": "b2173dd3-7ad6-4362-baa6-a68bce3565cb"})).is_ok());
    }
}
