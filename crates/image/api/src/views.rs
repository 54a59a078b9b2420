//! Glance's JSON views of images and members.

use image_model::{Image, Member};
use serde_json::{json, Map, Value};

/// Glance's `isotime`: seconds precision and a `Z`.
pub fn isotime(stored: &str) -> String {
    let base = stored.get(..19).unwrap_or(stored);
    format!("{base}Z")
}

/// Properties Glance keeps to itself.
const HIDDEN: &[&str] = &["os_glance_stage_host", "os_glance_hash_op_host"];

/// An image, flat: custom properties beside the base attributes.
pub fn image(img: &Image) -> Value {
    let mut m = Map::new();
    for (k, v) in &img.properties {
        if !HIDDEN.contains(&k.as_str()) {
            m.insert(k.clone(), json!(v));
        }
    }
    let base = json!({
        "name": img.name,
        "disk_format": img.disk_format,
        "container_format": img.container_format,
        "visibility": img.visibility.as_str(),
        "size": img.size,
        "virtual_size": img.virtual_size,
        "status": img.status.as_str(),
        "checksum": img.checksum,
        "protected": img.protected,
        "min_ram": img.min_ram,
        "min_disk": img.min_disk,
        "owner": img.owner,
        "os_hidden": img.os_hidden,
        "os_hash_algo": img.os_hash_algo,
        "os_hash_value": img.os_hash_value,
        "id": img.id,
        "created_at": isotime(&img.created_at),
        "updated_at": isotime(&img.updated_at),
        "tags": img.tags,
        "self": format!("/v2/images/{}", img.id),
        "file": format!("/v2/images/{}/file", img.id),
        "schema": "/v2/schemas/image",
    });
    if let Value::Object(b) = base {
        m.extend(b);
    }
    Value::Object(m)
}

/// A membership.
pub fn member(m: &Member) -> Value {
    json!({
        "member_id": m.member_id,
        "image_id": m.image_id,
        "status": m.status.as_str(),
        "created_at": isotime(&m.created_at),
        "updated_at": isotime(&m.updated_at),
        "schema": "/v2/schemas/member",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_cut_to_the_second() {
        assert_eq!(
            isotime("2026-11-22T01:07:43.123456"),
            "2026-11-22T01:07:43Z"
        );
    }
}
