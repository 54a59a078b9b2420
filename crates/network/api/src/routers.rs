//! `/v2.0/routers` (`router`, `ext-gw-mode`, `extraroute`, `router_availability_zone`) and
//! the `add_router_interface` / `remove_router_interface` actions, whose answer is flat.
//! Also the attribute checks the L3 handlers share (UUIDs, IP addresses, fixed IPs), with
//! the messages of Neutron's validators.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use common_error::Error;
use common_http::{AuthContext, Authed, HttpResult};
use common_policy::Target;
use network_model::dataplane::Route;
use network_model::errors::{bad_request, invalid_attribute};
use network_model::l3::{
    bad_request_for, router_not_found, FixedIpRequest, GatewayRequest, InterfaceRequest, NewRouter,
    Router, RouterInterface, RouterUpdate,
};
use serde_json::{json, Map, Value};

use crate::body::{self, repr, Attrs, NAME_MAX_LEN};
use crate::list::{self, ListQuery};
use crate::{caller, views, ApiState};

/// Neutron's policy target for a router.
pub(crate) fn target(r: &Router) -> Target {
    common_policy::target(&[
        ("project_id", &r.project_id),
        ("tenant_id", &r.project_id),
        ("id", &r.id),
    ])
}

/// A router as Neutron renders it.
pub(crate) fn view(r: &Router) -> Value {
    let gateway = r.gateway.as_ref().map(|g| {
        json!({
            "network_id": g.network_id,
            "enable_snat": g.enable_snat,
            "external_fixed_ips": g.external_fixed_ips,
        })
    });
    json!({
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "admin_state_up": r.admin_state_up,
        "status": r.status,
        "project_id": r.project_id,
        "tenant_id": r.project_id,
        "external_gateway_info": gateway,
        "routes": r.routes,
        "availability_zone_hints": r.availability_zone_hints,
        "availability_zones": [network_model::AVAILABILITY_ZONE],
        "tags": [],
        "created_at": network_model::wire_time(&r.created_at),
        "updated_at": network_model::wire_time(&r.updated_at),
        "revision_number": r.revision_number,
    })
}

fn render(s: &ApiState, auth: &AuthContext, r: &Router) -> Value {
    views::strip(s, auth, "router", &target(r), view(r))
}

/// A router the caller may see (domain ownership and `get_router`), else `RouterNotFound`.
async fn fetch(s: &ApiState, auth: &AuthContext, id: &str) -> Result<Router, Error> {
    let r = s.net.router_get(&caller(s, auth), id).await?;
    if !s.allowed(auth, "get_router", &target(&r)) {
        return Err(router_not_found(id));
    }
    Ok(r)
}

pub async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let q = ListQuery::parse(q.as_deref())?;
    let items = s
        .net
        .router_list(&caller(&s, &auth))
        .await?
        .iter()
        .filter(|r| s.allowed(&auth, "get_router", &target(r)))
        .map(|r| render(&s, &auth, r))
        .collect();
    Ok(list::respond(
        &s.v2_url(),
        "routers",
        "routers",
        items,
        &q,
        router_not_found,
    )?)
}

pub async fn show(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let r = fetch(&s, &auth, &id).await?;
    let v = list::select_fields(render(&s, &auth, &r), &list::show_fields(q.as_deref()));
    Ok(Json(json!({"router": v})))
}

