//! `/v2.1/os-services`: list (filters `host`, `binary`), update (2.53: `PUT
//! /os-services/{uuid}` with `status`, `disabled_reason`, `forced_down`; before:
//! `PUT /os-services/{enable|disable|disable-log-reason|force-down}` naming host and binary),
//! and delete of an idle service. Ids are UUIDs from 2.53, integers before.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use compute_domain::service::{ServiceChange, ServiceState};
use serde_json::{json, Value};

use crate::common::{
    bad_request, empty, enforce, is_uuid_like, no_target, not_found, reply, validated_body, worded,
    ApiErr, Caller, Query, Res,
};
use crate::validate::{self, Kw, Schema};
use crate::{ApiState, Mv};

/// One service as Nova shows it.
pub(crate) fn view(st: &ServiceState, mv: Mv) -> Value {
    let s = &st.service;
    let mut v = json!({
        "binary": s.binary,
        "host": s.host,
        "id": if mv.at_least(53) { json!(s.uuid) } else { json!(st.id) },
        "zone": s.availability_zone,
        "status": if s.disabled { "disabled" } else { "enabled" },
        "state": if st.up { "up" } else { "down" },
        "updated_at": s.updated_at,
        "disabled_reason": s.disabled_reason,
    });
    if mv.at_least(11) {
        v["forced_down"] = json!(s.forced_down);
    }
    v
}

/// `GET /v2.1/os-services`.
pub(crate) async fn index(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> Res {
    let q = Query::parse(raw.as_deref());
    let text = || Schema(vec![Kw::Type(&["string"])]);
    q.check(&[("host", text()), ("binary", text())], mv.at_least(75))?;
    enforce(&s, &caller, "os_compute_api:os-services:list", &no_target())?;
    let host = q.get("host").filter(|h| !h.is_empty());
    let binary = q.get("binary").filter(|b| !b.is_empty());
    let list: Vec<Value> = s
        .compute
        .service_list()
        .await?
        .iter()
        .filter(|st| host.is_none_or(|h| st.service.host == h))
        .filter(|st| binary.is_none_or(|b| st.service.binary == b))
        .map(|st| view(st, mv))
        .collect();
    reply(StatusCode::OK, json!({ "services": list }))
}

fn text(min: usize) -> Schema {
    Schema(vec![
        Kw::Type(&["string"]),
        Kw::MinLength(min),
        Kw::MaxLength(255),
    ])
}

/// `PUT /v2.1/os-services/{id}`.
pub(crate) async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(id): Path<String>,
    body: Bytes,
) -> Res {
    if mv.at_least(53) {
        update_v253(s, caller, mv, id, body).await
    } else {
        update_v21(s, caller, mv, id, body).await
    }
}

async fn update_v253(s: ApiState, caller: Caller, mv: Mv, id: String, body: Bytes) -> Res {
    let schema = Schema(vec![
        Kw::Type(&["object"]),
        Kw::Properties(vec![
            (
                "status",
                Schema(vec![
                    Kw::Type(&["string"]),
                    Kw::Enum(vec![json!("enabled"), json!("disabled")]),
                ]),
            ),
            ("disabled_reason", text(1)),
            ("forced_down", validate::boolean()),
        ]),
        Kw::AdditionalProperties(false),
    ]);
    let v = validated_body(&body, &schema)?;
    if !is_uuid_like(&id) {
        return Err(bad_request(&format!("Invalid uuid {id}")));
    }
    enforce(
        &s,
        &caller,
        "os_compute_api:os-services:update",
        &no_target(),
    )?;
    s.compute
        .service_get(&id)
        .await
        .map_err(|e| worded(e, || format!("Service {id} could not be found.")))?;
    let mut change = ServiceChange::default();
    match v["status"].as_str() {
        Some("enabled") => {
            if v["disabled_reason"].as_str().is_some_and(|r| !r.is_empty()) {
                return Err(bad_request(
                    "Specifying 'disabled_reason' with status 'enabled' is invalid.",
                ));
            }
            change.disabled = Some(false);
            change.disabled_reason = Some(None);
        }
        Some(_) => {
            change.disabled = Some(true);
            change.disabled_reason = Some(v["disabled_reason"].as_str().map(str::to_string));
        }
        None => {}
    }
    if let Some(f) = v.get("forced_down") {
        change.forced_down = Some(validate::truthy(f));
    }
    if change == ServiceChange::default() {
        return Err(bad_request(
            "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
        ));
    }
    let st = s
        .compute
        .service_update(&id, &change)
        .await
        .map_err(|e| worded(e, || format!("Service {id} could not be found.")))?;
    let mut out = view(&st, mv);
    out["forced_down"] = json!(st.service.forced_down);
    reply(StatusCode::OK, json!({ "service": out }))
}

