//! The read-only server sub-resources: `ips`, `os-instance-actions`, and (until networks
//! and volumes exist) the empty `os-volume_attachments` and `os-interface` lists.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use common_error::{Error, Result};
use common_http::HttpResult;
use compute_model::{Instance, InstanceAction, InstanceActionEvent};
use serde_json::{json, Map, Value};

use super::crud::load;
use super::hostid::host_id;
use super::query::MAX_LIMIT;
use super::schema::{Format, Kw, Schema};
use super::schemas::non_negative_integer;
use super::util::{
    next_link, not_found, query_pairs, server_target, strtime, to_stored_time, Caller,
};
use crate::{ApiState, Mv};

async fn prepare(s: &ApiState, caller: &Caller, id: &str, rule: &str) -> Result<Instance> {
    let inst = load(s, caller, id).await?;
    s.authorize(caller, rule, &server_target(&inst))?;
    Ok(inst)
}

/// `GET /servers/{id}/ips`: no networks yet.
pub(super) async fn ips(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    prepare(&s, &caller, &id, "os_compute_api:ips:index").await?;
    Ok(Json(json!({"addresses": {}})))
}

/// `GET /servers/{id}/ips/{network}`.
pub(super) async fn ips_show(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, _network)): Path<(String, String)>,
) -> HttpResult<Response> {
    prepare(&s, &caller, &id, "os_compute_api:ips:show").await?;
    Ok(not_found("Instance is not a member of specified network"))
}

/// `GET /servers/{id}/os-volume_attachments`: no volumes yet.
pub(super) async fn volume_attachments(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    prepare(
        &s,
        &caller,
        &id,
        "os_compute_api:os-volumes-attachments:index",
    )
    .await?;
    Ok(Json(json!({"volumeAttachments": []})))
}

/// `GET /servers/{id}/os-interface`: no ports yet.
pub(super) async fn interfaces(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    prepare(&s, &caller, &id, "os_compute_api:os-attach-interfaces:list").await?;
    Ok(Json(json!({"interfaceAttachments": []})))
}

fn action_view(mv: Mv, a: &InstanceAction) -> Value {
    let mut v = json!({
        "action": a.action,
        "instance_uuid": a.instance_uuid,
        "request_id": a.request_id,
        "user_id": a.user_id,
        "project_id": a.project_id,
        "start_time": strtime(&a.start_time),
        "message": a.message,
    });
    if mv.at_least(58) {
        v["updated_at"] = json!(strtime(&a.updated_at));
    }
    v
}

/// Nova's 2.58+ query schema of the action list (each parameter at most once).
fn actions_query_schema(mv: Mv) -> Schema {
    let single = |item: Schema| {
        Schema::any()
            .with(Kw::Type(&["array"]))
            .with(Kw::Items(Box::new(item)))
            .with(Kw::MaxItems(1))
    };
    let time = || {
        Schema::any()
            .with(Kw::Type(&["string"]))
            .with(Kw::Format(Format::DateTime))
    };
    let mut props = vec![
        ("limit", single(non_negative_integer())),
        ("marker", single(Schema::any().with(Kw::Type(&["string"])))),
        ("changes-since", single(time())),
    ];
    if mv.at_least(66) {
        props.push(("changes-before", single(time())));
    }
    Schema::any()
        .with(Kw::Type(&["object"]))
        .with(Kw::Properties(props))
        .with(Kw::AdditionalProperties(false))
}

