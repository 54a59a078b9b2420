//! JSON-patch documents for `PATCH /v2/images/{id}`, parsed and checked as Glance does,
//! turned into domain changes.

use common_error::{Error, Result};
use image_domain::{Change, Field};
use image_model::Visibility;
use serde_json::{Map, Value};

use crate::schema::validate_image;
use crate::wire::{opt_string, reserved, BASE, READ_ONLY};

/// The JSON-patch media types (JSON-schema draft 4 and draft 10).
pub const PATCH_V20: &str = "application/openstack-images-v2.0-json-patch";
pub const PATCH_V21: &str = "application/openstack-images-v2.1-json-patch";

/// A JSON pointer's tokens, after Glance's checks.
fn decode_pointer(p: &str) -> Result<Vec<String>> {
    if !p.starts_with('/') {
        return Err(Error::bad_request(format!(
            "Pointer `{p}` does not start with \"/\"."
        )));
    }
    let inner = &p[1..];
    let segs: Vec<&str> = inner.split('/').collect();
    if segs.len() > 2 && segs[1..segs.len() - 1].iter().any(|s| s.trim().is_empty()) {
        return Err(Error::bad_request(format!(
            "Pointer `{p}` contains adjacent \"/\"."
        )));
    }
    if p.len() > 1 && p.ends_with('/') {
        return Err(Error::bad_request(format!("Pointer `{p}` end with \"/\".")));
    }
    let bad_escape = p.ends_with('~')
        || p.match_indices('~')
            .any(|(i, _)| !matches!(p.as_bytes().get(i + 1), Some(b'0' | b'1')));
    if bad_escape {
        return Err(Error::bad_request(format!(
            "Pointer `{p}` contains \"~\" not part of a recognized escape sequence."
        )));
    }
    Ok(inner
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~").trim().to_string())
        .collect())
}

/// One parsed patch operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: String,
    pub root: String,
    pub value: Option<Value>,
}

/// Parses and validates a patch document (`draft` 4 for v2.0, 10 for v2.1) into operations.
pub fn parse_patch(body: Value, draft: u8) -> Result<Vec<PatchOp>> {
    let Value::Array(items) = body else {
        return Err(Error::bad_request(
            "Request body must be a JSON array of operation objects.",
        ));
    };
    let mut ops = Vec::new();
    for raw in items {
        let Value::Object(raw) = raw else {
            return Err(Error::bad_request("Operations must be JSON objects."));
        };
        let (op, path) = if draft == 4 {
            let found: Vec<&str> = ["add", "remove", "replace"]
                .into_iter()
                .filter(|k| raw.contains_key(*k))
                .collect();
            match found.as_slice() {
                [one] => (one.to_string(), raw.get(*one).and_then(Value::as_str).unwrap_or_default().to_string()),
                [] => {
                    return Err(Error::bad_request(
                        "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".",
                    ))
                }
                _ => {
                    return Err(Error::bad_request(
                        "Operation objects must contain only one member named \"add\", \"remove\", or \"replace\".",
                    ))
                }
            }
        } else {
            let op = match raw.get("op") {
                None => {
                    return Err(Error::bad_request(
                        "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace.",
                    ))
                }
                Some(v) => v.as_str().unwrap_or_default().to_string(),
            };
            if !["add", "remove", "replace"].contains(&op.as_str()) {
                return Err(Error::bad_request(format!(
                    "Invalid operation: `{op}`. It must be one of the following: add, remove, replace."
                )));
            }
            let path = raw
                .get("path")
                .ok_or_else(|| Error::bad_request("Unable to find 'path' in JSON Schema change"))?
                .as_str()
                .unwrap_or_default()
                .to_string();
            (op, path)
        };
        let tokens = decode_pointer(&path)?;
        let root = tokens.first().cloned().unwrap_or_default();
        let depth = if root == "locations" {
            if op == "replace" {
                1
            } else {
                2
            }
        } else {
            1
        };
        if tokens.len() != depth {
            return Err(Error::bad_request(format!(
                "Invalid JSON pointer for this resource: '/{}'",
                tokens.join("/")
            )));
        }
        let value = if op == "remove" {
            None
        } else {
            Some(raw.get("value").cloned().ok_or_else(|| {
                Error::bad_request(format!(
                    "Operation \"{op}\" requires a member named \"value\"."
                ))
            })?)
        };
        if READ_ONLY.contains(&root.as_str()) {
            return Err(Error::forbidden(format!(
                "Attribute '{root}' is read-only."
            )));
        }
        if reserved(&root) {
            return Err(Error::forbidden(format!("Attribute '{root}' is reserved.")));
        }
        if let Some(v) = &value {
            if root != "locations" {
                let mut partial = Map::new();
                partial.insert(root.clone(), v.clone());
                validate_image(&partial).map_err(Error::BadRequest)?;
            }
        }
        ops.push(PatchOp { op, root, value });
    }
    Ok(ops)
}

