//! `/v2.0/extensions`: exactly what is implemented, as Neutron names it; and
//! `/v2.0/availability_zones`.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use common_error::Error;
use common_http::{Authed, HttpResult};
use serde_json::{json, Value};

use crate::list::{self, ListQuery};
use crate::ApiState;

/// One API extension: `(alias, name, description)`.
pub(crate) type Ext = (&'static str, &'static str, &'static str);

/// Every extension served. One table for the whole service: the L3 work appends its rows
/// at the end, in the marked section.
pub(crate) const EXTENSIONS: &[Ext] = &[
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("availability_zone", "Availability Zone", "The availability zone extension."),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
    ("filter-validation", "Filter parameters validation", "Provides validation on filter parameters."),
    ("ip-substring-filtering", "IP address substring filtering", "Provides IP address substring filtering when listing ports"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("net-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a network resource."),
    ("network_availability_zone", "Network Availability Zone", "Availability zone support for network."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("port-security", "Port Security", "Provides port security"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("quota_details", "Quota details management support", "Expose functions for quotas usage statistics per project"),
    ("quotas", "Quota management support", "Expose functions for quotas management per tenant"),
    ("security-group", "security-group", "The security groups extension."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."),
    ("stateful-security-group", "Stateful security group", "Indicates if the security group is stateful or not"),
    // L3 (routers, floating IPs, QoS): the L3 work appends its rows here.
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("extraroute-atomic", "Atomically add/remove extra routes", "Edit extra routes of a router on server side by atomically adding/removing extra routes"),
    ("router_availability_zone", "Router Availability Zone", "Availability zone support for router."),
    ("fip-port-details", "Floating IP Port Details Extension", "Add port_details attribute to Floating IP resource"),
    ("qos", "Quality of Service", "The Quality of Service extension."),
    ("qos-bw-limit-direction", "Direction for QoS bandwidth limit rule", "Allow to configure QoS bandwidth limit rule with specific direction: ingress or egress"),
    ("qos-default", "QoS default policy", "Expose the QoS default policy per project"),
    ("qos-rule-type-details", "Details of QoS rule types", "Expose details about QoS rule types supported by loaded backend drivers"),
];

/// Collections of the L3 work listed by `GET /v2.0/`: `(resource, collection)`.
pub(crate) const L3_COLLECTIONS: &[(&str, &str)] = &[
    ("router", "routers"),
    ("floatingip", "floatingips"),
    ("policy", "qos/policies"),
    ("rule_type", "qos/rule-types"),
];

fn view(e: &Ext) -> Value {
    json!({"alias": e.0, "name": e.1, "description": e.2,
           "updated": "2013-01-20T00:00:00-00:00", "links": []})
}

pub async fn list(Authed(_auth): Authed) -> Json<Value> {
    Json(json!({"extensions": EXTENSIONS.iter().map(view).collect::<Vec<_>>()}))
}

pub async fn show(Authed(_auth): Authed, Path(alias): Path<String>) -> HttpResult<Json<Value>> {
    let e = EXTENSIONS
        .iter()
        .find(|e| e.0 == alias)
        .ok_or_else(|| Error::not_found("extension", alias.clone()))?;
    Ok(Json(json!({"extension": view(e)})))
}

/// `GET /v2.0/availability_zones`: the one zone, for networks and routers.
pub async fn availability_zones(
    State(s): State<ApiState>,
    Authed(auth): Authed,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    s.authorize(
        &auth,
        "get_availability_zone",
        &common_policy::Target::new(),
    )?;
    let q = ListQuery::parse(q.as_deref())?;
    let zones: Vec<Value> = ["network", "router"]
        .iter()
        .map(|r| json!({"name": network_model::AVAILABILITY_ZONE, "resource": r, "state": "available"}))
        .collect();
    // Zones have no id: filter and select fields without paging.
    let mut zones = zones;
    for (k, wanted) in &q.filters {
        zones.retain(|z| {
            z.get(k)
                .and_then(Value::as_str)
                .is_some_and(|v| wanted.iter().any(|w| w == v))
        });
    }
    let zones: Vec<Value> = zones
        .into_iter()
        .map(|z| list::select_fields(z, &q.fields))
        .collect();
    Ok(Json(json!({"availability_zones": zones})))
}
