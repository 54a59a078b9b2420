//! Routers, floating IPs and QoS policies as the API and the store see them: Neutron's
//! `router`, `extraroute`, `ext-gw-mode` and `router_availability_zone` attributes, floating
//! IPs with their association, and `qos` policies with `bandwidth_limit` rules (and their
//! `qos-bw-limit-direction`).
//!
//! A router's legs and a floating IP's address are ordinary ports of the core resources,
//! told apart by their `device_owner` (`network:router_interface`, `network:router_gateway`,
//! `network:floatingip`) and owned by the router or floating IP (`device_id`).

use common_error::Error;
use serde::{Deserialize, Serialize};

use crate::dataplane::{Direction, Route};
use crate::errors::{neutron_error, Status};
use crate::resources::{
    FixedIp, DEVICE_OWNER_FLOATINGIP, DEVICE_OWNER_ROUTER_GATEWAY, DEVICE_OWNER_ROUTER_INTERFACE,
};

/// The `device_owner`s only the L3 API may create and delete (Neutron's
/// `router_device_owners`): a direct `DELETE /ports/{id}` of such a port is a 409.
pub const L3_DEVICE_OWNERS: &[&str] = &[
    DEVICE_OWNER_ROUTER_INTERFACE,
    DEVICE_OWNER_ROUTER_GATEWAY,
    DEVICE_OWNER_FLOATINGIP,
];

/// Whether a port's `device_owner` makes it a router's or a floating IP's.
pub fn is_l3_device_owner(owner: &str) -> bool {
    L3_DEVICE_OWNERS.contains(&owner)
}

/// A router (`/v2.0/routers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Router {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    /// Always `ACTIVE`: the agent converges, there is no build step to report.
    pub status: String,
    /// `external_gateway_info`; `None` when the router has no gateway.
    pub gateway: Option<ExternalGateway>,
    /// `routes` (extraroute), sorted.
    pub routes: Vec<Route>,
    pub availability_zone_hints: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: i64,
}

/// A router's `external_gateway_info`, read from its gateway port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalGateway {
    pub network_id: String,
    /// The gateway port (`network:router_gateway`, owned by no project).
    pub port_id: String,
    pub enable_snat: bool,
    /// `external_fixed_ips`: the gateway port's addresses.
    pub external_fixed_ips: Vec<FixedIp>,
}

/// What a request asks the gateway to be (`external_gateway_info` in a create or update).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatewayRequest {
    pub network_id: String,
    /// `None`: keep the current value, or the default (true) for a new gateway.
    pub enable_snat: Option<bool>,
    /// `None`: any address of the external network (kept when the network does not change).
    pub external_fixed_ips: Option<Vec<FixedIpRequest>>,
}

/// A requested fixed IP: a subnet, an address, or both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FixedIpRequest {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

/// A new router as the API parsed it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewRouter {
    /// The owner: the caller's project unless an admin names another.
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub gateway: Option<GatewayRequest>,
    pub availability_zone_hints: Vec<String>,
}

/// A router update; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    /// `Some(None)`: clear the gateway (`"external_gateway_info": {}` or `null`).
    pub gateway: Option<Option<GatewayRequest>>,
    pub routes: Option<Vec<Route>>,
}

/// `add_router_interface` / `remove_router_interface` body: a subnet or a port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InterfaceRequest {
    pub subnet_id: Option<String>,
    pub port_id: Option<String>,
}

/// The flat answer of `add_router_interface` and `remove_router_interface`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterInterface {
    /// The router's id.
    pub id: String,
    pub project_id: String,
    pub port_id: String,
    pub network_id: String,
    /// The last of `subnet_ids` on add, the first on remove (as Neutron).
    pub subnet_id: String,
    pub subnet_ids: Vec<String>,
}

/// A floating IP (`/v2.0/floatingips`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloatingIp {
    pub id: String,
    pub project_id: String,
    pub floating_network_id: String,
    pub floating_ip_address: String,
    /// The port on the external network holding the address (`network:floatingip`).
    pub floating_port_id: String,
    /// `port_id`: the associated internal port.
    pub port_id: Option<String>,
    pub fixed_ip_address: Option<String>,
    /// The router that carries the association (set with `port_id`).
    pub router_id: Option<String>,
    /// `ACTIVE` when associated, `DOWN` otherwise.
    pub status: String,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: i64,
}

/// `port_details` of an associated floating IP: a few attributes of the internal port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortDetails {
    pub name: String,
    pub network_id: String,
    pub mac_address: String,
    pub admin_state_up: bool,
    pub status: String,
    pub device_id: String,
    pub device_owner: String,
}

/// A floating IP with what its view shows besides its own row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloatingIpView {
    pub fip: FloatingIp,
    pub port_details: Option<PortDetails>,
}

