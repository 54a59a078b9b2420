//! Cinder's JSON for volumes, attachments and snapshots, shaped by the negotiated
//! microversion, and its list pages (`volumes_links`).

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};
use volume_model::{Attachment, Snapshot, Volume};

use crate::{ApiState, Mv};

/// Cinder's timestamp: microseconds, no zone suffix (`2026-11-22T01:07:43.123456`).
pub fn time(t: &str) -> String {
    t.trim_end_matches('Z').to_string()
}

fn base(s: &ApiState, p: &HashMap<String, String>) -> String {
    match p.get("project_id") {
        Some(pid) => format!("{}/volume/v3/{pid}", s.base_url),
        None => format!("{}/volume/v3", s.base_url),
    }
}

pub fn links(s: &ApiState, p: &HashMap<String, String>, coll: &str, id: &str) -> Value {
    let b = base(s, p);
    json!([
        {"rel": "self", "href": format!("{b}/{coll}/{id}")},
        {"rel": "bookmark", "href": format!("{b}/{coll}/{id}")},
    ])
}

/// A list page; a full page links to the next one.
pub fn page(
    s: &ApiState,
    p: &HashMap<String, String>,
    path: &str,
    items: Vec<Value>,
    full: bool,
    last: &Option<String>,
    q: &BTreeMap<String, String>,
) -> Value {
    let key = path.split('/').next().unwrap_or(path);
    let mut out = json!({ key: items });
    if let (true, Some(last)) = (full, last) {
        let mut params: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| k.as_str() != "marker")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.push(("marker".into(), last.clone()));
        let qs: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        out[format!("{key}_links")] =
            json!([{"rel": "next", "href": format!("{}/{path}?{qs}", base(s, p))}]);
    }
    out
}

pub fn attachment(a: &Attachment) -> Value {
    json!({
        "id": a.id,
        "status": a.attach_status.as_str(),
        "instance": a.instance_uuid,
        "volume_id": a.volume_id,
        "attached_at": a.attached_at.as_deref().map(time),
        "detached_at": a.detached_at.as_deref().map(time),
        "attach_mode": a.attach_mode,
        "connection_info": a.connection_info.as_ref().map(|c| serde_json::to_value(c).unwrap_or(Value::Null)),
    })
}

/// A volume's detail view at microversion `mv` (admins also get the host attributes).
pub fn volume(s: &ApiState, p: &HashMap<String, String>, mv: Mv, admin: bool, v: &Volume) -> Value {
    let attachments: Vec<Value> = v
        .attachments
        .iter()
        .map(|a| {
            json!({
                "id": v.id, "attachment_id": a.id, "volume_id": v.id,
                "server_id": a.instance_uuid, "host_name": a.attached_host,
                "device": a.mountpoint, "attached_at": a.attached_at.as_deref().map(time),
            })
        })
        .collect();
    let mut out = json!({
        "id": v.id,
        "name": v.name,
        "description": v.description,
        "size": v.size,
        "status": v.status.as_str(),
        "attachments": attachments,
        "availability_zone": v.availability_zone,
        "bootable": if v.bootable { "true" } else { "false" },
        "encrypted": false,
        "created_at": time(&v.created_at),
        "updated_at": v.updated_at.as_deref().map(time),
        "links": links(s, p, "volumes", &v.id),
        "metadata": v.metadata,
        "multiattach": v.multiattach,
        "os-vol-tenant-attr:tenant_id": v.project_id,
        "os-vol-mig-status-attr:migstat": null,
        "replication_status": "disabled",
        "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid,
        "user_id": v.user_id,
        "volume_type": v.volume_type_id,
        "consistencygroup_id": null,
    });
    if !v.image_metadata.is_empty() {
        out["volume_image_metadata"] = json!(v.image_metadata);
    }
    if admin {
        out["os-vol-host-attr:host"] = json!(v.host);
        out["os-vol-mig-status-attr:name_id"] = Value::Null;
    }
    if mv.0 >= 13 {
        out["group_id"] = Value::Null;
    }
    if mv.0 >= 21 {
        out["provider_id"] = Value::Null;
    }
    if mv.0 >= 48 {
        out["shared_targets"] = json!(false);
        out["service_uuid"] = Value::Null;
    }
    if mv.0 >= 61 {
        out["cluster_name"] = Value::Null;
    }
    if mv.0 >= 63 {
        out["volume_type_id"] = json!(v.volume_type_id);
    }
    if mv.0 >= 64 {
        out["encryption_key_id"] = Value::Null;
    }
    if mv.0 >= 65 {
        out["consumes_quota"] = json!(true);
    }
    out
}

pub fn snapshot(mv: Mv, x: &Snapshot) -> Value {
    let mut out = json!({
        "id": x.id,
        "name": x.name,
        "description": x.description,
        "status": x.status.as_str(),
        "size": x.size,
        "volume_id": x.volume_id,
        "created_at": time(&x.created_at),
        "updated_at": x.updated_at.as_deref().map(time),
        "metadata": x.metadata,
        "os-extended-snapshot-attributes:project_id": x.project_id,
        "os-extended-snapshot-attributes:progress": "100%",
    });
    if mv.0 >= 14 {
        out["group_snapshot_id"] = Value::Null;
    }
    if mv.0 >= 41 {
        out["user_id"] = json!(x.user_id);
    }
    if mv.0 >= 65 {
        out["consumes_quota"] = json!(true);
    }
    out
}
