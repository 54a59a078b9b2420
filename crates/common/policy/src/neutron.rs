//! Neutron's default policy (`neutron/conf/policies/*.py`): the rules of the L2, security
//! group, quota, availability zone, L3 and QoS APIs with the secure-RBAC check strings of
//! current Neutron, so operators override them with the `policy.yaml` they would give
//! Neutron.
//!
//! Personas: `admin` anywhere is a cloud admin (`context_is_admin`); a project `member`
//! writes its project's resources; a project `reader` reads them; the owner of a network
//! also manages ports and subnets on it; shared networks (and external ones) are readable
//! by every project.
//!
//! Neutron's `field:networks:shared=True` checks are spelled here with literal target
//! comparisons (`'True':%(network:shared)s`), which the engine supports.
//!
//! # Target keys the API must build
//!
//! `project_id` and `tenant_id`: the owner of what is acted on (the requested project on
//! create). `network:project_id`, `network:tenant_id`, `network:shared` and
//! `network:router:external` (`True`/`False`): the network of a subnet or port (for a
//! network itself, its own values). `security_group:project_id`: the group of a rule.
//! `network_device`: `True` when a port's `device_owner` starts with `network:`.

use crate::RuleDefault;

const PROJECT: &[&str] = &["project"];
/// No scope check: for the base rules other rules reference.
const ANY_SCOPE: &[&str] = &[];

const ADMIN: &str = "rule:context_is_admin";
const MEMBER: &str = "rule:context_is_admin or (role:member and project_id:%(project_id)s)";
const READER: &str = "rule:context_is_admin or (role:reader and project_id:%(project_id)s)";
const NET_OWNER_MEMBER: &str =
    "rule:context_is_admin or (role:member and project_id:%(network:project_id)s)";
const MEMBER_OR_NET_OWNER_MEMBER: &str = "rule:context_is_admin or \
     (role:member and project_id:%(project_id)s) or \
     (role:member and project_id:%(network:project_id)s)";
const READER_OR_NET_OWNER_READER: &str = "rule:context_is_admin or \
     (role:reader and project_id:%(project_id)s) or \
     (role:reader and project_id:%(network:project_id)s)";
const NET_OWNER_MEMBER_OR_SHARED: &str = "rule:context_is_admin or \
     (role:member and project_id:%(network:project_id)s) or rule:shared";
const NETWORK_READER: &str = "rule:context_is_admin or \
     (role:reader and project_id:%(project_id)s) or rule:shared or rule:external";
const SUBNET_READER: &str = "rule:context_is_admin or \
     (role:reader and project_id:%(project_id)s) or rule:shared";
const DEVICE_OWNER: &str = "rule:context_is_admin or 'False':%(network_device)s or \
     (role:member and project_id:%(network:project_id)s)";
const SG_OWNER_MEMBER: &str = "rule:context_is_admin or \
     (role:member and project_id:%(project_id)s) or \
     (role:member and project_id:%(security_group:project_id)s)";
const SG_OWNER_READER: &str = "rule:context_is_admin or \
     (role:reader and project_id:%(project_id)s) or \
     (role:reader and project_id:%(security_group:project_id)s)";
const ANY_READER: &str = "rule:context_is_admin or role:reader";
/// A QoS policy (and its rules): the owner's readers, and everyone for a shared policy
/// (`shared` is the policy's own flag in the target).
const QOS_READER: &str = "rule:context_is_admin or \
     (role:reader and project_id:%(project_id)s) or 'True':%(shared)s";

const fn rule(
    name: &'static str,
    check_str: &'static str,
    scope_types: &'static [&'static str],
) -> RuleDefault {
    RuleDefault::new(name, check_str, scope_types)
}

/// A rule for project-scoped tokens.
const fn p(name: &'static str, check_str: &'static str) -> RuleDefault {
    RuleDefault::new(name, check_str, PROJECT)
}

