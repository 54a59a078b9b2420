//! `/v2.1/os-hypervisors`: list, detail, show (UUID ids from 2.53, integers before; paging
//! from 2.33; `hypervisor_hostname_pattern` and `with_servers` from 2.53), statistics and
//! uptime. Usage comes from placement's allocations on each node and instance counts.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use common_error::Error;
use compute_domain::service::Hypervisor;
use serde_json::{json, Value};

use crate::common::{
    bad_request, bool_strict, enforce, is_uuid_like, next_links, no_target, not_found,
    pagination_params, reply, ApiErr, Caller, Query, Res,
};
use crate::validate::{Kw, Schema};
use crate::{ApiState, Mv};

/// The id as the path and the marker spell it.
fn hv_id_text(h: &Hypervisor, mv: Mv) -> String {
    if mv.at_least(53) {
        h.state.service.node_uuid.clone()
    } else {
        h.state.id.to_string()
    }
}

fn hv_id(h: &Hypervisor, mv: Mv) -> Value {
    if mv.at_least(53) {
        json!(h.state.service.node_uuid)
    } else {
        json!(h.state.id)
    }
}

async fn view(
    s: &ApiState,
    h: &Hypervisor,
    mv: Mv,
    detail: bool,
    servers: bool,
) -> Result<Value, ApiErr> {
    let svc = &h.state.service;
    let mut v = json!({
        "id": hv_id(h, mv),
        "hypervisor_hostname": svc.host,
        "state": if h.state.up { "up" } else { "down" },
        "status": if svc.disabled { "disabled" } else { "enabled" },
    });
    if detail {
        v["hypervisor_type"] = json!(svc.hypervisor_type);
        v["hypervisor_version"] = json!(svc.hypervisor_version);
        v["host_ip"] = json!(svc.host_ip);
        v["service"] = json!({
            "id": if mv.at_least(53) { json!(svc.uuid) } else { json!(h.state.id) },
            "host": svc.host,
            "disabled_reason": svc.disabled_reason,
        });
        let free_ram = svc.memory_mb - h.memory_mb_used;
        let free_disk = svc.local_gb - h.local_gb_used;
        for (k, n) in [
            ("vcpus", svc.vcpus),
            ("memory_mb", svc.memory_mb),
            ("local_gb", svc.local_gb),
            ("vcpus_used", h.vcpus_used),
            ("memory_mb_used", h.memory_mb_used),
            ("local_gb_used", h.local_gb_used),
            ("free_ram_mb", free_ram),
            ("free_disk_gb", free_disk),
            ("current_workload", 0),
            ("running_vms", h.running_vms),
            ("disk_available_least", free_disk),
        ] {
            v[k] = json!(n);
        }
        v["cpu_info"] = if mv.at_least(28) {
            serde_json::from_str::<Value>(&svc.cpu_info)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}))
        } else {
            json!(svc.cpu_info)
        };
    }
    if servers {
        let list = s.compute.hypervisor_servers(&svc.node_uuid).await?;
        if !list.is_empty() || mv.at_least(75) {
            v["servers"] = json!(list
                .iter()
                .map(|(name, uuid)| json!({"name": name, "uuid": uuid}))
                .collect::<Vec<_>>());
        }
    }
    Ok(v)
}

fn list_params(mv: Mv) -> Vec<(&'static str, Schema)> {
    let mut p = Vec::new();
    if mv.at_least(33) {
        p.extend(pagination_params());
    }
    if mv.at_least(53) {
        p.push((
            "hypervisor_hostname_pattern",
            Schema(vec![Kw::Type(&["string"])]),
        ));
        p.push(("with_servers", Schema(vec![Kw::Type(&["string"])])));
    }
    p
}

fn with_servers(q: &Query, mv: Mv) -> Result<bool, ApiErr> {
    if !mv.at_least(53) {
        return Ok(false);
    }
    match q.get("with_servers") {
        Some(v) => bool_strict(v).map_err(|m| bad_request(&m)),
        None => Ok(false),
    }
}

