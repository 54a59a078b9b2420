//! `/v2.0/qos` (`qos`, `qos-bw-limit-direction`, `qos-default`, `qos-rule-type-details`):
//! policies, their bandwidth limit rules, and the rule types this cloud enforces (tc on the
//! port's tap device). A policy's `shared` flag makes it readable by every project.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use common_error::Error;
use common_http::{AuthContext, Authed, HttpResult};
use common_policy::Target;
use network_model::errors::{bad_request, invalid_attribute};
use network_model::l3::{
    direction_str, parse_direction, qos_policy_not_found, qos_rule_not_found, BandwidthLimitChange,
    BandwidthLimitRule, NewQosPolicy, QosPolicy, QosPolicyUpdate, MAX_KBPS,
    RULE_TYPE_BANDWIDTH_LIMIT,
};
use serde_json::{json, Value};

use crate::body::{self, repr, Attrs, NAME_MAX_LEN};
use crate::list::{self, ListQuery};
use crate::{caller, py_bool, views, ApiState};

/// Neutron's target for a policy (and for its rules).
fn target(p: &QosPolicy) -> Target {
    common_policy::target(&[
        ("project_id", &p.project_id),
        ("tenant_id", &p.project_id),
        ("shared", py_bool(p.shared)),
        ("id", &p.id),
    ])
}

/// A rule as its own resource shows it.
fn rule_view(r: &BandwidthLimitRule) -> Value {
    json!({
        "id": r.id,
        "max_kbps": r.max_kbps,
        "max_burst_kbps": r.max_burst_kbps,
        "direction": direction_str(r.direction),
    })
}

/// A policy as Neutron renders it, its rules typed.
fn view(p: &QosPolicy) -> Value {
    let rules: Vec<Value> = p
        .rules
        .iter()
        .map(|r| {
            let mut v = rule_view(r);
            v["qos_policy_id"] = json!(p.id);
            v["type"] = json!(RULE_TYPE_BANDWIDTH_LIMIT);
            v
        })
        .collect();
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "project_id": p.project_id,
        "tenant_id": p.project_id,
        "shared": p.shared,
        "is_default": p.is_default,
        "rules": rules,
        "tags": [],
        "created_at": network_model::wire_time(&p.created_at),
        "updated_at": network_model::wire_time(&p.updated_at),
        "revision_number": p.revision_number,
    })
}

fn render(s: &ApiState, auth: &AuthContext, p: &QosPolicy) -> Value {
    views::strip(s, auth, "policy", &target(p), view(p))
}

/// A policy the caller may see (its own or a shared one; `get_policy`), else
/// `QosPolicyNotFound`.
async fn fetch(s: &ApiState, auth: &AuthContext, id: &str) -> Result<QosPolicy, Error> {
    let p = s.net.qos_policy_get(&caller(s, auth), id).await?;
    if !s.allowed(auth, "get_policy", &target(&p)) {
        return Err(qos_policy_not_found(id));
    }
    Ok(p)
}

pub async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let q = ListQuery::parse(q.as_deref())?;
    let items = s
        .net
        .qos_policy_list(&caller(&s, &auth))
        .await?
        .iter()
        .filter(|p| s.allowed(&auth, "get_policy", &target(p)))
        .map(|p| render(&s, &auth, p))
        .collect();
    Ok(list::respond(
        &s.v2_url(),
        "policies",
        "qos/policies",
        items,
        &q,
        qos_policy_not_found,
    )?)
}

pub async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let p = fetch(&s, &auth, &id).await?;
    let v = list::select_fields(render(&s, &auth, &p), &list::show_fields(q.as_deref()));
    Ok(Json(json!({"policy": v})))
}

const READ_ONLY: &[&str] = &["id", "rules", "created_at", "updated_at", "revision_number"];

pub async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    raw: Bytes,
) -> HttpResult<(StatusCode, Json<Value>)> {
    let c = caller(&s, &auth);
    let mut b = body::parse(&raw, "policy", true)?;
    b.refuse(READ_ONLY)?;
    let project = c.project_for(b.project()?.as_deref());
    let new = NewQosPolicy {
        project_id: project.clone(),
        name: b.string("name", NAME_MAX_LEN)?.unwrap_or_default(),
        description: b.string("description", NAME_MAX_LEN)?.unwrap_or_default(),
        shared: b.boolean("shared")?.unwrap_or(false),
        is_default: b.boolean("is_default")?.unwrap_or(false),
    };
    let _ = b.take("tags");
    b.finish()?;
    let t = common_policy::target(&[
        ("project_id", &project),
        ("tenant_id", &project),
        ("shared", py_bool(new.shared)),
    ]);
    s.authorize(&auth, "create_policy", &t)?;
    let p = s.net.qos_policy_create(new).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"policy": render(&s, &auth, &p)})),
    ))
}