/// Neutron's default rules, in the order of Neutron's policy modules.
pub const DEFAULTS: &[RuleDefault] = &[
    // base.py
    rule("context_is_admin", "role:admin", ANY_SCOPE),
    rule("admin_only", "rule:context_is_admin", ANY_SCOPE),
    rule("regular_user", "", ANY_SCOPE),
    rule(
        "admin_or_owner",
        "rule:context_is_admin or project_id:%(project_id)s",
        ANY_SCOPE,
    ),
    rule(
        "admin_or_network_owner",
        "rule:context_is_admin or project_id:%(network:project_id)s",
        ANY_SCOPE,
    ),
    rule("shared", "'True':%(network:shared)s", ANY_SCOPE),
    rule("external", "'True':%(network:router:external)s", ANY_SCOPE),
    rule("default", "rule:admin_or_owner", ANY_SCOPE),
    // network.py
    p("create_network", MEMBER),
    p("create_network:shared", ADMIN),
    p("create_network:router:external", ADMIN),
    p("create_network:is_default", ADMIN),
    p("create_network:port_security_enabled", MEMBER),
    p("create_network:segments", ADMIN),
    p("create_network:provider:network_type", ADMIN),
    p("create_network:provider:physical_network", ADMIN),
    p("create_network:provider:segmentation_id", ADMIN),
    p("get_network", NETWORK_READER),
    p("get_network:router:external", "@"),
    p("get_network:segments", ADMIN),
    p("get_network:provider:network_type", ADMIN),
    p("get_network:provider:physical_network", ADMIN),
    p("get_network:provider:segmentation_id", ADMIN),
    p("update_network", MEMBER),
    p("update_network:segments", ADMIN),
    p("update_network:shared", ADMIN),
    p("update_network:provider:network_type", ADMIN),
    p("update_network:provider:physical_network", ADMIN),
    p("update_network:provider:segmentation_id", ADMIN),
    p("update_network:router:external", ADMIN),
    p("update_network:is_default", ADMIN),
    p("update_network:port_security_enabled", MEMBER),
    p("delete_network", MEMBER),
    // subnet.py
    p("create_subnet", NET_OWNER_MEMBER),
    p("create_subnet:segment_id", ADMIN),
    p("create_subnet:service_types", ADMIN),
    p("get_subnet", SUBNET_READER),
    p("get_subnet:segment_id", ADMIN),
    p("update_subnet", NET_OWNER_MEMBER),
    p("update_subnet:segment_id", ADMIN),
    p("update_subnet:service_types", ADMIN),
    p("delete_subnet", NET_OWNER_MEMBER),
    // port.py
    p("create_port", MEMBER),
    p("create_port:device_owner", DEVICE_OWNER),
    p("create_port:mac_address", NET_OWNER_MEMBER),
    p("create_port:fixed_ips", NET_OWNER_MEMBER_OR_SHARED),
    p("create_port:fixed_ips:ip_address", NET_OWNER_MEMBER),
    p(
        "create_port:fixed_ips:subnet_id",
        NET_OWNER_MEMBER_OR_SHARED,
    ),
    p("create_port:port_security_enabled", NET_OWNER_MEMBER),
    p("create_port:binding:host_id", ADMIN),
    p("create_port:binding:profile", ADMIN),
    p("create_port:binding:vnic_type", MEMBER),
    p("create_port:allowed_address_pairs", NET_OWNER_MEMBER),
    p(
        "create_port:allowed_address_pairs:mac_address",
        NET_OWNER_MEMBER,
    ),
    p(
        "create_port:allowed_address_pairs:ip_address",
        NET_OWNER_MEMBER,
    ),
    p("get_port", READER_OR_NET_OWNER_READER),
    p("get_port:binding:vif_type", ADMIN),
    p("get_port:binding:vif_details", ADMIN),
    p("get_port:binding:host_id", ADMIN),
    p("get_port:binding:profile", ADMIN),
    p("get_port:resource_request", ADMIN),
    p("update_port", MEMBER_OR_NET_OWNER_MEMBER),
    p("update_port:device_owner", DEVICE_OWNER),
    p("update_port:mac_address", ADMIN),
    p("update_port:fixed_ips", NET_OWNER_MEMBER),
    p("update_port:fixed_ips:ip_address", NET_OWNER_MEMBER),
    p(
        "update_port:fixed_ips:subnet_id",
        NET_OWNER_MEMBER_OR_SHARED,
    ),
    p("update_port:port_security_enabled", NET_OWNER_MEMBER),
    p("update_port:binding:host_id", ADMIN),
    p("update_port:binding:profile", ADMIN),
    p("update_port:binding:vnic_type", MEMBER_OR_NET_OWNER_MEMBER),
    p("update_port:allowed_address_pairs", NET_OWNER_MEMBER),
    p(
        "update_port:allowed_address_pairs:mac_address",
        NET_OWNER_MEMBER,
    ),
    p(
        "update_port:allowed_address_pairs:ip_address",
        NET_OWNER_MEMBER,
    ),
    p("update_port:data_plane_status", ADMIN),
    p("delete_port", MEMBER_OR_NET_OWNER_MEMBER),
    // security_group.py
    p("create_security_group", MEMBER),
    p("get_security_group", READER),
    p("update_security_group", MEMBER),
    p("delete_security_group", MEMBER),
    p("create_security_group_rule", SG_OWNER_MEMBER),
    p("get_security_group_rule", SG_OWNER_READER),
    p("update_security_group_rule", SG_OWNER_MEMBER),
    p("delete_security_group_rule", SG_OWNER_MEMBER),
    // quotas.py
    p("get_quota", READER),
    p("update_quota", ADMIN),
    p("delete_quota", ADMIN),
    // availability_zone.py, network_ip_availability.py
    p("get_availability_zone", ANY_READER),
    p("get_network_ip_availability", ADMIN),
    // router.py
    p("create_router", MEMBER),
    p("create_router:distributed", ADMIN),
    p("create_router:ha", ADMIN),
    p("create_router:external_gateway_info", MEMBER),
    p("create_router:external_gateway_info:network_id", MEMBER),
    p("create_router:external_gateway_info:enable_snat", ADMIN),
    p(
        "create_router:external_gateway_info:external_fixed_ips",
        ADMIN,
    ),
    p("get_router", READER),
    p("get_router:distributed", ADMIN),
    p("get_router:ha", ADMIN),
    p("update_router", MEMBER),
    p("update_router:distributed", ADMIN),
    p("update_router:ha", ADMIN),
    p("update_router:external_gateway_info", MEMBER),
    p("update_router:external_gateway_info:network_id", MEMBER),
    p("update_router:external_gateway_info:enable_snat", ADMIN),
    p(
        "update_router:external_gateway_info:external_fixed_ips",
        ADMIN,
    ),
    p("delete_router", MEMBER),
    p("add_router_interface", MEMBER),
    p("remove_router_interface", MEMBER),
    p("add_extraroutes", MEMBER),
    p("remove_extraroutes", MEMBER),
    // floatingip.py
    p("create_floatingip", MEMBER),
    p("create_floatingip:floating_ip_address", ADMIN),
    p("get_floatingip", READER),
    p("update_floatingip", MEMBER),
    p("delete_floatingip", MEMBER),
    // qos.py
    p("get_policy", QOS_READER),
    p("create_policy", ADMIN),
    p("update_policy", ADMIN),
    p("delete_policy", ADMIN),
    p("get_rule_type", ANY_READER),
    p("get_policy_bandwidth_limit_rule", QOS_READER),
    p("create_policy_bandwidth_limit_rule", ADMIN),
    p("update_policy_bandwidth_limit_rule", ADMIN),
    p("delete_policy_bandwidth_limit_rule", ADMIN),
    p("create_port:qos_policy_id", MEMBER),
    p("update_port:qos_policy_id", MEMBER_OR_NET_OWNER_MEMBER),
    p("create_network:qos_policy_id", MEMBER),
    p("update_network:qos_policy_id", MEMBER),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{target, Credentials, Enforcer};

    fn creds(project: &str, roles: &[&str]) -> Credentials {
        Credentials {
            user_id: "u".into(),
            project_id: Some(project.into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Credentials::default()
        }
    }

    #[test]
    fn defaults_load_and_shared_networks_are_readable() {
        let e = Enforcer::new(DEFAULTS).unwrap();
        let member_b = creds("b", &["member", "reader"]);
        let owned_by_a = |shared: &str| {
            target(&[
                ("project_id", "a"),
                ("network:project_id", "a"),
                ("network:shared", shared),
                ("network:router:external", "False"),
            ])
        };
        assert!(!e.enforce("get_network", &owned_by_a("False"), &member_b));
        assert!(e.enforce("get_network", &owned_by_a("True"), &member_b));
        assert!(!e.enforce("update_network", &owned_by_a("True"), &member_b));
        assert!(!e.enforce(
            "create_network:shared",
            &target(&[("project_id", "b")]),
            &member_b
        ));
        let admin = creds("x", &["admin", "member", "reader"]);
        assert!(e.enforce(
            "create_network:shared",
            &target(&[("project_id", "b")]),
            &admin
        ));
        assert!(!e.enforce("get_port:binding:host_id", &owned_by_a("False"), &member_b));
    }
}