const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "availability_zones",
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
    let mut b = body::parse(&raw, "router", true)?;
    b.refuse(READ_ONLY)?;
    b.refuse(&["routes"])?;
    let mut given = Vec::new();
    let gateway = gateway(&mut b, &mut given)?;
    let project = c.project_for(b.project()?.as_deref());
    let new = NewRouter {
        project_id: project.clone(),
        name: b.string("name", NAME_MAX_LEN)?.unwrap_or_default(),
        description: b.string("description", NAME_MAX_LEN)?.unwrap_or_default(),
        admin_state_up: b.boolean("admin_state_up")?.unwrap_or(true),
        gateway: gateway.flatten(),
        availability_zone_hints: az_hints(&mut b)?,
    };
    let _ = b.take("tags");
    b.finish()?;
    let t = common_policy::target(&[("project_id", &project), ("tenant_id", &project)]);
    s.authorize_attrs(&auth, "create_router", &given, &t)?;
    let r = s.net.router_create(&c, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"router": render(&s, &auth, &r)})),
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
    let mut b = body::parse(&raw, "router", false)?;
    b.refuse(READ_ONLY)?;
    b.refuse(&["project_id", "tenant_id", "availability_zone_hints"])?;
    let mut given = Vec::new();
    let gateway = gateway(&mut b, &mut given)?;
    let up = RouterUpdate {
        name: b.string("name", NAME_MAX_LEN)?,
        description: b.string("description", NAME_MAX_LEN)?,
        admin_state_up: b.boolean("admin_state_up")?,
        gateway,
        routes: routes(&mut b)?,
    };
    b.finish()?;
    s.authorize_attrs(&auth, "update_router", &given, &target(&current))?;
    let r = s.net.router_update(&c, &id, up).await?;
    Ok(Json(json!({"router": render(&s, &auth, &r)})))
}

pub async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    let current = fetch(&s, &auth, &id).await?;
    s.authorize(&auth, "delete_router", &target(&current))?;
    s.net.router_delete(&caller(&s, &auth), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn add_interface(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    raw: Bytes,
) -> HttpResult<Json<Value>> {
    let current = fetch(&s, &auth, &id).await?;
    let req = interface_request(&raw, false)?;
    s.authorize(&auth, "add_router_interface", &target(&current))?;
    let info = s
        .net
        .router_interface_add(&caller(&s, &auth), &id, req)
        .await?;
    Ok(Json(interface_view(&info)))
}

pub async fn remove_interface(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    raw: Bytes,
) -> HttpResult<Json<Value>> {
    let current = fetch(&s, &auth, &id).await?;
    let req = interface_request(&raw, true)?;
    s.authorize(&auth, "remove_router_interface", &target(&current))?;
    let info = s
        .net
        .router_interface_remove(&caller(&s, &auth), &id, req)
        .await?;
    Ok(Json(interface_view(&info)))
}

/// `PUT /routers/{id}/add_extraroutes` (`extraroute-atomic`).
pub async fn add_extraroutes(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    raw: Bytes,
) -> HttpResult<Json<Value>> {
    extraroutes(s, auth, id, raw, true).await
}

/// `PUT /routers/{id}/remove_extraroutes` (`extraroute-atomic`).
pub async fn remove_extraroutes(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
    raw: Bytes,
) -> HttpResult<Json<Value>> {
    extraroutes(s, auth, id, raw, false).await
}

async fn extraroutes(
    s: ApiState,
    auth: AuthContext,
    id: String,
    raw: Bytes,
    add: bool,
) -> HttpResult<Json<Value>> {
    let current = fetch(&s, &auth, &id).await?;
    let mut b = body::parse(&raw, "router", false)?;
    let Some(change) = routes(&mut b)? else {
        return Err(bad_request(
            "Failed to parse request. Required attribute 'routes' not specified",
        )
        .into());
    };
    b.finish()?;
    let rule = if add {
        "add_extraroutes"
    } else {
        "remove_extraroutes"
    };
    s.authorize(&auth, rule, &target(&current))?;
    let (plus, minus) = if add {
        (change, Vec::new())
    } else {
        (Vec::new(), change)
    };
    let r = s
        .net
        .router_routes_change(&caller(&s, &auth), &id, &plus, &minus)
        .await?;
    Ok(Json(json!({"router": render(&s, &auth, &r)})))
}

/// The flat answer of both interface actions.
fn interface_view(i: &RouterInterface) -> Value {
    json!({
        "id": i.id,
        "tenant_id": i.project_id,
        "project_id": i.project_id,
        "port_id": i.port_id,
        "network_id": i.network_id,
        "subnet_id": i.subnet_id,
        "subnet_ids": i.subnet_ids,
    })
}

/// The body of an interface action, checked as Neutron's `_validate_interface_info`: a
/// flat object with `subnet_id` and/or `port_id` (both only on removal).
fn interface_request(raw: &Bytes, for_removal: bool) -> Result<InterfaceRequest, Error> {
    let bad = |msg: String| bad_request_for("router", msg);
    let v: Value = if raw.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(raw).map_err(|_| bad_request("Malformed request body"))?
    };
    let Value::Object(o) = v else {
        return Err(bad_request("Malformed request body"));
    };
    let field = |key: &str| -> Result<Option<String>, Error> {
        match o.get(key) {
            None => Ok(None),
            Some(Value::String(v)) if is_uuid(v) => Ok(Some(v.clone())),
            Some(other) => Err(bad(format!("'{}' is not a valid UUID", repr(other)))),
        }
    };
    if !o.contains_key("port_id") && !o.contains_key("subnet_id") {
        return Err(bad("Either subnet_id or port_id must be specified".into()));
    }
    let req = InterfaceRequest {
        port_id: field("port_id")?,
        subnet_id: field("subnet_id")?,
    };
    if !for_removal && req.port_id.is_some() && req.subnet_id.is_some() {
        return Err(bad("Cannot specify both subnet-id and port-id".into()));
    }
    Ok(req)
}

