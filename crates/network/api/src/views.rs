//! Resources as Neutron renders them, with the attributes the caller's policy hides
//! (`get_<resource>:<attr>` rules such as `get_network:provider:network_type`) removed.

use common_http::AuthContext;
use network_model::{wire_time, Network, Port, SecurityGroup, SecurityGroupRule, Subnet};
use serde_json::{json, Value};

use crate::ApiState;

/// Removes the attributes of `v` that `get_<resource>:<attr>` rules hide from the caller.
pub(crate) fn strip(
    s: &ApiState,
    auth: &AuthContext,
    resource: &str,
    t: &common_policy::Target,
    mut v: Value,
) -> Value {
    if let Value::Object(o) = &mut v {
        let keys: Vec<String> = o.keys().cloned().collect();
        for k in keys {
            let rule = format!("get_{resource}:{k}");
            if s.policy.check_str(&rule).is_some() && !s.allowed(auth, &rule, t) {
                o.remove(&k);
            }
        }
    }
    v
}

pub(crate) fn network(n: &Network) -> Value {
    json!({
        "id": n.id,
        "name": n.name,
        "description": n.description,
        "admin_state_up": n.admin_state_up,
        "status": n.status,
        "subnets": n.subnets,
        "shared": n.shared,
        "project_id": n.project_id,
        "tenant_id": n.project_id,
        "mtu": n.mtu,
        "port_security_enabled": n.port_security_enabled,
        "router:external": n.external,
        "provider:network_type": n.network_type,
        "provider:physical_network": n.physical_network,
        "provider:segmentation_id": n.segmentation_id,
        "availability_zone_hints": n.availability_zone_hints,
        "availability_zones": [network_model::AVAILABILITY_ZONE],
        "ipv4_address_scope": null,
        "ipv6_address_scope": null,
        "l2_adjacency": true,
        "tags": [],
        "created_at": wire_time(&n.created_at),
        "updated_at": wire_time(&n.updated_at),
        "revision_number": n.revision_number,
    })
}

pub(crate) fn subnet(sn: &Subnet) -> Value {
    json!({
        "id": sn.id,
        "name": sn.name,
        "description": sn.description,
        "network_id": sn.network_id,
        "project_id": sn.project_id,
        "tenant_id": sn.project_id,
        "ip_version": sn.ip_version,
        "cidr": sn.cidr,
        "gateway_ip": sn.gateway_ip,
        "enable_dhcp": sn.enable_dhcp,
        "ipv6_address_mode": sn.ipv6_address_mode,
        "ipv6_ra_mode": sn.ipv6_ra_mode,
        "allocation_pools": sn.allocation_pools,
        "dns_nameservers": sn.dns_nameservers,
        "host_routes": sn.host_routes,
        "service_types": [],
        "subnetpool_id": null,
        "segment_id": null,
        "tags": [],
        "created_at": wire_time(&sn.created_at),
        "updated_at": wire_time(&sn.updated_at),
        "revision_number": sn.revision_number,
    })
}

pub(crate) fn port(p: &Port) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "network_id": p.network_id,
        "project_id": p.project_id,
        "tenant_id": p.project_id,
        "admin_state_up": p.admin_state_up,
        "mac_address": p.mac_address,
        "fixed_ips": p.fixed_ips,
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "status": p.status,
        "port_security_enabled": p.port_security_enabled,
        "security_groups": p.security_groups,
        "allowed_address_pairs": p.allowed_address_pairs,
        "binding:host_id": p.binding_host_id,
        "binding:vnic_type": p.binding_vnic_type,
        "binding:vif_type": p.binding_vif_type,
        "binding:profile": p.binding_profile,
        "binding:vif_details": p.binding_vif_details,
        "dns_name": p.dns_name,
        "tags": [],
        "created_at": wire_time(&p.created_at),
        "updated_at": wire_time(&p.updated_at),
        "revision_number": p.revision_number,
    })
}

pub(crate) fn security_group_rule(r: &SecurityGroupRule) -> Value {
    json!({
        "id": r.id,
        "project_id": r.project_id,
        "tenant_id": r.project_id,
        "security_group_id": r.security_group_id,
        "direction": r.direction,
        "ethertype": r.ethertype,
        "protocol": r.protocol,
        "port_range_min": r.port_range_min,
        "port_range_max": r.port_range_max,
        "remote_ip_prefix": r.remote_ip_prefix,
        "remote_group_id": r.remote_group_id,
        "remote_address_group_id": null,
        "normalized_cidr": r.remote_ip_prefix,
        "description": r.description,
        "created_at": wire_time(&r.created_at),
        "updated_at": wire_time(&r.updated_at),
        "revision_number": r.revision_number,
    })
}

pub(crate) fn security_group(g: &SecurityGroup) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "project_id": g.project_id,
        "tenant_id": g.project_id,
        "stateful": g.stateful,
        "shared": false,
        "security_group_rules": g.rules.iter().map(security_group_rule).collect::<Vec<_>>(),
        "tags": [],
        "created_at": wire_time(&g.created_at),
        "updated_at": wire_time(&g.updated_at),
        "revision_number": g.revision_number,
    })
}
