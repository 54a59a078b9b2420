//! `/v2.0/subnets`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use common_error::Error;
use common_http::{AuthContext, Authed, HttpResult};
use common_policy::Target;
use network_domain::subnet::not_found;
use network_domain::{SubnetCreate, SubnetUpdate};
use network_model::errors::invalid_attribute;
use network_model::{AllocationPool, HostRoute, Network, Subnet};
use serde_json::{json, Value};

use crate::body::{self, repr, Attrs, NAME_MAX_LEN};
use crate::list::{self, ListQuery};
use crate::{caller, py_bool, views, ApiState};

pub(crate) fn target(sn: &Subnet, net: Option<&Network>) -> Target {
    let (owner, shared, external) = net
        .map(|n| (n.project_id.as_str(), n.shared, n.external))
        .unwrap_or((sn.project_id.as_str(), false, false));
    common_policy::target(&[
        ("project_id", &sn.project_id),
        ("tenant_id", &sn.project_id),
        ("network:project_id", owner),
        ("network:tenant_id", owner),
        ("network:shared", py_bool(shared)),
        ("network:router:external", py_bool(external)),
        ("id", &sn.id),
    ])
}

async fn fetch(
    s: &ApiState,
    auth: &AuthContext,
    id: &str,
) -> Result<(Subnet, Option<Network>), Error> {
    let sn = s.net.subnet_get(&caller(s, auth), id).await?;
    let net = s.net.store().network_get(&sn.network_id).await?;
    if !s.allowed(auth, "get_subnet", &target(&sn, net.as_ref())) {
        return Err(not_found(id));
    }
    Ok((sn, net))
}

fn render(s: &ApiState, auth: &AuthContext, sn: &Subnet, net: Option<&Network>) -> Value {
    views::strip(s, auth, "subnet", &target(sn, net), views::subnet(sn))
}