/// Turns patch operations into domain changes. `has` tells whether a custom property
/// exists (draft 4 refuses `add` over an existing one).
pub fn to_changes(ops: &[PatchOp], draft: u8, has: impl Fn(&str) -> bool) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    for o in ops {
        if o.root == "locations" {
            let msg = match o.op.as_str() {
                "remove" => "It's not allowed to remove locations if locations are invisible.",
                "add" => "It's not allowed to add locations if locations are invisible.",
                _ => "It's not allowed to update locations if locations are invisible.",
            };
            return Err(Error::forbidden(msg));
        }
        let base = BASE.contains(&o.root.as_str());
        if o.op == "add" && draft == 4 && (base || has(&o.root)) {
            return Err(Error::conflict(format!(
                "Property {} already present.",
                o.root
            )));
        }
        let change = match (o.op.as_str(), base, &o.value) {
            ("remove", true, _) => Change::RemoveBase(o.root.clone()),
            ("remove", false, _) => Change::RemoveProperty(o.root.clone()),
            (_, true, Some(v)) => Change::Set(field(&o.root, v)?),
            ("add", false, Some(v)) => {
                Change::AddProperty(o.root.clone(), opt_string(v).unwrap_or_default())
            }
            (_, false, Some(v)) => {
                Change::ReplaceProperty(o.root.clone(), opt_string(v).unwrap_or_default())
            }
            _ => {
                return Err(Error::bad_request(format!(
                    "Operation \"{}\" requires a member named \"value\".",
                    o.op
                )))
            }
        };
        out.push(change);
    }
    Ok(out)
}

/// A base attribute's new value (already validated against the schema).
fn field(root: &str, v: &Value) -> Result<Field> {
    Ok(match root {
        "name" => Field::Name(opt_string(v)),
        "visibility" => Field::Visibility(
            v.as_str()
                .and_then(Visibility::parse)
                .ok_or_else(|| Error::bad_request("Invalid visibility"))?,
        ),
        "protected" => Field::Protected(v.as_bool().unwrap_or(false)),
        "os_hidden" => Field::OsHidden(v.as_bool().unwrap_or(false)),
        "owner" => Field::Owner(opt_string(v)),
        "disk_format" => Field::DiskFormat(opt_string(v)),
        "container_format" => Field::ContainerFormat(opt_string(v)),
        "min_disk" => Field::MinDisk(v.as_i64().unwrap_or(0)),
        "min_ram" => Field::MinRam(v.as_i64().unwrap_or(0)),
        "tags" => Field::Tags(
            v.as_array()
                .map(|a| a.iter().filter_map(opt_string).collect())
                .unwrap_or_default(),
        ),
        other => {
            return Err(Error::bad_request(format!(
                "Invalid JSON pointer for this resource: '/{other}'"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patch_documents() {
        let ops = parse_patch(json!([{"op": "replace", "path": "/name", "value": "n"}, {"op": "remove", "path": "/k"}]), 10).unwrap();
        let ch = to_changes(&ops, 10, |_| true).unwrap();
        assert_eq!(
            ch,
            vec![
                Change::Set(Field::Name(Some("n".into()))),
                Change::RemoveProperty("k".into())
            ]
        );
        assert_eq!(
            parse_patch(json!({"op": "add"}), 10).unwrap_err().status(),
            400
        );
        assert_eq!(
            parse_patch(json!([{"op": "move", "path": "/a"}]), 10)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            parse_patch(json!([{"op": "add", "path": "a", "value": "1"}]), 10)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            parse_patch(json!([{"op": "add", "path": "/a/b", "value": "1"}]), 10)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            parse_patch(json!([{"op": "add", "path": "/a"}]), 10)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            parse_patch(
                json!([{"op": "replace", "path": "/status", "value": "active"}]),
                10
            )
            .unwrap_err()
            .status(),
            403
        );
        assert_eq!(
            parse_patch(
                json!([{"op": "replace", "path": "/min_ram", "value": "x"}]),
                10
            )
            .unwrap_err()
            .status(),
            400
        );
        assert_eq!(
            parse_patch(json!([{"op": "add", "path": "/k", "value": 5}]), 10)
                .unwrap_err()
                .status(),
            400
        );
        let d4 = parse_patch(json!([{"add": "/k", "value": "v"}]), 4).unwrap();
        assert_eq!(to_changes(&d4, 4, |_| true).unwrap_err().status(), 409);
        let loc = parse_patch(
            json!([{"op": "replace", "path": "/locations", "value": []}]),
            10,
        )
        .unwrap();
        assert_eq!(to_changes(&loc, 10, |_| false).unwrap_err().status(), 403);
    }
}
