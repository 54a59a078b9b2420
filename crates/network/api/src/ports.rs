//! `/v2.0/ports`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use common_error::Error;
use common_http::{AuthContext, Authed, HttpResult};
use common_policy::Target;
use network_domain::port::not_found;
use network_domain::{IpRequest, PairRequest, PortCreate, PortFilter, PortUpdate};
use network_model::errors::invalid_attribute;
use network_model::{Network, Port};
use serde_json::{json, Value};

use crate::body::{self, repr, Attrs, NAME_MAX_LEN};
use crate::list::{self, ListQuery};
use crate::{caller, py_bool, views, ApiState};

fn target_for(project: &str, owner: &str, net: Option<&Network>) -> Target {
    let (net_owner, shared, external) = net
        .map(|n| (n.project_id.as_str(), n.shared, n.external))
        .unwrap_or((project, false, false));
    common_policy::target(&[
        ("project_id", project),
        ("tenant_id", project),
        ("network:project_id", net_owner),
        ("network:tenant_id", net_owner),
        ("network:shared", py_bool(shared)),
        ("network:router:external", py_bool(external)),
        ("network_device", py_bool(owner.starts_with("network:"))),
        ("device_owner", owner),
    ])
}

fn target(p: &Port, net: Option<&Network>) -> Target {
    target_for(&p.project_id, &p.device_owner, net)
}

async fn fetch(
    s: &ApiState,
    auth: &AuthContext,
    id: &str,
) -> Result<(Port, Option<Network>), Error> {
    let p = s.net.port_get(&caller(s, auth), id).await?;
    let net = s.net.store().network_get(&p.network_id).await?;
    if !s.allowed(auth, "get_port", &target(&p, net.as_ref())) {
        return Err(not_found(id));
    }
    Ok((p, net))
}

fn render(s: &ApiState, auth: &AuthContext, p: &Port, net: Option<&Network>) -> Value {
    views::strip(s, auth, "port", &target(p, net), views::port(p))
}

pub async fn list(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let q = ListQuery::parse(q.as_deref())?;
    let c = caller(&s, &auth);
    let filter = PortFilter {
        network_id: q.single("network_id").map(str::to_string),
        device_id: q.single("device_id").map(str::to_string),
        ..Default::default()
    };
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
        .port_list(&c, filter)
        .await?
        .iter()
        .filter(|p| s.allowed(&auth, "get_port", &target(p, nets.get(&p.network_id))))
        .map(|p| render(&s, &auth, p, nets.get(&p.network_id)))
        .collect();
    let mut items: Vec<Value> = items;
    crate::qos::add_port_policies(&s, &mut items).await?;
    Ok(list::respond(
        &s.v2_url(),
        "ports",
        "ports",
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
    let (p, net) = fetch(&s, &auth, &id).await?;
    let v = crate::qos::port_with_policy(&s, render(&s, &auth, &p, net.as_ref())).await?;
    let v = list::select_fields(v, &list::show_fields(q.as_deref()));
    Ok(Json(json!({"port": v})))
}

fn fixed_ips(
    b: &mut Attrs,
    given: &mut Vec<&'static str>,
) -> Result<Option<Vec<IpRequest>>, Error> {
    let Some(v) = b.take("fixed_ips") else {
        return Ok(None);
    };
    let Value::Array(items) = v else {
        return Err(invalid_attribute(
            "fixed_ips",
            format!("Invalid data format for fixed IP: '{}'", repr(&v)),
        ));
    };
    let mut out = Vec::new();
    for it in &items {
        let Value::Object(o) = it else {
            return Err(invalid_attribute(
                "fixed_ips",
                format!("Invalid data format for fixed IP: '{}'", repr(it)),
            ));
        };
        let field = |k: &str| -> Result<Option<String>, Error> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(invalid_attribute(
                    "fixed_ips",
                    format!("'{}' is not a valid string", repr(other)),
                )),
            }
        };
        if let Some(k) = o.keys().find(|k| *k != "subnet_id" && *k != "ip_address") {
            return Err(invalid_attribute(
                "fixed_ips",
                format!("Unrecognized attribute(s) '{k}'"),
            ));
        }
        let r = IpRequest {
            subnet_id: field("subnet_id")?,
            ip_address: field("ip_address")?,
        };
        if r.ip_address.is_some() && !given.contains(&"fixed_ips:ip_address") {
            given.push("fixed_ips:ip_address");
        }
        if r.subnet_id.is_some() && !given.contains(&"fixed_ips:subnet_id") {
            given.push("fixed_ips:subnet_id");
        }
        out.push(r);
    }
    Ok(Some(out))
}

fn pairs(b: &mut Attrs) -> Result<Option<Vec<PairRequest>>, Error> {
    match b.take("allowed_address_pairs") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Vec::new())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|p| match (p.get("ip_address"), p.get("mac_address")) {
                (Some(Value::String(ip)), None | Some(Value::Null)) => Ok(PairRequest {
                    ip_address: ip.clone(),
                    mac_address: None,
                }),
                (Some(Value::String(ip)), Some(Value::String(mac))) => Ok(PairRequest {
                    ip_address: ip.clone(),
                    mac_address: Some(mac.clone()),
                }),
                _ => Err(invalid_attribute(
                    "allowed_address_pairs",
                    "AllowedAddressPair must contain ip_address",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(invalid_attribute(
            "allowed_address_pairs",
            format!(
                "Allowed address pairs must be a list, not '{}'",
                repr(&other)
            ),
        )),
    }
}

fn profile(b: &mut Attrs) -> Result<Option<Value>, Error> {
    match b.take("binding:profile") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(json!({}))),
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        Some(other) => Err(invalid_attribute(
            "binding:profile",
            format!("'{}' is not a dictionary", repr(&other)),
        )),
    }
}

