//! `/v2.0/networks`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use common_http::{AuthContext, Authed, HttpResult};
use common_policy::Target;
use network_domain::network::not_found;
use network_domain::{NetworkCreate, NetworkUpdate};
use network_model::Network;
use serde_json::{json, Value};

use crate::body::{self, NAME_MAX_LEN};
use crate::list::{self, ListQuery};
use crate::{caller, py_bool, views, ApiState};

/// Neutron's target for a network (it is its own `network:*`).
pub(crate) fn target(n: &Network) -> Target {
    common_policy::target(&[
        ("project_id", &n.project_id),
        ("tenant_id", &n.project_id),
        ("network:project_id", &n.project_id),
        ("network:tenant_id", &n.project_id),
        ("network:shared", py_bool(n.shared)),
        ("network:router:external", py_bool(n.external)),
        ("id", &n.id),
    ])
}

/// The network as the caller may see it.
pub(crate) fn render(s: &ApiState, auth: &AuthContext, n: &Network) -> Value {
    views::strip(s, auth, "network", &target(n), views::network(n))
}

/// A network the caller may see (domain visibility and `get_network`), else 404.
pub(crate) async fn fetch(
    s: &ApiState,
    auth: &AuthContext,
    id: &str,
) -> Result<Network, common_error::Error> {
    let n = s.net.network_get(&caller(s, auth), id).await?;
    if !s.allowed(auth, "get_network", &target(&n)) {
        return Err(not_found(id));
    }
    Ok(n)
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
        .network_list(&c)
        .await?
        .iter()
        .filter(|n| s.allowed(&auth, "get_network", &target(n)))
        .map(|n| render(&s, &auth, n))
        .collect();
    let mut items: Vec<Value> = items;
    crate::qos::add_network_policies(&s, &mut items).await?;
    Ok(list::respond(
        &s.v2_url(),
        "networks",
        "networks",
        items,
        &q,
        not_found,
    )?)
}

pub async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let n = fetch(&s, &auth, &id).await?;
    let v = crate::qos::network_with_policy(&s, render(&s, &auth, &n)).await?;
    let v = list::select_fields(v, &list::show_fields(q.as_deref()));
    Ok(Json(json!({"network": v})))
}

const ATTRS: &[&str] = &[
    "shared",
    "router:external",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "port_security_enabled",
    "is_default",
    "qos_policy_id",
];

pub async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    raw: Bytes,
) -> HttpResult<(StatusCode, Json<Value>)> {
    let c = caller(&s, &auth);
    let mut b = body::parse(&raw, "network", true)?;
    b.refuse(&[
        "id",
        "status",
        "subnets",
        "availability_zones",
        "created_at",
        "updated_at",
        "revision_number",
    ])?;
    let given: Vec<&str> = ATTRS.iter().copied().filter(|a| b.has(a)).collect();
    let project = c.project_for(b.project()?.as_deref());
    let new = NetworkCreate {
        project_id: Some(project.clone()),
        name: b.string("name", NAME_MAX_LEN)?.unwrap_or_default(),
        description: b.string("description", NAME_MAX_LEN)?.unwrap_or_default(),
        admin_state_up: b.boolean("admin_state_up")?.unwrap_or(true),
        shared: b.boolean("shared")?.unwrap_or(false),
        external: b.boolean("router:external")?.unwrap_or(false),
        network_type: b.string("provider:network_type", 255)?,
        physical_network: b
            .nullable_string("provider:physical_network", 64)?
            .flatten(),
        segmentation_id: b.nullable_int("provider:segmentation_id")?.flatten(),
        mtu: b.int("mtu")?,
        port_security_enabled: b.boolean("port_security_enabled")?.unwrap_or(true),
        availability_zone_hints: b
            .string_list("availability_zone_hints")?
            .unwrap_or_default(),
        qos_policy_id: crate::qos::policy_id(&mut b)?.flatten(),
    };
    // Accepted and ignored, as Neutron without the matching extensions would not be asked.
    let _ = b.boolean("is_default")?;
    let _ = b.take("dns_domain");
    let _ = b.take("tags");
    b.finish()?;
    let t = common_policy::target(&[
        ("project_id", &project),
        ("tenant_id", &project),
        ("network:project_id", &project),
        ("network:shared", py_bool(new.shared)),
        ("network:router:external", py_bool(new.external)),
    ]);
    s.authorize_attrs(&auth, "create_network", &given, &t)?;
    let n = s.net.network_create(&c, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"network": crate::qos::network_with_policy(&s, render(&s, &auth, &n)).await?})),
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
    let mut b = body::parse(&raw, "network", false)?;
    b.refuse(&[
        "id",
        "project_id",
        "tenant_id",
        "status",
        "subnets",
        "provider:network_type",
        "provider:physical_network",
        "provider:segmentation_id",
        "availability_zone_hints",
        "availability_zones",
        "created_at",
        "updated_at",
        "revision_number",
    ])?;
    let given: Vec<&str> = ATTRS.iter().copied().filter(|a| b.has(a)).collect();
    let up = NetworkUpdate {
        name: b.string("name", NAME_MAX_LEN)?,
        description: b.string("description", NAME_MAX_LEN)?,
        admin_state_up: b.boolean("admin_state_up")?,
        shared: b.boolean("shared")?,
        external: b.boolean("router:external")?,
        mtu: b.int("mtu")?,
        port_security_enabled: b.boolean("port_security_enabled")?,
        qos_policy_id: crate::qos::policy_id(&mut b)?,
    };
    let _ = b.boolean("is_default")?;
    let _ = b.take("dns_domain");
    b.finish()?;
    s.authorize_attrs(&auth, "update_network", &given, &target(&current))?;
    let n = s.net.network_update(&c, &id, up).await?;
    let v = crate::qos::network_with_policy(&s, render(&s, &auth, &n)).await?;
    Ok(Json(json!({"network": v})))
}

pub async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    let c = caller(&s, &auth);
    let current = fetch(&s, &auth, &id).await?;
    s.authorize(&auth, "delete_network", &target(&current))?;
    s.net.network_delete(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