async fn update_v21(s: ApiState, caller: Caller, mv: Mv, action: String, body: Bytes) -> Res {
    let mut props = vec![
        ("host", text(1)),
        ("binary", text(1)),
        ("disabled_reason", text(1)),
    ];
    if mv.at_least(11) {
        props.push(("forced_down", validate::boolean()));
    }
    let v = validated_body(&body, &validate::object(props, vec!["host", "binary"]))?;
    enforce(
        &s,
        &caller,
        "os_compute_api:os-services:update",
        &no_target(),
    )?;
    let host = v["host"].as_str().unwrap_or_default();
    let binary = v["binary"].as_str().unwrap_or_default();
    let (change, out) = match action.as_str() {
        "enable" => (
            ServiceChange {
                disabled: Some(false),
                disabled_reason: Some(None),
                ..ServiceChange::default()
            },
            json!({"host": host, "binary": binary, "status": "enabled"}),
        ),
        "disable" | "disable-log-reason" => {
            let reason = v["disabled_reason"].as_str().map(str::to_string);
            if action == "disable-log-reason" && reason.is_none() {
                return Err(bad_request("Missing disabled reason field"));
            }
            let reason = if action == "disable" { None } else { reason };
            let mut out = json!({"host": host, "binary": binary, "status": "disabled"});
            if let Some(r) = &reason {
                out["disabled_reason"] = json!(r);
            }
            (
                ServiceChange {
                    disabled: Some(true),
                    disabled_reason: Some(reason),
                    ..ServiceChange::default()
                },
                out,
            )
        }
        "force-down" if mv.at_least(11) => {
            let Some(f) = v.get("forced_down") else {
                return Err(bad_request("Missing forced_down field"));
            };
            let down = validate::truthy(f);
            (
                ServiceChange {
                    forced_down: Some(down),
                    ..ServiceChange::default()
                },
                json!({"host": host, "binary": binary, "forced_down": down}),
            )
        }
        _ => return Err(not_found("Unknown action")),
    };
    s.compute
        .service_update_by_host(host, binary, &change)
        .await
        .map_err(|e| {
            worded(e, || {
                format!("Could not find binary {binary} on host {host}.")
            })
        })?;
    reply(StatusCode::OK, json!({ "service": out }))
}

/// `DELETE /v2.1/os-services/{id}`.
pub(crate) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(id): Path<String>,
) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-services:delete",
        &no_target(),
    )?;
    let missing = || not_found(&format!("Service {id} not found."));
    let uuid = if mv.at_least(53) {
        if !is_uuid_like(&id) {
            return Err(bad_request(&format!("Invalid uuid {id}")));
        }
        id.clone()
    } else {
        let n: i64 = id
            .trim()
            .parse()
            .map_err(|_| bad_request("Invalid input received: id must be an integer"))?;
        s.compute
            .service_list()
            .await?
            .into_iter()
            .find(|st| st.id == n)
            .map(|st| st.service.uuid)
            .ok_or_else(missing)?
    };
    match s.compute.service_delete(&uuid).await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(common_error::Error::NotFound { .. }) => Err(missing()),
        Err(e) => Err(ApiErr::from(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compute_model::ComputeService;

    fn state() -> ServiceState {
        ServiceState {
            service: ComputeService {
                uuid: "0b0a6a8e-1f29-4f0e-9b6a-4d1f5c3e2a11".into(),
                host: "h1".into(),
                binary: "nova-compute".into(),
                availability_zone: "nova".into(),
                disabled: true,
                disabled_reason: Some("maintenance".into()),
                forced_down: false,
                updated_at: "2026-01-01T00:00:00.000000".into(),
                node_uuid: "n1".into(),
                hypervisor_type: "QEMU".into(),
                hypervisor_version: 1,
                host_ip: "127.0.0.1".into(),
                vcpus: 1,
                memory_mb: 1,
                local_gb: 1,
                cpu_info: "{}".into(),
            },
            id: 3,
            up: false,
        }
    }

    #[test]
    fn ids_and_fields_per_microversion() {
        let v = view(&state(), Mv(1));
        assert_eq!(
            v,
            json!({"binary": "nova-compute", "host": "h1", "id": 3, "zone": "nova",
                   "status": "disabled", "state": "down",
                   "updated_at": "2026-01-01T00:00:00.000000",
                   "disabled_reason": "maintenance"})
        );
        let v = view(&state(), Mv(53));
        assert_eq!(v["id"], "0b0a6a8e-1f29-4f0e-9b6a-4d1f5c3e2a11");
        assert_eq!(v["forced_down"], false);
    }
}