fn security_groups(b: &mut Attrs) -> Result<Option<Vec<String>>, Error> {
    if matches!(b.take_ref("security_groups"), Some(Value::Null)) {
        b.take("security_groups");
        return Ok(Some(Vec::new()));
    }
    b.string_list("security_groups")
}

/// Attributes with a rule of their own (`create_port:<attr>`).
const RULED: &[&str] = &[
    "device_owner",
    "mac_address",
    "port_security_enabled",
    "binding:host_id",
    "binding:profile",
    "binding:vnic_type",
    "allowed_address_pairs",
    "qos_policy_id",
];

const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "created_at",
    "updated_at",
    "revision_number",
    "binding:vif_type",
    "binding:vif_details",
];

pub async fn create(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    raw: Bytes,
) -> HttpResult<(StatusCode, Json<Value>)> {
    let c = caller(&s, &auth);
    let mut b = body::parse(&raw, "port", true)?;
    b.refuse(READ_ONLY)?;
    let mut given: Vec<&str> = RULED.iter().copied().filter(|a| b.has(a)).collect();
    let network_id = b.required_string("network_id", 36)?;
    let project = c.project_for(b.project()?.as_deref());
    let new = PortCreate {
        project_id: Some(project.clone()),
        network_id: network_id.clone(),
        name: b.string("name", NAME_MAX_LEN)?.unwrap_or_default(),
        description: b.string("description", NAME_MAX_LEN)?.unwrap_or_default(),
        admin_state_up: b.boolean("admin_state_up")?.unwrap_or(true),
        mac_address: b.string("mac_address", 32)?,
        fixed_ips: fixed_ips(&mut b, &mut given)?,
        device_owner: b.string("device_owner", 255)?.unwrap_or_default(),
        device_id: b.string("device_id", 255)?.unwrap_or_default(),
        port_security_enabled: b.boolean("port_security_enabled")?,
        security_groups: security_groups(&mut b)?,
        allowed_address_pairs: pairs(&mut b)?.unwrap_or_default(),
        binding_host_id: b.string("binding:host_id", 255)?,
        binding_vnic_type: b.string("binding:vnic_type", 64)?,
        binding_profile: profile(&mut b)?,
        dns_name: b.string("dns_name", 255)?.unwrap_or_default(),
        qos_policy_id: crate::qos::policy_id(&mut b)?.flatten(),
    };
    let _ = b.take("tags");
    let _ = b.take("extra_dhcp_opts");
    b.finish()?;
    // Another project's private network is not found, before any policy is consulted.
    let net = s.net.network_get(&c, &network_id).await?;
    if !c.is_admin && net.project_id != project && !net.shared {
        return Err(network_domain::network::not_found(&network_id).into());
    }
    let t = target_for(&project, &new.device_owner, Some(&net));
    s.authorize_attrs(&auth, "create_port", &given, &t)?;
    let p = s.net.port_create(&c, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"port": crate::qos::port_with_policy(&s, render(&s, &auth, &p, Some(&net))).await?}),
        ),
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
    let mut b = body::parse(&raw, "port", false)?;
    b.refuse(READ_ONLY)?;
    b.refuse(&["network_id", "project_id", "tenant_id"])?;
    let mut given: Vec<&str> = RULED.iter().copied().filter(|a| b.has(a)).collect();
    let up = PortUpdate {
        name: b.string("name", NAME_MAX_LEN)?,
        description: b.string("description", NAME_MAX_LEN)?,
        admin_state_up: b.boolean("admin_state_up")?,
        mac_address: b.string("mac_address", 32)?,
        fixed_ips: fixed_ips(&mut b, &mut given)?,
        device_owner: b.string("device_owner", 255)?,
        device_id: b.string("device_id", 255)?,
        port_security_enabled: b.boolean("port_security_enabled")?,
        security_groups: security_groups(&mut b)?,
        allowed_address_pairs: pairs(&mut b)?,
        binding_host_id: b.string("binding:host_id", 255)?,
        binding_vnic_type: b.string("binding:vnic_type", 64)?,
        binding_profile: profile(&mut b)?,
        dns_name: b.string("dns_name", 255)?,
        qos_policy_id: crate::qos::policy_id(&mut b)?,
    };
    let _ = b.take("extra_dhcp_opts");
    b.finish()?;
    let owner = up
        .device_owner
        .clone()
        .unwrap_or_else(|| current.device_owner.clone());
    let t = target_for(&current.project_id, &owner, net.as_ref());
    s.authorize_attrs(&auth, "update_port", &given, &t)?;
    let p = s.net.port_update(&c, &id, up).await?;
    let v = crate::qos::port_with_policy(&s, render(&s, &auth, &p, net.as_ref())).await?;
    Ok(Json(json!({"port": v})))
}

pub async fn delete(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    let c = caller(&s, &auth);
    let (current, net) = fetch(&s, &auth, &id).await?;
    s.authorize(&auth, "delete_port", &target(&current, net.as_ref()))?;
    s.net.port_delete(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