/// `availability_zone_hints`: a list of zone names.
fn az_hints(b: &mut Attrs) -> Result<Vec<String>, Error> {
    let hints = match b.take("availability_zone_hints") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid_attribute(
                "availability_zone_hints",
                format!("'{}' is not a list", repr(&other)),
            ))
        }
    };
    let mut out: Vec<String> = Vec::new();
    for h in hints {
        match h {
            Value::String(z) if z.chars().count() <= NAME_MAX_LEN => {
                if out.contains(&z) {
                    return Err(invalid_attribute(
                        "availability_zone_hints",
                        format!("Duplicate items in the list: '{z}'"),
                    ));
                }
                out.push(z);
            }
            other => {
                return Err(invalid_attribute(
                    "availability_zone_hints",
                    format!("'{}' is not a valid string", repr(&other)),
                ))
            }
        }
    }
    Ok(out)
}

/// `external_gateway_info` (Neutron's `dict_or_nodata` with `network_id` required):
/// `Some(None)` for `null` or `{}` (no gateway), and the attributes whose policy rules
/// apply pushed to `given`.
fn gateway(
    b: &mut Attrs,
    given: &mut Vec<&'static str>,
) -> Result<Option<Option<GatewayRequest>>, Error> {
    const ATTR: &str = "external_gateway_info";
    let Some(v) = b.take(ATTR) else {
        return Ok(None);
    };
    given.push(ATTR);
    let o = match v {
        Value::Null => return Ok(Some(None)),
        Value::Object(o) if o.is_empty() => return Ok(Some(None)),
        Value::Object(o) => o,
        other => {
            return Err(invalid_attribute(
                ATTR,
                format!("'{}' is not a dictionary", repr(&other)),
            ))
        }
    };
    let Some(net) = o.get("network_id") else {
        let mut keys: Vec<String> = o.keys().map(|k| format!("'{k}'")).collect();
        keys.sort();
        return Err(invalid_attribute(
            ATTR,
            format!(
                "Validation of dictionary's keys failed. Expected keys: {{'network_id'}} Provided keys: {{{}}}",
                keys.join(", ")
            ),
        ));
    };
    let network_id = match net {
        Value::String(n) if is_uuid(n) => n.clone(),
        other => {
            return Err(invalid_attribute(
                ATTR,
                format!("'{}' is not a valid UUID", repr(other)),
            ))
        }
    };
    given.push("external_gateway_info:network_id");
    let enable_snat = match o.get("enable_snat") {
        None => None,
        Some(v) => {
            given.push("external_gateway_info:enable_snat");
            Some(python_bool(v).ok_or_else(|| {
                invalid_attribute(ATTR, format!("'{}' is not a valid boolean value", repr(v)))
            })?)
        }
    };
    let external_fixed_ips = match o.get("external_fixed_ips") {
        None => None,
        Some(v) => {
            given.push("external_gateway_info:external_fixed_ips");
            Some(fixed_ips(ATTR, v)?)
        }
    };
    if o.get("qos_policy_id").is_some_and(|v| !v.is_null()) {
        // `qos-gateway-ip` is not offered: refuse rather than ignore a limit.
        return Err(bad_request(
            "Unrecognized attribute(s) 'external_gateway_info:qos_policy_id'",
        ));
    }
    Ok(Some(Some(GatewayRequest {
        network_id,
        enable_snat,
        external_fixed_ips,
    })))
}