/// `GET /servers/{id}/os-instance-actions` (paging and time filters from 2.58).
pub(super) async fn actions(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> HttpResult<Json<Value>> {
    let params = query_pairs(raw.as_deref());
    if mv.at_least(58) {
        let mut grouped = Map::new();
        for (k, v) in &params {
            if let Value::Array(a) = grouped.entry(k.clone()).or_insert_with(|| json!([])) {
                a.push(json!(v));
            }
        }
        actions_query_schema(mv)
            .validate(&Value::Object(grouped))
            .map_err(|e| Error::bad_request(e.query_message()))?;
    }
    let inst = prepare(&s, &caller, &id, "os_compute_api:os-instance-actions:list").await?;
    let mut list = s.compute.instance_actions(&caller.ctx, &inst.uuid).await?;
    list.sort_by(|a, b| b.start_time.cmp(&a.start_time));
    if !mv.at_least(58) {
        let views: Vec<Value> = list.iter().map(|a| action_view(mv, a)).collect();
        return Ok(Json(json!({"instanceActions": views})));
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let since = get("changes-since").and_then(|t| to_stored_time(&t));
    let before = get("changes-before").and_then(|t| to_stored_time(&t));
    if let (Some(a), Some(b)) = (&since, &before) {
        if b < a {
            return Err(Error::bad_request(
                "The value of changes-since must be less than or equal to changes-before.",
            )
            .into());
        }
    }
    list.retain(|a| {
        let t = strtime(&a.updated_at);
        since.as_ref().is_none_or(|s| t >= *s) && before.as_ref().is_none_or(|b| t <= *b)
    });
    if let Some(marker) = get("marker") {
        let pos = list
            .iter()
            .position(|a| a.request_id == marker)
            .ok_or_else(|| Error::bad_request(format!("Marker {marker} could not be found.")))?;
        list.drain(..=pos);
    }
    let page = get("limit")
        .map(|l| l.parse::<usize>().unwrap_or(MAX_LIMIT))
        .unwrap_or(MAX_LIMIT)
        .min(MAX_LIMIT);
    list.truncate(page);
    let views: Vec<Value> = list.iter().map(|a| action_view(mv, a)).collect();
    let mut body = json!({"instanceActions": views});
    if let Some(last) = list.last().filter(|_| page > 0 && list.len() == page) {
        let path = format!("servers/{id}/os-instance-actions");
        body["links"] = next_link(&s, &path, &params, &last.request_id);
    }
    Ok(Json(body))
}

fn event_view(mv: Mv, e: &InstanceActionEvent, project_id: &str, all_details: bool) -> Value {
    let mut v = json!({
        "event": e.event,
        "start_time": strtime(&e.start_time),
        "finish_time": e.finish_time.as_deref().map(strtime),
        "result": e.result,
    });
    if all_details {
        v["traceback"] = Value::Null;
        if mv.at_least(62) {
            v["host"] = json!(e.host.clone().unwrap_or_default());
        }
    }
    if mv.at_least(62) {
        v["hostId"] = json!(host_id(e.host.as_deref(), project_id));
    }
    v
}

/// `GET /servers/{id}/os-instance-actions/{request_id}`: the action with its events (for
/// admins always; for the owner from 2.51, without tracebacks).
pub(super) async fn action_show(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    Path((id, request_id)): Path<(String, String)>,
) -> HttpResult<Response> {
    let inst = prepare(&s, &caller, &id, "os_compute_api:os-instance-actions:show").await?;
    let (action, events) = match s
        .compute
        .instance_action(&caller.ctx, &inst.uuid, &request_id)
        .await
    {
        Ok(found) => found,
        Err(Error::NotFound { .. }) => {
            return Ok(not_found(&format!("Action {request_id} not found")))
        }
        Err(e) => return Err(e.into()),
    };
    let mut view = action_view(mv, &action);
    let all = s.can(
        &caller,
        "os_compute_api:os-instance-actions:events",
        &server_target(&inst),
    );
    if all || mv.at_least(51) {
        let project = if action.project_id.is_empty() {
            &inst.project_id
        } else {
            &action.project_id
        };
        let evs: Vec<Value> = events
            .iter()
            .map(|e| event_view(mv, e, project, all))
            .collect();
        view["events"] = json!(evs);
    }
    Ok(Json(json!({"instanceAction": view})).into_response())
}
