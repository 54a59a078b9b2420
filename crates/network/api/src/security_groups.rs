//! `/v2.0/security-groups` and `/v2.0/security-group-rules`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use common_http::{Authed, HttpResult};
use common_policy::Target;
use network_domain::security_group::{not_found, rule_not_found};
use network_domain::{RuleCreate, SecurityGroupCreate, SecurityGroupUpdate};
use network_model::errors::invalid_attribute;
use network_model::{SecurityGroup, SecurityGroupRule};
use serde_json::{json, Value};

use crate::body::{self, repr, NAME_MAX_LEN};
use crate::list::{self, ListQuery};
use crate::{caller, ApiState};

fn target(g: &SecurityGroup) -> Target {
    common_policy::target(&[
        ("project_id", &g.project_id),
        ("tenant_id", &g.project_id),
        ("id", &g.id),
    ])
}

fn rule_target(r: &SecurityGroupRule, group_project: &str) -> Target {
    common_policy::target(&[
        ("project_id", &r.project_id),
        ("tenant_id", &r.project_id),
        ("security_group:project_id", group_project),
        ("id", &r.id),
    ])
}

pub async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let q = ListQuery::parse(q.as_deref())?;
    let c = caller(&s, &auth);
    let items = s
        .net
        .security_group_list(&c)
        .await?
        .iter()
        .filter(|g| s.allowed(&auth, "get_security_group", &target(g)))
        .map(crate::views::security_group)
        .collect();
    Ok(list::respond(
        &s.v2_url(),
        "security_groups",
        "security-groups",
        items,
        &q,
        not_found,
    )?)
}

async fn fetch(
    s: &ApiState,
    auth: &common_http::AuthContext,
    id: &str,
) -> Result<SecurityGroup, common_error::Error> {
    let g = s.net.security_group_get(&caller(s, auth), id).await?;
    if !s.allowed(auth, "get_security_group", &target(&g)) {
        return Err(not_found(id));
    }
    Ok(g)
}

pub async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let g = fetch(&s, &auth, &id).await?;
    let v = list::select_fields(
        crate::views::security_group(&g),
        &list::show_fields(q.as_deref()),
    );
    Ok(Json(json!({"security_group": v})))
}

const READ_ONLY: &[&str] = &[
    "id",
    "security_group_rules",
    "created_at",
    "updated_at",
    "revision_number",
    "shared",
];

pub async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    raw: Bytes,
) -> HttpResult<(StatusCode, Json<Value>)> {
    let c = caller(&s, &auth);
    let mut b = body::parse(&raw, "security_group", true)?;
    b.refuse(READ_ONLY)?;
    let project = c.project_for(b.project()?.as_deref());
    let new = SecurityGroupCreate {
        project_id: Some(project.clone()),
        name: b.string("name", NAME_MAX_LEN)?.unwrap_or_default(),
        description: b.string("description", NAME_MAX_LEN)?.unwrap_or_default(),
        stateful: b.boolean("stateful")?.unwrap_or(true),
    };
    let _ = b.take("tags");
    b.finish()?;
    s.authorize(
        &auth,
        "create_security_group",
        &common_policy::target(&[("project_id", &project), ("tenant_id", &project)]),
    )?;
    let g = s.net.security_group_create(&c, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"security_group": crate::views::security_group(&g)})),
    ))
}

pub async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    raw: Bytes,
) -> HttpResult<Json<Value>> {
    let c = caller(&s, &auth);
    let current = fetch(&s, &auth, &id).await?;
    let mut b = body::parse(&raw, "security_group", false)?;
    b.refuse(READ_ONLY)?;
    b.refuse(&["project_id", "tenant_id"])?;
    let up = SecurityGroupUpdate {
        name: b.string("name", NAME_MAX_LEN)?,
        description: b.string("description", NAME_MAX_LEN)?,
        stateful: b.boolean("stateful")?,
    };
    b.finish()?;
    s.authorize(&auth, "update_security_group", &target(&current))?;
    let g = s.net.security_group_update(&c, &id, up).await?;
    Ok(Json(
        json!({"security_group": crate::views::security_group(&g)}),
    ))
}

