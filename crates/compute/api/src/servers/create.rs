//! `POST /servers`: Nova's schema for the microversion, then the checks Nova's controller
//! makes (counts, block device mappings, networks, image), the policy checks in Nova's order,
//! one domain call, and Nova's 202 body with a `Location` header.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use common_error::{Error, Result};
use common_http::HttpResult;
use compute_domain::server::{BlockDevice, NetworkRequest, Networks, ServerCreate};
use serde_json::{json, Map, Value};

use super::schema::is_uuid_like;
use super::schemas;
use super::util::{body_json, id_from_href, json_bool, json_int, json_str, Caller};
use crate::{ApiState, Mv};

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(msg)
}

/// Nova's `utils.generate_password`: 12 characters without look-alikes.
pub(super) fn generate_password() -> String {
    const GROUPS: [&str; 3] = [
        "23456789",
        "ABCDEFGHJKLMNPQRSTUVWXYZ",
        "abcdefghijkmnopqrstuvwxyz",
    ];
    let all: Vec<char> = GROUPS.concat().chars().collect();
    let mut bytes = uuid::Uuid::new_v4().as_bytes().to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    let mut out: Vec<char> = GROUPS
        .iter()
        .zip(&bytes)
        .map(|(g, b)| {
            let g: Vec<char> = g.chars().collect();
            g[usize::from(*b) % g.len()]
        })
        .collect();
    out.extend(
        bytes[3..12]
            .iter()
            .map(|b| all[usize::from(*b) % all.len()]),
    );
    // Move the guaranteed characters away from the front.
    out.rotate_left(usize::from(bytes[12]) % 12);
    out.into_iter().collect()
}

/// Nova's `parse_availability_zone`: `zone`, `zone:host`, `zone:host:node` or `zone::node`.
fn parse_az(az: Option<&str>) -> Result<(Option<String>, bool)> {
    let Some(az) = az else {
        return Ok((None, false));
    };
    let zone = match az.matches(':').count() {
        0 => return Ok((Some(az.to_string()), false)),
        1 | 2 => az.split(':').next().unwrap_or(""),
        _ => {
            return Err(super::util::invalid_input(
                "Unable to parse availability_zone",
            ))
        }
    };
    Ok(((!zone.is_empty()).then(|| zone.to_string()), true))
}

/// Nova's `_get_requested_networks`.
fn networks(v: Option<&Value>) -> Result<Option<Networks>> {
    let list = match v {
        None => return Ok(Some(Networks::Unspecified)),
        Some(Value::String(s)) if s == "none" => return Ok(Some(Networks::None)),
        Some(Value::String(s)) if s == "auto" => return Ok(Some(Networks::Auto)),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("Bad networks format")),
    };
    let mut ports: Vec<String> = Vec::new();
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let net = item.as_object().ok_or_else(|| bad("Bad networks format"))?;
        let req = NetworkRequest {
            fixed_ip: json_str(net.get("fixed_ip")),
            port: json_str(net.get("port")).filter(|p| !p.is_empty()),
            tag: json_str(net.get("tag")),
            uuid: None,
        };
        if let Some(port) = &req.port {
            if ports.contains(port) {
                return Err(bad(format!(
                    "Port ID '{port}' was specified twice: you cannot attach a port multiple times."
                )));
            }
            if let Some(addr) = &req.fixed_ip {
                return Err(bad(format!(
                    "Specified Fixed IP '{addr}' cannot be used with port '{port}': the two cannot be specified together."
                )));
            }
            ports.push(port.clone());
            out.push(req);
        } else {
            let Some(uuid) = net.get("uuid") else {
                return Err(bad("Bad network format: missing 'uuid'"));
            };
            let uuid = uuid.as_str().unwrap_or_default().to_string();
            if !is_uuid_like(&uuid) {
                return Err(bad(format!(
                    "Bad networks format: network uuid is not in proper format ({uuid})"
                )));
            }
            out.push(NetworkRequest {
                uuid: Some(uuid),
                ..req
            });
        }
    }
    Ok(Some(Networks::List(out)))
}

/// Python's truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn bdm_invalid(details: &str) -> Error {
    bad(format!("Block Device Mapping is Invalid: {details}"))
}

/// Nova's `BlockDeviceDict.from_api` checks on one `block_device_mapping_v2` entry.
fn bdm_v2(m: &Map<String, Value>, image_given: bool) -> Result<BlockDevice> {
    let source = json_str(m.get("source_type")).unwrap_or_default();
    let dest = json_str(m.get("destination_type"));
    let uuid = json_str(m.get("uuid")).filter(|u| !u.is_empty());
    let boot_index = match m.get("boot_index") {
        None | Some(Value::Null) => None,
        Some(v) => json_int(Some(v)),
    };
    if !m.get("no_device").is_some_and(truthy) {
        if source == "blank" && uuid.is_some() {
            return Err(bdm_invalid("Invalid device UUID."));
        }
        if source != "blank" && uuid.is_none() {
            return Err(bdm_invalid("Missing device UUID."));
        }
        if source == "image"
            && dest.as_deref() == Some("local")
            && !(image_given && boot_index.unwrap_or(-1) == 0)
        {
            return Err(bdm_invalid("Mapping image to local is not supported."));
        }
        let volume_type = m.get("volume_type").is_some_and(|v| !v.is_null());
        if dest.as_deref() == Some("local") && volume_type {
            return Err(bdm_invalid(
                "Specifying a volume_type with destination_type=local is not supported.",
            ));
        }
        if source == "volume" && volume_type {
            return Err(bdm_invalid(
                "Specifying volume type to existing volume is not supported.",
            ));
        }
    }
    Ok(BlockDevice {
        uuid,
        source_type: source,
        destination_type: dest,
        boot_index,
        volume_size: json_int(m.get("volume_size")),
        delete_on_termination: json_bool(m.get("delete_on_termination")),
    })
}

