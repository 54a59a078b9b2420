//! The image create body as Glance parses it, and the attribute rules patches share.

use common_error::{Error, Result};
use image_domain::NewImage;
use image_model::Visibility;
use serde_json::Value;

use crate::schema::validate_image;

/// Keys a client may never send (`_disallowed_properties`).
pub(crate) const DISALLOWED: &[&str] = &["direct_url", "self", "file", "schema", "stores"];
/// Keys nobody may set (`_reserved_properties`), and the reserved namespace.
const RESERVED: &[&str] = &["location", "deleted", "deleted_at"];
const RESERVED_NS: &str = "os_glance";
/// Keys set by the service only.
pub(crate) const READ_ONLY: &[&str] = &[
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "os_hash_algo",
    "os_hash_value",
    "stores",
];
/// Base attributes a patch may set.
pub(crate) const BASE: &[&str] = &[
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "owner",
    "disk_format",
    "container_format",
    "min_disk",
    "min_ram",
    "tags",
];
pub(crate) fn reserved(key: &str) -> bool {
    RESERVED.contains(&key) || key.starts_with(RESERVED_NS)
}

pub(crate) fn opt_string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// The parsed create body. `visibility` is kept apart for the policy check.
pub fn parse_create(body: Value) -> Result<NewImage> {
    let Value::Object(mut obj) = body else {
        return Err(Error::bad_request(
            "Provided object does not match schema 'image': body is not an object",
        ));
    };
    for k in DISALLOWED {
        if obj.contains_key(*k) {
            return Err(Error::forbidden(format!("Attribute '{k}' is read-only.")));
        }
    }
    validate_image(&obj).map_err(Error::BadRequest)?;
    let mut new = NewImage::default();
    if let Some(v) = obj.remove("id") {
        new.id = opt_string(&v);
    }
    if let Some(v) = obj.remove("name") {
        new.name = opt_string(&v);
    }
    if let Some(v) = obj.remove("visibility") {
        new.visibility = v.as_str().and_then(Visibility::parse);
    }
    if let Some(v) = obj.remove("protected") {
        new.protected = v.as_bool().unwrap_or(false);
    }
    if let Some(v) = obj.remove("os_hidden") {
        new.os_hidden = v.as_bool().unwrap_or(false);
    }
    if let Some(v) = obj.remove("owner") {
        new.owner = Some(opt_string(&v));
    }
    if let Some(v) = obj.remove("disk_format") {
        new.disk_format = opt_string(&v);
    }
    if let Some(v) = obj.remove("container_format") {
        new.container_format = opt_string(&v);
    }
    if let Some(v) = obj.remove("min_disk") {
        new.min_disk = v.as_i64().unwrap_or(0);
    }
    if let Some(v) = obj.remove("min_ram") {
        new.min_ram = v.as_i64().unwrap_or(0);
    }
    if let Some(Value::Array(tags)) = obj.remove("tags") {
        new.tags = tags.iter().filter_map(opt_string).collect();
    }
    for (k, v) in obj {
        if k.chars().count() > 255 {
            return Err(Error::bad_request(
                "Custom property should not be greater than 255 characters.",
            ));
        }
        if reserved(&k) {
            return Err(Error::forbidden(format!("Attribute '{k}' is reserved.")));
        }
        if READ_ONLY.contains(&k.as_str()) {
            return Err(Error::forbidden(format!("Attribute '{k}' is read-only.")));
        }
        if k == "locations" {
            return Err(Error::forbidden(
                "It's not allowed to add locations if locations are invisible.",
            ));
        }
        new.properties.insert(k, opt_string(&v).unwrap_or_default());
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_body_rules() {
        let n = parse_create(json!({"name": "x", "disk_format": "raw", "owner_specified.openstack.md5": "", "tags": ["b", "a"]}))
            .unwrap();
        assert_eq!(
            n.properties
                .get("owner_specified.openstack.md5")
                .map(String::as_str),
            Some("")
        );
        assert_eq!(
            parse_create(json!({"self": "x"})).unwrap_err().status(),
            403
        );
        assert_eq!(
            parse_create(json!({"status": "active"}))
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(
            parse_create(json!({"deleted": "1"})).unwrap_err().status(),
            403
        );
        assert_eq!(
            parse_create(json!({"os_glance_x": "1"}))
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(
            parse_create(json!({"disk_format": "floppy"}))
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            parse_create(json!({"status": "bogus"}))
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(parse_create(json!([1])).unwrap_err().status(), 400);
    }
}