/// A new floating IP as the API parsed it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewFloatingIp {
    pub project_id: String,
    pub floating_network_id: String,
    pub floating_ip_address: Option<String>,
    pub subnet_id: Option<String>,
    pub port_id: Option<String>,
    pub fixed_ip_address: Option<String>,
    pub description: String,
}

/// A floating IP update. `port_id: Some(None)` disassociates; `None` keeps the association
/// (a `fixed_ip_address` alone re-associates on the current port, as Neutron).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FloatingIpUpdate {
    pub port_id: Option<Option<String>>,
    pub fixed_ip_address: Option<Option<String>>,
    pub description: Option<String>,
}

/// A QoS policy (`/v2.0/qos/policies`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QosPolicy {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub shared: bool,
    /// The project's default policy (`qos-default`): new networks of the project get it.
    pub is_default: bool,
    pub rules: Vec<BandwidthLimitRule>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: i64,
}

/// The only rule type implemented (tc on the tap device).
pub const RULE_TYPE_BANDWIDTH_LIMIT: &str = "bandwidth_limit";

/// Largest `max_kbps` / `max_burst_kbps` (Neutron's `DB_INTEGER_MAX_VALUE`).
pub const MAX_KBPS: i64 = 2_147_483_647;

/// A `bandwidth_limit` rule. At most one per direction and policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandwidthLimitRule {
    pub id: String,
    pub qos_policy_id: String,
    pub max_kbps: i64,
    pub max_burst_kbps: i64,
    /// `egress` (from the guest, the default) or `ingress` (to the guest).
    pub direction: Direction,
}

/// A new QoS policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewQosPolicy {
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub shared: bool,
    pub is_default: bool,
}

/// A QoS policy update.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QosPolicyUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub shared: Option<bool>,
    pub is_default: Option<bool>,
}

/// A new or changed bandwidth limit rule (`None`: unchanged, or the default on create).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BandwidthLimitChange {
    pub max_kbps: Option<i64>,
    pub max_burst_kbps: Option<i64>,
    pub direction: Option<Direction>,
}

/// The text of a direction in the API.
pub fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    }
}

/// Parses `ingress` / `egress`.
pub fn parse_direction(s: &str) -> Option<Direction> {
    match s {
        "ingress" => Some(Direction::Ingress),
        "egress" => Some(Direction::Egress),
        _ => None,
    }
}

/// A typed 404: Neutron's exception `type` and its whole message, carried in the id
/// (`common-http` renders them as `{"NeutronError": {"type", "message"}}`).
pub fn not_found_typed(kind: &str, message: impl std::fmt::Display) -> Error {
    Error::NotFound {
        kind: "resource",
        id: format!("{kind}\u{1f}{message}"),
    }
}

/// `RouterNotFound` (404).
pub fn router_not_found(id: &str) -> Error {
    not_found_typed("RouterNotFound", format!("Router {id} could not be found"))
}

/// `FloatingIPNotFound` (404).
pub fn floatingip_not_found(id: &str) -> Error {
    not_found_typed(
        "FloatingIPNotFound",
        format!("Floating IP {id} could not be found"),
    )
}

/// `QosPolicyNotFound` (404).
pub fn qos_policy_not_found(id: &str) -> Error {
    not_found_typed(
        "QosPolicyNotFound",
        format!("QoS policy {id} could not be found."),
    )
}

/// `QosRuleNotFound` (404).
pub fn qos_rule_not_found(rule_id: &str, policy_id: &str) -> Error {
    not_found_typed(
        "QosRuleNotFound",
        format!("QoS rule {rule_id} for policy {policy_id} could not be found."),
    )
}

/// Neutron's generic `BadRequest` (400): "Bad {resource} request: {msg}."
pub fn bad_request_for(resource: &str, msg: impl std::fmt::Display) -> Error {
    neutron_error(
        Status::BadRequest,
        "BadRequest",
        format!("Bad {resource} request: {msg}."),
    )
}

/// A 409 of Neutron `type` `kind` (`InUse` and `Conflict` subclasses).
pub fn conflict(kind: &str, msg: impl std::fmt::Display) -> Error {
    neutron_error(Status::Conflict, kind, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l3_owners() {
        assert!(is_l3_device_owner("network:router_interface"));
        assert!(is_l3_device_owner("network:floatingip"));
        assert!(!is_l3_device_owner("network:dhcp"));
        assert!(!is_l3_device_owner("compute:nova"));
    }

    #[test]
    fn directions_round_trip() {
        for d in [Direction::Ingress, Direction::Egress] {
            assert_eq!(parse_direction(direction_str(d)), Some(d));
        }
        assert_eq!(parse_direction("any"), None);
    }
}