/// A legacy `block_device_mapping` entry, as the volume (or snapshot) it names.
fn bdm_legacy(m: &Map<String, Value>) -> BlockDevice {
    let (source, uuid) = match (json_str(m.get("volume_id")), json_str(m.get("snapshot_id"))) {
        (Some(v), _) => ("volume", Some(v)),
        (None, Some(s)) => ("snapshot", Some(s)),
        (None, None) => ("blank", None),
    };
    BlockDevice {
        uuid,
        source_type: source.to_string(),
        destination_type: Some("volume".into()),
        boot_index: None,
        volume_size: json_int(m.get("volume_size")),
        delete_on_termination: json_bool(m.get("delete_on_termination")),
    }
}

/// Nova's `_process_bdms_for_create`.
fn block_devices(server: &Map<String, Value>) -> Result<Vec<BlockDevice>> {
    let empty = Vec::new();
    let legacy = server
        .get("block_device_mapping")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let v2 = server
        .get("block_device_mapping_v2")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    if !legacy.is_empty() && !v2.is_empty() {
        return Err(bad(
            "Using different block_device_mapping syntaxes is not allowed in the same request.",
        ));
    }
    let image_given = server
        .get("imageRef")
        .and_then(Value::as_str)
        .is_some_and(|i| !i.is_empty());
    let maps = |v: &Value| v.as_object().cloned().unwrap_or_default();
    if !legacy.is_empty() {
        return Ok(legacy.iter().map(|b| bdm_legacy(&maps(b))).collect());
    }
    v2.iter().map(|b| bdm_v2(&maps(b), image_given)).collect()
}