pub async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let q = ListQuery::parse(q.as_deref())?;
    let c = caller(&s, &auth);
    let nets: std::collections::HashMap<String, Network> = s
        .net
        .store()
        .network_list(None)
        .await?
        .into_iter()
        .map(|n| (n.id.clone(), n))
        .collect();
    let items = s
        .net
        .subnet_list(&c)
        .await?
        .iter()
        .filter(|sn| s.allowed(&auth, "get_subnet", &target(sn, nets.get(&sn.network_id))))
        .map(|sn| render(&s, &auth, sn, nets.get(&sn.network_id)))
        .collect();
    Ok(list::respond(
        &s.v2_url(),
        "subnets",
        "subnets",
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
    let (sn, net) = fetch(&s, &auth, &id).await?;
    let v = list::select_fields(
        render(&s, &auth, &sn, net.as_ref()),
        &list::show_fields(q.as_deref()),
    );
    Ok(Json(json!({"subnet": v})))
}

fn pools(b: &mut Attrs) -> Result<Option<Vec<AllocationPool>>, Error> {
    match b.take("allocation_pools") {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|p| {
                match (
                    p.get("start").and_then(Value::as_str),
                    p.get("end").and_then(Value::as_str),
                ) {
                    (Some(a), Some(e)) if p.as_object().is_some_and(|o| o.len() == 2) => {
                        Ok(AllocationPool {
                            start: a.into(),
                            end: e.into(),
                        })
                    }
                    _ => Err(invalid_attribute(
                        "allocation_pools",
                        format!("Invalid data format for IP pool: '{}'", repr(p)),
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(invalid_attribute(
            "allocation_pools",
            format!("Invalid data format for IP pool: '{}'", repr(&other)),
        )),
    }
}

fn routes(b: &mut Attrs) -> Result<Option<Vec<HostRoute>>, Error> {
    match b.take("host_routes") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Vec::new())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|r| {
                match (
                    r.get("destination").and_then(Value::as_str),
                    r.get("nexthop").and_then(Value::as_str),
                ) {
                    (Some(d), Some(n)) => Ok(HostRoute {
                        destination: d.into(),
                        nexthop: n.into(),
                    }),
                    _ => Err(invalid_attribute(
                        "host_routes",
                        format!("Invalid data format for hostroute: '{}'", repr(r)),
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(invalid_attribute(
            "host_routes",
            format!("Invalid data format for hostroute: '{}'", repr(&other)),
        )),
    }
}

fn nameservers(b: &mut Attrs) -> Result<Option<Vec<String>>, Error> {
    if matches!(b.take_ref("dns_nameservers"), Some(Value::Null)) {
        b.take("dns_nameservers");
        return Ok(Some(Vec::new()));
    }
    b.string_list("dns_nameservers")
}

const READ_ONLY: &[&str] = &["id", "created_at", "updated_at", "revision_number"];

pub async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    raw: Bytes,
) -> HttpResult<(StatusCode, Json<Value>)> {
    let c = caller(&s, &auth);
    let mut b = body::parse(&raw, "subnet", true)?;
    b.refuse(READ_ONLY)?;
    let network_id = b.required_string("network_id", 36)?;
    let ip_version = match b.int("ip_version")? {
        Some(v @ (4 | 6)) => v,
        Some(v) => {
            return Err(invalid_attribute("ip_version", format!("'{v}' is not in [4, 6]")).into())
        }
        None => {
            return Err(network_model::errors::bad_request(
                "Failed to parse request. Required attribute 'ip_version' not specified",
            )
            .into())
        }
    };
    let project = b.project()?;
    let new = SubnetCreate {
        project_id: Some(c.project_for(project.as_deref())),
        network_id: network_id.clone(),
        name: b.string("name", NAME_MAX_LEN)?.unwrap_or_default(),
        description: b.string("description", NAME_MAX_LEN)?.unwrap_or_default(),
        ip_version,
        cidr: b.nullable_string("cidr", 64)?.flatten(),
        gateway_ip: b.nullable_string("gateway_ip", 64)?,
        enable_dhcp: b.boolean("enable_dhcp")?.unwrap_or(true),
        allocation_pools: pools(&mut b)?,
        dns_nameservers: nameservers(&mut b)?.unwrap_or_default(),
        host_routes: routes(&mut b)?.unwrap_or_default(),
        ipv6_address_mode: b.nullable_string("ipv6_address_mode", 32)?.flatten(),
        ipv6_ra_mode: b.nullable_string("ipv6_ra_mode", 32)?.flatten(),
        subnetpool_id: b.nullable_string("subnetpool_id", 36)?.flatten(),
    };
    let _ = b.take("use_default_subnetpool");
    let _ = b.take("prefixlen");
    let _ = b.take("service_types");
    let _ = b.take("segment_id");
    let _ = b.take("tags");
    b.finish()?;
    // The network must be visible before policy speaks of it.
    let net = crate::networks::fetch(&s, &auth, &network_id).await?;
    let pid = new.project_id.clone().unwrap_or_default();
    let t = common_policy::target(&[
        ("project_id", &pid),
        ("tenant_id", &pid),
        ("network:project_id", &net.project_id),
        ("network:tenant_id", &net.project_id),
        ("network:shared", py_bool(net.shared)),
        ("network:router:external", py_bool(net.external)),
    ]);
    s.authorize(&auth, "create_subnet", &t)?;
    let sn = s.net.subnet_create(&c, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"subnet": render(&s, &auth, &sn, Some(&net))})),
    ))
}

pub async fn update(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    raw: Bytes,
) -> HttpResult<Json<Value>> {
    let c = caller(&s, &auth);
    let (current, net) = fetch(&s, &auth, &id).await?;
    let mut b = body::parse(&raw, "subnet", false)?;
    b.refuse(READ_ONLY)?;
    b.refuse(&[
        "network_id",
        "project_id",
        "tenant_id",
        "ip_version",
        "cidr",
        "ipv6_address_mode",
        "ipv6_ra_mode",
        "subnetpool_id",
    ])?;
    let up = SubnetUpdate {
        name: b.string("name", NAME_MAX_LEN)?,
        description: b.string("description", NAME_MAX_LEN)?,
        gateway_ip: b.nullable_string("gateway_ip", 64)?,
        enable_dhcp: b.boolean("enable_dhcp")?,
        allocation_pools: pools(&mut b)?,
        dns_nameservers: nameservers(&mut b)?,
        host_routes: routes(&mut b)?,
    };
    let _ = b.take("service_types");
    let _ = b.take("segment_id");
    b.finish()?;
    s.authorize(&auth, "update_subnet", &target(&current, net.as_ref()))?;
    let sn = s.net.subnet_update(&c, &id, up).await?;
    Ok(Json(
        json!({"subnet": render(&s, &auth, &sn, net.as_ref())}),
    ))
}

pub async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    let c = caller(&s, &auth);
    let (current, net) = fetch(&s, &auth, &id).await?;
    s.authorize(&auth, "delete_subnet", &target(&current, net.as_ref()))?;
    s.net.subnet_delete(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
