//! `GET /servers`, `GET /servers/detail`, `GET|PUT|DELETE /servers/{id}`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use common_error::Error;
use common_http::HttpResult;
use common_policy::Target;
use compute_domain::server::ServerUpdate;
use compute_model::Instance;
use serde_json::{json, Value};

use super::util::{body_json, json_str, next_link, own_target, query_pairs, server_target, Caller};
use super::views::{self, ViewOpts};
use super::{query, schemas};
use crate::{ApiState, Mv};

/// Fills the policy-dependent parts of a view (`fatal=False` checks in Nova's view builder).
pub(crate) fn with_policy(
    s: &ApiState,
    caller: &Caller,
    mv: Mv,
    target: &Target,
    mut o: ViewOpts,
) -> ViewOpts {
    o.extended_attr = s.can(
        caller,
        "os_compute_api:os-extended-server-attributes",
        target,
    );
    o.host_status =
        mv.at_least(16) && s.can(caller, "os_compute_api:servers:show:host_status", target);
    o.extra_specs = mv.at_least(47)
        && s.can(
            caller,
            "os_compute_api:servers:show:flavor-extra-specs",
            target,
        );
    o.is_admin = caller.ctx.is_admin;
    o
}

/// The server as the caller may see it: its project's, or any for admins; else 404.
pub(crate) async fn load(s: &ApiState, caller: &Caller, id: &str) -> Result<Instance, Error> {
    s.compute.server_get(&caller.ctx, id).await
}

async fn list(
    s: ApiState,
    mv: Mv,
    caller: Caller,
    raw: Option<String>,
    detail: bool,
) -> HttpResult<Json<Value>> {
    let rule = if detail {
        "os_compute_api:servers:detail"
    } else {
        "os_compute_api:servers:index"
    };
    let params = query_pairs(raw.as_deref());
    query::validate(mv, &params)?;
    let own = own_target(&caller);
    s.authorize(&caller, rule, &own)?;
    let q = query::parse(&s, mv, &caller, params, detail)?;
    if q.nothing {
        return Ok(Json(json!({"servers": []})));
    }
    let found = s.compute.server_list(&caller.ctx, &q.filter).await?;
    let servers: Vec<Value> = if detail {
        let o = with_policy(&s, &caller, mv, &own, ViewOpts::show());
        let uuids: Vec<String> = found.iter().map(|i| i.uuid.clone()).collect();
        let nets = s.compute.server_networking(&uuids).await?;
        found
            .iter()
            .map(|i| {
                let mut v = views::server(&s.base_url, mv, i, o);
                views::networking(&mut v, nets.get(&i.uuid));
                v
            })
            .collect()
    } else {
        found.iter().map(|i| views::basic(&s.base_url, i)).collect()
    };
    let mut body = json!({"servers": servers});
    if let Some(last) = found.last().filter(|_| q.page > 0 && found.len() == q.page) {
        let path = if detail { "servers/detail" } else { "servers" };
        body["servers_links"] = next_link(&s, path, &q.params, &last.uuid);
    }
    Ok(Json(body))
}

/// `GET /servers`.
pub(super) async fn index(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    list(s, mv, caller, q, false).await
}

/// `GET /servers/detail`.
pub(super) async fn detail(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    list(s, mv, caller, q, true).await
}

/// `GET /servers/{id}`.
pub(super) async fn show(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let inst = load(&s, &caller, &id).await?;
    let target = server_target(&inst);
    s.authorize(&caller, "os_compute_api:servers:show", &target)?;
    let o = with_policy(&s, &caller, mv, &target, ViewOpts::show());
    let mut view = views::server(&s.base_url, mv, &inst, o);
    let nets = s
        .compute
        .server_networking(std::slice::from_ref(&inst.uuid))
        .await?;
    views::networking(&mut view, nets.get(&inst.uuid));
    Ok(Json(json!({ "server": view })))
}

/// The body `PUT /servers/{id}` and rebuild answer with.
pub(crate) async fn written_view(
    s: &ApiState,
    caller: &Caller,
    mv: Mv,
    inst: &Instance,
) -> Result<Value, Error> {
    let mut o = ViewOpts::after_write(mv);
    if mv.at_least(75) {
        o = with_policy(s, caller, mv, &server_target(inst), o);
    } else {
        o.extra_specs = mv.at_least(47)
            && s.can(
                caller,
                "os_compute_api:servers:show:flavor-extra-specs",
                &server_target(inst),
            );
        o.is_admin = caller.ctx.is_admin;
    }
    let mut view = views::server(&s.base_url, mv, inst, o);
    let nets = s
        .compute
        .server_networking(std::slice::from_ref(&inst.uuid))
        .await?;
    views::networking(&mut view, nets.get(&inst.uuid));
    Ok(view)
}

/// `PUT /servers/{id}`.
pub(super) async fn update(
    State(s): State<ApiState>,
    mv: Mv,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Json<Value>> {
    let body = body_json(&body)?;
    schemas::update(mv)
        .validate(&body)
        .map_err(|e| Error::bad_request(e.body_message()))?;
    let inst = load(&s, &caller, &id).await?;
    s.authorize(
        &caller,
        "os_compute_api:servers:update",
        &server_target(&inst),
    )?;
    let server = &body["server"];
    let u = ServerUpdate {
        name: json_str(server.get("name")).map(|n| n.trim().to_string()),
        description: server
            .get("description")
            .map(|d| d.as_str().map(str::to_string)),
        hostname: None,
        access_ip_v4: json_str(server.get("accessIPv4")),
        access_ip_v6: json_str(server.get("accessIPv6")),
    };
    let inst = s.compute.server_update(&caller.ctx, &inst.uuid, u).await?;
    Ok(Json(
        json!({"server": written_view(&s, &caller, mv, &inst).await?}),
    ))
}

/// `DELETE /servers/{id}`.
pub(super) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> HttpResult<Response> {
    let inst = load(&s, &caller, &id).await?;
    s.authorize(
        &caller,
        "os_compute_api:servers:delete",
        &server_target(&inst),
    )?;
    s.compute
        .server_delete(&caller.ctx, &inst.uuid, false)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