fn scheduler_group(body: &Map<String, Value>) -> Option<String> {
    let hints = body
        .get("os:scheduler_hints")
        .or_else(|| body.get("OS-SCH-HNT:scheduler_hints"))?;
    match hints.get("group")? {
        Value::String(g) => Some(g.clone()),
        Value::Array(gs) => gs.first().and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `POST /servers`.
pub(super) async fn create(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    body: Bytes,
) -> HttpResult<Response> {
    let body = body_json(&body)?;
    schemas::create(mv)
        .validate(&body)
        .map_err(|e| bad(e.body_message()))?;
    let top = body.as_object().cloned().unwrap_or_default();
    let server = top
        .get("server")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();

    let password = json_str(server.get("adminPass")).unwrap_or_else(generate_password);
    let name = json_str(server.get("name"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let min_count = json_int(server.get("min_count")).unwrap_or(1);
    let max_count = json_int(server.get("max_count")).unwrap_or(min_count);
    if min_count > max_count {
        return Err(bad("min_count must be <= max_count").into());
    }
    let az = json_str(server.get("availability_zone"));
    let mut target = super::util::own_target(&caller);
    target.insert(
        "availability_zone".into(),
        az.clone()
            .unwrap_or_else(|| common_policy::NONE.to_string()),
    );
    s.authorize(&caller, "os_compute_api:servers:create", &target)?;
    let trusted = server
        .get("trusted_image_certificates")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    if trusted {
        s.authorize(
            &caller,
            "os_compute_api:servers:create:trusted_certs",
            &target,
        )?;
    }
    let (zone, forced) = parse_az(az.as_deref())?;
    if forced {
        s.authorize(
            &caller,
            "os_compute_api:servers:create:forced_host",
            &target,
        )?;
    }
    if mv.at_least(74)
        && (server.contains_key("host") || server.contains_key("hypervisor_hostname"))
    {
        s.authorize(
            &caller,
            "compute:servers:create:requested_destination",
            &target,
        )?;
    }
    let block_devices = block_devices(&server)?;
    if !block_devices.is_empty() {
        s.authorize(
            &caller,
            "os_compute_api:servers:create:attach_volume",
            &target,
        )?;
    }
    let image_ref = json_str(server.get("imageRef")).filter(|i| !i.is_empty());
    if image_ref.is_none() && block_devices.is_empty() {
        return Err(bad("Missing imageRef attribute").into());
    }
    let networks = networks(server.get("networks"))?;
    let attaches = match &networks {
        Some(Networks::Auto) => true,
        Some(Networks::List(l)) => !l.is_empty(),
        _ => false,
    };
    if attaches {
        s.authorize(
            &caller,
            "os_compute_api:servers:create:attach_network",
            &target,
        )?;
    }
    let flavor_ref = match server.get("flavorRef") {
        Some(Value::String(f)) => id_from_href(f),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let description = if mv.at_least(19) {
        json_str(server.get("description"))
    } else {
        Some(name.clone())
    };
    let security_groups: Vec<String> = server
        .get("security_groups")
        .and_then(Value::as_array)
        .map(|groups| {
            groups
                .iter()
                .filter_map(|g| g.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let req = ServerCreate {
        name,
        image_ref,
        flavor_ref,
        networks,
        security_groups,
        key_name: json_str(server.get("key_name")),
        user_data: json_str(server.get("user_data")),
        metadata: string_map(server.get("metadata")),
        availability_zone: zone,
        group: scheduler_group(&top),
        min_count,
        max_count,
        description,
        tags: if mv.at_least(52) {
            server
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        },
        config_drive: json_bool(server.get("config_drive")),
        hostname: None,
        access_ip_v4: json_str(server.get("accessIPv4")),
        access_ip_v6: json_str(server.get("accessIPv6")),
        block_devices,
    };
    let created = s.compute.server_create(&caller.ctx, req).await?;
    let first = created
        .first()
        .ok_or_else(|| Error::Internal("server create returned no server".into()))?;
    if json_bool(server.get("return_reservation_id")) {
        let body = json!({"reservation_id": first.reservation_id});
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let groups = server
        .get("security_groups")
        .cloned()
        .unwrap_or_else(|| json!([{"name": "default"}]));
    let view = json!({"server": {
        "id": first.uuid,
        "links": s.links("servers", &first.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": groups,
        "adminPass": password,
    }});
    let mut resp = (StatusCode::ACCEPTED, Json(view)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&s.self_href("servers", &first.uuid)) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_have_every_group() {
        let p = generate_password();
        assert_eq!(p.chars().count(), 12);
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        assert!(p.chars().any(|c| c.is_ascii_uppercase()));
        assert!(p.chars().any(|c| c.is_ascii_lowercase()));
        assert!(!p.contains(['0', '1', 'O', 'I', 'l']));
    }

    #[test]
    fn availability_zones_parse_like_nova() {
        assert_eq!(parse_az(None).ok(), Some((None, false)));
        assert_eq!(
            parse_az(Some("nova")).ok(),
            Some((Some("nova".into()), false))
        );
        assert_eq!(
            parse_az(Some("nova:host1")).ok(),
            Some((Some("nova".into()), true))
        );
        assert_eq!(parse_az(Some(":host1")).ok(), Some((None, true)));
        assert_eq!(
            parse_az(Some("nova::node")).ok(),
            Some((Some("nova".into()), true))
        );
        let e = parse_az(Some("a:b:c:d")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid input received: Unable to parse availability_zone"
        );
    }

    #[test]
    fn network_lists_follow_novas_rules() {
        let port = "2d5b0e2c-6c8e-4d42-9a1e-1f0e8a9a7b11";
        let twice = json!([{"port": port}, {"port": port}]);
        let e = networks(Some(&twice)).unwrap_err();
        assert!(e.to_string().contains("was specified twice"));
        let both = json!([{"port": port, "fixed_ip": "10.0.0.3"}]);
        assert!(networks(Some(&both))
            .unwrap_err()
            .to_string()
            .contains("cannot be used with port"));
        let missing = json!([{"fixed_ip": "10.0.0.3"}]);
        assert_eq!(
            networks(Some(&missing)).unwrap_err().to_string(),
            "Bad network format: missing 'uuid'"
        );
        let bad_uuid = json!([{"uuid": "net"}]);
        assert_eq!(
            networks(Some(&bad_uuid)).unwrap_err().to_string(),
            "Bad networks format: network uuid is not in proper format (net)"
        );
        assert_eq!(
            networks(Some(&json!("none"))).ok(),
            Some(Some(Networks::None))
        );
        assert_eq!(networks(None).ok(), Some(Some(Networks::Unspecified)));
    }

    #[test]
    fn block_devices_follow_from_api() {
        let image = "70a599e0-31e7-49b7-b260-868f441e862b";
        let mut server = Map::new();
        server.insert("imageRef".into(), json!(image));
        server.insert(
            "block_device_mapping_v2".into(),
            json!([{"uuid": image, "source_type": "image", "destination_type": "local",
                    "boot_index": 0, "delete_on_termination": true}]),
        );
        let bdms = block_devices(&server).unwrap();
        assert_eq!(bdms[0].boot_index, Some(0));
        assert!(bdms[0].delete_on_termination);
        server.remove("imageRef");
        let e = block_devices(&server).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Block Device Mapping is Invalid: Mapping image to local is not supported."
        );
        server.insert(
            "block_device_mapping_v2".into(),
            json!([{"source_type": "volume"}]),
        );
        assert_eq!(
            block_devices(&server).unwrap_err().to_string(),
            "Block Device Mapping is Invalid: Missing device UUID."
        );
        server.insert("block_device_mapping".into(), json!([{"volume_id": image}]));
        assert!(block_devices(&server)
            .unwrap_err()
            .to_string()
            .contains("different block_device_mapping"));
    }
}