pub async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    raw: Bytes,
) -> HttpResult<Json<Value>> {
    let current = fetch(&s, &auth, &id).await?;
    let mut b = body::parse(&raw, "policy", false)?;
    b.refuse(READ_ONLY)?;
    b.refuse(&["project_id", "tenant_id"])?;
    let up = QosPolicyUpdate {
        name: b.string("name", NAME_MAX_LEN)?,
        description: b.string("description", NAME_MAX_LEN)?,
        shared: b.boolean("shared")?,
        is_default: b.boolean("is_default")?,
    };
    b.finish()?;
    s.authorize(&auth, "update_policy", &target(&current))?;
    let p = s.net.qos_policy_update(&caller(&s, &auth), &id, up).await?;
    Ok(Json(json!({"policy": render(&s, &auth, &p)})))
}

pub async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    let current = fetch(&s, &auth, &id).await?;
    s.authorize(&auth, "delete_policy", &target(&current))?;
    s.net.qos_policy_delete(&caller(&s, &auth), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- bandwidth_limit_rules ---------------------------------------------------------------

/// The policy of a rule request, readable by the caller under `get_<rule>` too.
async fn rule_policy(
    s: &ApiState,
    auth: &AuthContext,
    policy_id: &str,
) -> Result<QosPolicy, Error> {
    let p = fetch(s, auth, policy_id).await?;
    if !s.allowed(auth, "get_policy_bandwidth_limit_rule", &target(&p)) {
        return Err(qos_policy_not_found(policy_id));
    }
    Ok(p)
}

pub async fn rule_list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(policy_id): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let q = ListQuery::parse(q.as_deref())?;
    let p = rule_policy(&s, &auth, &policy_id).await?;
    let items = p.rules.iter().map(rule_view).collect();
    let pid = p.id.clone();
    Ok(list::respond(
        &s.v2_url(),
        "bandwidth_limit_rules",
        &format!("qos/policies/{}/bandwidth_limit_rules", p.id),
        items,
        &q,
        move |m| qos_rule_not_found(m, &pid),
    )?)
}

pub async fn rule_show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((policy_id, rule_id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let p = rule_policy(&s, &auth, &policy_id).await?;
    let r = p
        .rules
        .iter()
        .find(|r| r.id == rule_id)
        .ok_or_else(|| qos_rule_not_found(&rule_id, &policy_id))?;
    let v = list::select_fields(rule_view(r), &list::show_fields(q.as_deref()));
    Ok(Json(json!({"bandwidth_limit_rule": v})))
}

/// `max_kbps` / `max_burst_kbps`: integers in Neutron's range.
fn kbps(b: &mut Attrs, attr: &str) -> Result<Option<i64>, Error> {
    let Some(v) = b.int(attr)? else {
        return Ok(None);
    };
    if v < 0 {
        return Err(invalid_attribute(
            attr,
            format!("'{v}' is too small - must be at least '0'"),
        ));
    }
    if v > MAX_KBPS {
        return Err(invalid_attribute(
            attr,
            format!("'{v}' is too large - must be no larger than '{MAX_KBPS}'"),
        ));
    }
    Ok(Some(v))
}

fn rule_change(b: &mut Attrs) -> Result<BandwidthLimitChange, Error> {
    let max_kbps = kbps(b, "max_kbps")?;
    let max_burst_kbps = kbps(b, "max_burst_kbps")?;
    let direction = match b.take("direction") {
        None => None,
        Some(Value::String(d)) if parse_direction(&d).is_some() => parse_direction(&d),
        Some(other) => {
            return Err(invalid_attribute(
                "direction",
                format!("{} is not in valid_values", repr(&other)),
            ))
        }
    };
    Ok(BandwidthLimitChange {
        max_kbps,
        max_burst_kbps,
        direction,
    })
}

pub async fn rule_create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(policy_id): Path<String>,
    raw: Bytes,
) -> HttpResult<(StatusCode, Json<Value>)> {
    let p = rule_policy(&s, &auth, &policy_id).await?;
    let mut b = body::parse(&raw, "bandwidth_limit_rule", true)?;
    b.refuse(&["id"])?;
    let change = rule_change(&mut b)?;
    let _ = b.project()?;
    b.finish()?;
    if change.max_kbps.is_none() {
        return Err(bad_request(
            "Failed to parse request. Required attribute 'max_kbps' not specified",
        )
        .into());
    }
    s.authorize(&auth, "create_policy_bandwidth_limit_rule", &target(&p))?;
    let r = s
        .net
        .qos_rule_create(&caller(&s, &auth), &policy_id, change)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"bandwidth_limit_rule": rule_view(&r)})),
    ))
}

pub async fn rule_update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((policy_id, rule_id)): Path<(String, String)>,
    raw: Bytes,
) -> HttpResult<Json<Value>> {
    let p = rule_policy(&s, &auth, &policy_id).await?;
    if !p.rules.iter().any(|r| r.id == rule_id) {
        return Err(qos_rule_not_found(&rule_id, &policy_id).into());
    }
    let mut b = body::parse(&raw, "bandwidth_limit_rule", false)?;
    b.refuse(&["id", "project_id", "tenant_id"])?;
    let change = rule_change(&mut b)?;
    b.finish()?;
    s.authorize(&auth, "update_policy_bandwidth_limit_rule", &target(&p))?;
    let r = s
        .net
        .qos_rule_update(&caller(&s, &auth), &policy_id, &rule_id, change)
        .await?;
    Ok(Json(json!({"bandwidth_limit_rule": rule_view(&r)})))
}