async fn list(s: ApiState, caller: Caller, mv: Mv, raw: Option<String>, detail: bool) -> Res {
    let q = Query::parse(raw.as_deref());
    q.check(&list_params(mv), mv.at_least(53))?;
    let rule = if detail {
        "os_compute_api:os-hypervisors:list-detail"
    } else {
        "os_compute_api:os-hypervisors:list"
    };
    enforce(&s, &caller, rule, &no_target())?;
    let servers = with_servers(&q, mv)?;
    let mut all = s.compute.hypervisor_list().await?;
    let pattern = if mv.at_least(53) {
        q.get("hypervisor_hostname_pattern")
    } else {
        None
    };
    let mut links = mv.at_least(33);
    if let Some(p) = pattern {
        if q.has("limit") || q.has("marker") {
            return Err(bad_request(
                "Paging over hypervisors with the hypervisor_hostname_pattern query parameter \
                 is not supported.",
            ));
        }
        links = false;
        all.retain(|h| h.state.service.host.contains(p));
        if all.is_empty() {
            return Err(not_found(&format!(
                "No hypervisor matching '{p}' could be found."
            )));
        }
    } else if mv.at_least(33) {
        let (limit, marker) = crate::common::limit_marker(&q)?;
        if let Some(m) = marker {
            let pos = all
                .iter()
                .position(|h| hv_id_text(h, mv) == m)
                .ok_or_else(|| bad_request(&format!("marker [{m}] not found")))?;
            all.drain(..=pos);
        }
        if let Some(l) = limit {
            all.truncate(l);
        }
    }
    let mut items = Vec::new();
    for h in &all {
        items.push(view(&s, h, mv, detail, servers).await?);
    }
    let mut body = json!({ "hypervisors": items });
    if links {
        let path = if detail {
            "os-hypervisors/detail"
        } else {
            "os-hypervisors"
        };
        let last = all.last().map(|h| hv_id_text(h, mv));
        if let Some(l) = next_links(&s, path, &q, all.len(), last.as_deref()) {
            body["hypervisors_links"] = l;
        }
    }
    reply(StatusCode::OK, body)
}

/// `GET /v2.1/os-hypervisors`.
pub(crate) async fn index(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> Res {
    list(s, caller, mv, raw, false).await
}

/// `GET /v2.1/os-hypervisors/detail`.
pub(crate) async fn detail(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> Res {
    list(s, caller, mv, raw, true).await
}

/// The hypervisor `id` names (UUID from 2.53, else integer), or Nova's 400/404.
async fn find(s: &ApiState, mv: Mv, id: &str) -> Result<Hypervisor, ApiErr> {
    let missing = || not_found(&format!("Hypervisor with ID '{id}' could not be found."));
    if mv.at_least(53) {
        if !is_uuid_like(id) {
            return Err(bad_request(&format!("Invalid uuid {id}")));
        }
    } else if id.trim().parse::<i64>().is_err() {
        return Err(missing());
    }
    s.compute
        .hypervisor_list()
        .await?
        .into_iter()
        .find(|h| hv_id_text(h, mv) == id.trim())
        .ok_or_else(missing)
}

/// `GET /v2.1/os-hypervisors/{id}`.
pub(crate) async fn show(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Res {
    let q = Query::parse(raw.as_deref());
    let mut params = Vec::new();
    if mv.at_least(53) {
        params.push(("with_servers", Schema(vec![Kw::Type(&["string"])])));
    }
    q.check(&params, mv.at_least(53))?;
    enforce(
        &s,
        &caller,
        "os_compute_api:os-hypervisors:show",
        &no_target(),
    )?;
    let servers = with_servers(&q, mv)?;
    let h = find(&s, mv, &id).await?;
    reply(
        StatusCode::OK,
        json!({"hypervisor": view(&s, &h, mv, true, servers).await?}),
    )
}

/// `GET /v2.1/os-hypervisors/{id}/uptime`: the agents do not report it.
pub(crate) async fn uptime(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(id): Path<String>,
) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-hypervisors:uptime",
        &no_target(),
    )?;
    find(&s, mv, &id).await?;
    Err(ApiErr::from(Error::NotImplemented(
        "The requested functionality is not supported.".into(),
    )))
}

/// `GET /v2.1/os-hypervisors/statistics`.
pub(crate) async fn statistics(State(s): State<ApiState>, caller: Caller) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-hypervisors:statistics",
        &no_target(),
    )?;
    let all = s.compute.hypervisor_list().await?;
    let sum = |f: &dyn Fn(&Hypervisor) -> i64| all.iter().map(f).sum::<i64>();
    let memory = sum(&|h| h.state.service.memory_mb);
    let disk = sum(&|h| h.state.service.local_gb);
    let memory_used = sum(&|h| h.memory_mb_used);
    let disk_used = sum(&|h| h.local_gb_used);
    reply(
        StatusCode::OK,
        json!({"hypervisor_statistics": {
            "count": all.len(),
            "vcpus": sum(&|h| h.state.service.vcpus),
            "memory_mb": memory,
            "local_gb": disk,
            "vcpus_used": sum(&|h| h.vcpus_used),
            "memory_mb_used": memory_used,
            "local_gb_used": disk_used,
            "free_ram_mb": memory - memory_used,
            "free_disk_gb": disk - disk_used,
            "current_workload": 0,
            "running_vms": sum(&|h| h.running_vms),
            "disk_available_least": disk - disk_used,
        }}),
    )
}