/// `routes` (Neutron's `hostroutes`): `null` is no route.
fn routes(b: &mut Attrs) -> Result<Option<Vec<Route>>, Error> {
    const ATTR: &str = "routes";
    let items = match b.take(ATTR) {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(Vec::new())),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid_attribute(
                ATTR,
                format!("Invalid data format for hostroute: '{}'", repr(&other)),
            ))
        }
    };
    let mut out: Vec<Route> = Vec::new();
    for item in &items {
        let Value::Object(o) = item else {
            return Err(invalid_attribute(
                ATTR,
                format!("Invalid data format for hostroute: '{}'", repr(item)),
            ));
        };
        let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys.sort_unstable();
        if keys != ["destination", "nexthop"] {
            let provided: Vec<String> = keys.iter().map(|k| format!("'{k}'")).collect();
            return Err(invalid_attribute(
                ATTR,
                format!(
                    "Validation of dictionary's keys failed. Expected keys: {{'destination', 'nexthop'}} Provided keys: {{{}}}",
                    provided.join(", ")
                ),
            ));
        }
        let destination = match &o["destination"] {
            Value::String(d) if is_subnet(d) => d.clone(),
            other => {
                return Err(invalid_attribute(
                    ATTR,
                    format!("'{}' is not a valid IP subnet", repr(other)),
                ))
            }
        };
        let nexthop = match &o["nexthop"] {
            Value::String(n) => ip_address(n).map_err(|m| invalid_attribute(ATTR, m))?,
            other => {
                return Err(invalid_attribute(
                    ATTR,
                    format!("'{}' is not a valid IP address", repr(other)),
                ))
            }
        };
        let route = Route {
            destination,
            nexthop,
        };
        if out.contains(&route) {
            return Err(invalid_attribute(
                ATTR,
                format!(
                    "Duplicate hostroute '{{'destination': '{}', 'nexthop': '{}'}}'",
                    route.destination, route.nexthop
                ),
            ));
        }
        out.push(route);
    }
    Ok(Some(out))
}

/// Neutron's `type:fixed_ips` for `attr`: a list of `{subnet_id, ip_address}`.
pub(crate) fn fixed_ips(attr: &str, v: &Value) -> Result<Vec<FixedIpRequest>, Error> {
    let Value::Array(items) = v else {
        return Err(invalid_attribute(
            attr,
            format!("Invalid data format for fixed IP: '{}'", repr(v)),
        ));
    };
    let mut out: Vec<FixedIpRequest> = Vec::new();
    for item in items {
        let Value::Object(o) = item else {
            return Err(invalid_attribute(
                attr,
                format!("Invalid data format for fixed IP: '{}'", repr(item)),
            ));
        };
        let ip_address = match o.get("ip_address") {
            None => None,
            Some(Value::String(a)) => {
                if out
                    .iter()
                    .any(|f| f.ip_address.as_deref() == Some(a.as_str()))
                {
                    return Err(invalid_attribute(
                        attr,
                        format!("Duplicate IP address '{a}'"),
                    ));
                }
                Some(ip_address(a).map_err(|m| invalid_attribute(attr, m))?)
            }
            Some(other) => {
                return Err(invalid_attribute(
                    attr,
                    format!("'{}' is not a valid IP address", repr(other)),
                ))
            }
        };
        let subnet_id = match o.get("subnet_id") {
            None => None,
            Some(Value::String(id)) if is_uuid(id) => Some(id.clone()),
            Some(other) => {
                return Err(invalid_attribute(
                    attr,
                    format!("'{}' is not a valid UUID", repr(other)),
                ))
            }
        };
        out.push(FixedIpRequest {
            subnet_id,
            ip_address,
        });
    }
    Ok(out)
}

/// Neutron's `validate_ip_address`: the canonical text of an address, or the message.
pub(crate) fn ip_address(a: &str) -> Result<String, String> {
    match a.parse::<IpAddr>() {
        Ok(ip) => {
            let canonical = ip.to_string();
            if ip.is_ipv4() && canonical != a {
                return Err(format!(
                    "'{a}' is not an accepted IP address, '{canonical}' is recommended"
                ));
            }
            Ok(canonical)
        }
        Err(_) => Err(format!("'{a}' is not a valid IP address")),
    }
}