pub async fn rule_delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path((policy_id, rule_id)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    let p = rule_policy(&s, &auth, &policy_id).await?;
    if !p.rules.iter().any(|r| r.id == rule_id) {
        return Err(qos_rule_not_found(&rule_id, &policy_id).into());
    }
    s.authorize(&auth, "delete_policy_bandwidth_limit_rule", &target(&p))?;
    s.net
        .qos_rule_delete(&caller(&s, &auth), &policy_id, &rule_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- rule types --------------------------------------------------------------------------

pub async fn rule_types(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    s.authorize(&auth, "get_rule_type", &Target::new())?;
    // `all_rules` and `all_supported` ask for the types Neutron knows or any driver
    // supports: here both are the types enforced.
    let q = ListQuery::parse(q.as_deref())?;
    let mut types: Vec<Value> = s
        .net
        .qos_rule_types()
        .into_iter()
        .map(|t| json!({"type": t}))
        .collect();
    for (k, wanted) in &q.filters {
        match k.as_str() {
            "all_rules" | "all_supported" => {}
            "type" => types.retain(|t| wanted.iter().any(|w| t["type"] == w.as_str())),
            other => {
                return Err(
                    bad_request(format!("[{other}] is invalid attribute for filtering")).into(),
                )
            }
        }
    }
    let types: Vec<Value> = types
        .into_iter()
        .map(|t| list::select_fields(t, &q.fields))
        .collect();
    Ok(Json(json!({"rule_types": types})))
}

pub async fn rule_type_show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(name): Path<String>,
) -> HttpResult<Json<Value>> {
    s.authorize(&auth, "get_rule_type", &Target::new())?;
    if !s.net.qos_rule_types().contains(&name.as_str()) {
        return Err(Error::not_found("qos_rule_type", name).into());
    }
    let range = json!({"start": 0, "end": MAX_KBPS});
    Ok(Json(json!({"rule_type": {
        "type": name,
        "drivers": [{
            "name": "linuxbridge",
            "supported_parameters": [
                {"parameter_name": "max_kbps", "parameter_type": "range", "parameter_values": range},
                {"parameter_name": "max_burst_kbps", "parameter_type": "range", "parameter_values": range},
                {"parameter_name": "direction", "parameter_type": "choices",
                 "parameter_values": ["ingress", "egress"]},
            ],
        }],
    }})))
}

// --- qos_policy_id of ports and networks ---------------------------------------------------

/// `qos_policy_id` of a port or network request (`uuid_or_none`): `Some(None)` clears.
pub(crate) fn policy_id(b: &mut Attrs) -> Result<Option<Option<String>>, Error> {
    match b.take("qos_policy_id") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(id)) if crate::routers::is_uuid(&id) => Ok(Some(Some(id))),
        Some(other) => Err(invalid_attribute(
            "qos_policy_id",
            format!("'{}' is not a valid UUID", repr(&other)),
        )),
    }
}

fn set_policy(v: &mut Value, bindings: &std::collections::BTreeMap<String, String>) {
    if let Value::Object(o) = v {
        let policy = o
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| bindings.get(id))
            .cloned();
        o.insert("qos_policy_id".into(), json!(policy));
    }
}

/// Adds `qos_policy_id` to rendered ports.
pub(crate) async fn add_port_policies(s: &ApiState, items: &mut [Value]) -> Result<(), Error> {
    let bindings = s.net.qos_port_bindings().await?;
    items.iter_mut().for_each(|v| set_policy(v, &bindings));
    Ok(())
}

/// Adds `qos_policy_id` to rendered networks.
pub(crate) async fn add_network_policies(s: &ApiState, items: &mut [Value]) -> Result<(), Error> {
    let bindings = s.net.qos_network_bindings().await?;
    items.iter_mut().for_each(|v| set_policy(v, &bindings));
    Ok(())
}

/// A rendered port with its `qos_policy_id`.
pub(crate) async fn port_with_policy(s: &ApiState, mut v: Value) -> Result<Value, Error> {
    let id = v["id"].as_str().unwrap_or_default().to_string();
    v["qos_policy_id"] = json!(s.net.qos_policy_of_port(&id).await?);
    Ok(v)
}

/// A rendered network with its `qos_policy_id`.
pub(crate) async fn network_with_policy(s: &ApiState, mut v: Value) -> Result<Value, Error> {
    let id = v["id"].as_str().unwrap_or_default().to_string();
    v["qos_policy_id"] = json!(s.net.qos_policy_of_network(&id).await?);
    Ok(v)
}
