//! `/v2.0/floatingips` (the floating IP half of `router`, with `fip-port-details`):
//! allocation on an external network, association by `PUT` of `port_id`, release.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use common_error::Error;
use common_http::{AuthContext, Authed, HttpResult};
use common_policy::Target;
use network_model::errors::invalid_attribute;
use network_model::l3::{
    floatingip_not_found, FloatingIp, FloatingIpUpdate, FloatingIpView, NewFloatingIp,
};
use serde_json::{json, Value};

use crate::body::{self, repr, Attrs, NAME_MAX_LEN};
use crate::list::{self, ListQuery};
use crate::routers::{ip_address, is_uuid};
use crate::{caller, views, ApiState};

fn target(f: &FloatingIp) -> Target {
    common_policy::target(&[
        ("project_id", &f.project_id),
        ("tenant_id", &f.project_id),
        ("id", &f.id),
    ])
}

/// A floating IP as Neutron renders it.
fn view(v: &FloatingIpView) -> Value {
    let f = &v.fip;
    json!({
        "id": f.id,
        "project_id": f.project_id,
        "tenant_id": f.project_id,
        "floating_network_id": f.floating_network_id,
        "floating_ip_address": f.floating_ip_address,
        "router_id": f.router_id,
        "port_id": f.port_id,
        "fixed_ip_address": f.fixed_ip_address,
        "status": f.status,
        "description": f.description,
        "port_details": v.port_details,
        "tags": [],
        "created_at": network_model::wire_time(&f.created_at),
        "updated_at": network_model::wire_time(&f.updated_at),
        "revision_number": f.revision_number,
    })
}

fn render(s: &ApiState, auth: &AuthContext, v: &FloatingIpView) -> Value {
    views::strip(s, auth, "floatingip", &target(&v.fip), view(v))
}

async fn fetch(s: &ApiState, auth: &AuthContext, id: &str) -> Result<FloatingIpView, Error> {
    let v = s.net.floatingip_get(&caller(s, auth), id).await?;
    if !s.allowed(auth, "get_floatingip", &target(&v.fip)) {
        return Err(floatingip_not_found(id));
    }
    Ok(v)
}

pub async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let q = ListQuery::parse(q.as_deref())?;
    let items = s
        .net
        .floatingip_list(&caller(&s, &auth))
        .await?
        .iter()
        .filter(|v| s.allowed(&auth, "get_floatingip", &target(&v.fip)))
        .map(|v| render(&s, &auth, v))
        .collect();
    Ok(list::respond(
        &s.v2_url(),
        "floatingips",
        "floatingips",
        items,
        &q,
        floatingip_not_found,
    )?)
}

pub async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let v = fetch(&s, &auth, &id).await?;
    let v = list::select_fields(render(&s, &auth, &v), &list::show_fields(q.as_deref()));
    Ok(Json(json!({"floatingip": v})))
}

/// A `uuid_or_none` attribute: `Some(None)` for an explicit null.
fn uuid_or_none(b: &mut Attrs, attr: &str) -> Result<Option<Option<String>>, Error> {
    match b.take(attr) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(id)) if is_uuid(&id) => Ok(Some(Some(id))),
        Some(other) => Err(invalid_attribute(
            attr,
            format!("'{}' is not a valid UUID", repr(&other)),
        )),
    }
}

/// An `ip_address_or_none` attribute, canonicalised.
fn ip_or_none(b: &mut Attrs, attr: &str) -> Result<Option<Option<String>>, Error> {
    match b.take(attr) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(a)) => ip_address(&a)
            .map(|a| Some(Some(a)))
            .map_err(|m| invalid_attribute(attr, m)),
        Some(other) => Err(invalid_attribute(
            attr,
            format!("'{}' is not a valid IP address", repr(&other)),
        )),
    }
}

const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "router_id",
    "port_details",
    "created_at",
    "updated_at",
    "revision_number",
];

pub async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    raw: Bytes,
) -> HttpResult<(StatusCode, Json<Value>)> {
    let c = caller(&s, &auth);
    let mut b = body::parse(&raw, "floatingip", true)?;
    b.refuse(READ_ONLY)?;
    let network = b.required_string("floating_network_id", usize::MAX)?;
    if !is_uuid(&network) {
        return Err(invalid_attribute(
            "floating_network_id",
            format!("'{network}' is not a valid UUID"),
        )
        .into());
    }
    let project = c.project_for(b.project()?.as_deref());
    let floating_ip_address = ip_or_none(&mut b, "floating_ip_address")?.flatten();
    let given: Vec<&str> = if floating_ip_address.is_some() {
        vec!["floating_ip_address"]
    } else {
        Vec::new()
    };
    let new = NewFloatingIp {
        project_id: project.clone(),
        floating_network_id: network,
        floating_ip_address,
        subnet_id: uuid_or_none(&mut b, "subnet_id")?.flatten(),
        port_id: uuid_or_none(&mut b, "port_id")?.flatten(),
        fixed_ip_address: ip_or_none(&mut b, "fixed_ip_address")?.flatten(),
        description: b.string("description", NAME_MAX_LEN)?.unwrap_or_default(),
    };
    let _ = b.take("tags");
    b.finish()?;
    let t = common_policy::target(&[("project_id", &project), ("tenant_id", &project)]);
    s.authorize_attrs(&auth, "create_floatingip", &given, &t)?;
    let v = s.net.floatingip_create(&c, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"floatingip": render(&s, &auth, &v)})),
    ))
}

pub async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    raw: Bytes,
) -> HttpResult<Json<Value>> {
    let current = fetch(&s, &auth, &id).await?;
    let mut b = body::parse(&raw, "floatingip", false)?;
    b.refuse(READ_ONLY)?;
    b.refuse(&[
        "floating_network_id",
        "floating_ip_address",
        "subnet_id",
        "project_id",
        "tenant_id",
    ])?;
    let up = FloatingIpUpdate {
        port_id: uuid_or_none(&mut b, "port_id")?,
        fixed_ip_address: ip_or_none(&mut b, "fixed_ip_address")?,
        description: b.string("description", NAME_MAX_LEN)?,
    };
    b.finish()?;
    s.authorize(&auth, "update_floatingip", &target(&current.fip))?;
    let v = s.net.floatingip_update(&caller(&s, &auth), &id, up).await?;
    Ok(Json(json!({"floatingip": render(&s, &auth, &v)})))
}

pub async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    let current = fetch(&s, &auth, &id).await?;
    s.authorize(&auth, "delete_floatingip", &target(&current.fip))?;
    s.net.floatingip_delete(&caller(&s, &auth), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