/// An address with a prefix length (`10.0.0.0/24`).
fn is_subnet(d: &str) -> bool {
    let Some((addr, len)) = d.split_once('/') else {
        return false;
    };
    let Ok(len) = len.parse::<u8>() else {
        return false;
    };
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => len <= 32,
        Ok(IpAddr::V6(_)) => len <= 128,
        Err(_) => false,
    }
}

/// oslo's `is_uuid_like`: 32 hex digits, with the dashes in their usual places or none.
pub(crate) fn is_uuid(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return false;
    }
    s.len() == 32 || (s.len() == 36 && [8, 13, 18, 23].iter().all(|i| s.as_bytes()[*i] == b'-'))
}

/// oslo's `bool_from_string(strict=True)`.
pub(crate) fn python_bool(v: &Value) -> Option<bool> {
    let text = match v {
        Value::Bool(b) => return Some(*b),
        Value::String(s) => s.trim().to_ascii_lowercase(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    match text.as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_addresses_validate_as_neutron() {
        assert!(is_uuid("8d4c70a2-1fed-4aeb-a121-a1a429ba0d04"));
        assert!(is_uuid("8d4c70a21fed4aeba121a1a429ba0d04"));
        assert!(!is_uuid("8d4c70a21fed-4aeba121a1a429ba0d04"));
        assert!(!is_uuid("10.0.0.5"));
        assert_eq!(ip_address("10.0.0.5").unwrap(), "10.0.0.5");
        assert_eq!(
            ip_address("010.0.0.5").unwrap_err(),
            "'010.0.0.5' is not a valid IP address"
        );
        assert_eq!(ip_address("fe80::0001").unwrap(), "fe80::1");
        assert_eq!(python_bool(&json!("Yes")), Some(true));
        assert_eq!(python_bool(&json!("maybe")), None);
    }

    #[test]
    fn gateway_info_parses_and_clears() {
        let parse = |v: Value| {
            let raw = Bytes::from(json!({"router": {"external_gateway_info": v}}).to_string());
            let mut b = body::parse(&raw, "router", false).unwrap();
            let mut given = Vec::new();
            gateway(&mut b, &mut given).map(|g| (g, given))
        };
        let (g, given) = parse(json!({})).unwrap();
        assert_eq!(g, Some(None));
        assert_eq!(given, ["external_gateway_info"]);
        let id = "8d4c70a2-1fed-4aeb-a121-a1a429ba0d04";
        let (g, given) = parse(json!({"network_id": id, "enable_snat": false})).unwrap();
        let g = g.unwrap().unwrap();
        assert_eq!(g.network_id, id);
        assert_eq!(g.enable_snat, Some(false));
        assert!(given.contains(&"external_gateway_info:enable_snat"));
        let e = parse(json!({"enable_snat": true})).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e
            .to_string()
            .contains("Expected keys: {'network_id'} Provided keys: {'enable_snat'}"));
        let e = parse(json!({"network_id": "x"})).unwrap_err();
        assert!(e.to_string().ends_with(
            "Invalid input for external_gateway_info. Reason: 'x' is not a valid UUID."
        ));
    }

    #[test]
    fn interface_bodies_follow_neutron() {
        let id = "8d4c70a2-1fed-4aeb-a121-a1a429ba0d04";
        let r =
            interface_request(&Bytes::from(json!({"subnet_id": id}).to_string()), false).unwrap();
        assert_eq!(r.subnet_id.as_deref(), Some(id));
        let e = interface_request(&Bytes::from("{}"), false).unwrap_err();
        assert!(e
            .to_string()
            .ends_with("Bad router request: Either subnet_id or port_id must be specified."));
        let both = json!({"subnet_id": id, "port_id": id}).to_string();
        assert!(interface_request(&Bytes::from(both.clone()), false).is_err());
        assert!(interface_request(&Bytes::from(both), true).is_ok());
        let e = interface_request(&Bytes::from(json!({"port_id": "p"}).to_string()), false)
            .unwrap_err();
        assert!(e
            .to_string()
            .ends_with("Bad router request: 'p' is not a valid UUID."));
        assert_eq!(
            interface_request(&Bytes::from("[1]"), false)
                .unwrap_err()
                .status(),
            400
        );
    }
}