pub async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    let c = caller(&s, &auth);
    let current = fetch(&s, &auth, &id).await?;
    s.authorize(&auth, "delete_security_group", &target(&current))?;
    s.net.security_group_delete(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn group_project(s: &ApiState, group_id: &str) -> Result<String, common_error::Error> {
    Ok(s.net
        .store()
        .security_group_get(group_id)
        .await?
        .map(|g| g.project_id)
        .unwrap_or_default())
}

pub async fn rule_list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let q = ListQuery::parse(q.as_deref())?;
    let c = caller(&s, &auth);
    let groups: std::collections::HashMap<String, String> = s
        .net
        .store()
        .security_group_list(c.scope())
        .await?
        .into_iter()
        .map(|g| (g.id, g.project_id))
        .collect();
    let items = s
        .net
        .security_group_rule_list(&c)
        .await?
        .iter()
        .filter(|r| {
            let gp = groups
                .get(&r.security_group_id)
                .map(String::as_str)
                .unwrap_or("");
            s.allowed(&auth, "get_security_group_rule", &rule_target(r, gp))
        })
        .map(crate::views::security_group_rule)
        .collect();
    Ok(list::respond(
        &s.v2_url(),
        "security_group_rules",
        "security-group-rules",
        items,
        &q,
        rule_not_found,
    )?)
}

async fn rule_fetch(
    s: &ApiState,
    auth: &common_http::AuthContext,
    id: &str,
) -> Result<(SecurityGroupRule, String), common_error::Error> {
    let r = s.net.security_group_rule_get(&caller(s, auth), id).await?;
    let gp = group_project(s, &r.security_group_id).await?;
    if !s.allowed(auth, "get_security_group_rule", &rule_target(&r, &gp)) {
        return Err(rule_not_found(id));
    }
    Ok((r, gp))
}

pub async fn rule_show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let (r, _) = rule_fetch(&s, &auth, &id).await?;
    let v = list::select_fields(
        crate::views::security_group_rule(&r),
        &list::show_fields(q.as_deref()),
    );
    Ok(Json(json!({"security_group_rule": v})))
}

pub async fn rule_create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    raw: Bytes,
) -> HttpResult<(StatusCode, Json<Value>)> {
    let c = caller(&s, &auth);
    let mut b = body::parse(&raw, "security_group_rule", true)?;
    b.refuse(&["id", "created_at", "updated_at", "revision_number"])?;
    let group_id = b.required_string("security_group_id", 36)?;
    let direction = b.required_string("direction", 16)?;
    let protocol = match b.take("protocol") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(invalid_attribute(
                "protocol",
                format!("'{}' is not a valid protocol", repr(&other)),
            )
            .into())
        }
    };
    let project = b.project()?;
    let new = RuleCreate {
        project_id: project.clone(),
        security_group_id: group_id.clone(),
        direction,
        ethertype: b.string("ethertype", 16)?,
        protocol,
        port_range_min: b.nullable_int("port_range_min")?.flatten(),
        port_range_max: b.nullable_int("port_range_max")?.flatten(),
        remote_ip_prefix: b.nullable_string("remote_ip_prefix", 64)?.flatten(),
        remote_group_id: b.nullable_string("remote_group_id", 36)?.flatten(),
        description: b.string("description", NAME_MAX_LEN)?.unwrap_or_default(),
    };
    let _ = b.take("remote_address_group_id");
    b.finish()?;
    let g = fetch(&s, &auth, &group_id).await?;
    let pid = project.unwrap_or_else(|| g.project_id.clone());
    let t = common_policy::target(&[
        ("project_id", &pid),
        ("tenant_id", &pid),
        ("security_group:project_id", &g.project_id),
    ]);
    s.authorize(&auth, "create_security_group_rule", &t)?;
    let r = s.net.security_group_rule_create(&c, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"security_group_rule": crate::views::security_group_rule(&r)})),
    ))
}

pub async fn rule_update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    raw: Bytes,
) -> HttpResult<Json<Value>> {
    let c = caller(&s, &auth);
    let (current, gp) = rule_fetch(&s, &auth, &id).await?;
    let mut b = body::parse(&raw, "security_group_rule", false)?;
    let description = b.string("description", NAME_MAX_LEN)?;
    for name in b.names() {
        b.refuse(&[name.as_str()])?;
    }
    b.finish()?;
    s.authorize(
        &auth,
        "update_security_group_rule",
        &rule_target(&current, &gp),
    )?;
    let r = match description {
        Some(d) => s.net.security_group_rule_update(&c, &id, d).await?,
        None => current,
    };
    Ok(Json(
        json!({"security_group_rule": crate::views::security_group_rule(&r)}),
    ))
}

pub async fn rule_delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    let c = caller(&s, &auth);
    let (current, gp) = rule_fetch(&s, &auth, &id).await?;
    s.authorize(
        &auth,
        "delete_security_group_rule",
        &rule_target(&current, &gp),
    )?;
    s.net.security_group_rule_delete(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
