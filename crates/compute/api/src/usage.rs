//! `/v2.1/os-simple-tenant-usage` (admins: every project) and `/{project_id}` (that
//! project's readers): server hours and the vCPU, RAM and disk hours they add up to over
//! `start`..`end` (default: now), paged by server from 2.40.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use chrono::NaiveDateTime;
use compute_domain::quota::{ServerUsage, TenantUsage};
use serde_json::{json, Value};

use crate::common::{
    bad_request, enforce, next_links, own_target, pagination_params, project_target, reply, ApiErr,
    Caller, Query, Res,
};
use crate::validate::{Kw, Schema};
use crate::{ApiState, Mv};

fn time(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// Nova's `_parse_datetime`: three formats, else "Invalid datetime string: ...".
fn parse(s: Option<&str>) -> Result<NaiveDateTime, ApiErr> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(chrono::Utc::now().naive_utc());
    };
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t);
        }
    }
    Err(bad_request(
        "Invalid datetime string: Datetime is in invalid format",
    ))
}

fn period(q: &Query) -> Result<(NaiveDateTime, NaiveDateTime), ApiErr> {
    let start = parse(q.get("start"))?;
    let mut stop = parse(q.get("end"))?;
    if start >= stop {
        return Err(bad_request(
            "Invalid start time. The start time cannot occur after the end time.",
        ));
    }
    let now = chrono::Utc::now().naive_utc();
    if stop > now {
        stop = now;
    }
    Ok((start, stop))
}

fn params(mv: Mv) -> Vec<(&'static str, Schema)> {
    let text = || Schema(vec![Kw::Type(&["string"])]);
    let mut p = vec![("start", text()), ("end", text()), ("detailed", text())];
    if mv.at_least(40) {
        p.extend(pagination_params());
    }
    p
}

fn server_view(u: &ServerUsage) -> Value {
    json!({
        "instance_id": u.instance_id,
        "name": u.name,
        "hours": u.hours,
        "flavor": u.flavor,
        "memory_mb": u.memory_mb,
        "local_gb": u.local_gb,
        "vcpus": u.vcpus,
        "tenant_id": u.tenant_id,
        "started_at": time(&u.started_at),
        "ended_at": u.ended_at.as_ref().map(time),
        "state": u.state,
        "uptime": u.uptime,
    })
}

fn tenant_view(t: &TenantUsage, detailed: bool) -> Value {
    let mut v = json!({
        "tenant_id": t.tenant_id,
        "total_local_gb_usage": t.total_local_gb_usage,
        "total_vcpus_usage": t.total_vcpus_usage,
        "total_memory_mb_usage": t.total_memory_mb_usage,
        "total_hours": t.total_hours,
        "start": time(&t.start),
        "stop": time(&t.stop),
    });
    if detailed {
        v["server_usages"] = json!(t.server_usages.iter().map(server_view).collect::<Vec<_>>());
    }
    v
}

fn page(q: &Query, mv: Mv) -> Result<(Option<usize>, Option<String>), ApiErr> {
    if mv.at_least(40) {
        crate::common::limit_marker(q)
    } else {
        Ok((Some(crate::common::MAX_LIMIT), None))
    }
}

/// `GET /v2.1/os-simple-tenant-usage`.
pub(crate) async fn index(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> Res {
    let q = Query::parse(raw.as_deref());
    q.check(&params(mv), mv.at_least(75))?;
    enforce(
        &s,
        &caller,
        "os_compute_api:os-simple-tenant-usage:list",
        &own_target(&caller),
    )?;
    let (start, stop) = period(&q)?;
    let detailed = q.get("detailed") == Some("1");
    let (limit, marker) = page(&q, mv)?;
    let (usages, lines) = s
        .compute
        .tenant_usage(None, start, stop, limit, marker.as_deref())
        .await?;
    let mut body = json!({"tenant_usages": usages.iter().map(|t| tenant_view(t, detailed)).collect::<Vec<_>>()});
    if mv.at_least(40) {
        let last = lines.last().map(|l| l.instance_id.as_str());
        if let Some(l) = next_links(&s, "os-simple-tenant-usage", &q, lines.len(), last) {
            body["tenant_usages_links"] = l;
        }
    }
    reply(StatusCode::OK, body)
}

/// `GET /v2.1/os-simple-tenant-usage/{project_id}`.
pub(crate) async fn show(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> Res {
    let q = Query::parse(raw.as_deref());
    let mut p = params(mv);
    p.retain(|(n, _)| *n != "detailed");
    q.check(&p, mv.at_least(75))?;
    enforce(
        &s,
        &caller,
        "os_compute_api:os-simple-tenant-usage:show",
        &project_target(&project),
    )?;
    let (start, stop) = period(&q)?;
    let (limit, marker) = page(&q, mv)?;
    let (usages, lines) = s
        .compute
        .tenant_usage(Some(&project), start, stop, limit, marker.as_deref())
        .await?;
    // Nova answers `{}` for a project without usage in the period, which OSC's `usage
    // show` cannot format (it formats each total as a float); a zero usage reads the same
    // to every client and works with the CLI.
    let usage = match usages.first() {
        Some(t) => tenant_view(t, true),
        None => tenant_view(
            &compute_domain::quota::TenantUsage {
                tenant_id: project.clone(),
                server_usages: Vec::new(),
                total_local_gb_usage: 0.0,
                total_vcpus_usage: 0.0,
                total_memory_mb_usage: 0.0,
                total_hours: 0.0,
                start,
                stop,
            },
            true,
        ),
    };
    let mut body = json!({ "tenant_usage": usage });
    if mv.at_least(40) {
        let last = lines.last().map(|l| l.instance_id.as_str());
        let path = format!("os-simple-tenant-usage/{project}");
        if let Some(l) = next_links(&s, &path, &q, lines.len(), last) {
            body["tenant_usage_links"] = l;
        }
    }
    reply(StatusCode::OK, body)
}
